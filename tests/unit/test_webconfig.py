"""web-config.yml parsing: what a node_exporter user's file means here, and how mistakes are reported."""

from __future__ import annotations

import datetime
import logging
import ssl
from pathlib import Path

import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporters.webconfig import WebConfigError, load_web_config

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()


def _self_signed(directory: Path, name: str, *, passphrase: bytes | None = None) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def confdir(tmp_path: Path) -> Path:
    d = tmp_path / "etc"
    d.mkdir()
    _self_signed(d, "server")
    _self_signed(d, "clients-ca")
    return d


def _write(directory: Path, text: str, name: str = "web.yml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_full_file_resolves_relative_paths_against_its_own_directory(
    confdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        confdir,
        f"""
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: clients-ca.crt
  min_version: TLS13
basic_auth_users:
  prometheus: {HASH}
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
""",
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the daemon's cwd must not matter

    config = load_web_config(path)

    assert config.tls is not None
    assert config.tls.cert_file == confdir / "server.crt"
    assert config.tls.key_file == confdir / "server.key"
    assert config.tls.client_ca_file == confdir / "clients-ca.crt"
    assert config.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert dict(config.basic_auth_users) == {"prometheus": HASH}
    assert dict(config.headers) == {
        "X-Frame-Options": "deny",
        "Strict-Transport-Security": "max-age=31536000",
    }
    ctx = config.ssl_context()
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3


def test_defaults_match_exporter_toolkit(confdir: Path) -> None:
    path = _write(confdir, "tls_server_config: {cert_file: server.crt, key_file: server.key}\n")
    config = load_web_config(path)
    assert config.tls is not None
    assert (config.tls.client_auth_type, config.tls.min_version, config.tls.max_version) == (
        "NoClientCert",
        "TLS12",
        "TLS13",
    )
    ctx = config.ssl_context()
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "tls_server_config: {}\nbasic_auth_users:\n"])
def test_empty_sections_mean_plain_http_without_auth(confdir: Path, text: str) -> None:
    config = load_web_config(_write(confdir, text))
    assert config.tls is None
    assert not config.basic_auth_users
    assert config.ssl_context() is None


def test_basic_auth_without_tls_is_allowed(confdir: Path) -> None:
    config = load_web_config(_write(confdir, f"basic_auth_users:\n  alice: '{HASH}'\n"))
    assert config.tls is None
    assert set(config.basic_auth_users) == {"alice"}


def test_toolkit_y_prefix_hashes_are_accepted(confdir: Path) -> None:
    # htpasswd -B writes $2y$; the toolkit's own example file uses it.
    y_hash = HASH.replace("$2b$", "$2y$", 1)
    config = load_web_config(_write(confdir, f"basic_auth_users:\n  bob: {y_hash}\n"))
    assert config.basic_auth_users["bob"] == y_hash


def test_hashes_stay_out_of_repr(confdir: Path) -> None:
    config = load_web_config(_write(confdir, f"basic_auth_users:\n  alice: {HASH}\n"))
    assert HASH not in repr(config)
    assert HASH not in str(config)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("tls_server_confg: {}\n", "tls_server_confg", "unknown key"),
        ("tls_server_config:\n  cert_file: server.crt\n  key_fiel: server.key\n", "key_fiel", "unknown key"),
        ("http_server_config:\n  headerz: {}\n", "http_server_config.headerz", "unknown key"),
        ("tls_server_config:\n  key_file: server.key\n", "tls_server_config.cert_file", "required"),
        ("tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file", "required"),
        ("tls_server_config:\n  cert_file: 12\n  key_file: server.key\n", "cert_file", "must be a file name"),
        ("tls_server_config: [server.crt]\n", "tls_server_config", "must be a mapping"),
        ("basic_auth_users: [alice]\n", "basic_auth_users", "must be a mapping"),
        ("- just\n- a list\n", "", "must be a mapping"),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Yes\n",
            "client_auth_type",
            "must be a string",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  client_auth_type: RequireClientCertPlease\n",
            "client_auth_type",
            "is not one of",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: SSL3\n",
            "min_version",
            "is not one of",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  min_version: TLS13\n  max_version: TLS12\n",
            "min_version",
            "above max_version",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  client_ca_file: clients-ca.crt\n",
            "client_ca_file",
            "never verifies clients",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  client_auth_type: RequireAndVerifyClientCert\n",
            "client_ca_file",
            "is required",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: TLS_AES\n",
            "cipher_suites",
            "list of strings",
        ),
        ("tls_server_config:\n  cert: '-----BEGIN CERTIFICATE-----'\n", "tls_server_config.cert", "inline"),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.crt\n"
            "  client_allowed_sans: [scraper.lan]\n",
            "client_allowed_sans",
            "not supported",
        ),
        ("rate_limit: {interval: 1s, burst: 20}\n", "rate_limit", "not supported"),
        ("http_server_config:\n  headers:\n    X-Powered-By: me\n", "X-Powered-By", "cannot be configured"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "X-Frame-Options", "is not one of"),
        ("http_server_config:\n  http2: maybe\n", "http_server_config.http2", "true or false"),
        ("basic_auth_users:\n  a:b: " + HASH + "\n", "basic_auth_users.a:b", "must not contain ':'"),
        ("basic_auth_users:\n  1234: " + HASH + "\n", "1234", "must be strings"),
        ("basic_auth_users:\n  alice: 5\n", "basic_auth_users.alice", "must be a bcrypt hash string"),
    ],
)
def test_mistakes_are_reported_with_file_key_and_problem(
    confdir: Path, text: str, key: str, problem: str
) -> None:
    path = _write(confdir, text)
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert key in err.value.key, message
    assert problem in err.value.problem, message


