"""The /metrics HTTP(S) server on real loopback sockets: TLS, mTLS, basic auth, headers, bind errors, and the
bounds of issue 8 (connection cap, idle and write timeouts, 4xx for slow or oversized requests, no thread per
connection)."""

from __future__ import annotations

import base64
import http.client
import json
import resource
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from wsgiref.types import StartResponse, WSGIEnvironment

import bcrypt
import pytest
from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app

from daemon.config import parse_listen_address
from exporters.http import MAX_CONNECTIONS, MIN_CONNECTIONS, BindError, HttpServer, connection_cap, serve
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
    if environ["PATH_INFO"] == "/bad-header":
        start_response("200 OK", [("X-Name", "caf\u00e9 \u2615")])  # not latin-1: not sendable
        return [b"never sent\n"]
    body = f"hello over {environ['wsgi.url_scheme']}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def web_config(directory: Path, text: str) -> WebConfig:
    path = directory / "web.yml"
    path.write_text(text)
    return load_web_config(path)


class StartServer(Protocol):
    def __call__(self, config: WebConfig | None = None, app: Any = hello_app, **options: Any) -> HttpServer: ...


@pytest.fixture
def start() -> Iterator[StartServer]:
    """Start servers on 127.0.0.1, any free port; all are shut down after the test."""
    servers: list[HttpServer] = []

    def _start(config: WebConfig | None = None, app: Any = hello_app, **options: Any) -> HttpServer:
        server = serve(app, "127.0.0.1", 0, config, **options)
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
    assert get(server, "/bad-header").status == 500
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


# ---------------------------------------------------------------------------------------------------------
# Raw HTTP: what a client that is not a well-behaved library gets


def exchange(server: HttpServer, request: bytes, timeout: float = 5) -> bytes:
    """Send `request` on a new connection; everything the server sends until it closes."""
    with socket.create_connection(server.address, timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def environ_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    keys = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL", "HTTP_ACCEPT", "HTTP_X_TWICE",
            "CONTENT_TYPE", "wsgi.url_scheme", "REMOTE_ADDR")
    body = json.dumps({key: environ.get(key) for key in keys} | {"underscored": "HTTP_X_UNDER_SCORE" in environ,
                                                                 "input": environ["wsgi.input"].read()
                                                                 .decode()}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])  # no Content-Length: the server adds it
    return [body]


def test_the_wsgi_environ_carries_what_the_request_said(start: StartServer) -> None:
    server = start(app=environ_app)
    response = exchange(server, b"POST /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: h\r\nAccept: text/plain\r\n"
                                b"X-Twice: one\r\nx-twice: two\r\nX_Under_Score: spoof\r\n"
                                b"Content-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/a b/c", "QUERY_STRING": "x=1&y=%41",
        "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_ACCEPT": "text/plain", "HTTP_X_TWICE": "one,two",
        "CONTENT_TYPE": "text/plain", "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1",
        # Header names with underscores are dropped, as wsgiref does: they would pose as dashed ones.
        "underscored": False, "input": "body",
    }


def test_head_gets_the_headers_without_the_body(start: StartServer) -> None:
    server = start()
    response = exchange(server, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert status_of(response) == 200
    assert b"Content-Length: 16\r\n" in response  # the length of the GET body, "hello over http\n"
    assert response.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    "request_bytes",
    [pytest.param(b"GET / HTTP/1.0\n\n", id="bare-LF-lines"),
     pytest.param(b"GET http://127.0.0.1/ HTTP/1.1\r\nHost: h\r\n\r\n", id="absolute-form")],
)
def test_requests_in_forms_clients_use_are_served(start: StartServer, request_bytes: bytes) -> None:
    assert exchange(start(), request_bytes).endswith(b"hello over http\n")


