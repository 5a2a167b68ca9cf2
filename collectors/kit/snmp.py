"""An SNMP v1/v2c/v3 client for collectors: pysnmp's asyncio hlapi behind GET, bounded column walks (GETBULK
over several columns at once where the version has it) and one concurrent, deadline-bound poll of many agents.

What it guarantees, so that a collector (UPS-MIB and PowerNet UPSes, IF-MIB switch ports) only maps values:

* pysnmp (and pyasn1) are imported on first use only: importing this module costs asyncio, not ~25 MB and
  0.1 s of pysnmp, and a daemon without SNMP targets never imports even this module.
* Values come back plain: `{dotted OID: int | str}`; objects the agent lacks are simply absent, SNMPv1's
  all-or-nothing noSuchName is retried without the missing object.
* One run is one short-lived event loop with one engine, closed at the end (no sockets or timers survive a
  run). Every agent is polled concurrently; each costs at most its own (retries + 1) x timeout, never more
  than what is left of the run, and the daemon stopping ends the run at once (Cancelled).
* A silent agent, an unresolvable host, an unreadable community file or a pysnmp surprise becomes that
  agent's failure with an operator-facing reason; it never costs the other agents their answers.
* The community and the SNMPv3 keys are secrets: read with the kit's secret reader, never part of a reason,
  log line or repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from collectors.kit.context import Cancelled, RunContext
from collectors.kit.resolve import Lookup, Resolver
from collectors.kit.secrets import SecretError, read_secret, warn_if_others_can_read
from collectors.kit.snmp_target import SnmpTarget
from collectors.kit.warnonce import WarnOnce

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Value = int | str  # INTEGER/Gauge32/TimeTicks/Counter as int, OCTET STRING decoded, OBJECT IDENTIFIER dotted
Values = Mapping[str, Value]  # dotted OID without a leading dot -> value; objects the agent lacks are absent

# One retry covers a lost datagram; more would multiply the time spent on an agent that is simply silent.
RETRIES = 1
# Rows read from one table column at most: a runaway agent must not walk forever.
MAX_ROWS = 64
# Rows asked per GETBULK: 10 rows of 7 IF-MIB columns stay near 2 KB, well inside what agents send in one
# datagram (an agent may send fewer; the walk then simply asks again).
BULK_REPETITIONS = 10
# USM keys shorter than this are refused by RFC 3414 agents (and by pysnmp) anyway; saying so is clearer.
MIN_USM_KEY = 8
# SNMPv1's error status for "no such object" (also "no next object": the end of the agent's view).
_NO_SUCH_NAME = 2
# Secrets shorter than this are not cut out of failure texts (see Engine.redact).
_MIN_REDACTED = 4
# How often the run looks at the daemon's cancel event while waiting on agents.
_CANCEL_POLL = 0.1
# No request waits less than this, even when the run is nearly out of time: it would only fail spuriously.
_MIN_TIMEOUT = 0.05


class SnmpError(Exception):
    """The agent gave no usable answer; the message is the operator-facing reason (never the community)."""


@dataclass(frozen=True)
class Usm:
    """SNMPv3 user-based security: authNoPriv without a privacy key, else authPriv."""

    username: str
    auth_protocol: str  # one of snmp_target.AUTH_PROTOCOLS
    auth_key: str = field(repr=False)
    priv_protocol: str  # one of snmp_target.PRIV_PROTOCOLS
    priv_key: str | None = field(default=None, repr=False)
    context: str = ""


@dataclass(frozen=True)
class Agent:
    """Where and how to ask: an address, a community and SNMP version "1" or "2c" (or version "3" with `usm`),
    a per-request timeout."""

    host: str
    port: int
    community: str = field(repr=False)
    version: str
    timeout: float
    usm: Usm | None = None


def read_community(community: str, path: Path | None, warn: WarnOnce) -> str:
    """The community to use: the file's content when a file is configured (read on every call, so a rotated
    community is picked up without a restart), else `community`. SnmpError names the file, never a secret."""
    if path is None:
        return community
    try:
        secret = read_secret(path)
    except SecretError as exc:
        raise SnmpError(f"no community: {exc}") from None
    warn_if_others_can_read(secret, warn, "community file %s is world-readable; chmod o-r it")
    return secret.value


def _usm_key(path: Path | None, what: str, warn: WarnOnce) -> str:
    if path is None:
        raise SnmpError(f"SNMPv3: no {what} key file configured")
    try:
        secret = read_secret(path)
    except SecretError as exc:
        raise SnmpError(f"no SNMPv3 {what} key: {exc}") from None
    warn_if_others_can_read(secret, warn, f"SNMPv3 {what} key file %s is world-readable; chmod o-r it")
    if len(secret.value.encode("utf-8")) < MIN_USM_KEY:  # RFC 3414 counts octets, as sent (UTF-8)
        raise SnmpError(f"SNMPv3 {what} key in {secret.path} is shorter than {MIN_USM_KEY} bytes")
    return secret.value


def agent_for(target: SnmpTarget, warn: WarnOnce) -> Agent:
    """The Agent a configured target describes, its secrets read now (a rotated one is picked up without a
    restart). SnmpError names a file or a missing key, never a secret."""
    if target.version != "3":
        community = read_community(target.community, target.community_file, warn)
        return Agent(target.host, target.port, community, target.version, target.timeout)
    if not target.username:
        raise SnmpError("SNMPv3: no username configured")
    usm = Usm(target.username, target.auth_protocol, _usm_key(target.auth_key_file, "authentication", warn),
              target.priv_protocol,
              None if target.priv_key_file is None else _usm_key(target.priv_key_file, "privacy", warn),
              target.context)
    return Agent(target.host, target.port, "", "3", target.timeout, usm)


def clean_text(raw: bytes) -> str:
    """An OCTET STRING as text: agents pad identity strings with spaces or NULs, and some are not UTF-8."""
    return raw.decode("utf-8", "replace").strip(" \t\r\n\x00")


def rows(values: Values, columns: Iterable[str]) -> dict[int, dict[str, Value]]:
    """A table's rows by index: every `column.index` among `values` as `{index: {column: value}}`. Only
    single-arc indexes count (ifIndex, diskIndex, ...); an OID with another suffix belongs to no row."""
    table: dict[int, dict[str, Value]] = {}
    wanted = tuple(columns)
    for oid, value in values.items():
        for column in wanted:
            suffix = oid[len(column) + 1:] if oid.startswith(column + ".") else ""
            if suffix.isdecimal():
                table.setdefault(int(suffix), {})[column] = value
    return table


def int_value(values: Mapping[str, Value], oid: str) -> int | None:
    """The integer at `oid` (a whole OID, or a column of one row); None when absent or not an integer."""
    value = values.get(oid)
    return value if isinstance(value, int) else None


def text_value(values: Mapping[str, Value], oid: str) -> str:
    """The text at `oid` as the kit decoded it (clean_text has trimmed the padding); "" when absent or not
    text."""
    value = values.get(oid)
    return value if isinstance(value, str) else ""


def _hlapi() -> Any:
    """pysnmp's asyncio hlapi, imported on first use only. pysnmp ships no type information, hence Any."""
    from pysnmp.hlapi.v3arch import asyncio as hlapi  # type: ignore[import-untyped]

    return hlapi


