"""The Prometheus exporter-toolkit `web-config.yml` format: TLS, mTLS, basic auth and extra headers.

Operators already keep one of these files for node_exporter and friends; physgap reads the same file
(https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md) so that one
file can be shared. Parsing is strict, like the toolkit's `yaml.UnmarshalStrict`: a misspelt key must
not silently turn authentication off. Where Python's `ssl` cannot do what the Go toolkit does, the file
is refused with a message saying so, never served with weaker protection than the operator wrote.

Differences from the toolkit, on purpose:
- The file is read once (at start or reload), not on every request.
- Inline `cert`/`key`/`client_ca`, `client_allowed_sans` and `rate_limit` are refused as unsupported.
- `RequestClientCert` never asks for a certificate (nothing here would look at one), and
  `RequireAnyClientCert` is served as `RequireAndVerifyClientCert`: Python cannot accept a client
  certificate without verifying it.
- `cipher_suites`, `curve_preferences`, `prefer_server_cipher_suites` and `http2` are accepted and ignored
  (OpenSSL's defaults are used; the server speaks HTTP/1.x).

Secrets (bcrypt hashes, the inline key) never appear in messages or logs.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, Final

log = logging.getLogger("physgap.exporters.webconfig")

CLIENT_AUTH_TYPES: Final = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
TLS_VERSIONS: Final[Mapping[str, ssl.TLSVersion]] = MappingProxyType(
    {
        "TLS10": ssl.TLSVersion.TLSv1,
        "TLS11": ssl.TLSVersion.TLSv1_1,
        "TLS12": ssl.TLSVersion.TLSv1_2,
        "TLS13": ssl.TLSVersion.TLSv1_3,
    }
)
# The toolkit only lets these headers be set, some with enumerated values, "to ensure consistency in the
# Prometheus ecosystem"; a file that node_exporter accepts must mean the same thing here.
ALLOWED_HEADERS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "Strict-Transport-Security": (),
        "X-Content-Type-Options": ("nosniff",),
        "X-Frame-Options": ("deny", "sameorigin"),
        "X-XSS-Protection": (),
        "Content-Security-Policy": (),
    }
)

# $2$, $2a$, $2b$, $2x$, $2y$ with a two-digit cost and 53 characters of salt+digest: what Go's
# bcrypt.Cost() accepts, so the same hashes are valid in both.
_BCRYPT_RE: Final = re.compile(r"\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}")

_TOP_KEYS: Final = frozenset({"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"})
_TLS_KEYS: Final = frozenset(
    {
        "cert",
        "key",
        "client_ca",
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "client_allowed_sans",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "curve_preferences",
    }
)
_HTTP_KEYS: Final = frozenset({"http2", "headers"})
_VERIFYING: Final = ("RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")


class WebConfigError(Exception):
    """A web-config.yml problem, as `file:line: key: problem` (line omitted when unknown)."""

    def __init__(self, file: str, key: str, problem: str, line: int | None = None) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.line = line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


@dataclass(frozen=True)
class TlsSettings:
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"


@dataclass(frozen=True)
class WebConfig:
    """One parsed web-config.yml. `basic_auth_users` maps user -> bcrypt hash; empty = no auth."""

    path: Path
    tls: TlsSettings | None = None
    # repr=False: the hashes are secrets and a dataclass repr ends up in logs and tracebacks.
    basic_auth_users: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def tls_enabled(self) -> bool:
        return self.tls is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A fresh server context (None without TLS); files are read now, so a renewed cert is picked up."""
        if self.tls is None:
            return None
        return build_ssl_context(self.tls, str(self.path))


class _EncryptedKey(Exception):
    pass


def _refuse_passphrase() -> str:
    # Without a password callback OpenSSL would prompt on the controlling terminal and hang a daemon.
    raise _EncryptedKey


