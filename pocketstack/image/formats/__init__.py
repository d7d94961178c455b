"""Per-format header parsers used by :mod:`pocketstack.image.inspect`.

``SIGNATURE_FORMATS`` are recognised by a signature at (or near) offset 0 and
are mutually exclusive; ``ISO`` is recognised by its volume descriptor at
32 KiB and may legitimately coexist only with raw content (boot sectors,
partition tables) at offset 0.
"""

from pocketstack.image.formats import iso, other, qcow2, vhd, vhdx, vmdk
from pocketstack.image.formats._base import (
    Finding,
    FindingCode,
    FormatDef,
    Parsed,
    Request,
    View,
)

SIGNATURE_FORMATS: tuple[FormatDef, ...] = (
    qcow2.FORMAT,
    vmdk.FORMAT,
    vhd.FORMAT,
    vhdx.FORMAT,
    *other.FORMATS,
)
ISO = iso.FORMAT

#: bytes from the start of the stream that must be retained for every parser
HEAD_NEEDED = max(vhdx.HEAD_NEEDED, iso.SCAN_END, vmdk.PROBE_LEN, vmdk.DESCRIPTOR_LIMIT)
#: bytes from the end of the stream that must be retained
TAIL_NEEDED = vmdk.FOOTER_TAIL

__all__ = [
    "HEAD_NEEDED",
    "ISO",
    "SIGNATURE_FORMATS",
    "TAIL_NEEDED",
    "Finding",
    "FindingCode",
    "FormatDef",
    "Parsed",
    "Request",
    "View",
]
