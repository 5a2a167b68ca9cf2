"""The kit's TCP connect logic shared by the hosts probe and the OOB `tcp` probe: which addresses of a name
are tried and in what order, and that a refusing first address does not hide a listening second one."""

from __future__ import annotations

import socket
import threading
import time

from collectors.kit import tcp


def info(family: int, address: str, proto: int = socket.IPPROTO_TCP) -> tuple[object, ...]:
    sockaddr: tuple[object, ...] = (address, 0, 0, 0) if family == socket.AF_INET6 else (address, 0)
    return (family, socket.SOCK_STREAM, proto, "", sockaddr)


def test_addresses_keep_the_resolvers_order_drop_repeats_and_stop_at_the_limit() -> None:
    infos = [info(socket.AF_INET6, "2001:db8::1"), info(socket.AF_INET, "192.0.2.1"),
             info(socket.AF_INET6, "2001:db8::1", 0),  # the same address again (another protocol entry)
             info(socket.AF_INET, "192.0.2.2"), info(socket.AF_INET, "192.0.2.3"), info(socket.AF_INET, "192.0.2.4")]
    assert tcp.addresses(infos) == [(socket.AF_INET6, "2001:db8::1"), (socket.AF_INET, "192.0.2.1"),
                                    (socket.AF_INET, "192.0.2.2"), (socket.AF_INET, "192.0.2.3")]
    assert tcp.addresses(infos, limit=1) == [(socket.AF_INET6, "2001:db8::1")]


def test_a_refusing_first_address_does_not_hide_a_listening_second_one() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        # 127.0.0.2 is loopback too, but nothing listens on it: the kernel refuses at once.
        outcome = tcp.first_open([(socket.AF_INET, "127.0.0.2"), (socket.AF_INET, "127.0.0.1")], [port],
                                 time.monotonic() + 2.0, threading.Event())
    assert outcome.accepted == ("127.0.0.1", port)
    assert [(f.address, tcp.word(f.error)) for f in outcome.failures] == [("127.0.0.2", "refused")]
