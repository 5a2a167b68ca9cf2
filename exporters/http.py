"""The HTTP(S) server behind /metrics: threaded, quiet, TLS/mTLS and basic auth from a web-config.yml.

Why not `prometheus_client.start_http_server`: it has no server-side basic auth, handshakes TLS inside
`accept()` (one client that opens a connection and says nothing stalls every scrape behind it), and
prints a line per request. This module keeps its WSGI server and fixes those three things.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import logging
import re
import secrets
import selectors
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from exporters.webconfig import WebConfig

__all__ = [
    "BasicAuth",
    "BindError",
    "HttpServer",
    "WSGIApplication",
    "serve",
]

log = logging.getLogger("physgap.exporters.http")

REALM: Final = "physgap"
_COST_RE: Final = re.compile(rb"\$2[abxy]?\$(\d\d)\$")
# A TLS client gets this long to finish its handshake, in its own thread; accept() never waits for it.
HANDSHAKE_TIMEOUT: Final = 10.0
# Idle or trickling connections are dropped after this, so threads do not pile up behind dead peers.
REQUEST_TIMEOUT: Final = 30.0

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


class BindError(Exception):
    """The listen address cannot be used; the message names it and says why (for the operator)."""


# ---------------------------------------------------------------------------------------------------------
# Listen addresses



def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------------------------------------
# WSGI middleware


def _plain_response(start_response: StartResponse, status: str, extra: list[tuple[str, str]]) -> list[bytes]:
    body = status.split(" ", 1)[1].encode() + b"\n"
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *extra]
    start_response(status, headers)
    return [body]


class BasicAuth:
    """Basic-auth gate with bcrypt hashes, as exporter-toolkit does it.

    bcrypt is slow on purpose (~70 ms at cost 10), too slow to pay on every scrape, so a verified
    password is remembered as an HMAC under a per-process random key: the cache holds nothing an
    attacker could crack offline, and holds at most one entry per configured user (a bcrypt hash
    matches one password), so it is bounded and cannot be flooded by failed attempts.
    """

    def __init__(self, app: WSGIApplication, users: Mapping[str, str], realm: str = REALM) -> None:
        self._app = app
        self._users = {user: hashed.encode("ascii") for user, hashed in users.items()}
        self._challenge = ("WWW-Authenticate", f'Basic realm="{realm}"')
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()
        # One bcrypt at a time: a burst of bad logins then costs one core, not all of them.
        self._bcrypt_lock = threading.Lock()
        self._decoy: bytes | None = None
        self._decoy_lock = threading.Lock()
        self._bcrypt_verifications = 0
        self._cache_hits = 0

    @property
    def bcrypt_verifications(self) -> int:
        """How many times a password went through bcrypt (cache misses, decoys included)."""
        return self._bcrypt_verifications

    @property
    def cache_hits(self) -> int:
        return self._cache_hits

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        credentials = _parse_basic(environ.get("HTTP_AUTHORIZATION"))
        if credentials is not None and self.check(*credentials):
            return self._app(environ, start_response)
        return _plain_response(start_response, "401 Unauthorized", [self._challenge])

    def check(self, user: str, password: bytes) -> bool:
        """True when `password` is `user`'s; never raises for any input."""
        hashed = self._users.get(user)
        digest = self._digest(user, hashed or b"", password)
        with self._lock:
            cached = self._verified.get(user)
        if hashed is not None and cached is not None and hmac.compare_digest(cached, digest):
            with self._lock:
                self._cache_hits += 1
            return True
        if hashed is None:
            # Unknown user: still spend one bcrypt so the answer takes as long as for a real user, or
            # response times would tell an attacker which user names exist.
            self._bcrypt(password, self._decoy_hash())
            return False
        ok = self._bcrypt(password, hashed)
        if ok:
            with self._lock:
                self._verified[user] = digest
        return ok

    def _digest(self, user: str, hashed: bytes, password: bytes) -> bytes:
        # Length-prefixed fields, so ("ab", "c") and ("a", "bc") cannot collide; the stored hash is part of
        # the key so that an entry can never outlive a password change.
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (user.encode("utf-8"), hashed, password):
            mac.update(len(part).to_bytes(4, "big"))
            mac.update(part)
        return mac.digest()

    def _bcrypt(self, password: bytes, hashed: bytes) -> bool:
        # Imported where used: a daemon without basic auth (the default) never pays for loading it.
        import bcrypt

        with self._bcrypt_lock:
            self._bcrypt_verifications += 1
            try:
                return bcrypt.checkpw(password, hashed)
            except ValueError:
                # bcrypt >= 5 refuses passwords over 72 bytes (Go's bcrypt does too): a mismatch, not a 500.
                return False

    def _decoy_hash(self) -> bytes:
        import bcrypt

        # Its own lock: making the decoy costs one bcrypt, and cache hits must not wait for that.
        with self._decoy_lock:
            if self._decoy is None:
                costs = [int(m.group(1)) for h in self._users.values() if (m := _COST_RE.match(h))]
                cost = min(max(costs, default=10), 31)
                self._decoy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
            return self._decoy


