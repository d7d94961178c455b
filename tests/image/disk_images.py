"""Disk images written in Python, laid out as qemu-img, genisoimage and xorriso write them,
so the inspector's tests run on any machine; where those tools are installed the tests also
check that the tools read these images the same way (and build their own to compare).

Layouts follow the public format specifications: QEMU's docs/interop/qcow2.txt and qed
spec, VMware's "Virtual Disk Format 5.0" technote, Microsoft's VHD and VHDX specifications,
VirtualBox's VDI header, and ECMA-119 (through pycdlib).
"""

from __future__ import annotations

import io
import shutil
import struct
import uuid
import zlib
from pathlib import Path

import pycdlib
import pytest

KIB = 1024
MIB = 1024 * KIB
SECTOR = 512
PACKAGES = {"qemu-img": "qemu-utils", "genisoimage": "genisoimage", "xorriso": "xorriso"}


def need_tool(tool: str) -> str:
    """The tool's path, or skip the test: it compares our reading with the tool's."""
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"compares with {tool}, which is not installed "
                    f"(apt-get install {PACKAGES[tool]})")
    return found


# -- qcow2 ------------------------------------------------------------------------------------
def qcow2(virtual_size: int, version: int = 3, backing: str | None = None,
          backing_format: str | None = None, data_file: str | None = None) -> bytes:
    """An empty qcow2 (64 KiB clusters): header (+ v3 extensions), L1, refcounts."""
    cluster = 64 * KIB
    l1_size = max(1, -(-virtual_size // (cluster * (cluster // 8))))
    l1_offset, rt_offset, rb_offset = cluster, 2 * cluster, 3 * cluster
    clusters = 4
    incompatible = 0
    extensions = b""
    if version == 3:
        def ext(kind: int, payload: bytes) -> bytes:
            return struct.pack(">II", kind, len(payload)) + payload.ljust(
                -(-len(payload) // 8) * 8, b"\0")

        if backing_format:
            extensions += ext(0xE2792ACA, backing_format.encode())
        if data_file:
            incompatible |= 1 << 2
            extensions += ext(0x44415441, data_file.encode())
        extensions += struct.pack(">II", 0, 0)
    header_len = 104 if version == 3 else 72
    name = (backing or "").encode()
    name_offset = header_len + len(extensions) if name else 0
    header = struct.pack(">4sIQIIQIIQQIIQ", b"QFI\xfb", version, name_offset, len(name), 16,
                         virtual_size, 0, l1_size, l1_offset, rt_offset, 1, 0, 0)
    if version == 3:
        header += struct.pack(">QQQII", incompatible, 0, 1 << 1 if data_file else 0, 4,
                              header_len)
    out = bytearray(clusters * cluster)
    out[: len(header)] = header
    out[header_len : header_len + len(extensions)] = extensions
    if name:
        out[name_offset : name_offset + len(name)] = name
    struct.pack_into(">Q", out, rt_offset, rb_offset)
    for index in range(clusters):
        struct.pack_into(">H", out, rb_offset + 2 * index, 1)
    return bytes(out)


# -- vmdk -------------------------------------------------------------------------------------
def _vmdk_descriptor(create_type: str, extents: list[str]) -> bytes:
    lines = ["# Disk DescriptorFile", "version=1", "CID=a1b2c3d4", "parentCID=ffffffff",
             f'createType="{create_type}"', "", "# Extent description", *extents, "",
             "# The Disk Data Base", "#DDB", "", 'ddb.virtualHWVersion = "4"',
             'ddb.geometry.cylinders = "6"', 'ddb.geometry.heads = "16"',
             'ddb.geometry.sectors = "63"', 'ddb.adapterType = "ide"', ""]
    return "\n".join(lines).encode()


def vmdk_sparse(path: Path, capacity: int, stream: bytes | None = None) -> Path:
    """A hosted sparse extent with its descriptor embedded: ``monolithicSparse``, or with
    ``stream`` (the guest data) a ``streamOptimized`` one of deflated grains ending in an
    end-of-stream marker."""
    sectors = capacity // SECTOR
    grain = 128  # sectors (64 KiB)
    gtes = 512
    grains = -(-sectors // grain)
    gts = -(-grains // gtes)
    gd_sectors = -(-gts * 4 // SECTOR)
    gt_sectors = gts * 4  # 512 entries of 4 bytes = 4 sectors each
    create_type = "streamOptimized" if stream is not None else "monolithicSparse"
    descriptor = _vmdk_descriptor(create_type,
                                  [f'RW {sectors} SPARSE "{path.name}"'])
    desc_offset, desc_size = 1, 20
    layout = desc_offset + desc_size
    if stream is None:
        rgd = layout
        rgt = rgd + gd_sectors
        gd = rgt + gt_sectors
        gt = gd + gd_sectors
        overhead = -(-(gt + gt_sectors) // grain) * grain
        flags, compress = 0x3, 0
    else:
        rgd = 0
        gd = layout
        gt = gd + gd_sectors
        overhead = -(-(gt + gt_sectors) // grain) * grain
        flags, compress = 0x30001, 1
    header = struct.pack("<4sIIQQQQIQQQBccccH", b"KDMV", 1 if stream is None else 3, flags,
                         sectors, grain, desc_offset, desc_size, gtes, rgd, gd, overhead, 0,
                         b"\n", b" ", b"\r", b"\n", compress)
    out = bytearray(overhead * SECTOR)
    out[: len(header)] = header
    out[SECTOR : SECTOR + len(descriptor)] = descriptor
    tables = [(gd, gt)] + ([(rgd, rgt)] if stream is None else [])
    for gd_at, gt_at in tables:
        for index in range(gts):
            struct.pack_into("<I", out, gd_at * SECTOR + 4 * index, gt_at + index * 4)
    if stream is not None:
        for index in range(min(grains, -(-len(stream) // (grain * SECTOR)))):
            data = stream[index * grain * SECTOR : (index + 1) * grain * SECTOR]
            if not data.strip(b"\0"):
                continue
            packed = zlib.compress(data.ljust(grain * SECTOR, b"\0"))
            marker = struct.pack("<QI", index * grain, len(packed)) + packed
            at = len(out) // SECTOR
            out += marker.ljust(-(-len(marker) // SECTOR) * SECTOR, b"\0")
            struct.pack_into("<I", out, gt * SECTOR + 4 * index, at)
        out += bytes(SECTOR)  # end-of-stream marker
    path.write_bytes(bytes(out))
    return path


def vmdk_flat(directory: Path, create_type: str, capacity: int) -> Path:
    """A text descriptor and its flat extent file (``monolithicFlat``,
    ``twoGbMaxExtentFlat``)."""
    suffix = "-flat" if create_type == "monolithicFlat" else "-f001"
    extent = directory / f"{create_type}{suffix}.vmdk"
    with extent.open("wb") as fh:
        fh.truncate(capacity)
    path = directory / f"{create_type}.vmdk"
    path.write_bytes(_vmdk_descriptor(
        create_type, [f'RW {capacity // SECTOR} FLAT "{extent.name}" 0']))
    return path


# -- vhd --------------------------------------------------------------------------------------
def _chs(sectors: int) -> tuple[int, int, int]:
    """The VHD specification's CHS geometry for a disk of ``sectors``."""
    sectors = min(sectors, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cyl_heads = sectors // spt
    else:
        spt = 17
        cyl_heads = sectors // spt
        heads = max((cyl_heads + 1023) // 1024, 4)
        if cyl_heads >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cyl_heads = sectors // spt
        if cyl_heads >= heads * 1024:
            spt, heads = 63, 16
            cyl_heads = sectors // spt
    return cyl_heads // heads, heads, spt


def _vhd_footer(size: int, disk_type: int, data_offset: int) -> bytes:
    cyls, heads, spt = _chs(size // SECTOR)
    footer = bytearray(struct.pack(
        ">8sIIQI4sI4sQQHBBII16sB", b"conectix", 2, 0x00010000, data_offset, 0, b"qem2",
        0x00050003, b"Wi2k", size, size, cyls, heads, spt, disk_type, 0,
        uuid.UUID(int=0x1234).bytes, 0)).ljust(SECTOR, b"\0")
    struct.pack_into(">I", footer, 64, ~sum(footer) & 0xFFFFFFFF)
    return bytes(footer)


def vhd_dynamic(size: int) -> bytes:
    """A dynamic VHD as ``qemu-img create -f vpc``: footer copy, sparse header, empty BAT."""
    block = 2 * MIB
    entries = -(-size // block)
    bat_offset = 3 * SECTOR
    bat_bytes = -(-entries * 4 // SECTOR) * SECTOR
    sparse = bytearray(struct.pack(">8sQQIIII", b"cxsparse", 0xFFFF_FFFF_FFFF_FFFF, bat_offset,
                                   0x00010000, entries, block, 0)).ljust(1024, b"\0")
    struct.pack_into(">I", sparse, 36, ~sum(sparse) & 0xFFFFFFFF)
    footer = _vhd_footer(size, 3, SECTOR)
    return footer + bytes(sparse) + b"\xff" * bat_bytes + footer


def vhd_fixed(size: int) -> bytes:
    """A fixed VHD: the guest's sectors, then the footer (looks like raw from the front)."""
    return bytes(size) + _vhd_footer(size, 2, 0xFFFF_FFFF_FFFF_FFFF)


# -- vhdx -------------------------------------------------------------------------------------
def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes | bytearray) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _guid(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


def vhdx(size: int) -> bytes:
    """A dynamic VHDX: file identifier, two headers, two region tables, an empty log, the
    metadata region (at 2 MiB) and the BAT (at 3 MiB)."""
    block = 32 * MIB
    log_at, meta_at, bat_at = MIB, 2 * MIB, 3 * MIB
    out = bytearray(4 * MIB)
    out[0:8] = b"vhdxfile"
    out[8:8 + 22] = "pocketstack".encode("utf-16-le")
    for index, at in enumerate((64 * KIB, 128 * KIB)):
        head = bytearray(4 * KIB)
        struct.pack_into("<4sIQ16s16s16sHHIQ", head, 0, b"head", 0, index + 1,
                         uuid.UUID(int=1).bytes_le, uuid.UUID(int=2).bytes_le, bytes(16), 0, 1,
                         MIB, log_at)
        struct.pack_into("<I", head, 4, crc32c(head))
        out[at : at + len(head)] = head
    regions = bytearray(64 * KIB)
    struct.pack_into("<4sIII", regions, 0, b"regi", 0, 2, 0)
    struct.pack_into("<16sQII", regions, 16, _guid("2DC27766-F623-4200-9D64-115E9BFD4A08"),
                     bat_at, MIB, 1)
    struct.pack_into("<16sQII", regions, 48, _guid("8B7CA206-4790-4B9A-B8FE-575F050F886E"),
                     meta_at, MIB, 1)
    struct.pack_into("<I", regions, 4, crc32c(regions))
    out[192 * KIB : 256 * KIB] = regions
    out[256 * KIB : 320 * KIB] = regions
    items = [  # (guid, payload, flags: 4 required, 2 virtual disk)
        ("CAA16737-FA36-4D43-B3B6-33F0AA44E76B", struct.pack("<II", block, 0), 4),
        ("2FA54224-CD1B-4876-B211-5DBED83BF4B8", struct.pack("<Q", size), 6),
        ("BECA12AB-B2E6-4523-93EF-C309E000C746", uuid.UUID(int=3).bytes_le, 6),
        ("8141BF1D-A96F-4709-BA47-F233A8FAAB5F", struct.pack("<I", 512), 6),
        ("CDA348C7-445D-4471-9CC9-E9885251C556", struct.pack("<I", 4096), 6),
    ]
    struct.pack_into("<8sHH", out, meta_at, b"metadata", 0, len(items))
    offset = 64 * KIB
    for index, (guid, payload, flags) in enumerate(items):
        struct.pack_into("<16sIIII", out, meta_at + 32 + 32 * index, _guid(guid), offset,
                         len(payload), flags, 0)
        out[meta_at + offset : meta_at + offset + len(payload)] = payload
        offset += 64 * KIB
    return bytes(out)


# -- qed, vdi ---------------------------------------------------------------------------------
def qed(size: int) -> bytes:
    """An empty QED: header cluster and an all-zero L1 table of four clusters."""
    cluster, table = 64 * KIB, 4
    header = struct.pack("<4sIIIQQQQQII", b"QED\0", cluster, table, 1, 0, 0, 0, cluster, size,
                         0, 0)
    return header.ljust(cluster, b"\0") + bytes(table * cluster)


def vdi(size: int) -> bytes:
    """An empty dynamic VDI: header, a block map of unallocated blocks, no data."""
    block = MIB
    blocks = -(-size // block)
    bmap = -(-blocks * 4 // SECTOR) * SECTOR
    header = bytearray(SECTOR)
    header[:64] = b"<<< QEMU VM Virtual Disk Image >>>\n".ljust(64, b"\0")
    struct.pack_into("<IIIII", header, 0x40, 0xBEDA107F, 0x00010001, 0x180, 1, 0)
    struct.pack_into("<IIIIIIIQIIII", header, 0x154, SECTOR, SECTOR + bmap, 0, 0, 0, SECTOR,
                     0, size, block, 0, blocks, 0)
    header[0x188:0x198] = uuid.UUID(int=4).bytes
    return bytes(header) + b"\xff" * bmap


# -- iso --------------------------------------------------------------------------------------
def iso(files: dict[str, bytes], joliet: bool = False) -> bytes:
    """An ISO 9660 image holding ``files`` (names as ``HELLO.TXT``), via pycdlib."""
    image = pycdlib.PyCdlib()
    image.new(interchange_level=3, joliet=3 if joliet else None, vol_ident="POCKETSTACK")
    for name, data in files.items():
        extra = {"joliet_path": "/" + name.lower()} if joliet else {}
        image.add_fp(io.BytesIO(data), len(data), f"/{name};1", **extra)
    out = io.BytesIO()
    image.write_fp(out)
    image.close()
    return out.getvalue()
