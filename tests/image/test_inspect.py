"""Tests for pocketstack.image.inspect against disk images of every format, fed in small
and odd-sized chunks.

The images are written in Python (:mod:`tests.image.disk_images`), so every test runs on any
machine. Where qemu-img, genisoimage or xorriso are installed (CI installs the Debian packages
qemu-utils, genisoimage and xorriso), further tests check that those tools read our images as
we do and that we read the images the tools write as they do; without the tools only those
comparisons are skipped, and the session's last line says so."""

from __future__ import annotations

import itertools
import json
import random
import struct
import subprocess
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pocketstack.image.inspect import (
    HEAD_SIZE,
    FindingCode,
    FormatMismatchError,
    ImageFormatError,
    ImageInspector,
    InspectionResult,
    UnsafeImageError,
    check,
    inspect_file,
)
from tests.image import disk_images
from tests.image.disk_images import need_tool

KIB = 1024
MIB = 1024 * KIB
C = FindingCode

# name -> (our format, qemu-img's format, expected finding codes, virtual size written)
EXPECTED: dict[str, tuple[str, str, set[FindingCode], int]] = {
    "qcow2": ("qcow2", "qcow2", set(), 10 * MIB),
    "qcow2-v2": ("qcow2", "qcow2", set(), 3 * MIB),
    "qcow2-backing": ("qcow2", "qcow2", {C.BACKING_FILE}, 4 * MIB),
    "qcow2-datafile": ("qcow2", "qcow2", {C.DATA_FILE}, 5 * MIB),
    "vmdk-monolithicSparse": ("vmdk", "vmdk", set(), 3 * MIB),
    "vmdk-streamOptimized": ("vmdk", "vmdk", set(), 2 * MIB),
    "vmdk-monolithicFlat": ("vmdk", "vmdk", {C.VMDK_CREATE_TYPE, C.VMDK_EXTENT}, 3 * MIB),
    "vmdk-twoGbMaxExtentFlat": ("vmdk", "vmdk", {C.VMDK_CREATE_TYPE, C.VMDK_EXTENT}, 3 * MIB),
    "vhd": ("vhd", "vpc", set(), 10 * MIB),
    "vhd-fixed": ("raw", "raw", set(), 2 * MIB + 512),  # footer only at the end: raw
    "vhdx": ("vhdx", "vhdx", set(), 20 * MIB),
    "qed": ("qed", "qed", set(), 4 * MIB),
    "vdi": ("vdi", "vdi", set(), 4 * MIB),
    "raw": ("raw", "raw", set(), 2048 * 512),
    "iso": ("iso", "raw", set(), 0),  # size: the whole image
    "iso-joliet": ("iso", "raw", set(), 0),
}
#: images the system tools write, read by the inspector the way the tools read them
TOOL_BUILT: dict[str, tuple[str, str]] = {  # name -> (tool, our format)
    "qemu-img:qcow2": ("qemu-img", "qcow2"),
    "qemu-img:qcow2-v2": ("qemu-img", "qcow2"),
    "qemu-img:vmdk-monolithicSparse": ("qemu-img", "vmdk"),
    "qemu-img:vmdk-streamOptimized": ("qemu-img", "vmdk"),
    "qemu-img:vhd": ("qemu-img", "vhd"),
    "qemu-img:vhdx": ("qemu-img", "vhdx"),
    "genisoimage:iso": ("genisoimage", "iso"),
    "xorriso:iso": ("xorriso", "iso"),
}
#: formats only recognised, whose virtual size the inspector does not compute
RECOGNISED_ONLY = {"qed", "vdi"}


