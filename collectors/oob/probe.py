"""Probing one out-of-band endpoint over the network, every step under the target's own deadline.

The ladder (shared/notes/nic-pcie-oob-snmp.md 3.4): resolve the name (unresolvable), connect (refused: the
port is closed; no answer: timeout; ICMP/no route: unreachable), then speak the kind's protocol:
- amt: an unauthenticated POST /wsman must come back 401 with AMT's Server banner and a "Digest:<hex>"
  realm; with credentials, a Digest-authenticated WS-Man Get reads the host's power state. Without a
  configured port (or tls) 16992 is tried, then 16993 (TLS) when 16992 refuses;
- ipmi: an RMCP/ASF presence ping on UDP 623 must be answered by the matching pong;
- tcp: the connect is the whole probe.
Sockets are blocking with a timeout recomputed from the deadline before every call, so no step can
outlast it. Name resolution runs on a thread of the collector's resolver (collectors.kit.resolve), waited for
until the deadline: a lookup that does not finish is "unresolvable" with the time it took, not a silent
endpoint, and a name whose lookup still hangs from an earlier round is not looked up twice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from collectors.kit import tcp
from collectors.kit.context import Cancelled, RunContext
from collectors.kit.resolve import AddrInfo, LookupPending, Resolver
from collectors.kit.secrets import SecretError
from collectors.model.readings import OobReading
from collectors.oob import http, rmcp
from collectors.oob.config import AMT_TLS_PORT, DEFAULT_PORTS, OobTarget

_CHUNK = 4096


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class _Step:
    """How far a probe got: the state so far, and what the report says about it."""

    state: str
    detail: str
    port: int
    product: str = ""
    version: str = ""
    provisioning: str = ""
    power_state: int | None = None


class _Failed(Exception):
    """A connect or exchange ended in a state (refused, timeout, ...) rather than an answer."""

    def __init__(self, state: str, detail: str) -> None:
        super().__init__(detail)
        self.state = state
        self.detail = detail


# Probes called without a resolver of their own (a collector passes its own) share this one.
DEFAULT_RESOLVER = Resolver("physgap-oob-resolve")


def probe(target: OobTarget, ctx: RunContext, credentials: Callable[[], Credentials | None],
          resolver: Resolver = DEFAULT_RESOLVER) -> OobReading:
    """One target, start to finish within `ctx`'s deadline; never raises for what the network does.

    `credentials` is called only once the endpoint has proven to be AMT, so a password file is not read
    for an endpoint that is down or is something else.
    """
    started = time.monotonic()
    try:
        step = _probe(target, ctx, resolver, credentials)
    except _Failed as failed:
        step = _Step(failed.state, failed.detail, target.port or DEFAULT_PORTS.get(target.kind, 0))
    duration = time.monotonic() - started
    return OobReading(target=target.name, kind=target.kind, host=target.host, port=step.port, state=step.state,
                      detail=step.detail, duration_seconds=duration, product=step.product, version=step.version,
                      provisioning=step.provisioning, power_state=step.power_state)


def _probe(target: OobTarget, ctx: RunContext, resolver: Resolver,
           credentials: Callable[[], Credentials | None]) -> _Step:
    if target.kind == "ipmi":
        return _rmcp(target, ctx, resolver)
    if target.kind == "tcp":
        return _tcp(target, ctx, resolver)
    return _amt(target, ctx, resolver, credentials)


def _remaining(ctx: RunContext) -> float:
    if ctx.cancel.is_set():
        raise _Failed("error", "probe cancelled (the daemon is stopping)")
    left = ctx.remaining()
    if left <= 0:
        raise _Failed("timeout", "no answer before the target's deadline")
    return left


def _resolve(host: str, port: int, kind: int, ctx: RunContext,
             resolver: Resolver) -> tuple[int, tuple[object, ...]]:
    """The first address of `host` (see _lookup)."""
    family, _, _, _, address = _lookup(host, port, kind, ctx, resolver)[0]
    return family, address


def _lookup(host: str, port: int, kind: int, ctx: RunContext, resolver: Resolver) -> list[AddrInfo]:
    """The addresses of `host`, looked up within the deadline; a slow lookup leaving no time to send
    anything is "unresolvable" with the time it took, never a silent endpoint ("timeout")."""
    try:
        resolved = resolver.resolve(host, port, kind, ctx.deadline, ctx.cancel)
    except Cancelled:
        raise _Failed("error", "probe cancelled (the daemon is stopping)") from None
    except LookupPending as pending:
        raise _Failed("unresolvable", f"name lookup for {host} timed out: no answer from the resolver in "
                                      f"{pending.age:.1f} s (still pending)") from None
    except socket.gaierror as exc:
        raise _Failed("unresolvable", f"{host} does not resolve ({exc.strerror or exc})") from None
    except (OSError, UnicodeError) as exc:
        raise _Failed("unresolvable", f"{host} does not resolve ({exc})") from None
    if not resolved.infos:
        raise _Failed("unresolvable", f"{host} resolves to no address")
    if ctx.remaining() <= 0 and not ctx.cancel.is_set():
        raise _Failed("unresolvable", f"name lookup for {host} took {resolved.waited:.1f} s, leaving no time "
                                      f"to contact port {port}")
    return resolved.infos


# How a tcp target's failed attempts read, most telling first: a refusal proves the device is there, silence
# may be a firewall; one address without a route is common on a dual-stack LAN and says least.
_TCP_STATES = ("refused", "timeout", "error", "unreachable")


def _tcp(target: OobTarget, ctx: RunContext, resolver: Resolver) -> _Step:
    """The connect is the whole probe: every address of the name is tried as the hosts probe does
    (collectors.kit.tcp), so a dual-stack name whose first address has no route still reads answering."""
    port = target.port or 0
    addresses = tcp.addresses(_lookup(target.host, port, socket.SOCK_STREAM, ctx, resolver))
    try:
        outcome = tcp.first_open(addresses, (port,), ctx.deadline, ctx.cancel,
                                 min(tcp.STAGGER, target.timeout / 4))
    except Cancelled:
        raise _Failed("error", "probe cancelled (the daemon is stopping)") from None
    if outcome.accepted is not None:
        return _Step("answering", f"port {port} open", port, product="tcp")
    found: dict[str, list[str]] = {}  # state -> "address: what happened", in the order they happened
    for failure in outcome.failures:
        found.setdefault(_tcp_state(failure.error), []).append(f"{failure.address}: {tcp.word(failure.error)}")
    for address, _ in outcome.silent:
        found.setdefault("timeout", []).append(f"{address}: no answer")
    if not found:
        raise _Failed("timeout", f"no answer on port {port} before the deadline")
    state = next(state for state in _TCP_STATES if state in found)
    if state == "refused":
        detail = f"connection refused on port {port}"
    elif state == "timeout":
        detail = f"no answer on port {port} before the deadline"
    else:
        error = next(f.error for f in outcome.failures if _tcp_state(f.error) == state)
        detail = f"port {port}: {os.strerror(error)}"
    if len(addresses) > 1:
        detail += f" ({'; '.join(what for whats in found.values() for what in whats)})"
    raise _Failed(state, detail)


def _tcp_state(error: int) -> str:
    if error == errno.ECONNREFUSED:
        return "refused"
    if error == errno.ETIMEDOUT:
        return "timeout"
    return "unreachable" if error in tcp.UNREACHABLE else "error"


def _connect(host: str, port: int, ctx: RunContext, resolver: Resolver) -> socket.socket:
    family, address = _resolve(host, port, socket.SOCK_STREAM, ctx, resolver)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(_remaining(ctx))
        sock.connect(address)
    except ConnectionRefusedError:
        sock.close()
        raise _Failed("refused", f"connection refused on port {port}") from None
    except TimeoutError:
        sock.close()
        raise _Failed("timeout", f"no answer on port {port} before the deadline") from None
    except OSError as exc:
        sock.close()
        state = "unreachable" if exc.errno in tcp.UNREACHABLE else "error"
        raise _Failed(state, f"port {port}: {exc.strerror or exc}") from None
    except BaseException:
        sock.close()
        raise
    return sock


# ---------------------------------------------------------------------------------------------------------
# AMT


def _amt(target: OobTarget, ctx: RunContext, resolver: Resolver,
         credentials: Callable[[], Credentials | None]) -> _Step:
    first = target.port or DEFAULT_PORTS["amt"]
    ports = [first, AMT_TLS_PORT] if target.tls_fallback and first != AMT_TLS_PORT else [first]
    refused: list[str] = []
    for port in ports:
        tls = target.tls if target.tls is not None else port == AMT_TLS_PORT
        try:
            response = _exchange(target.host, port, tls, ctx, resolver, http.wsman_probe_body(), None)
        except _Failed as failed:
            if failed.state == "refused" and port != ports[-1]:
                refused.append(str(port))
                continue
            if failed.state == "refused" and refused:
                raise _Failed("refused", f"connection refused on ports {', '.join([*refused, str(port)])}"
                              ) from None
            raise
        verdict = http.judge_wsman(response)
        if not verdict.amt:
            return _Step("not_oob", verdict.detail, port, version=verdict.version)
        step = _Step("answering", verdict.detail, port, product="Intel AMT", version=verdict.version)
        return _power(target, port, tls, ctx, resolver, response, step, credentials)
    raise AssertionError("unreachable: the last port returns or raises")


def _power(target: OobTarget, port: int, tls: bool, ctx: RunContext, resolver: Resolver,
           unauthenticated: http.HttpResponse, step: _Step,
           credentials: Callable[[], Credentials | None]) -> _Step:
    """With credentials, the host's power state through a Digest-authenticated WS-Man Get."""
    if not target.username:
        return step
    try:
        creds = credentials()
    except SecretError as exc:  # the secret could not be read: its path and why, never its content
        return replace(step, detail=f"{step.detail}; power state not read: {exc}")
    if creds is None:
        return step
    challenge = http.digest_challenge(unauthenticated)
    if challenge is None or not http.supported_algorithm(challenge):
        algorithm = challenge.algorithm if challenge is not None else "none"
        return replace(step, detail=f"{step.detail}; power state not read: Digest algorithm {algorithm} "
                                    "not supported")
    body = http.wsman_get_body(http.POWER_RESOURCE, _host_header(target.host, port))
    # The AMT is proven: whatever goes wrong from here leaves it answering, its power state unknown.
    for attempt in range(2):
        authorization = http.digest_authorization(challenge, creds.username, creds.password, "POST",
                                                  http.WSMAN_PATH, secrets.token_hex(16))
        try:
            response = _exchange(target.host, port, tls, ctx, resolver, body, authorization)
        except _Failed as failed:
            return replace(step, detail=f"{step.detail}; power state not read: {failed.detail}")
        fresh = http.digest_challenge(response) if response.status == 401 else None
        # stale=true (RFC 7616): the nonce expired between the two requests; the credentials were not judged.
        if attempt == 0 and fresh is not None and fresh.stale and http.supported_algorithm(fresh):
            challenge = fresh
            continue
        break
    if response.status == 401:
        return replace(step, detail=f"{step.detail}; power state not read: credentials for "
                                    f"{target.username!r} rejected")
    if response.status != 200:
        return replace(step, detail=f"{step.detail}; power state not read: HTTP {response.status}")
    state = http.power_state(response.body)
    if state is None:
        return replace(step, detail=f"{step.detail}; power state not read: no PowerState in the reply")
    return replace(step, detail=f"{step.detail}; host power {http.power_state_name(state)}", power_state=state)


