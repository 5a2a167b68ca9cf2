"""A small, strict client for the NUT network protocol (upsd, TCP 3493), on a plain socket.

Why in-house (../shared/notes/ups-nut-snmp.md, section b): nut2 cannot be installed on Python 3.13 (telnetlib),
PyNUTClient spins at 100 % CPU when the server closes the connection, aionut leaks raw asyncio errors, and none
of them unescapes `\\"` and `\\\\` in quoted values. What this client guarantees instead:

* Read-only. It never sends LOGIN: a logged-in client counts in NUMLOGINS (which is how physgap sees whether
  a shutdown client is attached) and a primary upsmon would wait for it during a shutdown. USERNAME/PASSWORD
  are sent when configured, although upsd answers OK to anything there and checks nothing for reads.
* Every recv is bounded by a hard deadline: the per-call `timeout`, and on top a monotonic deadline set per
  poll (`bound()`) or per call (`deadline=`), so the collector's RunContext deadline bounds the whole poll.
  A cancel event is checked at least every `_SLICE` seconds while waiting.
* EOF, garbage, over-long lines and replies that do not answer the request are errors, never partial data.
* One reconnect (and a retry of the read-only request) when an established connection turns out broken, as
  after an upsd restart; never after a timeout, which would only double the time spent on a stalled server.
* No loopback stall: upsd writes a LIST reply line by line, so Nagle on its side plus delayed ACK on ours
  cost ~40 ms per LIST VAR. TCP_QUICKACK is re-armed before every recv (Linux; elsewhere a no-op) and our own
  requests go out with TCP_NODELAY; replies are read in large chunks through a buffer, not byte by byte.
* Passwords never appear in exception messages or logs: requests are echoed with their arguments redacted.
* Bytes that are not UTF-8 never become U+FFFD in a name: values (a Latin-1 serial) are shown with the
  replacement character as before, but a UPS name from `LIST UPS` is an identity, so its undecodable bytes
  (and control characters) are escaped as `\\xNN`, and such a name fails `valid_name` (see escape_name).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

DEFAULT_PORT = 3493
# upsd's own limits are far smaller (a value is at most 256 bytes, a line about 512); anything longer means
# the peer is not upsd, and reading on would let it make us buffer without bound.
MAX_LINE = 8192
# The largest real dump (an Eaton ePDU) has 581 variables; 20000 list items is a safety cap, not a expectation.
MAX_LIST_ITEMS = 20000
_RECV_CHUNK = 65536
# Longest single wait on the socket, so that a cancel event is noticed promptly during a long timeout.
_SLICE = 0.25
# upsd counts its clients in an int; anything larger is not a count it could have sent.
_MAX_COUNT = 0x7FFFFFFF
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)

_T = TypeVar("_T")


class NutClientError(Exception):
    """Base of everything this client raises."""


class NutError(NutClientError):
    """upsd answered `ERR <CODE> [detail]`; `code` is the protocol word (DATA-STALE, UNKNOWN-UPS, ...)."""

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)


class NutProtocolError(NutClientError):
    """The peer sent something that is not a valid answer to the request (garbage, wrong reply, too long)."""


class NutConnectionError(NutClientError):
    """Could not connect, or the connection broke (EOF, reset) and the one reconnect did not help."""


class NutTimeout(NutClientError):
    """The call did not complete before its timeout or the poll's deadline (or the poll was cancelled)."""


class _Broken(Exception):
    """Internal: the established connection is gone (EOF/reset/pipe); eligible for the one reconnect."""


