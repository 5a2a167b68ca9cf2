"""Real servers and real-shaped host trees for the out-of-band tests and the benchmark.

- AmtLikeServer: a loopback HTTP server answering the way Intel AMT firmware does (headers from
  shared/corpus/amt/SAMPLES.md: 303 to /logon.htm on `/`, 401 with a "Digest:<hex>" realm on an
  unauthenticated POST /wsman, a Digest-authenticated WS-Man Get of the power state answered chunked), plus
  the impostors a probe must not believe: firmware that only copies the banner (Realtek DASH, 3.0.5) and a
  plain web server.
- RmcpResponder: a UDP RMCP/ASF responder (AMT or IPMI BMC pongs).
- SilentServer: accepts TCP connections and never says anything.
- sysfs trees and dmidecode output shaped after the machines in shared/corpus/mei and shared/corpus/dmi,
  and a stand-in dmidecode program that prints one of them.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collectors.oob import rmcp

AMT_REALM = "Digest:727734D63A1FC0423736E48DA554E462"
AMT_SERVER = "Intel(R) Active Management Technology 15.0.23.1706"
DASH_SERVER = "Intel(R) Active Management Technology 3.0.5"  # Realtek DASH firmware's hard-coded banner
AMT_401_BODY = (b"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n<html><head><link "
                b"rel=stylesheet href=/styles.css>\n<meta http-equiv=\"Content-Type\" content=\"text/html; "
                b"charset=utf-8\">\n<title>Intel&reg; Active Management Technology</title></head>\n<body>\n"
                b"<table class=header><tr><td valign=top nowrap><p class=top1>Intel<font class=r><sup>&reg;"
                b"</sup></font> Active Management Technology</td></tr></table>\n<h2 class=warn>Log on failed. "
                b"Incorrect user name or password, or user account temporarily locked.</h2>\n</body></html>\n")
_PARAM = re.compile(r'([a-z]+)=(?:"([^"]*)"|([^,\s]*))')


def power_reply(state: int) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:g="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AssociatedPowerManagementService">'
        "<a:Header/><a:Body><g:CIM_AssociatedPowerManagementService>"
        "<g:AvailableRequestedPowerStates>2</g:AvailableRequestedPowerStates>"
        f"<g:PowerState>{state}</g:PowerState><g:RequestedPowerState>2</g:RequestedPowerState>"
        "</g:CIM_AssociatedPowerManagementService></a:Body></a:Envelope>").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    server: _Server

    def version_string(self) -> str:
        return self.server.banner

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, chunked: bool = False) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if chunked:
            for start in range(0, len(body), 200):
                piece = body[start:start + 200]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.close_connection = True

    def do_GET(self) -> None:
        if self.server.mode == "plain":
            self._send(200, [("Content-Type", "text/html")], b"<html><body>It works!</body></html>")
        else:
            self._send(303, [("Location", "/logon.htm")], b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append((self.path, dict(self.headers), body))
        mode = self.server.mode
        if mode == "plain" or self.path != "/wsman":
            self._send(404, [("Content-Type", "text/html")], b"<html><body>Not Found</body></html>")
            return
        if mode == "impostor":
            self._send(200, [("Content-Type", "application/soap+xml; charset=UTF-8")],
                       b"<Envelope><Body>DASH</Body></Envelope>")
            return
        authorization = self.headers.get("Authorization")
        if authorization is None or not self._digest_ok(authorization):
            self._send(401, [("WWW-Authenticate", f'Digest realm="{AMT_REALM}", nonce="{self.server.nonce}",'
                                                  'stale="false",qop="auth"'),
                             ("Content-Type", "text/html")], AMT_401_BODY)
            return
        self._send(200, [("X-Frame-Options", "DENY"), ("Content-Type", "application/soap+xml; charset=UTF-8")],
                   power_reply(self.server.power_state), chunked=True)

    def _digest_ok(self, authorization: str) -> bool:
        scheme, _, rest = authorization.partition(" ")
        if scheme != "Digest":
            return False
        params = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}
        if params.get("username") != self.server.username or params.get("realm") != AMT_REALM:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - AMT's Digest is MD5

        ha1 = md5(f"{self.server.username}:{AMT_REALM}:{self.server.password}")
        ha2 = md5(f"POST:{params.get('uri', '')}")
        expected = md5(f"{ha1}:{self.server.nonce}:{params.get('nc')}:{params.get('cnonce')}:auth:{ha2}")
        return params.get("nonce") == self.server.nonce and params.get("response") == expected


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    mode = "amt"
    banner = AMT_SERVER
    username = "admin"
    password = ""
    nonce = "B9AX94iAAAAAAAAAx6rrSfPHGUrx/3uA"
    power_state = 2
    requests: list[tuple[str, dict[str, str], bytes]]


@contextmanager
def amt_like_server(mode: str = "amt", *, host: str = "127.0.0.1", password: str = "P@ssw0rd-amt",  # noqa: S107
                    power_state: int = 2) -> Iterator[_Server]:
    """mode: "amt" (real AMT behaviour), "impostor" (AMT banner, no Digest challenge), "plain" (nginx)."""
    server = _Server((host, 0), _Handler)
    server.mode = mode
    server.banner = {"amt": AMT_SERVER, "impostor": DASH_SERVER, "plain": "nginx/1.22.1"}[mode]
    server.password = password
    server.power_state = power_state
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def port_of(server: _Server) -> int:
    port: int = server.server_address[1]
    return port


def amt_pong_oem(major: int, minor: int, provisioning: int, port: int = 16992) -> bytes:
    """The OEM bytes of an AMT pong: open port, major<<4|minor, provisioning state."""
    return port.to_bytes(2, "big") + bytes([(major << 4) | minor, provisioning & 0x03])


class RmcpResponder:
    """Answers RMCP presence pings on a loopback UDP port as `kind` ("amt", "ipmi", "junk") would."""

    def __init__(self, kind: str = "ipmi", host: str = "127.0.0.1") -> None:
        self.kind = kind
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.pings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RmcpResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            tag = rmcp.ping_tag(data)
            if tag is None:
                continue
            self.pings += 1
            if self.kind == "junk":
                self.sock.sendto(b"HTTP/1.1 400 Bad Request\r\n\r\n", peer)
            elif self.kind == "amt":
                # An RMCP ACK first (what a sender asking for one would get), then an AMT 11.6 post-provisioning pong.
                self.sock.sendto(bytes([0x06, 0x00, 0xFF, 0x86]), peer)
                self.sock.sendto(rmcp.pong(tag, enterprise=343, entities=0x81, interactions=0x20,
                                           oem=amt_pong_oem(11, 6, 2)), peer)
            else:  # a BMC: Dell iDRAC's IANA, IPMI supported, ASF 1.0
                self.sock.sendto(rmcp.pong(tag, enterprise=674, entities=0x81, interactions=0x00), peer)


class SilentServer:
    """A TCP port that accepts and then says nothing (a hung web UI, a tarpit)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


