"""Recognition (only) of other formats QEMU would auto-probe.

These are not parsed; they are recognised so that, say, a QED or VDI image
uploaded as ``raw`` is reported as what it is and refused by the format check
instead of being passed off as raw bytes.  Names follow Glance's disk_format
vocabulary where one exists (``ploop`` for QEMU's ``parallels``).
"""

from __future__ import annotations

from pocketstack.image.formats._base import FormatDef, Parsed, View

# (name, offset, magic) — several magics may share a name.
_MAGICS: tuple[tuple[str, int, bytes], ...] = (
    ("vdi", 0x40, b"\x7f\x10\xda\xbe"),
    ("qed", 0, b"QED\x00"),
    ("luks", 0, b"LUKS\xba\xbe"),
    ("ploop", 0, b"WithoutFreeSpace"),
    ("ploop", 0, b"WithouFreSpacExt"),
    ("bochs", 0, b"Bochs Virtual HD Image\x00"),
    ("cloop", 0, b"#!/bin/sh\n#V2.0 Format\n"),
)


def _make(name: str) -> FormatDef:
    magics = tuple((off, magic) for n, off, magic in _MAGICS if n == name)

    def matches(view: View) -> bool:
        return any(view.read(off, len(magic)) == magic for off, magic in magics)

    def parse(view: View) -> Parsed:
        return Parsed(name, None)

    return FormatDef(name, matches, parse)


FORMATS: tuple[FormatDef, ...] = tuple(_make(n) for n in dict.fromkeys(n for n, _, _ in _MAGICS))
