"""The HTTP(S) server behind /metrics: a bounded worker pool, quiet, TLS/mTLS and basic auth from a web-config.yml.

Why not `prometheus_client.start_http_server` or `socketserver`: they start a thread per connection (1,500 idle
connections were 1,500 threads, and creating the thread was most of a scrape's CPU), have no cap on open
connections, handshake TLS inside `accept()` (one silent client stalls every scrape), have no server-side basic
auth and print a line per request.

How this one works: a few worker threads share one epoll set. Every socket in it -- the listener and each
connection -- is armed one-shot, so an event goes to exactly one worker, which then owns that socket until it
parks it again. All socket I/O is non-blocking: a worker never waits for a peer; a connection that has nothing
to read (or cannot take more of its answer) goes back into the epoll set and costs a file descriptor, no
thread. A worker that accepts a connection tries to serve it at once, so a scrape whose request is already
there costs no hand-off between threads.

Bounds, each for a reason:
- Open connections are capped (`max_connections`, from RLIMIT_NOFILE: the daemon's collectors need file
  descriptors too). At the cap, a new connection takes the place of the connection idle the longest; when
  every connection is busy, the listener is disarmed and new connections wait in the kernel's backlog. So a
  flood of idle connections can neither exhaust descriptors nor keep a scraper out.
- A connection gets IDLE_TIMEOUT to deliver a complete request head (TLS handshake included), and
  WRITE_TIMEOUT to take its answer.
- accept() failing for lack of descriptors or memory disarms the listener for a back-off that doubles from
  5 ms to 1 s (what Go's net/http does), instead of retrying in a busy loop.
- A request head is at most MAX_HEAD_BYTES and MAX_HEADERS lines: 414 / 431 past that; an incomplete head at
  the idle timeout gets 408.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import hmac
import io
import logging
import os
import re
import resource
import secrets
import select
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from types import TracebackType
from typing import Any, Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from exporters.webconfig import WebConfig

__all__ = [
    "BasicAuth",
    "BindError",
    "HttpServer",
    "WSGIApplication",
    "connection_cap",
    "serve",
]

log = logging.getLogger("physgap.exporters.http")

REALM: Final = "physgap"
_COST_RE: Final = re.compile(rb"\$2[abxy]?\$(\d\d)\$")

# Worker threads. All I/O is non-blocking, so a worker is only ever busy with CPU work (TLS handshakes,
# rendering, gzip) or with an application that waits (bcrypt): a few are plenty for a handful of scrapers.
WORKERS: Final = 4
# Upper bound on open connections whatever RLIMIT_NOFILE allows: a homelab host has a few scrapers and
# browsers, and each parked connection may hold a request head of up to MAX_HEAD_BYTES.
MAX_CONNECTIONS: Final = 512
# Lower bound, so that a tiny RLIMIT_NOFILE still leaves room for a scraper next to a stuck client.
MIN_CONNECTIONS: Final = 4
# From accept to a complete request head, TLS handshake included. A scraper sends its request at once;
# a Prometheus scrape_timeout is 10 s by default, so nothing legitimate waits longer.
IDLE_TIMEOUT: Final = 10.0
# From the first byte of the answer to the last: a client that stops reading is dropped after this.
WRITE_TIMEOUT: Final = 30.0
# A Prometheus request head is ~300 bytes and a browser's a few KiB; with MAX_CONNECTIONS parked heads
# this caps the buffered request bytes at 16 MiB.
MAX_HEAD_BYTES: Final = 32768
MAX_HEADERS: Final = 100  # what http.client allows
# Connections the kernel completes while the server is at its cap or busy; beyond it, SYNs are dropped and a
# client retries only after a second, so a burst of connections must fit.
LISTEN_BACKLOG: Final = 1024
ACCEPT_BACKOFF_MIN: Final = 0.005
ACCEPT_BACKOFF_MAX: Final = 1.0
# Deadlines are checked this often (while any connection is parked); they need no finer grain.
SCAN_INTERVAL: Final = 1.0
# accept() errors that mean "out of descriptors or memory": retrying at once would spin.
_RESOURCE_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# accept() errors about one connection that is already gone: the next one may be fine.
_TRANSIENT_ERRNOS: Final = frozenset(
    {errno.ECONNABORTED, errno.EAGAIN, errno.EINTR, errno.EPROTO, errno.EPERM, errno.ENETDOWN, errno.ENOPROTOOPT,
     errno.EHOSTDOWN, errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH}
)
_RECV_SIZE: Final = 16384
_WARN_EVERY: Final = 60.0

_IN: Final = select.EPOLLIN | select.EPOLLONESHOT
_OUT: Final = select.EPOLLOUT | select.EPOLLONESHOT

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


class BindError(Exception):
    """The listen address cannot be used; the message names it and says why (for the operator)."""


# ---------------------------------------------------------------------------------------------------------
# Listen addresses


def format_address(host: str, port: int) -> str:
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

    bcrypt runs one at a time, and at most `bcrypt_slots` requests may be running or waiting for it: the
    worker pool is bounded, and a flood of wrong passwords must not occupy every worker, or scrapes with
    already verified credentials (which never touch bcrypt) would queue behind it. A request past those
    slots gets 503 with Retry-After at once.
    """

    def __init__(
        self, app: WSGIApplication, users: Mapping[str, str], realm: str = REALM, bcrypt_slots: int = 2
    ) -> None:
        self._app = app
        self._users = {user: hashed.encode("ascii") for user, hashed in users.items()}
        self._challenge = ("WWW-Authenticate", f'Basic realm="{realm}"')
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()
        # One bcrypt at a time: a burst of bad logins then costs one core, not all of them.
        self._bcrypt_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, bcrypt_slots))
        self._decoy: bytes | None = None
        self._decoy_lock = threading.Lock()
        self._bcrypt_verifications = 0
        self._cache_hits = 0
        self._busy_refusals = 0

    @property
    def bcrypt_verifications(self) -> int:
        """How many times a password went through bcrypt (cache misses, decoys included)."""
        return self._bcrypt_verifications

    @property
    def cache_hits(self) -> int:
        return self._cache_hits

    @property
    def busy_refusals(self) -> int:
        """Requests answered 503 because every bcrypt slot was taken."""
        return self._busy_refusals

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        credentials = _parse_basic(environ.get("HTTP_AUTHORIZATION"))
        if credentials is None:
            return _plain_response(start_response, "401 Unauthorized", [self._challenge])
        verdict = self.verify(*credentials)
        if verdict is None:
            return _plain_response(start_response, "503 Service Unavailable", [("Retry-After", "1")])
        if verdict:
            return self._app(environ, start_response)
        return _plain_response(start_response, "401 Unauthorized", [self._challenge])

    def check(self, user: str, password: bytes) -> bool:
        """True when `password` is `user`'s, waiting for bcrypt if need be; never raises for any input."""
        return self._verify(user, password, wait=True) is True

    def verify(self, user: str, password: bytes) -> bool | None:
        """Like check(), but None at once when bcrypt is needed and every slot for it is taken."""
        return self._verify(user, password, wait=False)

    def _verify(self, user: str, password: bytes, wait: bool) -> bool | None:
        hashed = self._users.get(user)
        digest = self._digest(user, hashed or b"", password)
        with self._lock:
            cached = self._verified.get(user)
        if hashed is not None and cached is not None and hmac.compare_digest(cached, digest):
            with self._lock:
                self._cache_hits += 1
            return True
        if not self._slots.acquire(blocking=wait):
            with self._lock:
                self._busy_refusals += 1
            return None
        try:
            if hashed is None:
                # Unknown user: still spend one bcrypt so the answer takes as long as for a real user, or
                # response times would tell an attacker which user names exist.
                self._bcrypt(password, self._decoy_hash())
                return False
            ok = self._bcrypt(password, hashed)
        finally:
            self._slots.release()
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


