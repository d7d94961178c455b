"""ISO 9660 (ECMA-119) volume descriptor parsing.

The volume descriptor set starts at logical sector 16 (byte 32768) in 2048-byte
sectors; each descriptor is a type byte then ``CD001``.  The primary volume
descriptor (type 1) holds the volume space size (both-endian u32 @80) and the
logical block size (both-endian u16 @128).  Type 255 terminates the set.
"""

from __future__ import annotations

import struct

from pocketstack.image.formats._base import FormatDef, Parsed, View

NAME = "iso"
IDENTIFIER = b"CD001"
SECTOR = 2048
FIRST_DESCRIPTOR = 16
MAX_DESCRIPTORS = 32
#: how far into the stream the descriptor scan may look
SCAN_END = (FIRST_DESCRIPTOR + MAX_DESCRIPTORS) * SECTOR

_TYPE_PRIMARY = 1
_TYPE_TERMINATOR = 255
_PVD_FIELDS_LEN = 132


def _matches(view: View) -> bool:
    return view.read(FIRST_DESCRIPTOR * SECTOR + 1, len(IDENTIFIER)) == IDENTIFIER


def _parse(view: View) -> Parsed:
    for index in range(MAX_DESCRIPTORS):
        desc = view.read((FIRST_DESCRIPTOR + index) * SECTOR, _PVD_FIELDS_LEN)
        if len(desc) < 6 or desc[1:6] != IDENTIFIER:
            break
        if desc[0] == _TYPE_TERMINATOR:
            break
        if desc[0] != _TYPE_PRIMARY:
            continue
        if len(desc) < _PVD_FIELDS_LEN:
            return Parsed.invalid(NAME, "iso primary volume descriptor truncated")
        (blocks,) = struct.unpack_from("<I", desc, 80)
        (block_size,) = struct.unpack_from("<H", desc, 128)
        if block_size < 512 or block_size & (block_size - 1):
            return Parsed.invalid(NAME, f"invalid iso logical block size {block_size}")
        return Parsed(NAME, blocks * block_size)
    return Parsed.invalid(NAME, "iso has no primary volume descriptor")


FORMAT = FormatDef(NAME, _matches, _parse)
