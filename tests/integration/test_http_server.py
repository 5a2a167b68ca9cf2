"""The /metrics HTTP(S) server on real loopback sockets: TLS, mTLS, basic auth, headers, bind errors."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from wsgiref.types import StartResponse, WSGIEnvironment

import bcrypt
import pytest
from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app

from daemon.config import parse_listen_address
from exporters.http import BindError, HttpServer, serve
from exporters.webconfig import WebConfig, load_web_config
from tests.pki import Pki, make_pki

PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# ---------------------------------------------------------------------------------------------------------
# Helpers


def hello_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("the application failed")
    body = f"hello over {environ['wsgi.url_scheme']}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def web_config(directory: Path, text: str) -> WebConfig:
    path = directory / "web.yml"
    path.write_text(text)
    return load_web_config(path)


class StartServer(Protocol):
    def __call__(self, config: WebConfig | None = None) -> HttpServer: ...


@pytest.fixture
def start() -> Iterator[StartServer]:
    """Start servers on 127.0.0.1, any free port; all are shut down after the test."""
    servers: list[HttpServer] = []

    def _start(config: WebConfig | None = None) -> HttpServer:
        server = serve(hello_app, "127.0.0.1", 0, config)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.shutdown()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def get(
    server: HttpServer,
    path: str = "/",
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Reply:
    host, port = server.address
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=5, context=context)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def client_context(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


# ---------------------------------------------------------------------------------------------------------
# Plain HTTP


def test_plain_http_serves_prometheus_metrics_on_an_ephemeral_port() -> None:
    registry = CollectorRegistry()
    Gauge("physgap_test_up", "A test gauge.", registry=registry).set(1)
    server = serve(make_wsgi_app(registry), "127.0.0.1", 0, None)
    try:
        host, port = server.address
        assert (host, port != 0) == ("127.0.0.1", True)
        reply = get(server, "/metrics")
        assert reply.status == 200
        assert b"physgap_test_up 1.0" in reply.body
    finally:
        server.shutdown()


def test_shutdown_is_prompt_and_frees_the_port(start: StartServer) -> None:
    server = start()
    host, port = server.address
    idle = socket.create_connection((host, port))  # a connection that never sends a request
    try:
        began = time.monotonic()
        server.shutdown()
        assert time.monotonic() - began < 1.0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=2).close()
    finally:
        idle.close()


def test_application_errors_become_500_and_the_server_keeps_serving(start: StartServer) -> None:
    server = start()
    assert get(server, "/boom").status == 500
    assert get(server).status == 200


def _require_ipv6() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this host")


def test_ipv6_literal_host() -> None:
    _require_ipv6()
    server = serve(hello_app, "::1", 0, None)
    try:
        assert server.address[0] == "::1"
        assert server.url.startswith("http://[::1]:")
        assert get(server).body == b"hello over http\n"
    finally:
        server.shutdown()


def test_ipv6_wildcard_also_serves_ipv4_clients() -> None:
    # "[::]:9829" is how operators say "everywhere" on a dual-stack host, as with Go exporters.
    _require_ipv6()
    server = serve(hello_app, "::", 0, None)
    try:
        port = server.address[1]
        for client_host in ("127.0.0.1", "::1"):
            conn = http.client.HTTPConnection(client_host, port, timeout=5)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        server.shutdown()


def test_port_in_use_is_a_bind_error(start: StartServer) -> None:
    first = start()
    host, port = first.address
    with pytest.raises(BindError) as err:
        serve(hello_app, host, port, None)
    assert str(err.value) == f"cannot listen on 127.0.0.1:{port}: Address already in use"
    assert get(first).status == 200  # the running one is unharmed


def test_address_not_on_this_host_is_a_bind_error() -> None:
    with pytest.raises(BindError, match=r"cannot listen on 192\.0\.2\.1:9829: .*no interface of this host"):
        serve(hello_app, "192.0.2.1", 9829, None)  # TEST-NET-1: never a local address


def test_unresolvable_host_is_a_bind_error() -> None:
    with pytest.raises(BindError, match=r"cannot listen on no-such-host\.invalid:9829"):
        serve(hello_app, "no-such-host.invalid", 9829, None)


# ---------------------------------------------------------------------------------------------------------
# TLS


@pytest.fixture
def tls_config(pki: Pki) -> WebConfig:
    return web_config(pki.directory, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")


def test_tls_client_verifying_against_the_ca_gets_the_page(
    start: StartServer, pki: Pki, tls_config: WebConfig
) -> None:
    server = start(tls_config)
    assert server.url.startswith("https://127.0.0.1:")
    reply = get(server, context=client_context(pki))
    assert reply.status == 200
    assert reply.body == b"hello over https\n"


def test_plain_http_to_the_tls_port_gets_no_page(start: StartServer, tls_config: WebConfig) -> None:
    server = start(tls_config)
    with pytest.raises((http.client.HTTPException, OSError)):
        get(server)


def test_client_not_trusting_our_ca_refuses_the_server(
    start: StartServer, pki: Pki, tls_config: WebConfig
) -> None:
    server = start(tls_config)
    with pytest.raises(ssl.SSLCertVerificationError):
        get(server, context=ssl.create_default_context(cafile=str(pki.directory / "rogue-ca.crt")))


@pytest.mark.parametrize(
    "opening", [b"", b"\x16\x03\x01garbage that is not a ClientHello", b"GET / HTTP/1.0\r\n"]
)
def test_a_stalled_client_does_not_block_other_clients(
    start: StartServer, pki: Pki, tls_config: WebConfig, opening: bytes
) -> None:
    server = start(tls_config)
    stalled = socket.create_connection(server.address)
    try:
        stalled.sendall(opening)
        # Before: accept() did the handshake and waited on the stalled peer, so this timed out.
        reply = get(server, context=client_context(pki))
        assert reply.status == 200
    finally:
        stalled.close()


# ---------------------------------------------------------------------------------------------------------
# mTLS


@pytest.fixture
def mtls_server(start: StartServer, pki: Pki) -> HttpServer:
    config = web_config(
        pki.directory,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    return start(config)


def test_mtls_client_with_a_certificate_from_the_ca_gets_the_page(mtls_server: HttpServer, pki: Pki) -> None:
    reply = get(mtls_server, context=client_context(pki, pki.client_cert, pki.client_key))
    assert reply.status == 200


def test_mtls_client_without_a_certificate_is_refused(mtls_server: HttpServer, pki: Pki) -> None:
    # With TLS 1.3 the refusal arrives after the client thinks the handshake is done, so it may surface
    # on the first read rather than in connect(); either way there is no page.
    with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
        get(mtls_server, context=client_context(pki))


def test_mtls_client_with_a_certificate_from_another_ca_is_refused(mtls_server: HttpServer, pki: Pki) -> None:
    with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
        get(mtls_server, context=client_context(pki, pki.rogue_cert, pki.rogue_key))


def test_mtls_refusals_do_not_take_the_server_down(mtls_server: HttpServer, pki: Pki) -> None:
    for _ in range(3):
        with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
            get(mtls_server, context=client_context(pki))
    assert get(mtls_server, context=client_context(pki, pki.client_cert, pki.client_key)).status == 200


# ---------------------------------------------------------------------------------------------------------
# Basic auth and headers


@pytest.fixture
def auth_server(start: StartServer, tmp_path: Path) -> HttpServer:
    config = web_config(
        tmp_path,
        f"basic_auth_users:\n  prometheus: {HASH}\n"
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        "    Content-Security-Policy: default-src 'none'\n",
    )
    return start(config)


def test_right_credentials_get_the_page(auth_server: HttpServer) -> None:
    reply = get(auth_server, headers=basic("prometheus", PASSWORD))
    assert reply.status == 200
    assert reply.body == b"hello over http\n"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param(basic("prometheus", "wrong"), id="wrong-password"),
        pytest.param(basic("prometheus", PASSWORD + " "), id="password-plus-a-space"),
        pytest.param(basic("grafana", PASSWORD), id="unknown-user"),
        pytest.param(basic("prometheus", "x" * 100), id="password-over-72-bytes"),
        pytest.param({"Authorization": "Basic"}, id="scheme-only"),
        pytest.param({"Authorization": "Basic !!!not-base64!!!"}, id="not-base64"),
        pytest.param({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, id="no-colon"),
        pytest.param({"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:pw").decode()}, id="not-utf8"),
        pytest.param({"Authorization": "Bearer abc.def.ghi"}, id="other-scheme"),
        pytest.param({"Authorization": "Basic w6k="}, id="latin1-garbage"),
    ],
)
def test_anything_but_the_right_credentials_is_401_with_a_challenge(
    auth_server: HttpServer, headers: dict[str, str]
) -> None:
    reply = get(auth_server, headers=headers)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="physgap"'
    assert b"hello" not in reply.body


def test_verified_credentials_are_cached_so_bcrypt_runs_once(auth_server: HttpServer) -> None:
    auth = auth_server.auth
    assert auth is not None
    for _ in range(5):
        assert get(auth_server, headers=basic("prometheus", PASSWORD)).status == 200
    assert auth.bcrypt_verifications == 1
    assert auth.cache_hits == 4


def test_the_cache_never_admits_a_different_password(auth_server: HttpServer) -> None:
    auth = auth_server.auth
    assert auth is not None
    assert get(auth_server, headers=basic("prometheus", PASSWORD)).status == 200
    # Each wrong attempt is checked by bcrypt again; none is served from the right password's entry.
    for wrong in ("wrong", PASSWORD[:-1], PASSWORD.upper()):
        assert get(auth_server, headers=basic("prometheus", wrong)).status == 401
    assert auth.bcrypt_verifications == 4
    # ... and the failures did not evict the verified entry.
    assert get(auth_server, headers=basic("prometheus", PASSWORD)).status == 200
    assert auth.bcrypt_verifications == 4


def test_unknown_users_cost_a_bcrypt_too(auth_server: HttpServer) -> None:
    # Otherwise an unknown user is answered in microseconds, a known one in milliseconds: a user oracle.
    auth = auth_server.auth
    assert auth is not None
    assert get(auth_server, headers=basic("grafana", PASSWORD)).status == 401
    assert auth.bcrypt_verifications == 1


def test_configured_headers_are_on_every_response(auth_server: HttpServer) -> None:
    for reply in (get(auth_server, headers=basic("prometheus", PASSWORD)), get(auth_server)):
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Content-Security-Policy"] == "default-src 'none'"


def test_tls_and_basic_auth_together(start: StartServer, pki: Pki) -> None:
    config = web_config(
        pki.directory,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  p: {HASH}\n",
    )
    server = start(config)
    assert get(server, context=client_context(pki)).status == 401
    assert get(server, headers=basic("p", PASSWORD), context=client_context(pki)).status == 200


# ---------------------------------------------------------------------------------------------------------
# Listen addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9829", ("127.0.0.1", 9829)),
        ("0.0.0.0:9829", ("0.0.0.0", 9829)),
        (":9829", ("0.0.0.0", 9829)),
        ("[::1]:9829", ("::1", 9829)),
        ("[::]:9829", ("::", 9829)),
        ("pve1.lan:65535", ("pve1.lan", 65535)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_listen_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "9829", "127.0.0.1", "127.0.0.1:", "::1:9829", "[::1]", "host:port", "host:0", "host:65536",
     "host:99999", " host:9829", "a b:9829", "[not v6]:9829", "http://host:9829"],
)
def test_parse_listen_address_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="bad listen address"):
        parse_listen_address(text)


def test_port_zero_only_when_asked_for() -> None:
    assert parse_listen_address("127.0.0.1:0", allow_zero=True) == ("127.0.0.1", 0)
    with pytest.raises(ValueError, match=r"outside 1\.\.65535"):
        parse_listen_address("127.0.0.1:0")
