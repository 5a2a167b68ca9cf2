"""Pure parts of talking HTTP to a management controller: parsing a bounded response, deciding whether it is
Intel AMT, Digest authentication (RFC 7616, as AMT speaks it) and the WS-Man power-state request and reply.

AMT is recognised by two things at once: its `Server: Intel(R) Active Management Technology x.y.z` header
and a `WWW-Authenticate: Digest realm="Digest:<hex>"` challenge on an unauthenticated POST to /wsman (real
replies in shared/corpus/amt/SAMPLES.md). The banner alone proves nothing: Realtek DASH firmware hard-codes
it, and any web server can send it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Everything we need is in the headers and a few KB of body; AMT's 401 page is 693 bytes, a power-state reply
# about 1.5 KB. A peer that sends more is not what we asked for and is cut here.
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024

AMT_BANNER = re.compile(r"Intel\(R\) Active Management Technology ([0-9]+(?:\.[0-9]+){1,3})")
AMT_REALM = re.compile(r"Digest:[0-9A-Fa-f]{8,64}")
_STATUS_LINE = re.compile(r"HTTP/1\.[01] ([0-9]{3})(?: (.*))?")
_AUTH_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')
_POWER_STATE = re.compile(r"<(?:[A-Za-z0-9_]+:)?PowerState>\s*([0-9]{1,3})\s*</(?:[A-Za-z0-9_]+:)?PowerState>")

# Characters of a peer's Server header or Digest realm shown in the evidence.
_SHOWN = 80

WSMAN_PATH = "/wsman"
POWER_RESOURCE = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AssociatedPowerManagementService"

# CIM_AssociatedPowerManagementService.PowerState values (DMTF CIM_PowerManagementService), the ones AMT uses.
POWER_STATES = {2: "on", 3: "sleep (light)", 4: "sleep (S3)", 5: "power cycle (off soft)", 6: "off (hard)",
                7: "hibernate (S4)", 8: "off (S5)", 9: "power cycle (off hard)", 10: "master bus reset",
                11: "diagnostic interrupt (NMI)", 12: "off (soft graceful)", 13: "off (hard graceful)",
                14: "master bus reset (graceful)", 15: "power cycle (off soft graceful)",
                16: "power cycle (off hard graceful)"}


class HttpParseError(ValueError):
    """Not an HTTP/1.x response."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]  # names lowercased, in order
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def all(self, name: str) -> tuple[str, ...]:
        return tuple(value for key, value in self.headers if key == name)


def split_head(raw: bytes) -> tuple[bytes, bytes] | None:
    """(head, rest) once the blank line after the headers has arrived, else None."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return None
    return raw[:end], raw[end + 4:]


def parse_head(head: bytes) -> tuple[int, tuple[tuple[str, str], ...]]:
    """The status code and headers of a response head (without the blank line)."""
    lines = head.decode("iso-8859-1").split("\r\n")
    match = _STATUS_LINE.fullmatch(lines[0].strip())
    if match is None:
        raise HttpParseError(f"not an HTTP response: {lines[0][:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if ":" not in line:
            continue  # tolerated: firmware HTTP stacks are sloppy, and only a few headers matter here
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return int(match.group(1)), tuple(headers)


def body_length(headers: tuple[tuple[str, str], ...]) -> int | None:
    """Content-Length when given and sane, else None (read until close, or chunked)."""
    for name, value in headers:
        if name == "content-length":
            return int(value) if value.isdigit() and len(value) < 12 else None
    return None


def is_chunked(headers: tuple[tuple[str, str], ...]) -> bool:
    return any(name == "transfer-encoding" and "chunked" in value.lower() for name, value in headers)


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """The decoded body of chunked `data` so far and whether the last chunk has arrived."""
    out = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return bytes(out), False
        size_text = data[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpParseError("bad chunk size") from None
        if size == 0:
            return bytes(out), True
        start = line_end + 2
        if len(data) < start + size + 2:
            out += data[start:start + size]
            return bytes(out), False
        out += data[start:start + size]
        position = start + size + 2


def amt_version(response: HttpResponse) -> str | None:
    """The version in an Intel AMT Server header, or None when the header is not AMT's."""
    for server in response.all("server"):
        match = AMT_BANNER.search(server)
        if match is not None:
            return match.group(1)
    return None


@dataclass(frozen=True)
class Challenge:
    """A Digest challenge from WWW-Authenticate."""

    realm: str
    nonce: str
    qop: tuple[str, ...]
    algorithm: str = "MD5"
    opaque: str | None = None
    stale: bool = False  # RFC 7616: the nonce expired, the credentials were not judged


