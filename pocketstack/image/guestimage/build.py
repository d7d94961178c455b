"""Assemble the guest image: root tree and initramfs from the unpacked packages, then the disk
(:mod:`.disk`: FAT boot partition, ext4 root, MBR) and ``qemu-img convert`` to a compressed
qcow2. No mount and no loop device.
"""

from __future__ import annotations

import gzip
import importlib.resources
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pocketstack.image.guestimage import cpio, disk
from pocketstack.image.guestimage.debs import GuestBuildError, fetch, resolve_kernel, run
from pocketstack.image.guestimage.kmod import Module, ModuleTree

#: Libraries dropbear and e2fsprogs need (``apt-cache depends --recurse``, less the bases).
LIB_PACKAGES = ["libc6", "libcrypt1", "libtomcrypt1", "libtommath1", "libgmp10", "zlib1g",
                "libext2fs2", "libcom-err2", "libblkid1", "libuuid1"]
#: From e2fsprogs (busybox's mke2fs makes ext2 only; ``mke2fs -t ext4`` is what tests run).
E2FS_TOOLS = ("mke2fs", "e2fsck", "resize2fs", "tune2fs")
E2FS_LINKS = {"mkfs.ext2": "mke2fs", "mkfs.ext3": "mke2fs", "mkfs.ext4": "mke2fs",
              "fsck.ext2": "e2fsck", "fsck.ext3": "e2fsck", "fsck.ext4": "e2fsck",
              "e2label": "tune2fs"}
#: Drivers the initramfs loads to find the root disk (virtio-blk, virtio-scsi, IDE/SATA).
INITRAMFS_MODULES = ["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "ata_piix",
                     "ata_generic", "ahci", "ext4", "crc32c_generic"]
#: Loaded at boot by the root's rcS: NICs, config drive (iso9660/vfat on a CD-ROM or disk),
#: the ACPI power button, virtio extras.
ROOT_MODULES = INITRAMFS_MODULES + [
    "virtio_net", "e1000", "virtio_console", "virtio_rng", "virtio_balloon", "sr_mod",
    "isofs", "vfat", "nls_ascii", "nls_cp437", "nls_iso8859_1", "nls_utf8", "button", "evdev"]
#: Small scripts standing in for util-linux/sudo commands that busybox lacks.
TOOL_SHIMS = ("sudo", "lsblk", "blkid", "curl")


@dataclass
class GuestImage:
    """What :func:`build_guest_image` made."""

    path: Path
    size: int  # bytes of the qcow2 file
    virtual_size: int
    kernel_version: str
    packages: list[str]
    ssh_user: str
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pocketstack/guest-image`` (``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pocketstack" / "guest-image"


def check_tools() -> str | None:
    """What is missing on this host to build, or None."""
    missing = [tool for tool in ("apt-get", "dpkg-deb", "mke2fs", "mkfs.vfat", "mcopy",
                                 "syslinux", "qemu-img") if shutil.which(tool) is None]
    if not any(p.exists() for p in disk.SYSLINUX_MBR):
        missing.append("syslinux mbr.bin (syslinux-common)")
    if missing:
        return ("missing " + ", ".join(missing) + " (Debian: apt-get install e2fsprogs "
                "dosfstools mtools syslinux syslinux-common qemu-utils)")
    return None


def build_guest_image(output: Path, cache_dir: Path | None = None, *,
                      kernel_package: str = "linux-image-cloud-amd64",
                      ssh_user: str = "pocket") -> GuestImage:
    """Build the bootable qcow2 at ``output`` (written atomically) from Debian packages cached
    in ``cache_dir`` (default :func:`default_cache_dir`)."""
    started = time.monotonic()
    missing = check_tools()
    if missing:
        raise GuestBuildError(missing)
    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    mark = time.monotonic()
    kernel_pkg = resolve_kernel(kernel_package, cache)
    names = [kernel_pkg, "busybox-static", "busybox", "dropbear-bin", "e2fsprogs",
             *LIB_PACKAGES]
    trees = fetch(names, cache)
    timings["packages"] = time.monotonic() - mark
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="guestimage-", dir=output.parent) as tmp:
        work = Path(tmp)
        mark = time.monotonic()
        kmods = ModuleTree(trees[kernel_pkg])
        # the initramfs has the static busybox (no libraries); the root the dynamic one, whose
        # shell runs programs by PATH (the static build prefers its own applets: its mke2fs
        # would shadow e2fsprogs')
        static = trees["busybox-static"] / "bin" / "busybox"
        static_applets = run([str(static), "--list"]).split()
        busybox = trees["busybox"] / "bin" / "busybox"
        try:
            applets = run([str(busybox), "--list"]).split()
        except GuestBuildError:  # cannot run here: the static list is a close superset
            applets = static_applets
        root = work / "root"
        _root_tree(root, trees, kmods, busybox, applets, ssh_user)
        initrd = work / "initrd.gz"
        _initramfs(initrd, kmods.closure(INITRAMFS_MODULES), static, static_applets)
        vmlinuz = sorted((trees[kernel_pkg] / "boot").glob("vmlinuz-*"))[-1]
        timings["trees"] = time.monotonic() - mark
        mark = time.monotonic()
        boot = work / "boot.img"
        boot_start = disk.MiB
        disk.boot_partition(boot, vmlinuz, initrd, hidden_sectors=boot_start // 512)
        rootfs = work / "root.img"
        disk.root_partition(rootfs, root)
        raw = work / "disk.raw"
        disk.mbr_disk(raw, [(boot, 0x0E, True), (rootfs, 0x83, False)], boot_start)
        timings["filesystems"] = time.monotonic() - mark
        mark = time.monotonic()
        qcow = work / "disk.qcow2"
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o",
             "compat=1.1,cluster_size=65536", str(raw), str(qcow)])
        virtual_size = raw.stat().st_size
        os.chmod(qcow, 0o644)
        qcow.replace(output)
        timings["qcow2"] = time.monotonic() - mark
    return GuestImage(output, output.stat().st_size, virtual_size, kmods.version, names,
                      ssh_user, time.monotonic() - started, timings)


