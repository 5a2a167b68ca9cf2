"""NutClient against loopback fake upsd servers that misbehave in the ways real networks and servers do."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collectors.ups.nut_client import (
    MAX_LINE,
    NutClient,
    NutConnectionError,
    NutError,
    NutProtocolError,
    NutTimeout,
    escape_name,
    quote,
    split_words,
    valid_name,
)


class Conn:
    """One accepted connection, line oriented, as the fake server sees it."""

    def __init__(self, sock: socket.socket, server: FakeUpsd) -> None:
        self.sock = sock
        self.server = server
        self.file = sock.makefile("rb")

    def readline(self) -> str | None:
        try:
            line = self.file.readline()
        except OSError:
            return None
        if not line:
            return None
        text = line.decode().rstrip("\n")
        self.server.commands.append(text)
        return text

    def send(self, data: str | bytes) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def starttls(self, cert: Path, key: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.file = self.sock.makefile("rb")


Handler = Callable[[Conn, int], None]


class FakeUpsd:
    def __init__(self, handler: Handler) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.handler = handler
        self.connections = 0
        self.commands: list[str] = []
        self.stop = threading.Event()
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.socks.append(sock)
            index = self.connections
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock, index), daemon=True).start()

    def _serve(self, sock: socket.socket, index: int) -> None:
        try:
            self.handler(Conn(sock, self), index)
        except OSError:
            pass
        finally:
            sock.close()

    def client(self, **kwargs: object) -> NutClient:
        return NutClient("127.0.0.1", self.port, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


LIST_UPS = 'BEGIN LIST UPS\nUPS ups1 "Back-UPS"\nUPS ups2 "Description unavailable"\nEND LIST UPS\n'
LIST_VAR = ('BEGIN LIST VAR ups1\nVAR ups1 ups.status "OL"\nVAR ups1 battery.charge "100"\n'
            'VAR ups1 ups.model "Smart \\"X\\" 1\\\\2"\nEND LIST VAR ups1\n')
REPLIES = {
    "LIST UPS": LIST_UPS,
    "LIST VAR ups1": LIST_VAR,
    "LIST VAR stale": "ERR DATA-STALE\n",
    "LIST VAR gone": "ERR DRIVER-NOT-CONNECTED\n",
    "LIST VAR nope": "ERR UNKNOWN-UPS\n",
    "GET VAR ups1 ups.status": 'VAR ups1 ups.status "OL"\n',
    "GET NUMLOGINS ups1": "NUMLOGINS ups1 2\n",
    "LIST CLIENT ups1": "BEGIN LIST CLIENT ups1\nCLIENT ups1 127.0.0.1\nCLIENT ups1 ::1\nEND LIST CLIENT ups1\n",
}


def scripted(replies: dict[str, str | bytes]) -> Handler:
    def handle(conn: Conn, index: int) -> None:
        while (line := conn.readline()) is not None:
            conn.send(replies.get(line, "ERR UNKNOWN-COMMAND\n"))
    return handle


@pytest.fixture
def servers() -> Iterator[list[FakeUpsd]]:
    made: list[FakeUpsd] = []
    yield made
    for server in made:
        server.close()


def serve(servers: list[FakeUpsd], handler: Handler) -> FakeUpsd:
    server = FakeUpsd(handler)
    servers.append(server)
    return server


def test_reads_lists_values_and_counts(servers: list[FakeUpsd]) -> None:
    server = serve(servers, scripted(dict(REPLIES)))
    with server.client() as client:
        assert client.list_ups() == {"ups1": "Back-UPS", "ups2": "Description unavailable"}
        variables = client.list_var("ups1")
        assert variables["ups.model"] == 'Smart "X" 1\\2'
        assert variables["battery.charge"] == "100"
        assert client.get_var("ups1", "ups.status") == "OL"
        assert client.num_logins("ups1") == 2
        assert client.list_client("ups1") == ["127.0.0.1", "::1"]
    assert server.connections == 1  # one connection reused for every call
    assert not any(command.startswith("LOGIN") for command in server.commands)


def test_err_codes_are_typed_and_keep_the_connection(servers: list[FakeUpsd]) -> None:
    server = serve(servers, scripted(dict(REPLIES)))
    with server.client() as client:
        for ups, code in (("stale", "DATA-STALE"), ("gone", "DRIVER-NOT-CONNECTED"), ("nope", "UNKNOWN-UPS")):
            with pytest.raises(NutError) as info:
                client.list_var(ups)
            assert info.value.code == code
        assert client.list_var("ups1")["ups.status"] == "OL"
    assert server.connections == 1


def test_access_denied_with_detail(servers: list[FakeUpsd]) -> None:
    server = serve(servers, scripted({"LIST UPS": "ERR ACCESS-DENIED some detail\n"}))
    with server.client() as client, pytest.raises(NutError) as info:
        client.list_ups()
    assert (info.value.code, info.value.message) == ("ACCESS-DENIED", "some detail")


@pytest.mark.parametrize("reply", [
    b"\xff\xfdHELLO garbage\n",
    b"BEGIN LIST UPS\nUPS ups1\nEND LIST UPS\n",  # missing description
    b"BEGIN LIST VAR ups1\nEND LIST VAR ups1\n",  # answers another request
    b'BEGIN LIST UPS\nUPS ups1 "unterminated\n',
    b"OK\n",
])
def test_garbage_and_mismatched_replies_are_protocol_errors(servers: list[FakeUpsd], reply: bytes) -> None:
    server = serve(servers, scripted({"LIST UPS": reply}))
    with server.client(timeout=2) as client, pytest.raises(NutProtocolError):
        client.list_ups()


def test_reply_for_another_ups_or_variable_is_refused(servers: list[FakeUpsd]) -> None:
    server = serve(servers, scripted({
        "LIST VAR ups1": 'BEGIN LIST VAR ups1\nVAR ups2 ups.status "OL"\nEND LIST VAR ups1\n',
        "GET VAR ups1 ups.status": 'VAR ups1 battery.charge "100"\n',
        "GET NUMLOGINS ups1": "NUMLOGINS ups1 many\n",
    }))
    with server.client() as client:
        with pytest.raises(NutProtocolError):
            client.list_var("ups1")
        with pytest.raises(NutProtocolError):
            client.get_var("ups1", "ups.status")
        with pytest.raises(NutProtocolError):
            client.num_logins("ups1")


def test_names_that_are_not_utf8_are_escaped_never_merged(servers: list[FakeUpsd]) -> None:
    """`ups\\xff1` must not become `ups\\ufffd1` (which `ups\\xfe1` would become too): undecodable bytes and
    control characters of a name are escaped, and such a name is not valid to send back."""
    server = serve(servers, scripted({
        "LIST UPS": b'BEGIN LIST UPS\nUPS ups\xff1 "a"\nUPS ups\xfe1 "b"\nUPS ups\x011 "c"\nUPS ups1 "d\xe9"\n'
                    b'UPS b\xc3\xbcro "e"\nEND LIST UPS\n',
        "LIST VAR ups1": b'BEGIN LIST VAR ups1\nVAR ups1 ups.serial "AB\xe9C"\nEND LIST VAR ups1\n',
        "GET NUMLOGINS ups1": "NUMLOGINS ups1 " + "9" * 400 + "\n",
    }))
    with server.client() as client:
        names = client.list_ups()
        assert names == {"ups\\xff1": "a", "ups\\xfe1": "b", "ups\\x011": "c", "ups1": "d\ufffd", "büro": "e"}
        assert [valid_name(name) for name in names] == [False, False, False, True, True]
        # A value keeps the replacement character: it is shown, not sent back, and must not fail the poll.
        assert client.list_var("ups1")["ups.serial"] == "AB\ufffdC"
        with pytest.raises(NutProtocolError, match="not a count"):
            client.num_logins("ups1")  # 400 digits are no count of clients
        with pytest.raises(ValueError):
            client.list_var("ups\\xff1")  # an escaped name is never put on the wire


def test_escape_name_keeps_distinct_names_distinct() -> None:
    assert escape_name("ups\udcff1") == "ups\\xff1"
    assert escape_name("a\\b") == "a\\x5cb"  # a literal backslash cannot pass for an escape
    assert escape_name("ups\n1") == "ups\\x0a1"
    assert escape_name("Büro-1") == "Büro-1"


def test_over_long_line_is_refused_without_reading_on(servers: list[FakeUpsd]) -> None:
    def endless_line(conn: Conn, index: int) -> None:
        conn.readline()
        conn.send("BEGIN LIST UPS\nUPS ups1 \"")
        chunk = "x" * 65536
        try:
            for _ in range(200):  # far more than MAX_LINE; the client must stop reading long before
                conn.send(chunk)
        except OSError:
            pass

    server = serve(servers, endless_line)
    started = time.monotonic()
    with server.client(timeout=5) as client, pytest.raises(NutProtocolError, match=str(MAX_LINE)):
        client.list_ups()
    assert time.monotonic() - started < 3


def test_silent_server_hits_the_timeout(servers: list[FakeUpsd]) -> None:
    hold = threading.Event()
    server = serve(servers, lambda conn, index: hold.wait(10))
    started = time.monotonic()
    with server.client(timeout=0.5) as client, pytest.raises(NutTimeout):
        client.list_ups()
    elapsed = time.monotonic() - started
    hold.set()
    assert 0.4 < elapsed < 1.5
    assert server.connections == 1  # no reconnect after a timeout


def test_deadline_bounds_the_whole_sequence(servers: list[FakeUpsd]) -> None:
    """Each call would get 5 s on its own; the poll's deadline cuts the sequence short."""
    def slow(conn: Conn, index: int) -> None:
        while (line := conn.readline()) is not None:
            time.sleep(0.3)
            conn.send(REPLIES.get(line, "ERR UNKNOWN-COMMAND\n"))

    server = serve(servers, slow)
    with server.client(timeout=5) as client:
        started = time.monotonic()
        client.bound(started + 1.0)
        with pytest.raises(NutTimeout):
            for _ in range(10):
                client.get_var("ups1", "ups.status")
        assert time.monotonic() - started < 1.5
        # A per-call deadline works as well, and a later bound() lifts the old one.
        client.bound(None)
        with pytest.raises(NutTimeout):
            client.list_ups(deadline=time.monotonic() + 0.1)
        assert client.get_var("ups1", "ups.status") == "OL"