# ---------------------------------------------------------------------------------------------------------
# HTTP/1.1, one request per connection


class _Errors:
    """wsgi.errors: what an application writes there goes to the debug log, never to stderr."""

    def write(self, text: str) -> int:
        if text.strip():
            log.debug("wsgi.errors: %s", text.rstrip())
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION: Final = re.compile(r"HTTP/(\d)\.(\d)")


class _Date:
    """The Date header, formatted once a second rather than on every answer."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._text = formatdate(now, usegmt=True)
            self._second = now
        return self._text


def _error(status: str, date: str) -> bytes:
    body = status.split(" ", 1)[1].encode() + b"\n"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        f"Date: {date}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body


def _head_end(buffer: bytearray, start: int) -> int:
    """Index just past the empty line that ends a request head (CRLF or bare LF lines), or -1."""
    crlf = buffer.find(b"\n\r\n", start)
    lf = buffer.find(b"\n\n", start)
    if crlf < 0:
        return lf + 2 if lf >= 0 else -1
    if lf < 0 or crlf < lf:
        return crlf + 3
    return lf + 2


def _parse(head: bytes, base: Mapping[str, Any]) -> dict[str, Any] | str:
    """A request head -> its WSGI environ, or the status line of the error to answer with. Never raises."""
    lines = head.decode("latin-1").split("\n")
    request_line = lines[0].rstrip("\r")
    parts = request_line.split(" ")
    if len(parts) != 3:
        return "400 Bad Request"
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        return "400 Bad Request"
    matched = _VERSION.fullmatch(version)
    if matched is None:
        return "400 Bad Request"
    if matched.group(1) != "1":
        return "505 HTTP Version Not Supported"
    if target.startswith("/"):
        path, _, query = target.partition("?")
    elif target.startswith(("http://", "https://")):
        try:
            split = urllib.parse.urlsplit(target)
        except ValueError:  # e.g. a bracketed host that is no IPv6 address
            return "400 Bad Request"
        path, query = split.path or "/", split.query
    else:
        return "400 Bad Request"
    environ = dict(base)
    environ["REQUEST_METHOD"] = method
    environ["PATH_INFO"] = urllib.parse.unquote(path, "latin-1") if "%" in path else path
    environ["QUERY_STRING"] = query
    environ["SERVER_PROTOCOL"] = version
    count = 0
    for raw in lines[1:]:
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line:
            continue
        if line[0] in " \t":
            # Obsolete line folding: RFC 9112 lets a server reject it, and accepting it invites smuggling.
            return "400 Bad Request"
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            return "400 Bad Request"
        count += 1
        if count > MAX_HEADERS:
            return "431 Request Header Fields Too Large"
        if "_" in name:
            # As wsgiref does: X_Forwarded_For would otherwise arrive as HTTP_X_FORWARDED_FOR.
            continue
        key = name.upper().replace("-", "_")
        value = value.strip(" \t")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
            if key in environ:
                value = environ[key] + "," + value
        environ[key] = value
    return environ


class _Response:
    """start_response for one request; the whole answer is built in memory before a byte is sent."""

    __slots__ = ("body", "headers", "status")

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None) -> Any:
        if self.status is not None and exc_info is None:
            raise RuntimeError("start_response called twice without exc_info")
        # Nothing has been sent yet, so an error page may always replace what was started (PEP 3333).
        self.status, self.headers = status, headers
        return self.body.append


def _run_app(app: WSGIApplication, environ: dict[str, Any], date: str, head_only: bool) -> bytes:
    response = _Response()
    try:
        result = app(environ, response)
        try:
            for chunk in result:
                if chunk:
                    response.body.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if response.status is None:
            raise RuntimeError("the application returned without calling start_response")
        body = b"".join(response.body)
        lines = [f"HTTP/1.1 {response.status}\r\n"]
        present = set()
        for name, value in response.headers:
            lines.append(f"{name}: {value}\r\n")
            present.add(name.lower())
        if "content-length" not in present:
            lines.append(f"Content-Length: {len(body)}\r\n")
        if "date" not in present:
            lines.append(f"Date: {date}\r\n")
        lines.append("Connection: close\r\n\r\n")
        head = "".join(lines).encode("latin-1")  # WSGI: headers are latin-1 strings; anything else is a 500
    except Exception:
        log.exception("error serving %s", environ.get("PATH_INFO", "?"))
        return _error("500 Internal Server Error", date)
    return head if head_only else head + body


# ---------------------------------------------------------------------------------------------------------
# Server


class _Connection:
    """One client connection and where its exchange stands. Mutable on purpose: it is a state machine owned
    by one worker at a time (the one that took its epoll event), handed over through the server's lock."""

    __slots__ = (
        "closed", "deadline", "fd", "handshaken", "head", "out", "parked", "peer", "registered", "sent", "sock",
    )

    def __init__(self, sock: socket.socket, peer: str, deadline: float, handshaken: bool) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.deadline = deadline
        self.handshaken = handshaken
        self.head = bytearray()
        self.out: memoryview | None = None
        self.sent = 0
        self.parked = False
        self.registered = False
        self.closed = False


