"""The ``libvirt`` driver's instance files, laid out as Nova's libvirt driver lays them out.

Under the host's ``instances`` directory:

* ``_base/<sha1 of the image id>``: the image, once per host (the compute agent's image cache
  may already have fetched it there); converted to raw when ``force_raw_images`` (Nova's
  default), else kept in its own format. ``_base/ephemeral_<GB>_default`` (ext4) and
  ``_base/swap_<MB>`` (mkswap) back the flavor's ephemeral and swap disks;
* ``<uuid>/disk``: a qcow2 overlay on the base file (or a blank qcow2 of the flavor's size);
  ``disk.eph0`` and ``disk.swap`` overlays; ``disk.rescue`` during a rescue; ``disk.info``
  (each disk's path -> format, as Nova writes it); ``console.log`` (the serial console);
  ``libvirt.xml`` (the domain as defined) and ``instance.json`` (the spec, for the driver);
  ``disk.config``, the config drive (ISO 9660, label ``config-2``) when the user asked.

An image whose bytes are not what its ``disk_format`` says (or a qcow2 with a backing file of
its own) fails the spawn with that reason before anything is made. :func:`age_bases` is the
image cache manager: a base file no instance uses and unused for ``max_age`` seconds goes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers.base import (
    DriverError,
    ImageSource,
    InstanceSpec,
    MovedDisks,
)
from pocketstack.agents.kernel import run

#: qemu-img's name of each Glance disk_format
QEMU_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc",
                "vhdx": "vhdx", "iso": "raw", "ami": "raw", "ari": "raw", "aki": "raw",
                "ploop": "raw"}


def base_name(image_id: str) -> str:
    return hashlib.sha1(image_id.encode(), usedforsecurity=False).hexdigest()


def _qemu_img(*args: str, timeout: float = 600.0) -> str:
    try:
        return run.run(["qemu-img", *args], timeout=timeout)
    except run.KernelError as exc:
        raise DriverError(str(exc)) from exc


def info(path: Path, fmt: str | None = None) -> dict[str, Any]:
    args = ["info", "--output=json", "-U"] + (["-f", fmt] if fmt else []) + [str(path)]
    data: dict[str, Any] = json.loads(_qemu_img(*args, timeout=60))
    return data


def check_image(image: ImageSource, path: Path) -> str:
    """The qemu-img format of the image file, after checking it is what it claims to be."""
    declared = QEMU_FORMATS.get((image.disk_format or "raw").lower())
    if declared is None:
        raise DriverError(f"image {image.id}: disk_format {image.disk_format!r} cannot boot")
    found = info(path)
    actual = found.get("format")
    if declared == "raw":
        if actual not in ("raw", None):
            raise DriverError(f"image {image.id}: declared {image.disk_format} but its data is "
                              f"{actual}; refusing to boot it")
    elif actual != declared:
        raise DriverError(f"image {image.id}: declared {image.disk_format} but its data is "
                          f"{actual or 'not an image'}; refusing to boot it")
    if found.get("backing-filename"):
        raise DriverError(f"image {image.id}: has a backing file of its own; refusing it")
    if declared == "qcow2":
        with contextlib.suppress(DriverError):  # a corrupt qcow2 says so here
            _qemu_img("check", "-q", "-f", "qcow2", str(path), timeout=120)
    return declared


def ensure_base(base_dir: Path, image: ImageSource, force_raw: bool) -> tuple[Path, str]:
    """``_base/<sha1>`` for the image, made once; returns it with its qemu-img format."""
    if not image.id or image.path is None:
        raise DriverError(f"image {image.id}: no data to boot from on this host")
    base_dir.mkdir(parents=True, exist_ok=True)
    target = base_dir / base_name(image.id)
    source = Path(image.path)
    if target.exists() and source.resolve() != target.resolve():
        fmt = str(info(target).get("format") or "raw")
        os.utime(target)
        return target, fmt
    fmt = check_image(image, source)
    if source.resolve() == target.resolve():  # the agent's cache fetched it here
        if force_raw and fmt != "raw":
            _convert(source, fmt, target)
            fmt = "raw"
        os.utime(target)
        return target, fmt
    if force_raw and fmt != "raw":
        _convert(source, fmt, target)
        return target, "raw"
    tmp = target.with_name(f".{target.name}.{uuidlib.uuid4().hex[:8]}.part")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, fmt


def _convert(source: Path, fmt: str, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{uuidlib.uuid4().hex[:8]}.part")
    try:
        _qemu_img("convert", "-q", "-f", fmt, "-O", "raw", str(source), str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def make_root(disk: Path, base: tuple[Path, str] | None, root_gb: int) -> None:
    """``disk``: a qcow2 overlay on ``base`` grown to ``root_gb`` (never shrunk), or blank."""
    size = f"{root_gb}G" if root_gb else None
    if base is None:
        _qemu_img("create", "-q", "-f", "qcow2", str(disk), size or "1G")
        return
    path, fmt = base
    args = ["create", "-q", "-f", "qcow2", "-F", fmt, "-b", str(path), str(disk)]
    virtual = path.stat().st_size if fmt == "raw" else \
        int(info(path, fmt).get("virtual-size") or 0)
    if size and virtual <= root_gb << 30:
        args.append(size)
    _qemu_img(*args)


def copy_disk(source: Path, target: Path, base: tuple[Path, str] | None) -> None:
    """A guest's disk copied from another host's instance directory: a qcow2 overlay on this
    host's own ``base`` holding what differs from it (``qemu-img convert -B``), or a whole
    standalone copy when there is no base. Read while shared (``-U``): the source is stopped
    by then, or crash-consistent at worst."""
    args = ["convert", "-q", "-U", "-f", "qcow2", "-O", "qcow2"]
    if base is not None:
        args += ["-F", base[1], "-B", str(base[0])]
    _convert_into(args, source, target)


def _convert_into(args: list[str], source: Path, target: Path) -> None:
    """``qemu-img ARGS source`` into a temporary file renamed to ``target`` once whole."""
    tmp = target.with_name(f".{target.name}.part")
    try:
        _qemu_img(*args, str(source), str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def export_disk(source: Path, target: Path, keep_backing: bool) -> str | None:
    """A guest's disk written for another machine (:mod:`...disk_move`): a qcow2 of the
    clusters ``source`` holds itself over its backing file (whose name stays in the header,
    for the receiver to re-point at its own copy of that base), or a standalone qcow2 when
    ``keep_backing`` is false or it has no backing file. Returns the backing file's format
    (None: standalone)."""
    about = info(source, "qcow2")
    backing = about.get("full-backing-filename") or about.get("backing-filename")
    args = ["convert", "-q", "-U", "-f", "qcow2", "-O", "qcow2"]
    fmt = None
    if backing and keep_backing:
        fmt = str(about.get("backing-filename-format") or "raw")
        args += ["-F", fmt, "-B", str(backing)]
    _convert_into(args, source, target)
    return fmt


def adopt_disk(staged: Path, target: Path, base: tuple[Path, str] | None) -> None:
    """A disk another host sent (:func:`export_disk`) made this guest's ``target``: re-pointed
    at this host's own ``base`` (an unsafe rebase: the clusters it lacks are the image's,
    which this base holds too), or kept standalone; then moved in place."""
    about = info(staged, "qcow2")
    if about.get("format") != "qcow2" or about.get("format-specific", {}).get(
            "data", {}).get("data-file"):
        raise DriverError(f"{target.name}: the disk sent is not a plain qcow2 image")
    if about.get("backing-filename"):
        if base is None:
            raise DriverError(f"{target.name}: the disk sent lies over an image this host "
                              "has no data of")
        _qemu_img("rebase", "-q", "-u", "-f", "qcow2", "-F", base[1], "-b", str(base[0]),
                  str(staged))
    os.replace(staged, target)


def grow(disk: Path, root_gb: int) -> None:
    """Grow a qcow2 disk to ``root_gb`` (a smaller size is left as it is)."""
    if root_gb and int(info(disk, "qcow2").get("virtual-size") or 0) < root_gb << 30:
        _qemu_img("resize", "-q", "-f", "qcow2", str(disk), f"{root_gb}G")


def _base_disk(base_dir: Path, name: str, size_mb: int, mkfs: list[str]) -> Path:
    path = base_dir / name
    if path.exists():
        os.utime(path)
        return path
    base_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.{uuidlib.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "wb") as handle:
            handle.truncate(size_mb << 20)
        try:
            run.run([*mkfs, str(tmp)], timeout=120)
        except run.KernelError as exc:
            raise DriverError(f"{name}: {exc}") from exc
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def make_ephemeral(base_dir: Path, disk: Path, gb: int) -> None:
    base = _base_disk(base_dir, f"ephemeral_{gb}_default", gb << 10,
                      ["mkfs.ext4", "-q", "-F", "-L", "ephemeral0"])
    _qemu_img("create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(disk))


def make_swap(base_dir: Path, disk: Path, mb: int) -> None:
    base = _base_disk(base_dir, f"swap_{mb}", mb, ["mkswap"])
    _qemu_img("create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(disk))


def write_disk_info(directory: Path, disks: dict[str, str]) -> None:
    """``disk.info``: each disk's path -> its format (Nova's file)."""
    (directory / "disk.info").write_text(json.dumps(disks))


def _take(moving: MovedDisks, name: str, target: Path, base: tuple[Path, str] | None) -> None:
    if moving.local:
        copy_disk(moving.directory / name, target, base)
    else:
        adopt_disk(moving.directory / name, target, base)


def make_instance_disks(base: Path, base_dir: Path, spec: InstanceSpec,
                        image: tuple[Path, str] | None,
                        moving: MovedDisks | None = None) -> None:
    """The instance directory's disks as Nova lays them out: ``disk`` (none when volume-backed:
    the boot volume is vda), ``disk.eph0``, ``disk.swap``, ``disk.config``, with ``disk.info``
    and an empty ``console.log``. ``moving``: where the root and ephemeral disks of a guest
    moving here (a cold migration or resize) are, copied or taken over instead of made new;
    swap and config drive are made again."""
    devices = spec.block_devices
    disks = {}
    if devices.boot_volume() is None:
        if moving is not None:
            if not (moving.directory / "disk").is_file():
                raise DriverError(f"{spec.uuid}: the moving guest's disk did not come")
            _take(moving, "disk", base / "disk", image)
            grow(base / "disk", spec.root_gb)
        else:
            make_root(base / "disk", image, spec.root_gb)
        disks[str(base / "disk")] = "qcow2"
    if devices.ephemeral_gb:
        make_ephemeral(base_dir, base / "disk.eph0", devices.ephemeral_gb)
        if moving is not None and (moving.directory / "disk.eph0").exists():
            (base / "disk.eph0").unlink()
            # standalone: this host's ephemeral base is another mkfs (its own UUID and
            # checksums), so the source's clusters cannot lie over it
            _take(moving, "disk.eph0", base / "disk.eph0", None)
        disks[str(base / "disk.eph0")] = "qcow2"
    if devices.swap_mb:
        make_swap(base_dir, base / "disk.swap", devices.swap_mb)
        disks[str(base / "disk.swap")] = "qcow2"
    if spec.config_drive:
        make_config_drive(base / "disk.config", spec)
        disks[str(base / "disk.config")] = "raw"
    write_disk_info(base, disks)
    (base / "console.log").touch()


def backing_files(disk: Path) -> list[str]:
    """Every backing file in ``disk``'s chain."""
    try:
        chain = json.loads(_qemu_img("info", "--output=json", "-U", "--backing-chain",
                                     str(disk), timeout=60))
    except (DriverError, ValueError):
        return []
    return [str(Path(entry["backing-filename"]).resolve()) for entry in chain
            if isinstance(entry, dict) and entry.get("backing-filename")]