def test_cancel_event_stops_a_wait(servers: list[FakeUpsd]) -> None:
    hold = threading.Event()
    server = serve(servers, lambda conn, index: hold.wait(10))
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with server.client(timeout=5) as client:
        client.bound(None, cancel)
        with pytest.raises(NutTimeout, match="cancelled"):
            client.list_ups()
    hold.set()
    assert time.monotonic() - started < 1.5


def test_eof_mid_list_reconnects_once_and_succeeds(servers: list[FakeUpsd]) -> None:
    def flaky(conn: Conn, index: int) -> None:
        if index == 0:
            conn.readline()
            conn.send("BEGIN LIST VAR ups1\nVAR ups1 ups.status \"OL\"\n")
            return  # closes mid-list
        scripted(dict(REPLIES))(conn, index)

    server = serve(servers, flaky)
    with server.client() as client:
        assert client.list_var("ups1")["ups.status"] == "OL"
    assert server.connections == 2


def test_eof_mid_list_every_time_is_a_connection_error(servers: list[FakeUpsd]) -> None:
    def broken(conn: Conn, index: int) -> None:
        conn.readline()
        conn.send("BEGIN LIST VAR ups1\nVAR ups1 ups.status \"OL\"\n")

    server = serve(servers, broken)
    with server.client() as client, pytest.raises(NutConnectionError, match="closed"):
        client.list_var("ups1")
    assert server.connections == 2  # exactly one reconnect