def digest_challenge(response: HttpResponse) -> Challenge | None:
    """The first Digest challenge with a realm and a nonce, or None."""
    for value in response.all("www-authenticate"):
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "digest":
            continue
        params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else (m.group(3) or "")
                  for m in _AUTH_PARAM.finditer(rest)}
        if "realm" not in params or "nonce" not in params:
            continue
        qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
        return Challenge(realm=params["realm"], nonce=params["nonce"], qop=qop,
                         algorithm=params.get("algorithm", "MD5") or "MD5", opaque=params.get("opaque"),
                         stale=params.get("stale", "").lower() == "true")
    return None


@dataclass(frozen=True)
class AmtVerdict:
    """Whether an unauthenticated /wsman reply is Intel AMT's, and what it showed."""

    amt: bool
    version: str  # from the Server header, "" when absent
    realm: str  # the Digest realm, "" when none
    detail: str


def judge_wsman(response: HttpResponse) -> AmtVerdict:
    """AMT answers an unauthenticated POST /wsman with 401, its Server banner and realm "Digest:<hex>"."""
    version = amt_version(response) or ""
    challenge = digest_challenge(response)
    realm = challenge.realm if challenge is not None else ""
    amt_realm = AMT_REALM.fullmatch(realm) is not None
    # What a peer sends goes into P6's evidence: cut, so a hostile server cannot fill it with 16 KB.
    server = (response.header("server") or "no Server header")[:_SHOWN]
    if version and amt_realm and response.status == 401:
        return AmtVerdict(True, version, realm, f"Intel AMT {version} (HTTP 401, Digest realm {realm})")
    if version:
        why = f"Digest realm {realm[:_SHOWN]!r} is not AMT's" if realm else "no Digest challenge on /wsman"
        return AmtVerdict(False, version, realm,
                          f"AMT banner but {why} (HTTP {response.status}): a banner alone is not proof")
    return AmtVerdict(False, "", realm, f"HTTP {response.status} from {WSMAN_PATH}, {server}: not Intel AMT")


_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def supported_algorithm(challenge: Challenge) -> bool:
    return challenge.algorithm.upper() in _HASHES


def digest_authorization(challenge: Challenge, username: str, password: str, method: str, uri: str,
                         cnonce: str, nc: int = 1) -> str:
    """The Authorization header value answering `challenge` (RFC 7616; qop=auth, or RFC 2069 without qop).

    The password is hashed into HA1 and appears nowhere in the result.
    """
    algorithm = challenge.algorithm.upper()
    hash_function = _HASHES[algorithm]

    def h(text: str) -> str:
        return hash_function(text.encode("utf-8")).hexdigest()

    ha1 = h(f"{username}:{challenge.realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    count = f"{nc:08x}"
    parts = [f'username="{_quote(username)}"', f'realm="{_quote(challenge.realm)}"',
             f'nonce="{_quote(challenge.nonce)}"', f'uri="{_quote(uri)}"']
    if "auth" in challenge.qop:
        response = h(f"{ha1}:{challenge.nonce}:{count}:{cnonce}:auth:{ha2}")
        parts += [f'cnonce="{_quote(cnonce)}"', f"nc={count}", "qop=auth"]
    else:
        response = h(f"{ha1}:{challenge.nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if challenge.algorithm:
        parts.append(f"algorithm={challenge.algorithm}")
    if challenge.opaque is not None:
        parts.append(f'opaque="{_quote(challenge.opaque)}"')
    return "Digest " + ", ".join(parts)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def wsman_probe_body() -> bytes:
    """An Identify request: what an unauthenticated POST carries (AMT answers 401 before reading it)."""
    return (b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
            b"<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>")


def wsman_get_body(resource: str, host: str, message_id: int = 1) -> bytes:
    """A WS-Transfer Get of one resource, as MeshCommander and wsmancli send it to AMT."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header>'
        "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>"
        f"<a:To>http://{_xml_text(host)}{WSMAN_PATH}</a:To>"
        f"<w:ResourceURI>{resource}</w:ResourceURI>"
        f"<a:MessageID>uuid:physgap-{message_id}</a:MessageID>"
        "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>"
        "</a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body/></Envelope>"
    ).encode()


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def power_state(body: bytes) -> int | None:
    """PowerState from a CIM_AssociatedPowerManagementService Get reply; None when absent or absurd."""
    match = _POWER_STATE.search(body.decode("utf-8", "replace"))
    if match is None:
        return None
    value = int(match.group(1))
    return value if 1 <= value <= 17 else None


def power_state_name(code: int) -> str:
    return POWER_STATES.get(code, f"state {code}")
