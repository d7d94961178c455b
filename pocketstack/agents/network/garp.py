"""Gratuitous ARP from a link inside a namespace (what Neutron's ``arping -U`` does when a
router takes an address): neighbours that still map a floating IP to the MAC of its last
owner (another router's ``qg``) learn the new one at once instead of after their entry
times out.

The raw socket is opened in a short-lived thread that enters the namespace (``setns`` is
per thread) and ends; the socket stays bound to the link in that namespace. No process is
started and the agent's own threads never change namespace.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Sequence

from pocketstack.agents.kernel import run

CLONE_NEWNET = 0x40000000
ETH_P_ARP = 0x0806


def _open(netns: str, dev: str) -> socket.socket:
    found: dict[str, socket.socket | BaseException] = {}

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # the process's own libc
            fd = os.open(os.path.join(run.NETNS_DIR, netns), os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns {netns}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
            sock.bind((dev, ETH_P_ARP))
            found["sock"] = sock
        except BaseException as exc:  # handed to the caller's thread
            found["error"] = exc

    thread = threading.Thread(target=enter, name=f"garp-{dev}", daemon=True)
    thread.start()
    thread.join()
    error, sock = found.get("error"), found.get("sock")
    if isinstance(error, BaseException):
        raise error
    assert isinstance(sock, socket.socket)
    return sock


def frame(mac: bytes, address: str) -> bytes:
    """A broadcast gratuitous ARP request: sender and target are ``address``."""
    ip = ipaddress.IPv4Address(address).packed
    return (b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + b"\x00" * 6 + ip)


def announce(netns: str, dev: str, addresses: Sequence[str]) -> None:
    """Send one gratuitous ARP per IPv4 address from ``dev`` in ``netns``."""
    v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    if not v4:
        return
    with _open(netns, dev) as sock:
        mac = bytes(sock.getsockname()[4][:6])
        for address in v4:
            sock.send(frame(mac, address))