def age_bases(instances_dir: Path, max_age: float, now: float | None = None) -> list[str]:
    """The image cache manager: remove base files no instance's disks use and untouched for
    ``max_age`` seconds; base files in use are touched. Returns the names removed."""
    base_dir = instances_dir / "_base"
    if not base_dir.is_dir():
        return []
    used: set[str] = set()
    for entry in instances_dir.iterdir():
        if entry.name.startswith("_") or not entry.is_dir():
            continue
        for disk in entry.glob("disk*"):
            if disk.suffix not in (".info", ".tmp"):
                used.update(backing_files(disk))
    now = time.time() if now is None else now
    removed = []
    for base in base_dir.iterdir():
        if base.name.startswith(".") or not base.is_file():
            continue
        if str(base.resolve()) in used:
            os.utime(base)
            continue
        if now - base.stat().st_mtime >= max_age:
            base.unlink(missing_ok=True)
            removed.append(base.name)
    return removed


def config_drive_files(spec: InstanceSpec) -> dict[str, bytes]:
    """The config drive's files, as Nova's ``openstack/<version>/`` tree (``latest`` and the
    first version, 2012-08-10): ``meta_data.json``, ``user_data`` when there is some,
    ``network_data.json`` (one link per port, DHCP on each) and empty vendor data."""
    meta: dict[str, Any] = {"uuid": spec.uuid, "name": spec.hostname or spec.name,
                            "hostname": f"{spec.hostname or spec.name}.novalocal",
                            "launch_index": 0, "availability_zone": None,
                            "meta": {str(k): str(v) for k, v in spec.metadata.items()},
                            "devices": []}
    if spec.key_data:
        name = spec.key_name or "key"
        meta["public_keys"] = {name: spec.key_data}
        meta["keys"] = [{"name": name, "type": "ssh", "data": spec.key_data}]
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    for vif in spec.network_interfaces:
        link = vif.devname or f"tap{vif.port_id[:11]}"
        links.append({"id": link, "vif_id": vif.port_id, "type": vif.vif_type,
                      "mtu": vif.mtu, "ethernet_mac_address": vif.mac_address})
        for ip in vif.fixed_ips:
            family = 6 if ":" in str(ip.get("ip_address", "")) else 4
            networks.append({"id": f"network{len(networks)}", "type": f"ipv{family}_dhcp",
                             "link": link, "network_id": vif.network_id})
    out: dict[str, bytes] = {}
    user_data = _user_data(spec.user_data)
    for version in ("latest", "2012-08-10"):
        out[f"openstack/{version}/meta_data.json"] = json.dumps(meta).encode()
        if user_data is not None:
            out[f"openstack/{version}/user_data"] = user_data
        out[f"openstack/{version}/vendor_data.json"] = b"{}"
        out[f"openstack/{version}/network_data.json"] = json.dumps(
            {"links": links, "networks": networks, "services": []}).encode()
    return out


def _user_data(user_data: str | None) -> bytes | None:
    """Nova keeps user data base64-encoded; anything else is taken as it is."""
    if not user_data:
        return None
    try:
        return base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        return user_data.encode()


def make_config_drive(target: Path, spec: InstanceSpec) -> None:
    """``disk.config``: an ISO 9660 image labelled ``config-2`` (Nova's genisoimage call)."""
    staging = target.with_name(f".{target.name}.d")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, data in config_drive_files(spec).items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            run.run(["genisoimage", "-o", str(target), "-ldots", "-allow-lowercase",
                     "-allow-multidot", "-l", "-publisher", "pocketstack", "-quiet", "-J",
                     "-r", "-V", "config-2", str(staging)], timeout=60)
        except run.KernelError as exc:
            raise DriverError(f"config drive: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