def _parse_basic(header: str | None) -> tuple[str, bytes] | None:
    """'Basic base64(user:password)' -> (user, password); None for anything else, never an exception."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        # WSGI hands headers over as latin-1 strings; base64 text is ASCII, anything else is garbage.
        raw = base64.b64decode(token.strip().encode("ascii"), validate=True)
        user_bytes, sep, password = raw.partition(b":")
        if not sep:
            return None
        return user_bytes.decode("utf-8"), password
    except (UnicodeError, binascii.Error, ValueError):
        return None


class _ExtraHeaders:
    """Adds the web-config `http_server_config.headers` to every response, 401s included."""

    def __init__(self, app: WSGIApplication, headers: Mapping[str, str]) -> None:
        self._app = app
        self._headers = list(headers.items())

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers = headers + [(n, v) for n, v in self._headers if n.lower() not in present]
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        return self._app(environ, start)


class _Guard:
    """Outermost layer: an exception in the application is a logged 500, never a traceback on stderr."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self._app(environ, start_response)
        except Exception:
            log.exception("error serving %s", environ.get("PATH_INFO", "?"))
            return _plain_response(start_response, "500 Internal Server Error", [])


# ---------------------------------------------------------------------------------------------------------
# Server


class _StderrToLog:
    """What wsgiref writes to 'stderr' (tracebacks after headers were sent) goes to the log instead."""

    def write(self, text: str) -> int:
        if text.strip():
            log.debug("wsgiref: %s", text.rstrip())
        return len(text)

    def flush(self) -> None:
        pass


class _Handler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        # A scrape every 15 s would otherwise write a line per scrape to the journal.
        log.debug("%s %s", self.address_string(), format % args)

    def get_stderr(self) -> Any:
        return _StderrToLog()


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hung client must not keep the daemon from exiting
    allow_reuse_address = True  # restart without waiting for TIME_WAIT; Linux still refuses a second listener
    request_queue_size = 64

    def __init__(
        self,
        sockaddr: tuple[Any, ...],
        family: socket.AddressFamily,
        app: WSGIApplication,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.address_family = family
        self._ssl_context = ssl_context
        super().__init__(sockaddr, _Handler)
        self.set_app(app)
        if ssl_context is not None:
            self.base_environ["HTTPS"] = "on"  # wsgiref derives wsgi.url_scheme from this

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # "[::]" should take IPv4 too, as Go exporters do, whatever net.ipv6.bindv6only says.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Skip HTTPServer.server_bind: its socket.getfqdn() can stall for seconds on a host with broken DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])
        self.setup_environ()

    def server_activate(self) -> None:
        super().server_activate()
        if self._ssl_context is not None:
            # Handshakes happen per connection in finish_request(), in the connection's own thread.
            self.socket = self._ssl_context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                # Port scanners, plain HTTP on the TLS port, clients without a valid certificate.
                log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # timeouts, resets: the peer's problem, not ours
            log.debug("connection from %s: %s", client_address[0], exc)
        else:
            log.warning("error handling request from %s", client_address[0], exc_info=True)


class HttpServer:
    """A running server; `shutdown()` stops it (idempotent, returns within about a second)."""

    def __init__(self, server: _Server, auth: BasicAuth | None, tls: bool) -> None:
        self._server = server
        self.auth = auth
        self.tls = tls
        self._stopped = False
        # socketserver's serve_forever() polls for shutdown (10 wakeups a second at 0.1 s), which was most
        # of the daemon's idle CPU; this loop sleeps until a client connects or shutdown() writes to a pipe.
        self._wake_r, self._wake_w = socket.socketpair()
        server.timeout = 0.5
        self._thread = threading.Thread(target=self._serve, name="physgap-http", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopped:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    # Readable, so this accepts at once and hands the connection to a thread; the server's
                    # timeout only bounds the wait if the client vanished between select and accept.
                    self._server.handle_request()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the real port when 0 was asked for."""
        sockaddr = self._server.server_address
        return str(sockaddr[0]), int(sockaddr[1])

    @property
    def url(self) -> str:
        host, port = self.address
        return f"{'https' if self.tls else 'http'}://{_format_address(host, port)}"

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._wake_w.send(b"x")
        self._thread.join(timeout=1.0)
        self._server.server_close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> HttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    try:
        infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"cannot listen on {_format_address(host, port)}: {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def serve(
    app: WSGIApplication,
    host: str,
    port: int,
    web_config: WebConfig | None,
) -> HttpServer:
    """Listen on host:port and serve `app` from a daemon thread, TLS and auth per `web_config`.

    Raises BindError when the address cannot be used, WebConfigError when the TLS files cannot be loaded.
    """
    wrapped: WSGIApplication = app
    auth: BasicAuth | None = None
    ssl_context: ssl.SSLContext | None = None
    if web_config is not None:
        if web_config.basic_auth_users:
            auth = wrapped = BasicAuth(wrapped, web_config.basic_auth_users)
        if web_config.headers:
            wrapped = _ExtraHeaders(wrapped, web_config.headers)
        ssl_context = web_config.ssl_context()
    family, sockaddr = _resolve(host, port)
    try:
        server = _Server(sockaddr, family, _Guard(wrapped), ssl_context)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRNOTAVAIL:
            reason += " (no interface of this host has that address)"
        raise BindError(f"cannot listen on {_format_address(host, port)}: {reason}") from None
    running = HttpServer(server, auth, ssl_context is not None)
    log.info(
        "serving on %s%s",
        running.url,
        f" (basic auth, {len(web_config.basic_auth_users)} users)" if auth and web_config else "",
    )
    return running

