"""A cpio archive in the ``newc`` format the kernel unpacks as an initramfs.

Written here rather than with ``cpio`` so device nodes and root ownership need no root.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str  # relative path, no leading slash
    mode: int  # file type and permission bits (stat.S_IF* | 0oNNN)
    data: bytes = b""  # file content, or a symlink's target
    rdev: tuple[int, int] = (0, 0)  # major, minor of a device node


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def archive(entries: list[Entry]) -> bytes:
    """The archive of ``entries`` (owned by root, mtime 0), with its trailer."""
    out = bytearray()
    for ino, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.name.encode() + b"\0"
        fields = (ino, entry.mode, 0, 0, 1, 0, len(entry.data), 0, 0, entry.rdev[0],
                  entry.rdev[1], len(name), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out += header + name + _pad(len(header) + len(name))
        out += entry.data + _pad(len(entry.data))
    return bytes(out)
