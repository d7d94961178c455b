"""VHDX parsing (Microsoft [MS-VHDX] specification).

Layout used here (all little-endian):

* file type identifier ``vhdxfile`` at offset 0;
* region tables at 192 KiB and 256 KiB (a copy): ``regi``, checksum, entry
  count, reserved, then 32-byte entries ``GUID, file offset u64, length u32,
  flags u32``; the metadata region is the one with the metadata GUID;
* the metadata region starts with a 64 KiB table: ``metadata``, reserved u16,
  entry count u16, 20 reserved bytes, then 32-byte entries ``item GUID,
  offset u32 (from region start), length u32, flags u32, reserved u32``;
* items: VirtualDiskSize (u64), File Parameters (block size u32, flags u32
  with bit 1 = HasParent), Parent Locator (differencing disks only).

The metadata region lives beyond the retained head (QEMU puts it at 3 MiB),
so the planner asks for the table and then for the individual items.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence

from pocketstack.image.formats._base import (
    Finding,
    FindingCode,
    FormatDef,
    Parsed,
    Request,
    View,
)

NAME = "vhdx"
SIGNATURE = b"vhdxfile"
KIB = 1024

_REGION_TABLE_OFFSETS = (192 * KIB, 256 * KIB)
#: the retained head must reach past the second region table's entries
HEAD_NEEDED = 256 * KIB + 64 * KIB
_MAX_ENTRIES = 2047
_TABLE_LEN = 64 * KIB

_METADATA_REGION = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e").bytes_le
_VIRTUAL_DISK_SIZE = uuid.UUID("2fa54224-cd1b-4876-b211-5dbed83bf4b8").bytes_le
_FILE_PARAMETERS = uuid.UUID("caa16737-fa36-4d43-b3b6-33f0aa44e76b").bytes_le
_PARENT_LOCATOR = uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c").bytes_le

_HAS_PARENT = 1 << 1

_REQ_TABLE = "vhdx.metadata_table"
_REQ_SIZE = "vhdx.virtual_disk_size"
_REQ_PARAMS = "vhdx.file_parameters"


def _matches(view: View) -> bool:
    return view.read(0, len(SIGNATURE)) == SIGNATURE


def _metadata_region(view: View) -> tuple[int, int] | str:
    """(offset, length) of the metadata region, or why it is unknown."""
    for table_offset in _REGION_TABLE_OFFSETS:
        head = view.read(table_offset, 16)
        if len(head) < 16:
            continue
        signature, _checksum, count, _reserved = struct.unpack("<4sIII", head)
        if signature != b"regi" or count > _MAX_ENTRIES:
            continue
        entries = view.read(table_offset + 16, 32 * count)
        if len(entries) < 32 * count:
            continue
        for index in range(count):
            guid, offset, length, _flags = struct.unpack_from("<16sQII", entries, 32 * index)
            if guid == _METADATA_REGION:
                if length < 32:
                    return f"vhdx metadata region too small ({length} bytes)"
                return offset, length
        return "vhdx region table has no metadata region"
    return "vhdx region table missing or truncated"


def _metadata_items(table: bytes) -> dict[bytes, tuple[int, int, int]] | str:
    """item GUID -> (offset, length, flags), or why the table is unusable."""
    if table[:8] != b"metadata":
        return "vhdx metadata table signature missing"
    (count,) = struct.unpack_from("<H", table, 10)
    if count > _MAX_ENTRIES or 32 + 32 * count > len(table):
        return f"vhdx metadata table has an invalid entry count {count}"
    items: dict[bytes, tuple[int, int, int]] = {}
    for index in range(count):
        guid, offset, length, flags, _ = struct.unpack_from("<16sIIII", table, 32 + 32 * index)
        items.setdefault(guid, (offset, length, flags))
    return items


def _item_request(
    name: str, region: tuple[int, int], item: tuple[int, int, int] | None, size: int
) -> Request | None:
    if item is None:
        return None
    offset, length, _ = item
    if length < size or offset < 32 or offset + size > region[1]:
        return None
    return Request(name, region[0] + offset, size)


def _requests(view: View) -> Sequence[Request]:
    region = _metadata_region(view)
    if isinstance(region, str):
        return ()
    wanted = [Request(_REQ_TABLE, region[0], min(region[1], _TABLE_LEN))]
    table = view.region(_REQ_TABLE)
    if table is not None:
        items = _metadata_items(table)
        if not isinstance(items, str):
            for req in (
                _item_request(_REQ_SIZE, region, items.get(_VIRTUAL_DISK_SIZE), 8),
                _item_request(_REQ_PARAMS, region, items.get(_FILE_PARAMETERS), 8),
            ):
                if req is not None:
                    wanted.append(req)
    return wanted


def _parse(view: View) -> Parsed:
    region = _metadata_region(view)
    if isinstance(region, str):
        return Parsed.invalid(NAME, region)
    table = view.region(_REQ_TABLE)
    if table is None:
        return Parsed.invalid(NAME, "vhdx metadata table not available")
    items = _metadata_items(table)
    if isinstance(items, str):
        return Parsed.invalid(NAME, items)

    findings: list[Finding] = []
    params = view.region(_REQ_PARAMS)
    has_parent = params is not None and bool(struct.unpack_from("<I", params, 4)[0] & _HAS_PARENT)
    if has_parent or _PARENT_LOCATOR in items:
        findings.append(
            Finding(FindingCode.BACKING_FILE, "differencing vhdx refers to a parent disk")
        )
    if params is None:
        findings.append(Finding(FindingCode.INVALID_HEADER, "vhdx file parameters not available"))
    size = view.region(_REQ_SIZE)
    if size is None:
        findings.append(Finding(FindingCode.INVALID_HEADER, "vhdx virtual disk size not available"))
        return Parsed(NAME, None, tuple(findings))
    return Parsed(NAME, struct.unpack("<Q", size)[0], tuple(findings))


FORMAT = FormatDef(NAME, _matches, _parse, _requests)