# ---------------------------------------------------------------------------------------------------------
# Host trees


def _pci(root: Path, address: str, vendor: int, device: int, class_code: int) -> None:
    folder = root / "bus" / "pci" / "devices" / address
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vendor").write_text(f"0x{vendor:04x}\n")
    (folder / "device").write_text(f"0x{device:04x}\n")
    (folder / "class").write_text(f"0x{class_code:06x}\n")


def _mei(root: Path, fw_ver: str) -> None:
    mei = root / "class" / "mei" / "mei0"
    mei.mkdir(parents=True, exist_ok=True)
    (mei / "fw_ver").write_text(fw_ver)
    (mei / "dev_state").write_text("ENABLED\n")
    (mei / "kind").write_text("mei\n")
    (mei / "fw_status").write_text("90000255\n89110026\n00000020\n00004000\n00041F03\nC7E003CB\n")


def host_tree(root: Path, machine: str) -> Path:
    """A sysfs root (and a /dev beside it) for one machine, shaped after the corpus:
    - "elitedesk-800-g3": HP EliteDesk 800 G3 DM, vPro (lspci: 00:16.0 HECI 8086:a2ba with mei_me, 00:16.3
      AMT SOL 8086:a2bd class 0700 prog-if 02), ME firmware 11.6.12.3202;
    - "nuc11-i5": NUC11TNKi5, ME without AMT (00:16.0 8086:a0e0 only), ME firmware 15.0.35.1898;
    - "poweredge": a server with a BMC (ACPI IPI0001, /dev/ipmi0), no Intel ME in device 16;
    - "vm": a VM: a PCI bus with nothing of Intel ME, no ACPI IPMI device.
    """
    sysfs = root / "sys"
    (sysfs / "bus" / "pci" / "devices").mkdir(parents=True)
    (sysfs / "bus" / "acpi" / "devices" / "PNP0A08:00").mkdir(parents=True)
    dev = root / "dev"
    dev.mkdir()
    _pci(sysfs, "0000:00:00.0", 0x8086, 0x591F, 0x060000)  # host bridge
    if machine == "elitedesk-800-g3":
        _pci(sysfs, "0000:00:16.0", 0x8086, 0xA2BA, 0x078000)
        _pci(sysfs, "0000:00:16.3", 0x8086, 0xA2BD, 0x070002)
        _pci(sysfs, "0000:00:1f.0", 0x8086, 0xA2C6, 0x060100)
        _mei(sysfs, "0:11.6.12.3202\n0:11.6.12.3202\n0:11.6.12.3202\n")
    elif machine == "nuc11-i5":
        _pci(sysfs, "0000:00:16.0", 0x8086, 0xA0E0, 0x078000)
        _mei(sysfs, "0:15.0.35.1898\n0:15.0.35.1898\n0:15.0.35.1898\n")
    elif machine == "poweredge":
        (sysfs / "bus" / "acpi" / "devices" / "IPI0001:00").mkdir()
        (dev / "ipmi0").write_text("")  # a character device on the real host; its existence is what is read
    elif machine != "vm":
        raise ValueError(machine)
    return root