def test_unknown_key_message_carries_the_line(confdir: Path) -> None:
    path = _write(
        confdir, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  verify: no\n"
    )
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert err.value.line == 4
    assert str(err.value).startswith(f"{path}:4: tls_server_config.verify: unknown key")


@pytest.mark.parametrize("hashed", ["s3cret", "{SHA}abcdefghijklmnopqrstuvwxyz01234567", "$2y$10$tooshort"])
def test_a_hash_that_is_not_bcrypt_is_refused_without_quoting_it(confdir: Path, hashed: str) -> None:
    path = _write(confdir, f"basic_auth_users:\n  alice: '{hashed}'\n")
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert str(path) in str(err.value)
    assert err.value.key == "basic_auth_users.alice"
    assert "not a bcrypt hash" in err.value.problem
    assert hashed not in str(err.value)


def test_bcrypt_cost_out_of_range_is_refused(confdir: Path) -> None:
    too_cheap = "$2b$03$" + HASH[7:]
    with pytest.raises(WebConfigError, match="cost"):
        load_web_config(_write(confdir, f"basic_auth_users:\n  alice: '{too_cheap}'\n"))


def test_bad_yaml_names_the_file_and_line_but_never_echoes_the_line(confdir: Path) -> None:
    # PyYAML's own message quotes the offending source line; here that line holds a password hash.
    path = _write(confdir, f"basic_auth_users:\n  alice: {HASH}\n   bob: [unclosed\n")
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert str(err.value).startswith(f"{path}:")
    assert "invalid YAML" in str(err.value)
    assert err.value.line is not None
    assert HASH not in str(err.value)
    assert HASH[7:29] not in str(err.value)


def test_duplicate_keys_are_refused_not_silently_merged(confdir: Path) -> None:
    path = _write(confdir, f"basic_auth_users:\n  alice: {HASH}\n  alice: {HASH}\n")
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert "duplicate key" in str(err.value)
    assert err.value.line == 3


def test_missing_key_file_names_key_and_path(confdir: Path) -> None:
    path = _write(confdir, "tls_server_config:\n  cert_file: server.crt\n  key_file: nope.key\n")
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert err.value.key == "tls_server_config.key_file"
    assert str(confdir / "nope.key") in err.value.problem
    assert str(path) in str(err.value)


def test_missing_cert_file_names_key_and_path(confdir: Path) -> None:
    path = _write(confdir, "tls_server_config:\n  cert_file: gone.crt\n  key_file: server.key\n")
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert err.value.key == "tls_server_config.cert_file"
    assert "gone.crt" in err.value.problem


def test_unreadable_client_ca_is_an_error(confdir: Path) -> None:
    path = _write(
        confdir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: missing-ca.pem\n",
    )
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert err.value.key == "tls_server_config.client_ca_file"
    assert "missing-ca.pem" in err.value.problem


def test_client_ca_that_is_not_a_certificate_is_an_error(confdir: Path) -> None:
    (confdir / "junk-ca.pem").write_text("not a certificate\n")
    path = _write(
        confdir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: junk-ca.pem\n",
    )
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert err.value.key == "tls_server_config.client_ca_file"


def test_key_that_does_not_match_the_cert_is_a_config_error(confdir: Path) -> None:
    path = _write(confdir, "tls_server_config:\n  cert_file: server.crt\n  key_file: clients-ca.key\n")
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert "server.crt" in err.value.problem
    assert "clients-ca.key" in err.value.problem


def test_passphrase_protected_key_fails_instead_of_prompting(confdir: Path) -> None:
    _self_signed(confdir, "locked", passphrase=b"hunter2")
    path = _write(confdir, "tls_server_config:\n  cert_file: locked.crt\n  key_file: locked.key\n")
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert err.value.key == "tls_server_config.key_file"
    assert "passphrase" in err.value.problem


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(WebConfigError) as err:
        load_web_config(path)
    assert str(err.value).startswith(f"{path}: cannot read")


def test_go_only_tuning_is_accepted_and_noted(confdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(
        confdir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"
        "  curve_preferences: [X25519]\n  prefer_server_cipher_suites: true\n",
    )
    with caplog.at_level(logging.INFO, logger="physgap.exporters.webconfig"):
        config = load_web_config(path)
    assert config.tls is not None
    ignored = " ".join(r.getMessage() for r in caplog.records)
    for key in ("cipher_suites", "curve_preferences", "prefer_server_cipher_suites"):
        assert f"{key} is ignored" in ignored


def test_require_any_client_cert_is_served_verified(confdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(
        confdir,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireAnyClientCert\n  client_ca_file: clients-ca.crt\n",
    )
    with caplog.at_level(logging.WARNING, logger="physgap.exporters.webconfig"):
        config = load_web_config(path)
    ctx = config.ssl_context()
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert any("RequireAndVerifyClientCert" in r.getMessage() for r in caplog.records)


def test_world_readable_key_is_warned_about(confdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    (confdir / "server.key").chmod(0o644)
    path = _write(confdir, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    with caplog.at_level(logging.WARNING, logger="physgap.exporters.webconfig"):
        load_web_config(path)
    assert any("world-readable" in r.getMessage() for r in caplog.records)
