"""RMCP / ASF presence ping and pong (DMTF DSP0136), as IPMI BMCs and Intel AMT answer on UDP 623.

The ping needs no credentials. The pong says what answered: the ASF entities byte flags IPMI support, and
Intel AMT (IANA enterprise 343) with the DASH interaction bit set puts its open TCP port, major/minor version
and provisioning state in the OEM bytes (as MeshCentral's amtscanner reads them; see
shared/corpus/amt/SAMPLES.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from collectors.model.readings import AMT_PROVISIONING

RMCP_PORT = 623
ASF_IANA = 4542  # 0x000011BE, the ASF message header's enterprise number
INTEL_IANA = 343
_RMCP_VERSION = 0x06
_CLASS_ASF = 0x06
_PING = 0x80
_PONG = 0x40
_PONG_DATA = 16
# Sequence 0xFF: "no RMCP ACK wanted", so the only answer is the pong.
_NO_ACK = 0xFF
MAX_DATAGRAM = 512


@dataclass(frozen=True)
class Pong:
    enterprise: int  # IANA number of the responder's vendor (343 Intel, 674 Dell, ...)
    ipmi: bool  # the supported-entities byte says IPMI
    asf_version: int
    dash: bool  # the supported-interactions byte says DASH (set by Intel AMT)
    amt: bool
    amt_version: str = ""  # "11.6" (major.minor) when AMT
    provisioning: str = ""  # one of AMT_PROVISIONING when AMT says
    amt_port: int | None = None  # the TCP port AMT reports open (16992 / 16993)

    @property
    def product(self) -> str:
        if self.amt:
            return "Intel AMT"
        return "IPMI" if self.ipmi else "ASF"


def ping(tag: int) -> bytes:
    """A presence ping with message tag `tag` (0..254; 255 is reserved for unsolicited messages)."""
    if not 0 <= tag <= 254:
        raise ValueError(f"RMCP message tag {tag} outside 0..254")
    return bytes([_RMCP_VERSION, 0x00, _NO_ACK, _CLASS_ASF]) + ASF_IANA.to_bytes(4, "big") + bytes(
        [_PING, tag, 0x00, 0x00])


def parse_pong(data: bytes, tag: int) -> Pong | None:
    """The pong answering the ping with `tag`, or None when `data` is anything else (an ACK, another tag, a
    short or malformed datagram)."""
    if len(data) < 12 + _PONG_DATA:
        return None
    if data[0] != _RMCP_VERSION or data[3] != _CLASS_ASF:  # class bit 7 set = an RMCP ACK
        return None
    if int.from_bytes(data[4:8], "big") != ASF_IANA or data[8] != _PONG or data[9] != tag:
        return None
    if data[11] < _PONG_DATA:
        return None
    enterprise = int.from_bytes(data[12:16], "big")
    entities, interactions = data[20], data[21]
    dash = bool(interactions & 0x20)
    pong = Pong(enterprise=enterprise, ipmi=bool(entities & 0x80), asf_version=entities & 0x0F, dash=dash,
                amt=enterprise == INTEL_IANA and dash)
    if not pong.amt:
        return pong
    major, minor = data[18] >> 4, data[18] & 0x0F
    state = data[19] & 0x03
    port = int.from_bytes(data[16:18], "big")
    return Pong(enterprise=enterprise, ipmi=pong.ipmi, asf_version=pong.asf_version, dash=True, amt=True,
                amt_version=f"{major}.{minor}" if major else "",
                provisioning=AMT_PROVISIONING[state] if state < len(AMT_PROVISIONING) else "",
                amt_port=port if port in (16992, 16993) else None)


def pong(tag: int, *, enterprise: int, entities: int, interactions: int, oem: bytes = b"\0\0\0\0") -> bytes:
    """A pong datagram, for responders (tests, the benchmark): what a BMC or AMT sends back."""
    if len(oem) != 4:
        raise ValueError("the OEM-defined field is 4 bytes")
    data = enterprise.to_bytes(4, "big") + oem + bytes([entities, interactions]) + bytes(6)
    return bytes([_RMCP_VERSION, 0x00, _NO_ACK, _CLASS_ASF]) + ASF_IANA.to_bytes(4, "big") + bytes(
        [_PONG, tag, 0x00, len(data)]) + data


def ping_tag(data: bytes) -> int | None:
    """The tag of a presence ping, or None when `data` is not one (for responders)."""
    if len(data) < 12 or data[0] != _RMCP_VERSION or data[3] != _CLASS_ASF:
        return None
    if int.from_bytes(data[4:8], "big") != ASF_IANA or data[8] != _PING:
        return None
    return data[9]