def build_ssl_context(tls: TlsSettings, file: str = "web-config") -> ssl.SSLContext:
    """Build the server-side SSLContext; every failure is a WebConfigError naming the file at fault."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.minimum_version = TLS_VERSIONS[tls.min_version]
        ctx.maximum_version = TLS_VERSIONS[tls.max_version]
    except (ValueError, ssl.SSLError) as exc:
        raise WebConfigError(
            file, "tls_server_config.min_version", f"not supported by this OpenSSL: {exc}"
        ) from None
    for key, p in (("cert_file", tls.cert_file), ("key_file", tls.key_file)):
        _check_readable(file, f"tls_server_config.{key}", p)
    try:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file), password=_refuse_passphrase)
    except _EncryptedKey:
        raise WebConfigError(
            file,
            "tls_server_config.key_file",
            f"{tls.key_file} is passphrase-protected; use an unencrypted key",
        ) from None
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise WebConfigError(
            file,
            "tls_server_config.cert_file",
            f"cannot load certificate {tls.cert_file} with key {tls.key_file}: {reason}",
        ) from None
    if tls.client_auth_type in ("RequireAnyClientCert", "RequireAndVerifyClientCert"):
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif tls.client_auth_type == "VerifyClientCertIfGiven":
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:
        # RequestClientCert ends up here too: the toolkit asks for a certificate but never checks it, and
        # nothing in physgap looks at one, so not asking is the same contract without false assurance.
        ctx.verify_mode = ssl.CERT_NONE
    if tls.client_ca_file is not None:
        _check_readable(file, "tls_server_config.client_ca_file", tls.client_ca_file)
        try:
            ctx.load_verify_locations(cafile=str(tls.client_ca_file))
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            raise WebConfigError(
                file, "tls_server_config.client_ca_file", f"cannot load CA {tls.client_ca_file}: {reason}"
            ) from None
    return ctx


def _check_readable(file: str, key: str, p: Path) -> None:
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise WebConfigError(file, key, f"{p}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------------------------------------
# YAML with line numbers


class _LinedDict(dict[Any, Any]):
    """A YAML mapping that remembers the line of each key, for `file:line:` messages."""

    lines: dict[Any, int]


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        self.key = key
        self.line = line


@functools.cache
def _yaml() -> tuple[ModuleType, type[Any]]:
    """PyYAML and the strict loader, imported on first use: a daemon without a web config never pays the
    ~1.7 MB that importing yaml costs."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    return yaml, Loader


def _construct_mapping(loader: Any, node: Any) -> _LinedDict:
    loader.flatten_mapping(node)
    result = _LinedDict()
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in result
        except TypeError:
            raise _DuplicateKey(None, line) from None
        if duplicate:
            # Go's UnmarshalStrict refuses duplicates; PyYAML would keep the last one silently.
            raise _DuplicateKey(key, line)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result



# ---------------------------------------------------------------------------------------------------------
# Parsing