# dmidecode output shaped after the corpus captures (headers as dmidecode 3.4 prints them; the record bytes
# are the real machines'): type 130 `$AMT` flags set (vPro), all zero (consumer board with the record), and a
# Dell PowerEdge's type 38.
_DMI_HEAD = "# dmidecode 3.4\nGetting SMBIOS data from sysfs.\nSMBIOS 3.0.0 present.\nTable at 0xC9762000.\n\n"
DMIDECODE = {
    "elitedesk-800-g3": _DMI_HEAD + (
        "Handle 0x0000, DMI type 0, 26 bytes\nBIOS Information\n\tVendor: HP\n\tVersion: P21 Ver. 02.39\n\n"
        "Handle 0x002B, DMI type 130, 20 bytes\nOEM-specific Type\n\tHeader and Data:\n"
        "\t\t82 14 2B 00 24 41 4D 54 01 01 01 01 01 A5 BF 02\n\t\tC0 00 01 00\n\n"
        "Handle 0xFEFF, DMI type 127, 4 bytes\nEnd Of Table\n\n"),
    "nuc7-zero-record": _DMI_HEAD + (
        "Handle 0x0033, DMI type 130, 20 bytes\nOEM-specific Type\n\tHeader and Data:\n"
        "\t\t82 14 33 00 24 41 4D 54 00 00 00 00 00 A5 AF 02\n\t\tC0 00 00 00\n\n"
        "Handle 0xFEFF, DMI type 127, 4 bytes\nEnd Of Table\n\n"),
    "nuc11-i5": _DMI_HEAD + "Handle 0xFEFF, DMI type 127, 4 bytes\nEnd Of Table\n\n",
    "poweredge": _DMI_HEAD + (
        "Handle 0x2600, DMI type 38, 18 bytes\nIPMI Device Information\n"
        "\tInterface Type: KCS (Keyboard Control Style)\n\tSpecification Version: 2.0\n\tI2C Slave Address: 0x10\n"
        "\tNV Storage Device: Not Present\n\tBase Address: 0x0000000000000CA8 (I/O)\n"
        "\tRegister Spacing: 32-bit Boundaries\n\n"
        "Handle 0xFEFF, DMI type 127, 4 bytes\nEnd Of Table\n\n"),
    "vm": _DMI_HEAD + "Handle 0xFEFF, DMI type 127, 4 bytes\nEnd Of Table\n\n",
}


def standin_dmidecode(folder: Path, output: str | Path, exit_code: int = 0, stderr: str = "") -> Path:
    """A `dmidecode` that prints `output` (text, or the path of a capture to print in place) and exits."""
    folder.mkdir(parents=True, exist_ok=True)
    source = output if isinstance(output, Path) else folder / "dmidecode.txt"
    if not isinstance(output, Path):
        source.write_text(output)
    script = folder / "dmidecode"
    script.write_text(f"#!/bin/sh\ncat '{source}'\n" + (f"echo '{stderr}' >&2\n" if stderr else "")
                      + f"exit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script
