"""What a NIC can do, asked of the kernel with the unprivileged SIOCETHTOOL ioctl.

sysfs tells the negotiated speed only; the capability (the "supported" link modes that say an X710 port
could run 10G while it sits at 1G) is only available through ethtool. ETHTOOL_GLINKSETTINGS is one of the
ethtool commands the kernel serves without CAP_NET_ADMIN, so the hardened daemon can ask it directly,
without the `ethtool` program or a netlink library.

The ioctl runs in the network namespace of the calling process, like sysfs seen through /sys.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import socket
import struct
from dataclasses import dataclass

from collectors.nic.linkmodes import modes_from_bitmap, plausible_speed

SIOCETHTOOL = 0x8946
ETHTOOL_GSET = 0x00000001
ETHTOOL_GLINKSETTINGS = 0x0000004C
IFNAMSIZ = 16

# struct ethtool_link_settings without its flexible link_mode_masks[] tail: cmd, speed, duplex, port,
# phy_address, autoneg, mdio_support, eth_tp_mdix, eth_tp_mdix_ctrl, link_mode_masks_nwords (signed),
# transceiver, master_slave_cfg, master_slave_state, rate_matching, reserved[7].
_LINK_SETTINGS = struct.Struct("=IIBBBBBBBbBBBB7I")
# struct ethtool_cmd (legacy): cmd, supported, advertising, speed, duplex, port, phy_address, transceiver,
# autoneg, mdio_support, maxtxpkt, maxrxpkt, speed_hi, eth_tp_mdix, eth_tp_mdix_ctrl, lp_advertising,
# reserved[2].
_ETHTOOL_CMD = struct.Struct("=IIIHBBBBBBIIHBBI2I")
# struct ifreq is the name plus a union whose largest member is 24 bytes on 64-bit; the kernel copies the
# whole struct, so the buffer must be at least that long even though only ifr_data is used.
_IFREQ_SIZE = 40

# The answers by which the kernel says "this interface has no such thing" or "there is no such interface".
# They describe the interface, not a failure of physgap, so they end in None rather than an exception.
_NOT_AVAILABLE = frozenset(
    {
        errno.EOPNOTSUPP,
        errno.ENOTSUP,
        errno.ENODEV,
        errno.ENOENT,
        errno.ENXIO,
        errno.EINVAL,
        errno.ENOTTY,
        errno.EPERM,  # a sandbox (seccomp, LSM) that forbids the ioctl: same as not knowing
        errno.EACCES,
    }
)

_DUPLEX = {0x00: "half", 0x01: "full"}
_PORT = {
    0x00: "TP", 0x01: "AUI", 0x02: "MII", 0x03: "FIBRE", 0x04: "BNC", 0x05: "DA", 0xEF: "NONE", 0xFF: "OTHER"
}


@dataclass(frozen=True)
class LinkSettings:
    """One GLINKSETTINGS (or legacy GSET) answer."""

    speed_mbps: int | None  # None when not a plausible link speed: SPEED_UNKNOWN (0xFFFFFFFF), 0 ("no link")
    duplex: str  # "full", "half" or "unknown"
    autoneg: bool
    port: str  # "TP", "FIBRE", "DA", ... or "0x.." for a value this module does not know
    supported: tuple[str, ...]  # link-mode names the NIC (with its current module) can do
    advertised: tuple[str, ...]
    partner: tuple[str, ...]  # what the link partner advertised; empty when unknown


def _speed(raw: int) -> int | None:
    # SPEED_UNKNOWN (0xFFFFFFFF), 0 ("no link") and the legacy 16-bit field's 0xFFFF: judged by the same
    # plausible range as the sysfs `speed` file, so both sources agree on what "unknown" is.
    return plausible_speed(raw)


def _port(raw: int) -> str:
    return _PORT.get(raw, f"0x{raw:02x}")


def parse_link_settings(data: bytes) -> LinkSettings | None:
    """Decode a complete GLINKSETTINGS answer (header plus three mask arrays); None if it is not one."""
    if len(data) < _LINK_SETTINGS.size:
        return None
    (cmd, speed, duplex, port, _phy, autoneg, _mdio, _mdix, _mdix_ctrl, nwords, *_rest) = (
        _LINK_SETTINGS.unpack_from(data)
    )
    if cmd != ETHTOOL_GLINKSETTINGS or nwords <= 0:
        return None
    count = nwords * 3
    if len(data) < _LINK_SETTINGS.size + 4 * count:
        return None
    words = struct.unpack_from(f"={count}I", data, _LINK_SETTINGS.size)
    return LinkSettings(
        speed_mbps=_speed(speed),
        duplex=_DUPLEX.get(duplex, "unknown"),
        autoneg=autoneg == 1,
        port=_port(port),
        supported=modes_from_bitmap(words[:nwords]),
        advertised=modes_from_bitmap(words[nwords : 2 * nwords]),
        partner=modes_from_bitmap(words[2 * nwords :]),
    )


def parse_legacy_settings(data: bytes) -> LinkSettings | None:
    """Decode an ETHTOOL_GSET answer, whose masks are the first 32 bits of the modern bitmaps."""
    if len(data) < _ETHTOOL_CMD.size:
        return None
    fields = _ETHTOOL_CMD.unpack_from(data)
    cmd, supported, advertising, speed_lo, duplex, port = fields[:6]
    autoneg = fields[8]
    speed_hi, lp_advertising = fields[12], fields[15]
    if cmd != ETHTOOL_GSET:
        return None
    return LinkSettings(
        speed_mbps=_speed(speed_hi << 16 | speed_lo),
        duplex=_DUPLEX.get(duplex, "unknown"),
        autoneg=autoneg == 1,
        port=_port(port),
        supported=modes_from_bitmap([supported]),
        advertised=modes_from_bitmap([advertising]),
        partner=modes_from_bitmap([lp_advertising]),
    )


def _open_socket() -> socket.socket:
    # Any socket reaches dev_ioctl(); AF_INET is the conventional one, AF_UNIX serves hosts built or
    # sandboxed without IPv4 (RestrictAddressFamilies=).
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)


def _ethtool_ioctl(sock: socket.socket, ifname: bytes, payload: bytes) -> bytes:
    """Run one SIOCETHTOOL command; the kernel reads and writes `payload` through ifr_data."""
    buf = array.array("B", payload)
    address, _length = buf.buffer_info()
    ifreq = struct.pack("16sP", ifname, address).ljust(_IFREQ_SIZE, b"\0")
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    return buf.tobytes()


def _glinksettings(sock: socket.socket, ifname: bytes) -> LinkSettings | None:
    # Handshake: asked with nwords=0 the kernel answers with -(words it needs) and fills nothing else;
    # asked again with exactly that size it fills the three masks.
    probe = _ethtool_ioctl(sock, ifname, _LINK_SETTINGS.pack(ETHTOOL_GLINKSETTINGS, *([0] * 20)))
    cmd, *_head, nwords = _LINK_SETTINGS.unpack_from(probe)[:10]
    if cmd != ETHTOOL_GLINKSETTINGS or nwords >= 0:
        return None
    size = -nwords
    request = _LINK_SETTINGS.pack(ETHTOOL_GLINKSETTINGS, 0, 0, 0, 0, 0, 0, 0, 0, size, *([0] * 11))
    answer = _ethtool_ioctl(sock, ifname, request + bytes(4 * 3 * size))
    return parse_link_settings(answer)


def _gset(sock: socket.socket, ifname: bytes) -> LinkSettings | None:
    answer = _ethtool_ioctl(sock, ifname, _ETHTOOL_CMD.pack(ETHTOOL_GSET, *([0] * 17)))
    return parse_legacy_settings(answer)


def get_link_settings(ifname: str) -> LinkSettings | None:
    """The interface's link settings, or None when it has none to give or does not exist (any more).

    Raises OSError only for answers that do not describe the interface (EFAULT, ENOMEM, ...), which point
    at a bug or a starving host rather than at the NIC.
    """
    name = os.fsencode(ifname)
    # A longer name would be cut to IFNAMSIZ-1 by the kernel and could name a different interface.
    if not name or len(name) >= IFNAMSIZ or b"\0" in name or b"/" in name:
        return None
    try:
        sock = _open_socket()
    except OSError as exc:
        if exc.errno in _NOT_AVAILABLE or exc.errno == errno.EAFNOSUPPORT:
            return None
        raise
    with sock:
        try:
            settings = _glinksettings(sock, name)
        except OSError as exc:
            if exc.errno not in _NOT_AVAILABLE:
                raise
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP):
                return None
            settings = None
        if settings is not None:
            return settings
        # Kernels before 4.6 know only the legacy command; newer ones answer it from the same driver
        # callback, so after an EOPNOTSUPP above this costs one more refusal and nothing else.
        try:
            return _gset(sock, name)
        except OSError as exc:
            if exc.errno in _NOT_AVAILABLE:
                return None
            raise