def chunks(data: bytes, pattern: str) -> Iterator[memoryview]:
    """Split ``data`` the way an upload might arrive."""
    view = memoryview(data)
    if pattern == "bytes1":  # byte by byte through every header, then 64 KiB
        sizes: Iterator[int] = itertools.chain(
            itertools.repeat(1, 48 * KIB), itertools.repeat(64 * KIB)
        )
    elif pattern == "bytes7":  # 7 bytes at a time past the VHDX region tables
        sizes = itertools.chain(itertools.repeat(7, 400 * KIB // 7), itertools.repeat(MIB))
    elif pattern == "odd":
        sizes = itertools.cycle((1, 7, 4093, 65536, 13, 100_003))
    else:
        raise AssertionError(pattern)
    offset = 0
    for size in sizes:
        if offset >= len(data):
            return
        yield view[offset : offset + size]
        offset += size


def inspect_bytes(data: bytes, pattern: str = "odd") -> InspectionResult:
    inspector = ImageInspector()
    for chunk in chunks(data, pattern):
        inspector.feed(chunk)
    return inspector.result()


def codes(result: InspectionResult) -> set[FindingCode]:
    return {finding.code for finding in result.findings}


# --------------------------------------------------------------------------
# Image building (qemu-img from qemu-utils; genisoimage / xorriso)


@dataclass(frozen=True)
class QemuInfo:
    format: str
    virtual_size: int


def run(*args: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, capture_output=True, cwd=cwd)


def qemu_info(path: Path) -> QemuInfo:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    return QemuInfo(data["format"], data["virtual-size"])


class ImageFactory:
    """Builds each named image on first use inside one session directory: in Python for the
    names of EXPECTED, with the system tool for those of TOOL_BUILT (skipped without it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}
        self._recipes: dict[str, Callable[[Path], Path]] = {
            "qcow2": lambda d: _write(d / "plain.qcow2", disk_images.qcow2(10 * MIB)),
            "qcow2-v2": lambda d: _write(d / "v2.qcow2", disk_images.qcow2(3 * MIB, 2)),
            "qcow2-backing": self._qcow2_backing,
            "qcow2-datafile": self._qcow2_datafile,
            "vmdk-monolithicSparse": lambda d: disk_images.vmdk_sparse(
                d / "monolithicSparse.vmdk", 3 * MIB),
            "vmdk-streamOptimized": lambda d: disk_images.vmdk_sparse(
                d / "stream.vmdk", 2 * MIB, stream=STREAM_DATA),
            "vmdk-monolithicFlat": lambda d: disk_images.vmdk_flat(d, "monolithicFlat", 3 * MIB),
            "vmdk-twoGbMaxExtentFlat": lambda d: disk_images.vmdk_flat(
                d, "twoGbMaxExtentFlat", 3 * MIB),
            "vhd": lambda d: _write(d / "dyn.vhd", disk_images.vhd_dynamic(10 * MIB)),
            "vhd-fixed": lambda d: _write(d / "fixed.vhd", disk_images.vhd_fixed(2 * MIB)),
            "vhdx": lambda d: _write(d / "disk.vhdx", disk_images.vhdx(20 * MIB)),
            "qed": lambda d: _write(d / "disk.qed", disk_images.qed(4 * MIB)),
            "vdi": lambda d: _write(d / "disk.vdi", disk_images.vdi(4 * MIB)),
            "raw": self._raw,
            "iso": lambda d: _write(d / "disk.iso", disk_images.iso(ISO_FILES)),
            "iso-joliet": lambda d: _write(d / "joliet.iso",
                                           disk_images.iso(ISO_FILES, joliet=True)),
            # made by the tools, to compare against
            "qemu-img:qcow2": lambda d: self._qemu(d, "plain.qcow2", "-f", "qcow2", size="10M"),
            "qemu-img:qcow2-v2": lambda d: self._qemu(
                d, "v2.qcow2", "-f", "qcow2", "-o", "compat=0.10", size="3M"),
            "qemu-img:vmdk-monolithicSparse": lambda d: self._qemu(
                d, "sparse.vmdk", "-f", "vmdk", "-o", "subformat=monolithicSparse", size="3M"),
            "qemu-img:vmdk-streamOptimized": self._vmdk_stream,
            "qemu-img:vhd": lambda d: self._qemu(d, "dyn.vhd", "-f", "vpc", size="10M"),
            "qemu-img:vhdx": lambda d: self._qemu(d, "disk.vhdx", "-f", "vhdx", size="20M"),
            "genisoimage:iso": lambda d: self._iso(d, "genisoimage"),
            "xorriso:iso": lambda d: self._iso(d, "xorriso"),
        }

    def __call__(self, name: str) -> Path:
        if name not in self._built:
            workdir = self.root / name.replace(":", "-")
            workdir.mkdir(exist_ok=True)
            self._built[name] = self._recipes[name](workdir)
        return self._built[name]

    # -- recipes ------------------------------------------------------------
    @staticmethod
    def _qcow2_backing(d: Path) -> Path:
        (d / "base.raw").write_bytes(bytes(4 * MIB))
        return _write(d / "top.qcow2", disk_images.qcow2(4 * MIB, backing="base.raw",
                                                         backing_format="raw"))

    @staticmethod
    def _qcow2_datafile(d: Path) -> Path:
        (d / "df.data").write_bytes(bytes(5 * MIB))
        return _write(d / "df.qcow2", disk_images.qcow2(5 * MIB, data_file="df.data"))

    @staticmethod
    def _raw(d: Path) -> Path:
        path = d / "disk.raw"
        # sector multiple: qemu-img rounds a raw image's size up to 512 bytes
        path.write_bytes((b"\xeb\x63\x90" + bytes(range(256)) * 4000).ljust(2048 * 512, b"\1"))
        return path

    @staticmethod
    def _need(tool: str) -> str:
        return need_tool(tool)

    def _qemu(self, d: Path, name: str, *args: str, size: str) -> Path:
        self._need("qemu-img")
        run("qemu-img", "create", *args, name, size, cwd=d)
        return d / name

    def _vmdk_stream(self, d: Path) -> Path:
        # Converted from real data so it carries compressed grains.
        self._need("qemu-img")
        (d / "source.raw").write_bytes(STREAM_DATA)
        run("qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized",
            "source.raw", "stream.vmdk", cwd=d)
        return d / "stream.vmdk"

    def _iso(self, d: Path, tool: str) -> Path:
        self._need(tool)
        content = d / "content"
        content.mkdir()
        for name, data in ISO_FILES.items():
            (content / name.lower()).write_bytes(data)
        if tool == "xorriso":
            run("xorriso", "-as", "mkisofs", "-quiet", "-o", "disk.iso", "content", cwd=d)
        else:
            run("genisoimage", "-quiet", "-o", "disk.iso", "content", cwd=d)
        return d / "disk.iso"


STREAM_DATA = bytes(range(256)) * 4096 + b"\0" * MIB
ISO_FILES = {"HELLO.TXT": b"hello\n", "BIG.BIN": b"x" * 100_000}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> ImageFactory:
    return ImageFactory(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def qemu_img() -> str:
    return need_tool("qemu-img")


# --------------------------------------------------------------------------
# Every format, every way the bytes may arrive; then the tools' view of the same images


@pytest.mark.parametrize("pattern", ["bytes1", "bytes7", "odd", "file"])
@pytest.mark.parametrize("name", list(EXPECTED))
def test_inspects_every_format(images: ImageFactory, name: str, pattern: str) -> None:
    path = images(name)
    if pattern == "file":
        result = inspect_file(path)
    else:
        result = inspect_bytes(path.read_bytes(), pattern)
    ours, _, expected_codes, size = EXPECTED[name]
    assert result.format == ours
    assert result.actual_size == path.stat().st_size
    if name in RECOGNISED_ONLY:
        assert result.virtual_size is None
    else:
        assert result.virtual_size == (size or path.stat().st_size)
    assert codes(result) == expected_codes, result.findings
    assert result.safe == (not expected_codes)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_qemu_img_reads_our_images_as_we_do(images: ImageFactory, qemu_img: str,
                                            name: str) -> None:
    path = images(name)
    _, theirs, _, size = EXPECTED[name]
    qemu = qemu_info(path)
    assert (qemu.format, qemu.virtual_size) == (theirs, size or path.stat().st_size)


@pytest.mark.parametrize("name", list(TOOL_BUILT))
def test_we_read_the_tools_images_as_they_do(images: ImageFactory, name: str) -> None:
    path = images(name)
    tool, ours = TOOL_BUILT[name]
    for pattern in ("bytes1", "odd"):
        result = inspect_bytes(path.read_bytes(), pattern)
        assert (result.format, codes(result)) == (ours, set()), result.findings
        if tool == "qemu-img":
            assert result.virtual_size == qemu_info(path).virtual_size
        else:  # an ISO's volume is the whole file
            assert result.virtual_size == path.stat().st_size
        check(ours, result)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_check_declared_format(images: ImageFactory, name: str) -> None:
    result = inspect_file(images(name))
    ours, _, expected_codes, _ = EXPECTED[name]
    if ours == "qed":  # recognised, but not a disk_format uploads may declare
        with pytest.raises(ImageFormatError, match="unsupported disk_format"):
            check(ours, result)
    elif expected_codes:
        with pytest.raises(UnsafeImageError) as err:
            check(ours, result)
        assert {f.code for f in err.value.findings} == expected_codes
    else:
        check(ours, result)
    if ours not in ("raw", "iso"):
        # The headline rule: anything but plain sectors uploaded as raw.
        with pytest.raises(FormatMismatchError) as mismatch:
            check("raw", result)
        assert mismatch.value.detected == ours
    if ours != "iso":
        with pytest.raises(FormatMismatchError):
            check("iso", result)


def test_raw_that_is_really_qcow2_is_refused(images: ImageFactory) -> None:
    result = inspect_bytes(images("qcow2").read_bytes(), "bytes1")
    assert result.safe
    with pytest.raises(FormatMismatchError, match="'raw'.*'qcow2'"):
        check("raw", result)
    # a mismatch is an ImageFormatError, distinct from an unsafe image
    with pytest.raises(ImageFormatError):
        check("raw", result)
    assert not issubclass(FormatMismatchError, UnsafeImageError)


def test_iso_may_be_uploaded_as_raw_but_raw_is_not_iso(images: ImageFactory) -> None:
    check("raw", inspect_file(images("iso")))
    with pytest.raises(FormatMismatchError):
        check("iso", inspect_file(images("raw")))


def test_unknown_declared_format() -> None:
    result = inspect_bytes(b"\0" * 4096)
    with pytest.raises(ImageFormatError) as err:
        check("floppy", result)
    assert not isinstance(err.value, FormatMismatchError | UnsafeImageError)


# --------------------------------------------------------------------------
# Crafted unsafe images


def test_qcow2_unknown_incompatible_feature(images: ImageFactory) -> None:
    data = bytearray(images("qcow2").read_bytes())
    (incompatible,) = struct.unpack_from(">Q", data, 72)
    struct.pack_into(">Q", data, 72, incompatible | 1 << 40)
    result = inspect_bytes(bytes(data))
    assert result.format == "qcow2"
    assert codes(result) == {C.UNKNOWN_FEATURES}
    with pytest.raises(UnsafeImageError, match="unknown incompatible features 0x10000000000"):
        check("qcow2", result)


def _patch_descriptor(data: bytes, edit: dict[bytes, bytes]) -> bytes:
    """Rewrite the embedded descriptor of a sparse VMDK, keeping its size."""
    desc_offset, desc_size = struct.unpack_from("<QQ", data, 28)
    start, end = desc_offset * 512, (desc_offset + desc_size) * 512
    text = data[start:end].rstrip(b"\0")
    for old, new in edit.items():
        assert old in text
        text = text.replace(old, new)
    assert len(text) <= end - start
    return data[:start] + text.ljust(end - start, b"\0") + data[end:]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            {b'SPARSE "monolithicSparse.vmdk"': b'FLAT "/etc/shadow" 0'},
            {C.VMDK_EXTENT},
            id="flat-extent-host-path",
        ),
        pytest.param(
            {b'SPARSE "monolithicSparse.vmdk"': b'SPARSE "../../other.vmdk"'},
            {C.VMDK_EXTENT},
            id="sparse-extent-path",
        ),
        pytest.param(
            {b'"monolithicSparse.vmdk"': b'"monolithicSparse.vmdk"\nRW 6144 FLAT "f.img" 0'},
            {C.VMDK_EXTENT},
            id="second-extent",
        ),
        pytest.param(
            {b'createType="monolithicSparse"': b'createType="vmfs"'},
            {C.VMDK_CREATE_TYPE},
            id="create-type",
        ),
        pytest.param(
            {b"parentCID=ffffffff": b'parentCID=1\nparentFileNameHint="/var/lib/x.vmdk"'},
            {C.BACKING_FILE},
            id="parent",
        ),
    ],
)
def test_vmdk_embedded_descriptor_rules(
    images: ImageFactory, edit: dict[bytes, bytes], expected: set[FindingCode]
) -> None:
    data = _patch_descriptor(images("vmdk-monolithicSparse").read_bytes(), edit)
    result = inspect_bytes(data, "bytes1")
    assert result.format == "vmdk"
    assert codes(result) == expected, result.findings
    with pytest.raises(UnsafeImageError):
        check("vmdk", result)


def test_vmdk_parent_hint_where_qemu_looks(images: ImageFactory) -> None:
    """QEMU reads parentFileNameHint at sector 1 whatever descriptorOffset says."""
    data = bytearray(images("vmdk-monolithicSparse").read_bytes())
    (desc_offset,) = struct.unpack_from("<Q", data, 28)
    clean = data[desc_offset * 512 : desc_offset * 512 + 20 * 512]
    struct.pack_into("<Q", data, 28, 40)  # move the declared descriptor to sector 40
    data[40 * 512 : 60 * 512] = clean
    data[512 : 512 + 20 * 512] = b'parentFileNameHint="/etc/passwd"'.ljust(20 * 512, b"\0")
    result = inspect_bytes(bytes(data))
    assert codes(result) == {C.BACKING_FILE}


def _stream_with_footer(data: bytes, footer_changes: dict[int, int]) -> bytes:
    """Turn a streamOptimized VMDK into one whose header defers to a footer."""
    header = bytearray(data[:512])
    footer_header = bytearray(header)
    for offset, value in footer_changes.items():
        struct.pack_into("<Q", footer_header, offset, value)
    struct.pack_into("<Q", header, 56, 0xFFFF_FFFF_FFFF_FFFF)
    body = data[512:]
    # the file's own end-of-stream marker is replaced by footer marker, footer, EOS
    assert body[-512:] == b"\0" * 512
    marker = struct.pack("<QII", 1, 0, 3).ljust(512, b"\0")
    return bytes(header) + body[:-512] + marker + bytes(footer_header) + b"\0" * 512


def _footer_image(images: ImageFactory, tmp_path: Path) -> tuple[Path, int]:
    data = images("vmdk-streamOptimized").read_bytes()
    (capacity,) = struct.unpack_from("<Q", data, 12)
    path = tmp_path / "footer.vmdk"
    path.write_bytes(_stream_with_footer(data, {12: capacity * 2}))
    return path, capacity * 2 * 512


def test_vmdk_footer_is_honoured(images: ImageFactory, tmp_path: Path) -> None:
    path, size = _footer_image(images, tmp_path)
    for pattern in ("bytes1", "odd"):
        result = inspect_bytes(path.read_bytes(), pattern)
        assert (result.format, result.virtual_size) == ("vmdk", size)
        assert result.safe, result.findings


def test_qemu_img_honours_the_vmdk_footer_too(images: ImageFactory, qemu_img: str,
                                              tmp_path: Path) -> None:
    path, size = _footer_image(images, tmp_path)
    assert qemu_info(path).virtual_size == size


def test_vmdk_footer_moving_descriptor_is_unsafe(images: ImageFactory) -> None:
    data = images("vmdk-streamOptimized").read_bytes()
    result = inspect_bytes(_stream_with_footer(data, {28: 2}))
    assert C.UNSUPPORTED in codes(result)


def test_vmdk_footer_missing(images: ImageFactory) -> None:
    data = bytearray(images("vmdk-streamOptimized").read_bytes())
    struct.pack_into("<Q", data, 56, 0xFFFF_FFFF_FFFF_FFFF)
    result = inspect_bytes(bytes(data))
    assert (result.format, codes(result)) == ("vmdk", {C.INVALID_HEADER})


def test_vmdk_descriptor_file_with_host_path(tmp_path: Path) -> None:
    descriptor = (
        b"# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        b'createType="monolithicFlat"\n\n# Extent description\n'
        b'RW 2048 FLAT "/dev/sda" 0\nRW 4096 FLAT "/etc/shadow" 0\n'
    )
    result = inspect_bytes(descriptor, "bytes1")
    assert result.format == "vmdk"
    assert result.virtual_size == 6144 * 512
    assert codes(result) == {C.VMDK_CREATE_TYPE, C.VMDK_EXTENT}
    assert "/etc/shadow" in " ".join(f.message for f in result.findings)
    with pytest.raises(FormatMismatchError):
        check("raw", result)


def test_vhd_differencing_is_unsafe(images: ImageFactory) -> None:
    data = bytearray(images("vhd").read_bytes())
    struct.pack_into(">I", data, 60, 4)
    result = inspect_bytes(bytes(data))
    assert (result.format, codes(result)) == ("vhd", {C.BACKING_FILE})


def _vhdx_item_offset(data: bytes | bytearray, item: str) -> int:
    """Absolute offset of a VHDX metadata item (test-side parser)."""
    count = struct.unpack_from("<I", data, 192 * KIB + 8)[0]
    meta_guid = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e").bytes_le
    for i in range(count):
        guid, offset, _, _ = struct.unpack_from("<16sQII", data, 192 * KIB + 16 + 32 * i)
        if guid == meta_guid:
            break
    else:
        raise AssertionError("no metadata region")
    wanted = uuid.UUID(item).bytes_le
    for i in range(struct.unpack_from("<H", data, offset + 10)[0]):
        guid, item_offset = struct.unpack_from("<16sI", data, offset + 32 + 32 * i)
        if guid == wanted:
            return int(offset + item_offset)
    raise AssertionError("no such item")


def test_vhdx_byte_by_byte_through_metadata(images: ImageFactory) -> None:
    data = images("vhdx").read_bytes()
    size_at = _vhdx_item_offset(data, "2fa54224-cd1b-4876-b211-5dbed83bf4b8")
    table_at = size_at - size_at % MIB  # the metadata region is MiB aligned
    inspector = ImageInspector()
    pos = 0
    for start, end in ((table_at - 3, table_at + 64), (size_at - 5, size_at + 20)):
        inspector.feed(data[pos:start])
        for i in range(start, end):
            inspector.feed(data[i : i + 1])
        pos = end
    inspector.feed(data[pos:])
    result = inspector.result()
    assert (result.format, result.virtual_size, result.safe) == ("vhdx", 20 * MIB, True)


def test_vhdx_with_parent_is_unsafe(images: ImageFactory) -> None:
    data = bytearray(images("vhdx").read_bytes())
    params_at = _vhdx_item_offset(data, "caa16737-fa36-4d43-b3b6-33f0aa44e76b")
    (flags,) = struct.unpack_from("<I", data, params_at + 4)
    struct.pack_into("<I", data, params_at + 4, flags | 2)
    result = inspect_bytes(bytes(data))
    assert (result.format, codes(result)) == ("vhdx", {C.BACKING_FILE})


# --------------------------------------------------------------------------
# ISO


def minimal_iso(blocks: int = 20, block_size: int = 2048) -> bytes:
    """A hand-made ISO 9660 image: system area, PVD, terminator, padding."""
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[40:72] = b"POCKETSTACK".ljust(32)
    struct.pack_into("<I", pvd, 80, blocks)
    struct.pack_into(">I", pvd, 84, blocks)
    struct.pack_into("<H", pvd, 128, block_size)
    struct.pack_into(">H", pvd, 130, block_size)
    terminator = b"\xffCD001\x01".ljust(2048, b"\0")
    image = bytes(16 * 2048) + bytes(pvd) + terminator
    return image.ljust(blocks * block_size, b"\0")


def test_hand_made_iso() -> None:
    for pattern in ("bytes1", "odd"):
        result = inspect_bytes(minimal_iso(), pattern)
        assert (result.format, result.virtual_size, result.safe) == ("iso", 20 * 2048, True)
    check("iso", result)


def test_iso_pvd_after_boot_record() -> None:
    image = bytearray(minimal_iso())
    boot = b"\x00CD001\x01EL TORITO SPECIFICATION".ljust(2048, b"\0")
    image[16 * 2048 : 19 * 2048] = boot + image[16 * 2048 : 18 * 2048]
    assert inspect_bytes(bytes(image)).virtual_size == 20 * 2048


def test_iso_with_qcow2_header_is_refused(images: ImageFactory) -> None:
    iso = bytearray(images("iso").read_bytes())
    header = images("qcow2").read_bytes()[:512]
    iso[: len(header)] = header  # the ISO system area is free-form
    result = inspect_bytes(bytes(iso))
    assert result.format == "qcow2"
    assert codes(result) == {C.MULTIPLE_FORMATS}
    with pytest.raises(FormatMismatchError):
        check("iso", result)
    with pytest.raises(UnsafeImageError):
        check("qcow2", result)


def _polyglot(images: ImageFactory, tmp_path: Path) -> Path:
    qcow = bytearray(images("qcow2").read_bytes())
    assert qcow[32 * KIB : 36 * KIB] == bytes(4 * KIB)  # unused part of cluster 0
    qcow[32 * KIB : 36 * KIB] = minimal_iso()[32 * KIB : 36 * KIB]
    path = tmp_path / "polyglot.qcow2"
    path.write_bytes(qcow)
    return path


def test_qcow2_with_iso_descriptor_is_refused(images: ImageFactory, tmp_path: Path) -> None:
    result = inspect_file(_polyglot(images, tmp_path))
    assert (result.format, codes(result)) == ("qcow2", {C.MULTIPLE_FORMATS})


def test_qemu_img_reads_the_polyglot_as_qcow2(images: ImageFactory, qemu_img: str,
                                              tmp_path: Path) -> None:
    assert qemu_info(_polyglot(images, tmp_path)).format == "qcow2"


# --------------------------------------------------------------------------
# Truncated and degenerate input


@pytest.mark.parametrize(
    ("name", "length"),
    [
        ("qcow2", 3),
        ("qcow2", 50),
        ("qcow2", 90),
        ("qcow2-backing", 200),  # header complete, backing file name cut off
        ("vmdk-monolithicSparse", 60),
        ("vmdk-monolithicSparse", 1000),  # descriptor cut off
        ("vhd", 40),
        ("vhdx", 100 * KIB),
        ("vhdx", 2 * MIB),  # region table present, metadata not
        ("iso", 32 * KIB + 20),
        ("iso", 32 * KIB + 2),
    ],
)
def test_truncated_header(images: ImageFactory, name: str, length: int) -> None:
    data = images(name).read_bytes()[:length]
    result = inspect_bytes(data, "bytes1")
    assert result.actual_size == length
    if result.format == "raw":
        assert result.virtual_size == length
        return
    assert result.format == EXPECTED[name][0]
    assert result.findings, "a truncated header must not look like a good image"
    with pytest.raises(ImageFormatError):
        check(result.format, result)


@pytest.mark.parametrize(
    "name", ["qcow2-backing", "vmdk-monolithicSparse", "vmdk-streamOptimized", "vhd"]
)
def test_corrupted_headers_never_crash(images: ImageFactory, name: str) -> None:
    base = images(name).read_bytes()[: 64 * KIB]
    rnd = random.Random(name)
    for _ in range(60):
        data = bytearray(base)
        for _ in range(rnd.randint(1, 6)):
            data[rnd.choice((0, 8, 20, 28, 36, 56, 72, 100, 512, 600)) + rnd.randrange(40)] = (
                rnd.randrange(256)
            )
        result = inspect_bytes(bytes(data[: rnd.randrange(len(data) + 1)]))
        try:
            check(result.format, result)
        except ImageFormatError:
            pass


def test_raw_virtual_size_is_exact_byte_count() -> None:
    data = b"\x01" * (HEAD_SIZE + 12_345)
    result = inspect_bytes(data)
    assert (result.format, result.virtual_size, result.actual_size) == ("raw", len(data), len(data))


def test_empty_stream() -> None:
    result = ImageInspector().result()
    assert (result.format, result.virtual_size, result.actual_size) == ("raw", 0, 0)
    check("raw", result)


def test_result_mid_stream_then_continue(images: ImageFactory) -> None:
    data = images("vhdx").read_bytes()
    inspector = ImageInspector()
    seen = []
    for offset in range(0, len(data), MIB):
        inspector.feed(data[offset : offset + MIB])
        seen.append(inspector.result().format)
    assert seen[-1] == "vhdx"
    final = inspector.result()
    assert (final.virtual_size, final.safe) == (20 * MIB, True)
    assert inspector.bytes_seen == len(data)


def test_memory_is_bounded() -> None:
    block = bytes(range(256)) * 4096  # 1 MiB, reused: only retained data is new
    inspector = ImageInspector()
    tracemalloc.start()
    try:
        for _ in range(48):
            inspector.feed(block)
        result = inspector.result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.format, result.virtual_size) == ("raw", 48 * MIB)
    assert peak < HEAD_SIZE + 512 * KIB


def test_feed_accepts_buffers() -> None:
    image = minimal_iso()
    inspector = ImageInspector()
    inspector.feed(bytearray(image[:100]))
    inspector.feed(memoryview(image)[100:40_000].cast("H"))
    inspector.feed(image[40_000:])
    assert inspector.result().format == "iso"