def quote(value: str) -> str:
    """A protocol argument: double-quoted, with `"` and `\\` escaped (upsd's parser undoes exactly these)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_words(line: str, *, comments: bool = False, strict: bool = True) -> list[str]:
    """Split one line into words: whitespace separates, `"..."` quotes, `\\` escapes the next char.

    This is the inverse of upsd's pconf_encode(): `VAR ups ups.model "Smart \\"X\\" 1\\\\2"` gives the value
    `Smart "X" 1\\2`. On the protocol (`strict`) an unterminated quote or a dangling backslash is an error,
    never a short value. Config files (upsmon.conf) are read with `comments` (an unquoted `#` ends the
    line) and leniently: an unterminated quote runs to the end of the line, as NUT's parseconf does.
    """
    words: list[str] = []
    current: list[str] = []
    in_word = in_quote = escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = in_word = True
        elif in_quote:
            if char == '"':
                in_quote = False
            else:
                current.append(char)
        elif char == '"':
            in_quote = in_word = True
        elif comments and char == "#":
            break
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if strict and (in_quote or escaped):
        raise NutProtocolError(f"unterminated quote or escape in reply line {_show(line)}")
    if in_word:
        words.append("".join(current))
    return words


def escape_name(word: str) -> str:
    """A name as the server sent it, in printable text: undecodable bytes, control characters and the backslash
    itself as `\\xNN`, so the escape cannot be confused with a name and distinct names stay distinct.

    `word` comes from a line decoded with surrogateescape (an undecodable byte 0xNN is U+DCNN there).
    """
    out: list[str] = []
    for char in word:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char == "\\" or not char.isprintable():
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8"))
        else:
            out.append(char)
    return "".join(out)


def valid_name(name: str) -> bool:
    """True for a name that can be sent back to upsd as one protocol word.

    upsd itself never lists anything else: its config parser drops non-ASCII bytes from UPS names (upsd 2.8.0
    serves a Latin-1 `[b\\xfcro]` and a UTF-8 `[büro]` both as `bro`), so an escaped name comes from a peer
    that is not upsd.
    """
    return _plain(name)


def _text(word: str) -> str:
    """A value for display: undecodable bytes as U+FFFD, so a Latin-1 serial does not fail the poll."""
    return word.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _show(line: str, limit: int = 80) -> str:
    """A reply line fit for an error message: repr'd (control bytes visible) and shortened."""
    return repr(line if len(line) <= limit else line[:limit] + "...")


