"""Ports for the stack's listeners are picked where no outgoing connection can take them."""

from __future__ import annotations

import socket

from mmstream.core.child_process import EPHEMERAL_RANGE, free_port


def test_listener_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    ephemeral_low = int(EPHEMERAL_RANGE.read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(1024 <= port < ephemeral_low for port in ports), ports
    assert len(set(ports)) == len(ports), "a port handed out twice in one process"
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