# -- the root filesystem ------------------------------------------------------------------------
def _files() -> importlib.resources.abc.Traversable:
    return importlib.resources.files("pocketstack.image.guestimage") / "files"


def _write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    os.chmod(path, mode)


def _root_tree(root: Path, trees: dict[str, Path], kmods: ModuleTree, busybox: Path,
               applets: list[str], ssh_user: str) -> None:
    for d in ("usr/bin", "usr/sbin", "usr/lib/x86_64-linux-gnu", "usr/lib64", "etc/init.d",
              "etc/dropbear", "etc/acpi/PWRF", "proc", "sys", "dev", "run", "tmp", "mnt",
              "var/log", "var/lib/pocketstack", "usr/share/pocketstack", f"home/{ssh_user}"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        (root / link).symlink_to(f"usr/{link}")
    (root / "var/run").symlink_to("../run")
    (root / "root").mkdir(mode=0o700)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(busybox, root / "usr/bin/busybox")
    # every applet in both bin and sbin: tools call /bin/ip and /sbin/ip alike
    for name in sorted(set(applets) - {"busybox"}):
        for d in ("usr/bin", "usr/sbin"):
            (root / d / name).symlink_to("/usr/bin/busybox")
    dropbear = trees["dropbear-bin"]
    shutil.copy2(dropbear / "usr/sbin/dropbear", root / "usr/sbin/dropbear")
    shutil.copy2(dropbear / "usr/bin/dropbearkey", root / "usr/bin/dropbearkey")
    e2fs = trees["e2fsprogs"]
    for tool in E2FS_TOOLS:
        (root / "usr/sbin" / tool).unlink(missing_ok=True)
        shutil.copy2(next(p for p in (e2fs / "sbin" / tool, e2fs / "usr/sbin" / tool)
                          if p.exists()), root / "usr/sbin" / tool)
    for link, tool in E2FS_LINKS.items():
        (root / "usr/sbin" / link).unlink(missing_ok=True)
        (root / "usr/sbin" / link).symlink_to(tool)
    for tool in (*E2FS_TOOLS, *E2FS_LINKS):  # not busybox's, whatever the PATH order
        (root / "usr/bin" / tool).unlink(missing_ok=True)
        (root / "usr/bin" / tool).symlink_to(f"../sbin/{tool}")
    if (e2fs / "etc/mke2fs.conf").exists():
        shutil.copy2(e2fs / "etc/mke2fs.conf", root / "etc/mke2fs.conf")
    for name in LIB_PACKAGES:
        for libdir in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64"):
            src = trees[name] / libdir
            if not src.is_dir():
                continue
            dest = root / ("usr/lib64" if libdir == "lib64" else "usr/lib/x86_64-linux-gnu")
            for item in src.iterdir():
                if ".so" in item.name and not item.is_dir():
                    shutil.copy2(item, dest / item.name, follow_symlinks=False)
    modules = kmods.closure(ROOT_MODULES)
    moddir = root / "usr/lib/modules" / kmods.version
    for m in modules:
        (moddir / m.rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(m.path, moddir / m.rel)
    _write(moddir / "modules.dep", kmods.modules_dep(modules))
    if (kmods.root / "modules.builtin").exists():
        shutil.copy2(kmods.root / "modules.builtin", moddir / "modules.builtin")
    _write(root / "etc/modules", "\n".join(m.name for m in modules
                                           if m.name in ROOT_MODULES) + "\n")
    files = _files()
    _write(root / "etc/inittab", files.joinpath("inittab").read_text())
    _write(root / "etc/init.d/rcS",
           files.joinpath("rcS").read_text().replace("@SSH_USER@", ssh_user), 0o755)
    _write(root / "etc/init.d/rcK", files.joinpath("rcK").read_text(), 0o755)
    _write(root / "etc/udhcpc.script", files.joinpath("udhcpc.script").read_text(), 0o755)
    for tool in TOOL_SHIMS:  # what busybox lacks and tests of guests (Tempest) call
        shim = root / "usr/sbin" / tool
        shim.unlink(missing_ok=True)
        _write(shim, files.joinpath(tool).read_text(), 0o755)
        (root / "usr/bin" / tool).unlink(missing_ok=True)
        (root / "usr/bin" / tool).symlink_to(f"../sbin/{tool}")
    _write(root / "etc/acpi/PWRF/00000080", files.joinpath("power-button").read_text(), 0o755)
    _write(root / "usr/share/pocketstack/json.awk", files.joinpath("json.awk").read_text())
    uid = 1000
    _write(root / "etc/passwd", f"root:x:0:0:root:/root:/bin/sh\n"
           f"{ssh_user}:x:{uid}:{uid}:{ssh_user}:/home/{ssh_user}:/bin/sh\n")
    _write(root / "etc/shadow", f"root:*:19000:0:99999:7:::\n{ssh_user}:*:19000:0:99999:7:::\n",
           0o600)
    _write(root / "etc/group", f"root:x:0:\ntty:x:5:\n{ssh_user}:x:{uid}:\n")
    _write(root / "etc/shells", "/bin/sh\n/bin/ash\n")
    _write(root / "etc/hostname", "localhost\n")
    _write(root / "etc/hosts", "127.0.0.1\tlocalhost\n")
    _write(root / "etc/profile", "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
           "PS1='\\u@\\h:\\w\\$ '\n")
    _write(root / "etc/os-release", 'NAME="Pocketstack guest"\nID=pocketstack-guest\n'
           'ID_LIKE=debian\nPRETTY_NAME="Pocketstack guest (Debian 12 kernel, busybox, '
           'dropbear)"\n')
    _write(root / "etc/motd", f"Pocketstack guest image. Users: root, {ssh_user} (SSH keys "
           "only). Boot log: dmesg; user data log: /var/log/user-data.log\n")
    if os.geteuid() == 0:
        os.chown(root / f"home/{ssh_user}", uid, uid)


def _initramfs(path: Path, modules: list[Module], busybox: Path, applets: list[str]) -> None:
    entries: list[cpio.Entry] = [
        cpio.Entry("dev", stat.S_IFDIR | 0o755),
        cpio.Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        cpio.Entry("bin", stat.S_IFDIR | 0o755),
        cpio.Entry("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes()),
        cpio.Entry("proc", stat.S_IFDIR | 0o755),
        cpio.Entry("sys", stat.S_IFDIR | 0o755),
        cpio.Entry("newroot", stat.S_IFDIR | 0o755),
        cpio.Entry("modules", stat.S_IFDIR | 0o755),
        cpio.Entry("init", stat.S_IFREG | 0o755,
                   _files().joinpath("initramfs-init").read_bytes()),
    ]
    for applet in sorted(set(applets) - {"busybox"}):
        entries.append(cpio.Entry(f"bin/{applet}", stat.S_IFLNK | 0o777, b"busybox"))
    for m in modules:
        entries.append(cpio.Entry(f"modules/{m.name}.ko", stat.S_IFREG | 0o644,
                                  m.path.read_bytes()))
    order = "".join(f"{m.name}.ko\n" for m in modules)
    entries.append(cpio.Entry("modules/load.order", stat.S_IFREG | 0o644, order.encode()))
    path.write_bytes(gzip.compress(cpio.archive(entries), compresslevel=6, mtime=0))