class NutClient:
    """A connection to one upsd. Not thread-safe: use one instance per thread (the collector does).

    The connection is opened lazily, kept between calls (and polls), and reopened once when found broken.
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, timeout: float = 5.0, username: str | None = None,
                 password: str | None = None, starttls: bool = False, ca_file: str | Path | None = None) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.host = host
        self.port = int(port)
        self.timeout = float(timeout)
        self._username = username or None
        self._password = password or None
        self._starttls = starttls
        self._ca_file = ca_file or None
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._deadline: float | None = None
        self._cancel: threading.Event | None = None
        self._call_deadline = 0.0

    def __repr__(self) -> str:  # deliberately without credentials
        return f"NutClient({self.host!r}, {self.port})"

    # -- public API ------------------------------------------------------------------------------------------

    def bound(self, deadline: float | None, cancel: threading.Event | None = None) -> None:
        """Set the hard deadline (a time.monotonic() value) and cancel event for every following call."""
        self._deadline = deadline
        self._cancel = cancel

    def list_ups(self, deadline: float | None = None) -> dict[str, str]:
        """`LIST UPS`: {name: description} of every UPS upsd serves (stale or disconnected ones included)."""
        rows = self._call(deadline, lambda: self._list(("UPS",), "UPS", 2))
        return {escape_name(row[0]): _text(row[1]) for row in rows}

    def list_var(self, ups: str, deadline: float | None = None) -> dict[str, str]:
        """`LIST VAR <ups>`: every variable with its unescaped value."""
        _check_name(ups)
        rows = self._call(deadline, lambda: self._list(("VAR", ups), "VAR", 2, ups))
        return {_text(row[0]): _text(row[1]) for row in rows}

    def get_var(self, ups: str, var: str, deadline: float | None = None) -> str:
        """`GET VAR <ups> <var>`: one value, unescaped."""
        _check_name(ups)
        _check_name(var)
        words = self._call(deadline, lambda: self._single(("GET", "VAR", ups, var), ("VAR", ups, var), 1))
        return _text(words[0])

    def num_logins(self, ups: str, deadline: float | None = None) -> int:
        """`GET NUMLOGINS <ups>`: clients logged in to this UPS, i.e. attached upsmon instances."""
        _check_name(ups)
        words = self._call(deadline, lambda: self._single(("GET", "NUMLOGINS", ups), ("NUMLOGINS", ups), 1))
        try:
            count = int(words[0])
        except ValueError:
            raise NutProtocolError(f"NUMLOGINS for {ups} is not a number: {_show(words[0])}") from None
        if not 0 <= count <= _MAX_COUNT:
            raise NutProtocolError(f"NUMLOGINS for {ups} is not a count of clients: {_show(words[0])}")
        return count

    def list_client(self, ups: str, deadline: float | None = None) -> list[str]:
        """`LIST CLIENT <ups>`: addresses of the logged-in clients."""
        _check_name(ups)
        rows = self._call(deadline, lambda: self._list(("CLIENT", ups), "CLIENT", 1, ups))
        return [_text(row[0]) for row in rows]

    def close(self) -> None:
        """Drop the connection (upsd needs no LOGOUT from a client that never logged in)."""
        sock, self._sock = self._sock, None
        self._buffer.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> NutClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- call machinery --------------------------------------------------------------------------------------

    def _call(self, deadline: float | None, operation: Callable[[], _T]) -> _T:
        limit = time.monotonic() + self.timeout
        for bound in (deadline, self._deadline):
            if bound is not None:
                limit = min(limit, bound)
        self._call_deadline = limit
        for attempt in (1, 2):
            try:
                if self._sock is None:
                    self._connect()
                return operation()
            except _Broken as exc:
                self.close()
                # One reconnect: the usual cause is an idle connection that upsd (or a restart) dropped. The
                # requests are read-only, so repeating one is safe.
                if attempt == 1:
                    continue
                raise NutConnectionError(f"{self.host}:{self.port}: {exc}") from None
            except NutTimeout:
                self.close()  # the stream's position in the reply is unknown now
                raise
            except NutProtocolError:
                self.close()
                raise
            except NutError:
                raise  # a well-formed ERR leaves the connection in sync
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _remaining(self) -> float:
        return self._call_deadline - time.monotonic()

    def _check_time(self, what: str) -> float:
        if self._cancel is not None and self._cancel.is_set():
            raise NutTimeout(f"{self.host}:{self.port}: cancelled while {what}")
        remaining = self._remaining()
        if remaining <= 0:
            raise NutTimeout(f"{self.host}:{self.port}: timed out while {what}")
        return remaining

    def _connect(self) -> None:
        remaining = self._check_time("connecting")
        try:
            # Name resolution inside create_connection is not bounded by the timeout; configure addresses (or
            # rely on the scheduler's hard timeout) where DNS may hang.
            sock = socket.create_connection((self.host, self.port), timeout=min(remaining, self.timeout))
        except TimeoutError:
            raise NutTimeout(f"{self.host}:{self.port}: timed out while connecting") from None
        except OSError as exc:
            raise NutConnectionError(f"{self.host}:{self.port}: {_os_reason(exc)}") from None
        with contextlib.suppress(OSError):  # only fails on non-TCP sockets, where it does not matter
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buffer.clear()
        try:
            if self._starttls:
                self._start_tls()
            if self._username is not None:
                self._expect_ok(("USERNAME", self._username), "USERNAME")
            if self._password is not None:
                self._expect_ok(("PASSWORD", self._password), "PASSWORD")
        except _Broken as exc:
            # A server that hangs up during the handshake is not "an established connection that broke".
            self.close()
            raise NutConnectionError(f"{self.host}:{self.port}: {exc}") from None
        except BaseException:
            self.close()
            raise

    def _start_tls(self) -> None:
        self._send(("STARTTLS",))
        line = self._readline("STARTTLS")
        if line.startswith("ERR "):
            error = _error(line)
            if error.code == "FEATURE-NOT-CONFIGURED":
                raise NutError(error.code, "upsd does not offer STARTTLS (no CERTFILE/CERTPATH configured "
                                           "on the server); disable starttls or configure TLS in upsd.conf")
            raise error
        if line != "OK STARTTLS":
            raise NutProtocolError(f"unexpected reply to STARTTLS: {_show(line)}")
        if self._buffer:
            # Anything after OK STARTTLS must be TLS; plaintext here would be injected data.
            raise NutProtocolError("plaintext data after OK STARTTLS")
        context = ssl.create_default_context(cafile=self._ca_file)
        sock = self._connected()
        sock.settimeout(max(self._check_time("starting TLS"), 0.001))
        try:
            self._sock = context.wrap_socket(sock, server_hostname=self.host)
        except TimeoutError:
            raise NutTimeout(f"{self.host}:{self.port}: timed out during the TLS handshake") from None
        except ssl.SSLError as exc:
            raise NutConnectionError(f"{self.host}:{self.port}: TLS handshake failed: {exc}") from None
        except OSError as exc:
            raise _Broken(_os_reason(exc)) from None

    def _expect_ok(self, words: tuple[str, ...], name: str) -> None:
        self._send(words)
        line = self._readline(name)
        if line.startswith("ERR "):
            raise _error(line)
        if line != "OK" and not line.startswith("OK "):
            raise NutProtocolError(f"unexpected reply to {name}: {_show(line)}")

    # -- requests --------------------------------------------------------------------------------------------

    def _single(self, request: tuple[str, ...], prefix: tuple[str, ...], values: int) -> list[str]:
        """Send one request whose answer is one line `<prefix...> <values...>`; return the values."""
        self._send(request)
        line = self._readline(request[0])
        if line.startswith("ERR "):
            raise _error(line)
        words = split_words(line)
        if len(words) != len(prefix) + values or tuple(words[: len(prefix)]) != prefix:
            raise NutProtocolError(f"reply does not answer {_redact(request)}: {_show(line)}")
        return words[len(prefix):]

    def _list(self, what: tuple[str, ...], item: str, values: int, ups: str | None = None) -> list[list[str]]:
        """`LIST <what>`: BEGIN LIST <what> / <item> [ups] <values...> ... / END LIST <what>."""
        request = ("LIST", *what)
        self._send(request)
        header = " ".join(request)
        first = self._readline(header)
        if first.startswith("ERR "):
            raise _error(first)
        if split_words(first) != ["BEGIN", *request]:
            raise NutProtocolError(f"reply does not answer {header}: {_show(first)}")
        prefix = (item,) if ups is None else (item, ups)
        rows: list[list[str]] = []
        while True:
            line = self._readline(header)
            words = split_words(line)
            if words == ["END", *request]:
                return rows
            if len(words) != len(prefix) + values or tuple(words[: len(prefix)]) != prefix:
                raise NutProtocolError(f"unexpected line in {header}: {_show(line)}")
            rows.append(words[len(prefix):])
            if len(rows) > MAX_LIST_ITEMS:
                raise NutProtocolError(f"{header}: more than {MAX_LIST_ITEMS} items")

    # -- wire ------------------------------------------------------------------------------------------------

    def _connected(self) -> socket.socket:
        if self._sock is None:
            raise _Broken("not connected")
        return self._sock

    def _send(self, words: tuple[str, ...]) -> None:
        sock = self._connected()
        data = (" ".join(w if _plain(w) else quote(w) for w in words) + "\n").encode()
        sock.settimeout(max(self._check_time(f"sending {_redact(words)}"), 0.001))
        try:
            sock.sendall(data)
        except TimeoutError:
            raise NutTimeout(f"{self.host}:{self.port}: timed out while sending {_redact(words)}") from None
        except OSError as exc:
            raise _Broken(_os_reason(exc)) from None

    def _readline(self, what: str) -> str:
        """One reply line without its newline; bounded by the call deadline and MAX_LINE."""
        sock = self._connected()
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                raw = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                if len(raw) > MAX_LINE:
                    raise NutProtocolError(f"reply line to {what} longer than {MAX_LINE} bytes")
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                # Lossless: upsd passes driver bytes through, and a name must keep its own bytes to be escaped
                # rather than merged with another into U+FFFD. The public methods decide how each word is shown
                # (escape_name, _text); nothing with a surrogate leaves this class.
                return raw.decode("utf-8", "surrogateescape")
            if len(self._buffer) > MAX_LINE:
                raise NutProtocolError(f"reply line to {what} longer than {MAX_LINE} bytes")
            remaining = self._check_time(f"waiting for the reply to {what}")
            if _QUICKACK is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            sock.settimeout(min(remaining, _SLICE))
            try:
                chunk = sock.recv(_RECV_CHUNK)
            except TimeoutError:
                continue  # re-check cancel and deadline
            except OSError as exc:
                raise _Broken(_os_reason(exc)) from None
            if not chunk:
                raise _Broken(f"connection closed by the server while waiting for the reply to {what}")
            self._buffer += chunk


def _check_name(name: str) -> None:
    # UPS and variable names are single protocol words; anything else would let a config value inject commands.
    if not name or not _plain(name):
        raise ValueError(f"not a valid NUT name: {name!r}")


def _plain(word: str) -> bool:
    return bool(word) and all(c.isprintable() and c not in ' \t"\\' for c in word)


def _redact(words: tuple[str, ...]) -> str:
    if words and words[0] in ("PASSWORD", "USERNAME"):
        return f"{words[0]} ***"
    return " ".join(words)


def _error(line: str) -> NutError:
    words = _text(line).split(" ", 2)
    code = words[1] if len(words) > 1 and words[1] else "UNKNOWN"
    return NutError(code, words[2] if len(words) > 2 else "")


def _os_reason(exc: OSError) -> str:
    """'connection refused' rather than '[Errno 111] Connection refused': it ends up as a reading's reason."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host: {exc.strerror or exc}"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]