class _Ctx:
    def __init__(self, file: str, base: Path) -> None:
        self.file = file
        self.base = base

    def fail(self, key: str, problem: str, parent: Any = None, name: Any = None) -> WebConfigError:
        line = parent.lines.get(name) if isinstance(parent, _LinedDict) else None
        return WebConfigError(self.file, key, problem, line)

    def path(self, value: Any, key: str, parent: Mapping[str, Any], name: str) -> Path | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be a file name, not {_kind(value)}", parent, name)
        p = Path(value)
        # Relative to the config file's directory, as the toolkit's SetDirectory does, so a config
        # directory can be moved or mounted elsewhere as a unit.
        return p if p.is_absolute() else self.base / p


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _mapping(ctx: _Ctx, value: Any, key: str, parent: Any = None, name: Any = None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.fail(key, f"must be a mapping, not {_kind(value)}", parent, name)
    for k in value:
        if not isinstance(k, str):
            raise ctx.fail(f"{key}.{k}" if key else str(k), "keys must be strings (quote it)", value, k)
    return value


def _check_keys(ctx: _Ctx, section: dict[str, Any], allowed: frozenset[str], prefix: str) -> None:
    for k in section:
        if k not in allowed:
            where = f"{prefix}.{k}" if prefix else k
            raise ctx.fail(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})", section, k)


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read, validate and return a web-config.yml; also loads the TLS files once to prove they work."""
    p = Path(path)
    file = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise WebConfigError(file, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise WebConfigError(file, "", "not UTF-8 text") from None
    config = parse_web_config(text, p)
    # Fail at start-up, not on the first scrape: build the context once and throw it away.
    config.ssl_context()
    return config


def parse_web_config(text: str, path: Path) -> WebConfig:
    """Validate `text` as the contents of `path` (paths in it resolve against path's directory)."""
    file = str(path)
    ctx = _Ctx(file, path.parent if path.parent != Path() else Path.cwd())
    yaml, loader = _yaml()
    try:
        doc = yaml.load(text, Loader=loader)
    except _DuplicateKey as dup:
        what = "duplicate key" if dup.key is not None else "a mapping key must be a plain value"
        raise WebConfigError(file, "" if dup.key is None else str(dup.key), what, dup.line) from None
    except yaml.MarkedYAMLError as exc:
        # Never str(exc): PyYAML quotes the offending source line, which may hold a password hash.
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise WebConfigError(file, "", f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError:
        raise WebConfigError(file, "", "invalid YAML") from None

    top = _mapping(ctx, doc, "")
    _check_keys(ctx, top, _TOP_KEYS, "")
    if "rate_limit" in top:
        problem = "not supported by physgap; remove it or rate-limit in a proxy"
        raise ctx.fail("rate_limit", problem, top, "rate_limit")

    tls = _parse_tls(ctx, top)
    users = _parse_users(ctx, top)
    headers = _parse_http(ctx, top)
    return WebConfig(
        path=path,
        tls=tls,
        basic_auth_users=MappingProxyType(users),
        headers=MappingProxyType(headers),
    )


def _str_field(ctx: _Ctx, section: dict[str, Any], name: str, default: str) -> str:
    value = section.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise ctx.fail(f"tls_server_config.{name}", f"must be a string, not {_kind(value)}", section, name)
    return value


def _parse_tls(ctx: _Ctx, top: dict[str, Any]) -> TlsSettings | None:
    section = _mapping(ctx, top.get("tls_server_config"), "tls_server_config", top, "tls_server_config")
    _check_keys(ctx, section, _TLS_KEYS, "tls_server_config")

    for inline, instead in (("cert", "cert_file"), ("key", "key_file"), ("client_ca", "client_ca_file")):
        if section.get(inline) not in (None, ""):
            raise ctx.fail(
                f"tls_server_config.{inline}",
                f"inline PEM is not supported by physgap; put it in a file and use {instead}",
                section,
                inline,
            )
    if section.get("client_allowed_sans") not in (None, []):
        # Refused rather than ignored: ignoring it would admit every certificate the CA ever signed.
        raise ctx.fail(
            "tls_server_config.client_allowed_sans",
            "not supported by physgap; use a dedicated client CA instead",
            section,
            "client_allowed_sans",
        )

    for name in ("cipher_suites", "curve_preferences"):
        value = section.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ctx.fail(f"tls_server_config.{name}", "must be a list of strings", section, name)
        if value:
            log.info("%s: tls_server_config.%s is ignored; OpenSSL's defaults are used", ctx.file, name)
    prefer = section.get("prefer_server_cipher_suites")
    if prefer is not None and not isinstance(prefer, bool):
        name = "prefer_server_cipher_suites"
        raise ctx.fail(f"tls_server_config.{name}", "must be true or false", section, name)
    if prefer is not None:
        log.info("%s: tls_server_config.prefer_server_cipher_suites is ignored", ctx.file)

    auth = _str_field(ctx, section, "client_auth_type", "NoClientCert")
    if auth == "RequireClientCert":
        auth = "RequireAnyClientCert"  # the toolkit keeps this old spelling working
    if auth not in CLIENT_AUTH_TYPES:
        raise ctx.fail(
            "tls_server_config.client_auth_type",
            f"{auth!r} is not one of {', '.join(CLIENT_AUTH_TYPES)}",
            section,
            "client_auth_type",
        )
    versions = {}
    for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        versions[name] = _str_field(ctx, section, name, default)
        if versions[name] not in TLS_VERSIONS:
            raise ctx.fail(
                f"tls_server_config.{name}",
                f"{versions[name]!r} is not one of {', '.join(TLS_VERSIONS)}",
                section,
                name,
            )
    if list(TLS_VERSIONS).index(versions["min_version"]) > list(TLS_VERSIONS).index(versions["max_version"]):
        raise ctx.fail("tls_server_config.min_version", "is above max_version", section, "min_version")

    cert, key, ca = (
        ctx.path(section.get(name), f"tls_server_config.{name}", section, name)
        for name in ("cert_file", "key_file", "client_ca_file")
    )

    enabled = cert or key or ca or "client_auth_type" in section
    if not enabled:
        # Like the toolkit: a file without TLS settings serves plain HTTP (basic auth alone is legitimate).
        return None
    if cert is None or key is None:
        name = "cert_file" if cert is None else "key_file"
        problem = "is required when TLS is configured"
        raise ctx.fail(f"tls_server_config.{name}", problem, top, "tls_server_config")

    if ca is not None and auth in ("NoClientCert", "RequestClientCert"):
        raise ctx.fail(
            "tls_server_config.client_ca_file",
            f"is set but client_auth_type {auth} never verifies clients; use RequireAndVerifyClientCert",
            section,
            "client_ca_file",
        )
    if ca is None and auth in _VERIFYING:
        raise ctx.fail(
            "tls_server_config.client_ca_file",
            f"is required for client_auth_type {auth} (physgap verifies every client certificate it accepts)",
            section,
            "client_auth_type",
        )
    if auth == "RequireAnyClientCert":
        log.warning(
            "%s: client_auth_type RequireAnyClientCert is served as RequireAndVerifyClientCert: "
            "client certificates must be signed by %s",
            ctx.file,
            ca,
        )
    if auth == "RequestClientCert":
        log.info("%s: client_auth_type RequestClientCert: client certificates are not requested", ctx.file)

    if key.exists():
        try:
            mode = key.stat().st_mode
        except OSError:
            mode = 0
        if mode & stat.S_IROTH:
            log.warning("%s: key_file %s is world-readable; chmod o-r it", ctx.file, key)

    return TlsSettings(
        cert_file=cert,
        key_file=key,
        client_auth_type=auth,
        client_ca_file=ca,
        min_version=versions["min_version"],
        max_version=versions["max_version"],
    )


def _parse_users(ctx: _Ctx, top: dict[str, Any]) -> dict[str, str]:
    section = _mapping(ctx, top.get("basic_auth_users"), "basic_auth_users", top, "basic_auth_users")
    users: dict[str, str] = {}
    for user, hashed in section.items():
        key = f"basic_auth_users.{user}"
        if not user:
            raise ctx.fail(key, "user name must not be empty", section, user)
        if ":" in user:
            # Basic auth splits user:password at the first colon, so such a user could never log in.
            raise ctx.fail(key, "user name must not contain ':'", section, user)
        # The problems below deliberately never quote the value: it is (meant to be) a password hash.
        if not isinstance(hashed, str):
            raise ctx.fail(key, f"must be a bcrypt hash string, not {_kind(hashed)}", section, user)
        match = _BCRYPT_RE.fullmatch(hashed)
        if match is None:
            problem = "is not a bcrypt hash (make one with: htpasswd -nBC 10 '' | tr -d ':\\n')"
            raise ctx.fail(key, problem, section, user)
        if not 4 <= int(match.group(1)) <= 31:
            raise ctx.fail(key, "bcrypt cost must be between 4 and 31", section, user)
        users[user] = hashed
    return users


def _parse_http(ctx: _Ctx, top: dict[str, Any]) -> dict[str, str]:
    section = _mapping(ctx, top.get("http_server_config"), "http_server_config", top, "http_server_config")
    _check_keys(ctx, section, _HTTP_KEYS, "http_server_config")
    http2 = section.get("http2")
    if http2 is not None and not isinstance(http2, bool):
        raise ctx.fail("http_server_config.http2", "must be true or false", section, "http2")
    raw = _mapping(ctx, section.get("headers"), "http_server_config.headers", section, "headers")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        key = f"http_server_config.headers.{name}"
        if name not in ALLOWED_HEADERS:
            raise ctx.fail(key, f"cannot be configured (allowed: {', '.join(ALLOWED_HEADERS)})", raw, name)
        if value is None or value == "":
            continue  # the toolkit documents blank as "unset"
        if not isinstance(value, str):
            raise ctx.fail(key, f"must be a string, not {_kind(value)}", raw, name)
        if "\r" in value or "\n" in value:
            raise ctx.fail(key, "must not contain line breaks", raw, name)
        allowed = ALLOWED_HEADERS[name]
        if allowed and value not in allowed:
            raise ctx.fail(key, f"{value!r} is not one of {', '.join(allowed)}", raw, name)
        headers[name] = value
    return headers
