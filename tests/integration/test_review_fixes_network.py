"""Secrets and credentials over real protocols: SNMPv3 keys with non-ASCII characters against the snmpsim agent,
and an AMT Digest exchange whose nonce goes stale between the two requests (a loopback AMT-like server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from collectors.kit.context import RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import SwitchPortReading, SwitchReading
from collectors.oob.collector import OobProbeCollector
from collectors.oob.config import OobTarget
from collectors.switch.collector import SwitchCollector
from collectors.switch.config import SwitchTarget
from tests.oob_fixtures import AMT_401_BODY, AMT_REALM, _Handler, amt_like_server, port_of
from tests.snmp_agent import SnmpAgent, serving, v3_user
from tests.switch_fixtures import SWITCH_DATA

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

USER = "physgap"
AUTH = "clé-d'accès-€-2024"  # "é" is one byte in Latin-1, two in UTF-8; "€" has no Latin-1 byte at all
PRIV = "chiffrement-€-privé"


def as_net_snmp_hashes(key: str) -> str:
    """The key as snmpsim must be given it to hash the UTF-8 bytes net-snmp hashes: snmpsim hands its str to
    pyasn1, which encodes Latin-1, so the UTF-8 bytes are passed as the Latin-1 characters they decode to."""
    return key.encode("utf-8").decode("latin-1")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    with serving([SWITCH_DATA / "usw-flex-xg.snmprec"], tmp_path_factory.mktemp("snmpsim-v3-utf8"), "usw-flex-xg",
                 v3_user(USER, as_net_snmp_hashes(AUTH), as_net_snmp_hashes(PRIV))) as started:
        yield started


def v3_switch(agent: SnmpAgent, tmp_path: Path, name: str, auth: str, priv: str) -> SwitchTarget:
    files = {}
    for kind, key in (("auth", auth), ("priv", priv)):
        path = tmp_path / f"{name}-{kind}"
        path.write_text(key + "\n", encoding="utf-8")
        path.chmod(0o600)
        files[kind] = path
    snmp = SnmpTarget(host=agent.host, port=agent.port, name=name, version="3", username=USER,
                      auth_key_file=files["auth"], priv_key_file=files["priv"], context="usw-flex-xg", timeout=0.5)
    return SwitchTarget(snmp, MappingProxyType({}), "")


def test_non_ascii_snmpv3_keys_are_sent_as_utf8_like_net_snmp(agent: SnmpAgent, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    good = v3_switch(agent, tmp_path, "usw", AUTH, PRIV)
    wrong = v3_switch(agent, tmp_path, "wrong", "faux-€-mot-de-passe", "autre-€-clé-privée")
    readings = SwitchCollector([good, wrong]).collect(RunContext(deadline=time.monotonic() + 5,
                                                                 state_dir=Path("/nonexistent")))
    switches = {r.switch: r for r in readings if isinstance(r, SwitchReading)}
    assert switches["usw"].up and switches["usw"].sys_name == "usw-flex-xg"
    assert [p.port for p in readings if isinstance(p, SwitchPortReading)] == ["gi1", "te1", "te2", "te3", "te4"]
    assert not switches["wrong"].up
    for secret in (AUTH, PRIV, "faux-€-mot-de-passe", "autre-€-clé-privée"):
        assert secret not in switches["wrong"].reason and secret not in caplog.text


class _StaleOnce(_Handler):
    """AMT whose nonce expires between the unauthenticated probe and the authenticated Get: the first
    authenticated request gets 401 with stale=true and a new nonce, as RFC 7616 has it."""

    def do_POST(self) -> None:
        if self.headers.get("Authorization") is None or self.server.nonce != "first-nonce":
            super().do_POST()
            return
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.nonce = "second-nonce"
        self._send(401, [("WWW-Authenticate", f'Digest realm="{AMT_REALM}", nonce="second-nonce", stale="true", '
                                              'qop="auth"'), ("Content-Type", "text/html")], AMT_401_BODY)


def test_a_stale_nonce_is_answered_again_not_reported_as_rejected_credentials(tmp_path: Path) -> None:
    password = tmp_path / "amt-password"
    password.write_text("P@ssw0rd-amt\n")
    password.chmod(0o600)
    with amt_like_server() as server:
        server.RequestHandlerClass = _StaleOnce
        server.nonce = "first-nonce"
        target = OobTarget("ms01-amt", "127.0.0.1", "amt", port_of(server), 3.0, "admin", password)
        (reading,) = OobProbeCollector([target]).collect(RunContext(deadline=time.monotonic() + 5,
                                                                    state_dir=tmp_path))
    assert reading.state == "answering"
    assert reading.power_state == 2 and reading.detail.endswith("; host power on"), reading.detail