def test_a_request_that_trickles_in_byte_by_byte_is_served(start: StartServer) -> None:
    server = start()
    with socket.create_connection(server.address, timeout=5) as sock:
        for byte in b"GET / HTTP/1.1\r\nHost: h\r\n\r\n":
            sock.send(bytes([byte]))
            time.sleep(0.002)
        response = sock.makefile("rb").read()
    assert status_of(response) == 200 and response.endswith(b"hello over http\n")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\n\r\n", 414, id="long-url"),
        pytest.param(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", 431, id="huge-header"),
        pytest.param(b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431, id="101-headers"),
        pytest.param(b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 5000, 431, id="endless-headers"),
        pytest.param(b"garbage\r\n\r\n", 400, id="no-request-line"),
        pytest.param(b"GET  / HTTP/1.1\r\n\r\n", 400, id="double-space"),
        pytest.param(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400, id="space-in-header-name"),
        pytest.param(b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n", 400, id="header-without-colon"),
        pytest.param(b"GET / HTTP/1.1\r\nX-A: b\r\n folded\r\n\r\n", 400, id="obsolete-line-folding"),
        pytest.param(b"GET relative HTTP/1.1\r\n\r\n", 400, id="relative-target"),
        pytest.param(b"GET http://[not-v6/ HTTP/1.1\r\n\r\n", 400, id="absolute-target-bad-host"),
        pytest.param(b"GET / HTTX/1.1\r\n\r\n", 400, id="not-http"),
        pytest.param(b"GET / HTTP/2.0\r\n\r\n", 505, id="http2"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, id="tls-to-the-plain-port"),
    ],
)
def test_malformed_or_oversized_requests_get_a_4xx_or_5xx_and_the_server_goes_on(
    start: StartServer, request_bytes: bytes, status: int
) -> None:
    server = start()
    response = exchange(server, request_bytes)
    assert status_of(response) == status
    assert b"hello" not in response
    assert get(server).status == 200


def test_a_request_head_not_complete_within_the_idle_timeout_gets_408(start: StartServer) -> None:
    server = start(idle_timeout=0.3)
    assert status_of(exchange(server, b"GET / HTTP/1.1\r\nHost: h\r\n")) == 408


def test_a_connection_that_says_nothing_is_closed_after_the_idle_timeout(start: StartServer) -> None:
    server = start(idle_timeout=0.3)
    with socket.create_connection(server.address, timeout=5) as sock:
        assert sock.recv(1024) == b""  # closed without a word (the test's own timeout is 5 s)
    assert server.open_connections == 0


# ---------------------------------------------------------------------------------------------------------
# Bounds: threads, connections, slow readers