def test_reconnects_after_the_server_dropped_an_idle_connection(servers: list[FakeUpsd]) -> None:
    def one_request_per_connection(conn: Conn, index: int) -> None:
        line = conn.readline()
        if line is not None:
            conn.send(REPLIES.get(line, "ERR UNKNOWN-COMMAND\n"))
        # then hang up, as a restarted upsd does

    server = serve(servers, one_request_per_connection)
    with server.client() as client:
        assert "ups1" in client.list_ups()
        time.sleep(0.1)
        assert client.num_logins("ups1") == 2
        assert client.get_var("ups1", "ups.status") == "OL"
    assert server.connections == 3


def test_refused_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with NutClient("127.0.0.1", port, timeout=1) as client, pytest.raises(NutConnectionError, match="refused"):
            client.list_ups()


def test_credentials_are_sent_quoted_and_never_shown(servers: list[FakeUpsd]) -> None:
    secret = 'pa ss"w\\rd'

    def auth_then_die(conn: Conn, index: int) -> None:
        conn.readline()
        conn.send("OK\n")
        conn.readline()
        conn.send("ERR ACCESS-DENIED\n")
    server = serve(servers, auth_then_die)
    with NutClient("127.0.0.1", server.port, username="monitor", password=secret) as client:
        with pytest.raises(NutError) as info:
            client.list_ups()
        assert secret not in str(info.value) and secret not in repr(client)
    assert server.commands[:2] == ["USERNAME monitor", 'PASSWORD "pa ss\\"w\\\\rd"']

    def hang_up_after_password(conn: Conn, index: int) -> None:
        conn.readline()
        conn.send("OK\n")
        conn.readline()

    server = serve(servers, hang_up_after_password)
    with NutClient("127.0.0.1", server.port, username="u", password=secret, timeout=1) as client:
        with pytest.raises(NutConnectionError) as conn_info:
            client.list_ups()
        assert secret not in str(conn_info.value)