def _host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _exchange(host: str, port: int, tls: bool, ctx: RunContext, resolver: Resolver, body: bytes,
              authorization: str | None) -> http.HttpResponse:
    """POST `body` to /wsman and read the reply, bounded in size and by the deadline."""
    sock = _connect(host, port, ctx, resolver)
    try:
        if tls:
            sock = _wrap_tls(sock, host, port, ctx)
        head = [f"POST {http.WSMAN_PATH} HTTP/1.1", f"Host: {_host_header(host, port)}",
                "User-Agent: physgap", "Content-Type: application/soap+xml;charset=UTF-8",
                f"Content-Length: {len(body)}", "Connection: close"]
        if authorization is not None:
            head.append(f"Authorization: {authorization}")
        request = ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body
        try:
            sock.settimeout(_remaining(ctx))
            sock.sendall(request)
            return _read_response(sock, port, ctx)
        except TimeoutError:
            raise _Failed("not_oob", f"port {port} open but no HTTP answer before the deadline") from None
        except (ConnectionError, ssl.SSLError) as exc:
            raise _Failed("not_oob", f"port {port} open but the connection broke: "
                                     f"{exc.strerror or exc if isinstance(exc, OSError) else exc}") from None
        except http.HttpParseError as exc:
            raise _Failed("not_oob", f"port {port} open but {exc}") from None
        except OSError as exc:  # EHOSTUNREACH, ENETUNREACH on send or recv: the network said so
            state = "unreachable" if exc.errno in tcp.UNREACHABLE else "error"
            raise _Failed(state, f"port {port} open but then: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _wrap_tls(sock: socket.socket, host: str, port: int, ctx: RunContext) -> socket.socket:
    # AMT presents a self-signed certificate (or one from the operator's own CA): presence and the banner are
    # what is checked here, not the certificate. Old AMT firmware speaks only TLS 1.0.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        sock.settimeout(_remaining(ctx))
        return context.wrap_socket(sock, server_hostname=host)
    except TimeoutError:
        sock.close()
        raise _Failed("not_oob", f"port {port} open but no TLS handshake before the deadline") from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise _Failed("not_oob", f"port {port} open but TLS failed: {exc}") from None


def _read_response(sock: socket.socket, port: int, ctx: RunContext) -> http.HttpResponse:
    raw = bytearray()
    split: tuple[bytes, bytes] | None = None
    while split is None:
        chunk = _recv(sock, ctx)
        if not chunk:
            if not raw:
                raise _Failed("not_oob", f"port {port} open but closed without an answer")
            raise http.HttpParseError("the connection closed inside the headers")
        raw += chunk
        split = http.split_head(bytes(raw))
        if split is None and len(raw) > http.MAX_HEADER_BYTES:
            raise http.HttpParseError(f"headers larger than {http.MAX_HEADER_BYTES} bytes")
    head, rest = split
    status, headers = http.parse_head(head)
    body = bytearray(rest)
    chunked = http.is_chunked(headers)
    length = http.body_length(headers)
    while True:
        if chunked:
            decoded, complete = http.dechunk(bytes(body))
            if complete:
                return http.HttpResponse(status, headers, decoded[:http.MAX_BODY_BYTES])
        elif length is not None and len(body) >= length:
            return http.HttpResponse(status, headers, bytes(body[:length]))
        if len(body) > http.MAX_BODY_BYTES:
            # Enough to judge by: the status and headers are complete, the body is only searched.
            return http.HttpResponse(status, headers, bytes(body[:http.MAX_BODY_BYTES]))
        try:
            chunk = _recv(sock, ctx)
        except TimeoutError:
            if status == 401:  # the verdict needs the headers only; a slow body must not undo it
                return http.HttpResponse(status, headers, bytes(body))
            raise
        if not chunk:
            return http.HttpResponse(status, headers, http.dechunk(bytes(body))[0] if chunked else bytes(body))
        body += chunk


def _recv(sock: socket.socket, ctx: RunContext) -> bytes:
    sock.settimeout(_remaining_or_timeout(ctx))
    return sock.recv(_CHUNK)


def _remaining_or_timeout(ctx: RunContext) -> float:
    left = ctx.remaining()
    if left <= 0 or ctx.cancel.is_set():
        raise TimeoutError
    return left


# ---------------------------------------------------------------------------------------------------------
# IPMI / ASF


def _rmcp(target: OobTarget, ctx: RunContext, resolver: Resolver) -> _Step:
    port = target.port or rmcp.RMCP_PORT
    family, address = _resolve(target.host, port, socket.SOCK_DGRAM, ctx, resolver)
    tag = secrets.randbelow(255)
    packet = rmcp.ping(tag)
    junk = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            # Connected, so that an ICMP port unreachable comes back as ECONNREFUSED on the next call.
            sock.connect(address)
            sent = 0
            resend_at = time.monotonic()
            while True:
                now = time.monotonic()
                if sent < 3 and now >= resend_at:
                    # UDP may be lost: the ping is repeated at a third and two thirds of what is left.
                    sock.send(packet)
                    sent += 1
                    resend_at = now + max(0.05, ctx.remaining() / (4 - sent))
                wait = min(_remaining_or_timeout(ctx), max(0.01, resend_at - now) if sent < 3 else 3600.0)
                sock.settimeout(wait)
                try:
                    data = sock.recv(rmcp.MAX_DATAGRAM)
                except TimeoutError:
                    continue
                pong = rmcp.parse_pong(data, tag)
                if pong is None:
                    junk += 1
                    continue
                return _pong_step(pong, port)
        except TimeoutError:
            if junk:
                raise _Failed("not_oob", f"UDP {port} answered {junk} datagram(s), none an RMCP presence pong"
                              ) from None
            raise _Failed("timeout", f"no RMCP presence pong on UDP {port} before the deadline") from None
        except ConnectionRefusedError:
            raise _Failed("refused", f"UDP {port} refused (ICMP port unreachable)") from None
        except OSError as exc:
            state = "unreachable" if exc.errno in tcp.UNREACHABLE else "error"
            raise _Failed(state, f"UDP {port}: {exc.strerror or exc}") from None


def _pong_step(pong: rmcp.Pong, port: int) -> _Step:
    parts = [f"RMCP presence pong ({pong.product}"]
    if pong.amt:
        if pong.amt_version:
            parts.append(f" {pong.amt_version}")
        if pong.provisioning:
            parts.append(f", {pong.provisioning}-provisioning")
    elif pong.enterprise:
        parts.append(f", IANA {pong.enterprise}")
    parts.append(")")
    return _Step("answering", "".join(parts), port, product=pong.product, version=pong.amt_version,
                 provisioning=pong.provisioning)
