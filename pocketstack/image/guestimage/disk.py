"""The disk of the guest image, without mounts: a FAT boot partition made bootable by syslinux
(``mkfs.vfat``, ``mcopy``, ``syslinux --install`` on a file), an ext4 root populated from a
directory (``mke2fs -d``), and an MBR written here with syslinux's boot code.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pocketstack.image.guestimage.debs import GuestBuildError, run

MiB = 1 << 20
ROOT_LABEL = "pocketroot"
BOOT_LABEL = "BOOT"
SYSLINUX_MBR = [Path("/usr/lib/syslinux/mbr/mbr.bin"), Path("/usr/lib/SYSLINUX/mbr.bin")]
KERNEL_ARGS = f"root=LABEL={ROOT_LABEL} console=tty0 console=ttyS0,115200n8 quiet"


def round_mib(n: int) -> int:
    return (n + MiB - 1) // MiB * MiB


def boot_partition(path: Path, vmlinuz: Path, initrd: Path, hidden_sectors: int) -> None:
    size = round_mib(int((vmlinuz.stat().st_size + initrd.stat().st_size) * 1.15) + 2 * MiB)
    size = max(size, 16 * MiB)
    run(["mkfs.vfat", "-C", "-F", "16", "-n", BOOT_LABEL, "-h", str(hidden_sectors),
         str(path), str(size // 1024)])
    cfg = path.with_name("syslinux.cfg")
    cfg.write_text("SERIAL 0 115200\nDEFAULT pocketstack\nPROMPT 0\nTIMEOUT 0\n"
                   f"LABEL pocketstack\n  LINUX /vmlinuz\n  INITRD /initrd.gz\n"
                   f"  APPEND {KERNEL_ARGS}\n")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    for src, name in ((vmlinuz, "vmlinuz"), (initrd, "initrd.gz"), (cfg, "syslinux.cfg")):
        done = subprocess.run(["mcopy", "-i", str(path), str(src), f"::/{name}"], env=env,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise GuestBuildError(f"mcopy {name} failed: {done.stderr.strip()}")
    run(["syslinux", "--install", str(path)])


def root_partition(path: Path, tree: Path) -> None:
    used = sum(p.lstat().st_size for p in tree.rglob("*"))
    size = round_mib(int(used * 1.3) + 48 * MiB)
    with open(path, "wb") as fh:
        fh.truncate(size)
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", ROOT_LABEL, "-m", "0", "-E",
         "root_owner=0:0", "-d", str(tree), str(path)])


def mbr_disk(path: Path, parts: list[tuple[Path, int, bool]], first: int) -> None:
    """An MBR disk: syslinux's boot code, then each (file, type, bootable) partition."""
    mbr_code = next(p for p in SYSLINUX_MBR if p.exists()).read_bytes()[:440]
    table = bytearray(512)
    table[:len(mbr_code)] = mbr_code
    table[440:444] = os.urandom(4)  # disk signature
    offset = first
    layout = []
    for i, (part, ptype, bootable) in enumerate(parts):
        size = part.stat().st_size
        entry = bytes([0x80 if bootable else 0, 0xFE, 0xFF, 0xFF, ptype, 0xFE, 0xFF, 0xFF]) + \
            (offset // 512).to_bytes(4, "little") + (size // 512).to_bytes(4, "little")
        table[446 + 16 * i:462 + 16 * i] = entry
        layout.append((part, offset))
        offset += round_mib(size)
    table[510:512] = b"\x55\xaa"
    with open(path, "wb") as out:
        out.truncate(offset)
        out.write(table)
        for part, at in layout:
            with open(part, "rb") as src:
                out.seek(at)
                while chunk := src.read(4 * MiB):
                    if chunk.count(0) == len(chunk):
                        out.seek(len(chunk), os.SEEK_CUR)
                    else:
                        out.write(chunk)