def wait_for(predicate: Any, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize(
    ("soft", "open_fds", "cap"),
    [(64, 12, 26), (1024, 20, 502), (20000, 20, MAX_CONNECTIONS), (16, 14, MIN_CONNECTIONS),
     (resource.RLIM_INFINITY, 20, MAX_CONNECTIONS)],
)
def test_connection_cap_leaves_half_the_free_descriptors_to_the_rest_of_the_daemon(
    soft: int, open_fds: int, cap: int
) -> None:
    assert connection_cap(soft, open_fds) == cap


def test_idle_connections_cost_no_threads(start: StartServer) -> None:
    server = start()
    threads = threading.active_count()
    idle = [socket.create_connection(server.address, timeout=5) for _ in range(200)]
    try:
        assert wait_for(lambda: server.open_connections == 200)
        assert threading.active_count() == threads  # before: one thread per connection
        assert get(server).status == 200
    finally:
        for sock in idle:
            sock.close()


def test_at_the_cap_the_longest_idle_connection_makes_room_for_a_new_one(start: StartServer) -> None:
    server = start(max_connections=3)
    oldest, *others = [socket.create_connection(server.address, timeout=5) for _ in range(3)]
    try:
        assert wait_for(lambda: server.open_connections == 3)
        assert get(server).status == 200
        assert oldest.recv(1024) == b""  # closed by the server to make room
        for sock in others:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # still open, nothing to read
                sock.recv(1024)
    finally:
        for sock in (oldest, *others):
            sock.close()


def test_when_every_connection_is_busy_new_ones_wait_and_are_then_served(start: StartServer) -> None:
    release = threading.Event()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if environ["PATH_INFO"] == "/block":
            release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done\n"]

    server = start(app=app, max_connections=2)
    busy = [threading.Thread(target=exchange, args=(server, b"GET /block HTTP/1.1\r\n\r\n")) for _ in range(2)]
    for thread in busy:
        thread.start()
    try:
        assert wait_for(lambda: server.open_connections == 2)
        with socket.create_connection(server.address, timeout=5) as waiting:
            waiting.sendall(b"GET / HTTP/1.1\r\n\r\n")
            waiting.settimeout(0.5)
            with pytest.raises(TimeoutError):  # queued in the kernel's backlog, not accepted
                waiting.recv(1024)
            assert server.open_connections == 2
            release.set()
            waiting.settimeout(5)
            assert waiting.makefile("rb").read().endswith(b"done\n")
    finally:
        release.set()
        for thread in busy:
            thread.join(5)


BIG = 16 * 1024 * 1024  # more than loopback socket buffers hold, so the server must wait for the reader


def big_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    size = BIG if environ["PATH_INFO"] == "/big" else 5
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
    return [b"x" * size]


def test_a_slow_reader_gets_all_of_a_large_answer_without_holding_up_others(start: StartServer) -> None:
    server = start(app=big_app, workers=1)
    with socket.create_connection(server.address, timeout=5) as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        slow.sendall(b"GET /big HTTP/1.1\r\n\r\n")
        time.sleep(0.2)
        # The only worker is free: the answer the reader has not taken yet waits in the epoll set.
        assert status_of(exchange(server, b"GET / HTTP/1.1\r\n\r\n")) == 200
        received = slow.makefile("rb").read()
    head, _, body = received.partition(b"\r\n\r\n")
    assert status_of(head) == 200 and len(body) == BIG


def test_a_client_that_stops_reading_is_dropped_after_the_write_timeout(start: StartServer) -> None:
    server = start(app=big_app, write_timeout=0.3)
    with socket.create_connection(server.address, timeout=5) as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        stalled.sendall(b"GET /big HTTP/1.1\r\n\r\n")
        assert wait_for(lambda: server.open_connections == 0)


def test_many_concurrent_clients_are_all_served(start: StartServer, pki: Pki, tls_config: WebConfig) -> None:
    plain, tls = start(), start(tls_config)
    context = client_context(pki)
    failures: list[BaseException] = []

    def client() -> None:
        try:
            for _ in range(15):
                assert get(plain).body == b"hello over http\n"
                assert get(tls, context=context).body == b"hello over https\n"
        except BaseException as exc:
            failures.append(exc)

    clients = [threading.Thread(target=client) for _ in range(16)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(60)
    assert failures == []
    assert wait_for(lambda: plain.open_connections == 0 and tls.open_connections == 0)


def test_a_flood_of_wrong_passwords_does_not_hold_up_verified_scrapes(start: StartServer, tmp_path: Path) -> None:
    # Cost 12: each wrong password costs ~0.25 s of bcrypt, and bcrypt runs one at a time.
    slow_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    server = start(web_config(tmp_path, f"basic_auth_users:\n  prometheus: {slow_hash}\n"))
    good = basic("prometheus", PASSWORD)
    assert get(server, headers=good).status == 200  # verified once, then served from the cache
    stop = threading.Event()

    def attacker() -> None:
        while not stop.is_set():
            get(server, headers=basic("prometheus", "guess"))

    attackers = [threading.Thread(target=attacker) for _ in range(8)]
    for thread in attackers:
        thread.start()
    try:
        time.sleep(0.3)
        for _ in range(5):
            started = time.monotonic()
            assert get(server, headers=good).status == 200
            assert time.monotonic() - started < 1.0
        auth = server.auth
        assert auth is not None and auth.busy_refusals > 0  # the excess was answered 503 at once
    finally:
        stop.set()
        for thread in attackers:
            thread.join(10)