def _plain(value: Any) -> Value | None:
    """A pysnmp value as an int or str; None for noSuchObject/noSuchInstance/endOfMibView."""
    from pyasn1.type import univ  # type: ignore[import-untyped]  # pysnmp's own dependency

    if isinstance(value, univ.Null):  # the three exceptions subclass Null (and Null subclasses OctetString)
        return None
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.OctetString):
        return clean_text(bytes(value))
    if isinstance(value, univ.Integer):  # Integer32, Gauge32, Unsigned32, TimeTicks, Counter32/64
        return int(value)
    return None


def _indication(error_indication: Any) -> str:
    if type(error_indication).__name__ == "RequestTimedOut":
        # SNMP agents drop requests with a wrong community silently, and ICMP "port unreachable" is not
        # surfaced: all three look alike, so the reason names them all.
        return "no SNMP answer (request timed out: host down, port closed or wrong community)"
    return f"SNMP error: {error_indication}"


# Lookups still running from an earlier run are waited on, never started again (collectors.kit.resolve).
_RESOLVER = Resolver("physgap-snmp-resolve")


def _resolve(host: str, port: int) -> tuple[Lookup, asyncio.Future[tuple[int, tuple[str, int]]]]:
    """Resolve on the kit resolver's daemon thread: pysnmp would use the loop's default executor, and
    asyncio.run waits for that executor at exit, so a hung resolver would hold the run past its deadline."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[int, tuple[str, int]]] = loop.create_future()

    def settle() -> None:
        if future.done():
            return
        try:
            infos = Resolver.outcome(lookup)
            # IPv4 first: it is what management cards speak, and what UdpTransportTarget expects.
            infos.sort(key=lambda info: info[0] != socket.AF_INET)
            family, address = infos[0][0], infos[0][4]
            future.set_result((int(family), (str(address[0]), int(address[1]))))
        except OSError as exc:
            future.set_exception(exc)
        except UnicodeError as exc:  # a name IDNA cannot encode
            future.set_exception(OSError(str(exc)))
        except IndexError:
            future.set_exception(OSError("no address"))

    def done() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the run ended without us
            loop.call_soon_threadsafe(settle)

    lookup = _RESOLVER.start(host, port, socket.SOCK_DGRAM, done)
    return lookup, future


class Session:
    """One agent, one community, one transport: GET with SNMPv1 tolerance and bounded column walks."""

    def __init__(self, engine: Any, auth: Any, transport: Any, context: str = "", bulk: bool = False) -> None:
        self._engine = engine
        self._auth = auth
        self._transport = transport
        self._context = context
        self._bulk = bulk  # GETBULK exists from SNMPv2c on

    def _context_data(self) -> Any:
        return _hlapi().ContextData(contextName=self._context) if self._context else _hlapi().ContextData()

    async def get(self, oids: Sequence[str]) -> dict[str, Value]:
        """The objects the agent has among `oids`; SnmpError when it does not answer."""
        hlapi = _hlapi()
        wanted = list(oids)
        while wanted:
            error_indication, error_status, error_index, var_binds = await hlapi.get_cmd(
                self._engine, self._auth, self._transport, self._context_data(),
                *(hlapi.ObjectType(hlapi.ObjectIdentity(oid)) for oid in wanted), lookupMib=False)
            if error_indication:
                raise SnmpError(_indication(error_indication))
            if not error_status:
                return _collect(var_binds)
            index = int(error_index)
            # SNMPv1 fails the whole GET with noSuchName when one object is absent: drop it and ask again.
            if int(error_status) != 2 or not 1 <= index <= len(wanted):
                raise SnmpError(f"SNMP error: {error_status.prettyPrint()}")
            del wanted[index - 1]
        return {}

    async def walk(self, column: str, max_rows: int = MAX_ROWS, strict: bool = False) -> dict[str, Value]:
        """The rows of one table column (`column.index` -> value), at most `max_rows`.

        An agent error ends the walk with the rows read so far: an optional table costs that table only.
        With `strict`, an error in the first request raises SnmpError instead, since "no rows" would then
        read as a measured empty table (SNMPv1's noSuchName there is still no rows: the end of the view)."""
        hlapi = _hlapi()
        values: dict[str, Value] = {}
        rows = hlapi.walk_cmd(self._engine, self._auth, self._transport, self._context_data(),
                              hlapi.ObjectType(hlapi.ObjectIdentity(column)),
                              lexicographicMode=False, lookupMib=False, maxRows=max_rows)
        first = True
        async with contextlib.aclosing(rows):
            async for error_indication, error_status, _index, var_binds in rows:
                if error_indication:
                    raise SnmpError(_indication(error_indication))
                if error_status:
                    if strict and first and int(error_status) != _NO_SUCH_NAME:
                        raise SnmpError(_status_reason(error_status, column))
                    break
                first = False
                values.update(_collect(var_binds))
        return values


    async def columns(self, columns: Sequence[str], max_rows: int = MAX_ROWS) -> dict[str, Value]:
        """The rows of several columns of one table (`column.index` -> value), at most `max_rows` each.

        With GETBULK (SNMPv2c, v3) all columns advance together, BULK_REPETITIONS rows per request: a
        50-port switch's seven IF-MIB columns take a handful of requests instead of 350 GETNEXTs. SNMPv1
        walks column by column."""
        if not self._bulk:
            values: dict[str, Value] = {}
            for column in columns:
                # Strict until a row came back: a later column's error costs that column only.
                values.update(await self.walk(column, max_rows, strict=not values))
            return values
        return await self._bulk_columns(columns, max_rows)

    async def _bulk_columns(self, columns: Sequence[str], max_rows: int) -> dict[str, Value]:
        hlapi = _hlapi()
        values: dict[str, Value] = {}
        cursors = {column: column for column in dict.fromkeys(columns)}  # column -> last OID read in it
        counts = dict.fromkeys(cursors, 0)
        first = True
        while cursors:
            active = list(cursors)
            error_indication, error_status, _index, var_binds = await hlapi.bulk_cmd(
                self._engine, self._auth, self._transport, self._context_data(), 0, BULK_REPETITIONS,
                *(hlapi.ObjectType(hlapi.ObjectIdentity(cursors[column])) for column in active), lookupMib=False)
            if error_indication:
                raise SnmpError(_indication(error_indication))
            if error_status and first:
                # Nothing read yet: "no rows" would read as a measured empty table.
                raise SnmpError(_status_reason(error_status, columns[0]))
            if error_status or not var_binds:
                break  # an error part-way through keeps the rows read so far
            first = False
            finished: set[str] = set()
            # The answer is row-major: repetition r of column c sits at r * len(active) + c.
            for position, (name, value) in enumerate(var_binds):
                column = active[position % len(active)]
                if column in finished:
                    continue
                oid = str(name)
                plain = _plain(value)
                if (plain is None or not oid.startswith(column + ".")
                        or not _increases(cursors[column], oid) or counts[column] >= max_rows):
                    finished.add(column)  # past the column, end of the MIB, a looping agent or the row cap
                    continue
                values[oid] = plain
                cursors[column] = oid
                counts[column] += 1
            for column in finished:
                del cursors[column]
        return values


def _status_reason(error_status: Any, column: str) -> str:
    return f"SNMP error reading the table at {column}: {error_status.prettyPrint()}"


def _increases(before: str, after: str) -> bool:
    return tuple(int(arc) for arc in after.split(".")) > tuple(int(arc) for arc in before.split("."))


def _collect(var_binds: Any) -> dict[str, Value]:
    return {str(name): plain for name, value in var_binds if (plain := _plain(value)) is not None}


class Engine:
    """One run's pysnmp engine, handed to each agent's poll to open sessions with."""

    def __init__(self, ctx: RunContext) -> None:
        self._engine = _hlapi().SnmpEngine()
        self._ctx = ctx
        self._v3_engines: list[Any] = []
        # Communities and SNMPv3 keys of the agents asked this run: cut from any failure's text.
        self._secrets: list[str] = []

    def redact(self, text: str) -> str:
        """`text` with every secret of this run's agents replaced (longest first: one may contain another)."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            # A one- to three-character community would cut letters out of every word and hides nothing.
            if len(secret) >= _MIN_REDACTED:
                text = text.replace(secret, "<secret>")
        return text

    async def session(self, agent: Agent) -> Session:
        """Resolve the agent's host and open a transport whose worst case fits in what is left of the run."""
        hlapi = _hlapi()
        self._secrets.extend(_secrets_of(agent))
        lookup, resolved = _resolve(agent.host, agent.port)
        try:
            # A little before the run's end, so that a hung lookup is reported as such, not as a silent agent.
            family, address = await asyncio.wait_for(resolved, max(0.0, self._ctx.remaining() - _CANCEL_POLL))
        except TimeoutError:
            raise SnmpError(f"name lookup for {agent.host} still pending (started "
                            f"{time.monotonic() - lookup.started:.1f} s ago)") from None
        except OSError as exc:
            raise SnmpError(f"cannot resolve {agent.host}: {exc.strerror or exc}") from None
        # One request's worst case is (retries + 1) x timeout: it must end before the run does.
        timeout = max(_MIN_TIMEOUT, min(agent.timeout, self._ctx.remaining() / (RETRIES + 1)))
        transport_class = hlapi.Udp6TransportTarget if family == socket.AF_INET6 else hlapi.UdpTransportTarget
        transport = await transport_class.create(address, timeout=timeout, retries=RETRIES)
        if agent.usm is not None:
            # An engine of its own: pysnmp keys SNMPv3 users by name within an engine, so two switches with
            # one user name but different keys would otherwise both be asked with whichever came last.
            auth = _usm_auth(agent.usm)
            engine = hlapi.SnmpEngine()
            self._v3_engines.append(engine)
            return Session(engine, auth, transport, agent.usm.context, bulk=True)
        auth = hlapi.CommunityData(agent.community, mpModel=0 if agent.version == "1" else 1)
        return Session(self._engine, auth, transport, bulk=agent.version != "1")

    def close(self) -> None:
        # Closes this run's sockets and timer; the next run makes a fresh engine in a fresh loop.
        for engine in (self._engine, *self._v3_engines):
            engine.close_dispatcher()


def _secrets_of(agent: Agent) -> list[str]:
    if agent.usm is None:
        return [agent.community]
    return [key for key in (agent.usm.auth_key, agent.usm.priv_key) if key]


_AUTH_NAMES = {"MD5": "usmHMACMD5AuthProtocol", "SHA": "usmHMACSHAAuthProtocol",
               "SHA224": "usmHMAC128SHA224AuthProtocol", "SHA256": "usmHMAC192SHA256AuthProtocol",
               "SHA384": "usmHMAC256SHA384AuthProtocol", "SHA512": "usmHMAC384SHA512AuthProtocol"}
_PRIV_NAMES = {"DES": "usmDESPrivProtocol", "AES": "usmAesCfb128Protocol", "AES192": "usmAesCfb192Protocol",
               "AES256": "usmAesCfb256Protocol"}


def _usm_auth(usm: Usm) -> Any:
    hlapi = _hlapi()
    auth_protocol = getattr(hlapi, _AUTH_NAMES[usm.auth_protocol])
    # Keys go to pysnmp as UTF-8 bytes, as net-snmp hashes them: a str would be encoded Latin-1 by pyasn1
    # (another key than the agent's for "é", an exception carrying the key for "€").
    auth_key = usm.auth_key.encode("utf-8")
    if usm.priv_key is None:
        return hlapi.UsmUserData(usm.username, auth_key, authProtocol=auth_protocol)
    # pysnmp's ciphers come from `cryptography`; without it every request would fail with an obscure
    # "Ciphering services not available".
    if importlib.util.find_spec("cryptography") is None:
        raise SnmpError("SNMPv3 privacy (priv_key_file) needs the Python package cryptography, which is not "
                        "installed")
    return hlapi.UsmUserData(usm.username, auth_key, usm.priv_key.encode("utf-8"), authProtocol=auth_protocol,
                             privProtocol=getattr(hlapi, _PRIV_NAMES[usm.priv_protocol]))


def poll_all(ctx: RunContext, targets: Sequence[T], poll: Callable[[Engine, T], Awaitable[R]],
             failed: Callable[[T, str], R]) -> list[R]:
    """`poll(engine, target)` for every target at once, in target order. A target whose poll raises
    SnmpError, overruns the run's deadline or fails unexpectedly gets `failed(target, reason)` instead.
    Raises Cancelled when the daemon stops during the run."""
    return asyncio.run(_poll_all(ctx, targets, poll, failed))


async def _poll_all(ctx: RunContext, targets: Sequence[T], poll: Callable[[Engine, T], Awaitable[R]],
                    failed: Callable[[T, str], R]) -> list[R]:
    engine = Engine(ctx)
    try:
        polls = asyncio.gather(*(_bounded(ctx, engine, poll(engine, target), target, failed)
                                 for target in targets))
        watcher = asyncio.create_task(_watch_cancel(ctx))
        both: list[asyncio.Future[Any]] = [polls, watcher]
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if not polls.done():
            polls.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polls
            raise Cancelled("daemon is stopping")
        return list(polls.result())
    finally:
        engine.close()


async def _bounded(ctx: RunContext, engine: Engine, answer: Awaitable[R], target: T,
                   failed: Callable[[T, str], R]) -> R:
    try:
        return await asyncio.wait_for(answer, timeout=max(ctx.remaining(), 0.0))
    except TimeoutError:
        return failed(target, "no complete SNMP answer within the collector's deadline")
    except SnmpError as exc:  # our own words, which never quote a secret
        return failed(target, str(exc))
    except Exception as exc:  # a pysnmp surprise must cost this target only, never the run
        # pysnmp and pyasn1 put the values they choked on into their messages: a key or community among them
        # must not reach the reason (metrics, MQTT, the page) or the log.
        reason = engine.redact(f"SNMP error: {type(exc).__name__}: {exc}")
        log.debug("SNMP poll failed unexpectedly: %s\n%s", reason,
                  engine.redact("".join(traceback.format_exception(exc))))
        return failed(target, reason)


async def _watch_cancel(ctx: RunContext) -> None:
    while not ctx.cancel.is_set():
        await asyncio.sleep(_CANCEL_POLL)
