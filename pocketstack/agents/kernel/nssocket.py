"""Sockets this process opens inside one of the cloud's network namespaces.

A socket belongs to the namespace of the thread that created it, for its whole life. So a
short-lived thread of its own enters the namespace (``setns(2)`` on ``/run/netns/<name>``;
Python 3.11 has no ``os.setns``, so through libc), creates and binds the socket, and goes back
to where it was before it ends; the socket is then served from the event loop like any other,
and no other thread ever changes namespace.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

from pocketstack.agents.kernel.run import NETNS_DIR, KernelError

CLONE_NEWNET = 0x40000000
IP_FREEBIND = 15  # bind an address the namespace does not have (yet)

T = TypeVar("T")


def netns_inode(name: str) -> int | None:
    """Identity of the namespace now named ``name`` (a namespace deleted and made again under
    the same name is another one), or None when there is none."""
    try:
        return os.stat(os.path.join(NETNS_DIR, name)).st_ino
    except FileNotFoundError:
        return None


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new thread inside namespace ``name`` and answer its result (blocking:
    call it from a worker thread). The thread goes back to its own namespace before it ends."""
    result: list[T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
            except FileNotFoundError:
                os.close(own)
                raise KernelError(f"network namespace {name} does not exist") from None
            try:
                _setns(target)
                try:
                    result.append(fn())
                finally:
                    _setns(own)  # if this fails, the thread ends anyway: nobody else uses it
            finally:
                os.close(target)
                os.close(own)
        except BaseException as exc:  # handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=work, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def tcp_listener(netns: str, address: str, port: int, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on ``address:port`` inside ``netns`` (``IP_FREEBIND``: the
    address may be added to the namespace later)."""
    def make() -> socket.socket:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind((address, port))
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    return in_netns(netns, make)