def test_starttls_not_configured_is_a_clear_error(servers: list[FakeUpsd]) -> None:
    server = serve(servers, scripted({"STARTTLS": "ERR FEATURE-NOT-CONFIGURED\n"}))
    with server.client(starttls=True) as client, pytest.raises(NutError) as info:
        client.list_ups()
    assert info.value.code == "FEATURE-NOT-CONFIGURED"
    assert "STARTTLS" in str(info.value)


def test_starttls_wraps_the_connection(servers: list[FakeUpsd], tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from tests.pki import make_pki

    pki = make_pki(tmp_path)

    def tls(conn: Conn, index: int) -> None:
        if conn.readline() != "STARTTLS":
            return
        conn.send("OK STARTTLS\n")
        conn.starttls(pki.server_cert, pki.server_key)
        scripted(dict(REPLIES))(conn, index)

    server = serve(servers, tls)
    with server.client(starttls=True, ca_file=str(pki.ca)) as client:
        assert client.list_var("ups1")["ups.model"] == 'Smart "X" 1\\2'
    # Without the CA the certificate must not be accepted.
    with server.client(starttls=True, timeout=2) as client, pytest.raises(NutConnectionError, match="TLS"):
        client.list_ups()


def test_split_words_and_quote_round_trip() -> None:
    assert split_words('VAR ups1 ups.model "Smart \\"X\\" 1\\\\2"') == ["VAR", "ups1", "ups.model", 'Smart "X" 1\\2']
    assert split_words('VAR u v ""') == ["VAR", "u", "v", ""]
    for value in ('a "b" c', "back\\slash", "", "  spaced  "):
        assert split_words(f"X {quote(value)}") == ["X", value]
    for bad in ('X "open', "X trailing\\"):
        with pytest.raises(NutProtocolError):
            split_words(bad)


def test_names_that_would_inject_commands_are_refused() -> None:
    client = NutClient("127.0.0.1", 1)
    for bad in ("", "ups1\nLOGIN ups1", "a b", 'a"b'):
        with pytest.raises(ValueError):
            client.list_var(bad)