def connection_cap(soft_limit: int, open_fds: int) -> int:
    """How many connections the server may hold: half of the descriptors still free under RLIMIT_NOFILE
    (collectors run programs and read files with the rest), within MIN_CONNECTIONS..MAX_CONNECTIONS."""
    if soft_limit == resource.RLIM_INFINITY or soft_limit < 0:
        return MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, (soft_limit - open_fds) // 2))


def _default_cap() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 32  # no /proc: a daemon at start-up holds about this many
    return connection_cap(soft, in_use)


_ARMED, _ACCEPTING, _FULL, _BACKOFF, _CLOSED = range(5)


class HttpServer:
    """A running server; `shutdown()` stops it (idempotent, returns within about a second)."""

    def __init__(
        self,
        listener: socket.socket,
        app: WSGIApplication,
        ssl_context: ssl.SSLContext | None,
        auth: BasicAuth | None,
        max_connections: int,
        workers: int,
        idle_timeout: float = IDLE_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self.auth = auth
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.tls = ssl_context is not None
        self.max_connections = max_connections
        self._listener = listener
        self._listen_fd = listener.fileno()
        sockaddr = listener.getsockname()
        self._address = (str(sockaddr[0]), int(sockaddr[1]))
        self._app = app
        self._ssl_context = ssl_context
        self._date = _Date()
        self._base_environ: dict[str, Any] = {
            "SERVER_NAME": self._address[0],
            "SERVER_PORT": str(self._address[1]),
            "SCRIPT_NAME": "",
            "CONTENT_TYPE": "",
            "CONTENT_LENGTH": "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.tls else "http",
            "wsgi.errors": _Errors(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if self.tls:
            self._base_environ["HTTPS"] = "on"

        self._lock = threading.Lock()
        # Parked connections in the order they were parked: the first idle one is the longest idle.
        self._parked: dict[int, _Connection] = {}
        self._open = 0
        self._listener_state = _ARMED
        self._resume_at = 0.0
        self._backoff = 0.0
        self._next_scan = 0.0
        self._accept_errors = 0
        self._evictions = 0
        self._last_warning: dict[str, float] = {}
        self._stopping = False

        self._epoll = select.epoll()
        self._wake_r, self._wake_w = socket.socketpair()
        # Level-triggered and never read: once written, every worker's poll returns, so all of them stop.
        self._epoll.register(self._wake_r.fileno(), select.EPOLLIN)
        self._epoll.register(self._listen_fd, _IN)
        self._threads = [
            threading.Thread(target=self._work, name=f"physgap-http-{n}", daemon=True) for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the real port when 0 was asked for."""
        return self._address

    @property
    def url(self) -> str:
        host, port = self.address
        return f"{'https' if self.tls else 'http'}://{format_address(host, port)}"

    @property
    def open_connections(self) -> int:
        return self._open

    # -- the worker loop ----------------------------------------------------------------------------------

    def _work(self) -> None:
        wake_fd = self._wake_r.fileno()
        while not self._stopping:
            try:
                # One event per poll: a worker busy with one connection must not sit on others' events.
                events = self._epoll.poll(self._poll_timeout(), 1)
            except OSError as exc:
                if self._stopping:
                    return  # the epoll set was closed: shutdown gave up waiting for this thread
                # Not seen in practice; never let it end a worker, never let it spin either.
                log.warning("HTTP worker: waiting for events failed: %s", exc)
                time.sleep(ACCEPT_BACKOFF_MAX)
                continue
            for fd, _ in events:
                if self._stopping or fd == wake_fd:
                    return
                try:
                    if fd == self._listen_fd:
                        self._accept()
                    else:
                        conn = self._claim(fd)
                        if conn is not None:
                            self._advance(conn)
                except Exception:
                    # A bug here must cost one connection, never a worker, and never the listener.
                    log.warning("HTTP worker: unexpected error", exc_info=True)
                    with self._lock:
                        if self._listener_state == _ACCEPTING:
                            self._resume_at = time.monotonic() + ACCEPT_BACKOFF_MAX
                            self._listener_state = _BACKOFF
            self._housekeeping()

    def _poll_timeout(self) -> float:
        # Unlocked reads: a stale value only makes this worker wake a little early or leave a check to another.
        wake = self._next_scan if self._parked else None
        if self._listener_state == _BACKOFF:
            wake = self._resume_at if wake is None else min(wake, self._resume_at)
        if wake is None:
            return -1  # nothing is waiting for a deadline: sleep until a client or shutdown()
        return max(0.0, wake - time.monotonic())

    def _housekeeping(self) -> None:
        if not self._parked and self._listener_state != _BACKOFF:
            return  # the common case after a scrape: nothing to check, and no lock to take
        now = time.monotonic()
        expired: list[_Connection] = []
        with self._lock:
            if self._listener_state == _BACKOFF and now >= self._resume_at:
                self._arm_listener_locked()
            if self._parked and now >= self._next_scan:
                self._next_scan = now + SCAN_INTERVAL
                for conn in list(self._parked.values()):
                    if conn.deadline <= now:
                        self._unpark_locked(conn)
                        expired.append(conn)
        for conn in expired:
            self._expire(conn)

    # -- connection ownership (all under the lock) --------------------------------------------------------

    def _claim(self, fd: int) -> _Connection | None:
        with self._lock:
            conn = self._parked.get(fd)
            if conn is None:
                # A stale event: the connection was closed (and its number perhaps reused) since the kernel
                # queued it. Whoever holds the connection now re-arms it if it needs to wait.
                return None
            self._unpark_locked(conn)
            return conn

    def _unpark_locked(self, conn: _Connection) -> None:
        del self._parked[conn.fd]
        conn.parked = False

    def _park(self, conn: _Connection, events: int) -> None:
        with self._lock:
            if not self._stopping:
                conn.parked = True
                self._parked[conn.fd] = conn
                if conn.registered:
                    self._epoll.modify(conn.fd, events)
                else:
                    self._epoll.register(conn.fd, events)
                    conn.registered = True
                return
        self._close(conn)

    def _oldest_idle_locked(self) -> _Connection | None:
        for conn in self._parked.values():
            if conn.out is None:  # still waiting for its request; answers being delivered are kept
                self._unpark_locked(conn)
                return conn
        return None

    def _arm_listener_locked(self) -> None:
        if self._stopping:
            self._listener_state = _CLOSED
            return
        self._epoll.modify(self._listen_fd, _IN)
        self._listener_state = _ARMED

    def _close(self, conn: _Connection, graceful: bool = False) -> None:
        with self._lock:
            if conn.closed:
                return
            conn.closed = True
            if conn.parked:
                self._unpark_locked(conn)
            if conn.registered:
                with contextlib.suppress(OSError):
                    self._epoll.unregister(conn.fd)
            self._open -= 1
            if self._listener_state == _FULL and self._open < self.max_connections:
                self._arm_listener_locked()
        sock = conn.sock
        try:
            if graceful:
                # FIN after the answer, then drop what the client sent beyond its request head: closing with
                # unread bytes would send a reset that can destroy the answer before the client reads it.
                sock.shutdown(socket.SHUT_WR)
                sock.recv(_RECV_SIZE)
        except (OSError, ValueError):
            pass
        finally:
            sock.close()

    # -- accepting ----------------------------------------------------------------------------------------

    def _accept(self) -> None:
        victim = None
        with self._lock:
            if self._listener_state != _ARMED:
                return
            self._listener_state = _ACCEPTING
            if self._open >= self.max_connections:
                victim = self._oldest_idle_locked()
                if victim is None:
                    # Every connection is busy: leave the listener disarmed, so new connections wait in the
                    # kernel's backlog; the next close re-arms it.
                    self._listener_state = _FULL
                    return
        if victim is not None:
            self._evictions += 1
            self._warn("cap", "%d connections open on %s, the most it holds: closing the longest idle ones to make "
                       "room for new ones (%d so far; the last from %s)", self._open, self.url, self._evictions,
                       victim.peer)
            self._close(victim)
        try:
            sock, peer = self._listener.accept()
        except OSError as exc:
            self._accept_failed(exc)
            return
        self._backoff = 0.0
        sock.setblocking(False)
        conn = _Connection(sock, str(peer[0]), time.monotonic() + self.idle_timeout, handshaken=not self.tls)
        with self._lock:
            self._open += 1
            self._arm_listener_locked()
        # The request is usually here already: serve it now, with no hand-off to another thread.
        self._advance(conn)

    def _accept_failed(self, exc: OSError) -> None:
        if exc.errno in _TRANSIENT_ERRNOS:
            with self._lock:
                self._arm_listener_locked()
            return
        if exc.errno in _RESOURCE_ERRNOS:
            with self._lock:
                victim = self._oldest_idle_locked()
            if victim is not None:
                # Closing an idle connection frees the descriptor the next accept needs.
                self._close(victim)
                with self._lock:
                    self._arm_listener_locked()
                return
        self._accept_errors += 1
        now = time.monotonic()
        self._backoff = min(ACCEPT_BACKOFF_MAX, max(ACCEPT_BACKOFF_MIN, self._backoff * 2))
        with self._lock:
            self._resume_at = now + self._backoff
            self._listener_state = _BACKOFF
        self._warn("accept", "cannot accept connections on %s: %s (%d open, at most %d; %d such errors so far); "
                   "retrying with back-off up to %.0f s", self.url, exc.strerror or exc, self._open,
                   self.max_connections, self._accept_errors, ACCEPT_BACKOFF_MAX)

    def _warn(self, kind: str, message: str, *args: object) -> None:
        """A warning at most once a minute per kind (debug in between): a flood must not flood the journal."""
        now = time.monotonic()
        last = self._last_warning.get(kind)
        if last is None or now - last >= _WARN_EVERY:
            self._last_warning[kind] = now
            log.warning(message, *args)
        else:
            log.debug(message, *args)

    # -- one connection, one step at a time -----------------------------------------------------------------

    def _advance(self, conn: _Connection) -> None:
        try:
            self._step(conn)
        except Exception:
            log.warning("error serving %s", conn.peer, exc_info=True)
            self._close(conn)

    def _step(self, conn: _Connection) -> None:
        sock = conn.sock
        if not conn.handshaken and self._ssl_context is not None:
            if not isinstance(sock, ssl.SSLSocket):
                # TLS state is set up only once the client speaks: until then a silent connection holds a
                # descriptor and nothing else.
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        self._close(conn)
                        return
                    sock = conn.sock = self._ssl_context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False)
                except BlockingIOError:
                    self._park(conn, _IN)
                    return
                except (OSError, ValueError) as exc:
                    log.debug("connection from %s: %s", conn.peer, exc)
                    self._close(conn)
                    return
            # The handshake runs here, in a worker, one non-blocking step per event: never in accept().
            try:
                sock.do_handshake()
            except ssl.SSLWantReadError:
                self._park(conn, _IN)
                return
            except ssl.SSLWantWriteError:
                self._park(conn, _OUT)
                return
            except (ssl.SSLError, OSError) as exc:
                # Port scanners, plain HTTP on the TLS port, clients without a valid certificate.
                log.debug("TLS handshake with %s failed: %s", conn.peer, exc)
                self._close(conn)
                return
            conn.handshaken = True
        out = conn.out if conn.out is not None else self._read_request(conn)
        if out is not None:
            self._write(conn, out)

    def _read_request(self, conn: _Connection) -> memoryview | None:
        """Read what has arrived; the answer once the request is complete (else None: parked or closed)."""
        head = conn.head
        sock = conn.sock
        while True:
            try:
                # Never more than one byte past the limit: that byte is enough to know the head is too long.
                data = sock.recv(min(_RECV_SIZE, MAX_HEAD_BYTES + 1 - len(head)))
            except (BlockingIOError, ssl.SSLWantReadError):
                self._park(conn, _IN)
                return None
            except ssl.SSLWantWriteError:
                self._park(conn, _OUT)
                return None
            except OSError as exc:
                log.debug("connection from %s: %s", conn.peer, exc)
                self._close(conn)
                return None
            if not data:
                self._close(conn)  # the client left before finishing its request
                return None
            start = max(0, len(head) - 2)
            head += data
            end = _head_end(head, start)
            if end >= 0:
                break
            if len(head) > MAX_HEAD_BYTES:
                break
        date = self._date()
        if end < 0 or end > MAX_HEAD_BYTES:
            # No end of line at all within the limit: the request line (the URL) is what is too long.
            too_long = "414 URI Too Long" if head.find(b"\n", 0, MAX_HEAD_BYTES) < 0 else (
                "431 Request Header Fields Too Large")
            log.debug("request from %s: %s", conn.peer, too_long)
            answer = _error(too_long, date)
        else:
            environ = _parse(bytes(head[:end]), self._base_environ)
            if isinstance(environ, str):
                log.debug("request from %s: %s", conn.peer, environ)
                answer = _error(environ, date)
            else:
                environ["REMOTE_ADDR"] = conn.peer
                environ["wsgi.input"] = io.BytesIO(bytes(head[end:]))
                answer = _run_app(self._app, environ, date, environ["REQUEST_METHOD"] == "HEAD")
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s %s %s %s", conn.peer, environ["REQUEST_METHOD"], environ["PATH_INFO"],
                              answer[9:12].decode("latin-1"))
        conn.head = bytearray()
        conn.out = memoryview(answer)
        conn.deadline = time.monotonic() + self.write_timeout
        return conn.out

    def _write(self, conn: _Connection, out: memoryview) -> None:
        sock = conn.sock
        sent = conn.sent
        while sent < len(out):
            try:
                sent += sock.send(out[sent:])
            except (BlockingIOError, ssl.SSLWantWriteError):
                conn.sent = sent
                self._park(conn, _OUT)
                return
            except ssl.SSLWantReadError:
                conn.sent = sent
                self._park(conn, _IN)
                return
            except OSError as exc:
                log.debug("connection from %s: %s", conn.peer, exc)
                self._close(conn)
                return
        self._close(conn, graceful=True)

    def _expire(self, conn: _Connection) -> None:
        if conn.out is None and conn.head and conn.handshaken:
            # Part of a request arrived but never all of it: say so once, without waiting to be heard.
            with contextlib.suppress(OSError):
                conn.sock.send(_error("408 Request Timeout", self._date()))
        log.debug("connection from %s timed out", conn.peer)
        self._close(conn, graceful=conn.out is None and bool(conn.head))

    # -- stopping -----------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        self._wake_w.send(b"x")
        deadline = time.monotonic() + 1.0
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._listener_state = _CLOSED
            parked = list(self._parked.values())
            for conn in parked:
                self._unpark_locked(conn)
        self._listener.close()
        # Parked connections belong to nobody; one a worker still holds is closed by that worker when it parks.
        for conn in parked:
            self._close(conn)
        if not any(thread.is_alive() for thread in self._threads):
            self._epoll.close()
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
        raise BindError(f"cannot listen on {format_address(host, port)}: {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _listen(family: socket.AddressFamily, sockaddr: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Restart without waiting for TIME_WAIT; Linux still refuses a second listener on the same port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # "[::]" should take IPv4 too, as Go exporters do, whatever net.ipv6.bindv6only says.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def serve(
    app: WSGIApplication,
    host: str,
    port: int,
    web_config: WebConfig | None,
    *,
    max_connections: int | None = None,
    workers: int = WORKERS,
    idle_timeout: float = IDLE_TIMEOUT,
    write_timeout: float = WRITE_TIMEOUT,
) -> HttpServer:
    """Listen on host:port and serve `app` from a pool of `workers` threads, TLS and auth per `web_config`.

    `max_connections` defaults to connection_cap() of this process's RLIMIT_NOFILE and open descriptors;
    the timeouts (seconds) are IDLE_TIMEOUT and WRITE_TIMEOUT unless given.
    Raises BindError when the address cannot be used, WebConfigError when the TLS files cannot be loaded.
    """
    wrapped: WSGIApplication = app
    auth: BasicAuth | None = None
    ssl_context: ssl.SSLContext | None = None
    if web_config is not None:
        if web_config.basic_auth_users:
            auth = wrapped = BasicAuth(wrapped, web_config.basic_auth_users, bcrypt_slots=max(1, workers // 2))
        if web_config.headers:
            wrapped = _ExtraHeaders(wrapped, web_config.headers)
        ssl_context = web_config.ssl_context()
    family, sockaddr = _resolve(host, port)
    try:
        listener = _listen(family, sockaddr)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRNOTAVAIL:
            reason += " (no interface of this host has that address)"
        raise BindError(f"cannot listen on {format_address(host, port)}: {reason}") from None
    cap = max_connections if max_connections is not None else _default_cap()
    running = HttpServer(listener, wrapped, ssl_context, auth, max(1, cap), max(1, workers), idle_timeout,
                         write_timeout)
    log.info(
        "serving on %s%s",
        running.url,
        f" (basic auth, {len(web_config.basic_auth_users)} users)" if auth and web_config else "",
    )
    log.debug("HTTP: %d workers, at most %d connections", workers, running.max_connections)
    return running

