"""A ``namespace`` driver guest's disks (:class:`GuestDisks`).

The root disk ``instances/<uuid>/disk`` is a qcow2 overlay on the cached image (or a blank
qcow2 of the flavor's size); a snapshot is the image itself while the overlay holds nothing of
its own, else a standalone qcow2 copy. Volumes (``local`` connections: files) become loop
devices recorded in ``instance.json`` (``volumes``: id → loop, device, file) and block nodes
in a running guest's own ``/dev`` (:mod:`.namespace_volumes` does the kernel side).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers import namespace_volumes as vols
from pocketstack.agents.compute.drivers.base import DriverError, InstanceSpec, VolumeConnection
from pocketstack.agents.compute.drivers.namespace_guest import Guests, one_at_a_time
from pocketstack.agents.kernel import run

#: qemu-img's name of each Glance disk_format the overlay can sit on
_QEMU_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc",
                 "vhdx": "vhdx", "iso": "raw", "ami": "raw", "ari": "raw", "aki": "raw",
                 "ploop": "raw"}


class GuestDisks(Guests):
    """The guests' root disks, snapshots and volumes (see the module docstring)."""

    def _make_disk(self, spec: InstanceSpec, disk: Path) -> None:
        """A qcow2 overlay on the cached image (or a blank disk of the flavor's size)."""
        size = f"{spec.root_gb}G" if spec.root_gb else None
        if spec.image.path is not None:
            fmt = _QEMU_FORMATS.get((spec.image.disk_format or "raw").lower(), "raw")
            argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt, "-b",
                    str(Path(spec.image.path).resolve()), str(disk)]
            if size:
                virtual = spec.image.virtual_size or (spec.image.size if fmt == "raw" else None)
                if virtual is None:
                    about = json.loads(run.run(["qemu-img", "info", "--output=json", "-f", fmt,
                                                spec.image.path]))
                    virtual = int(about["virtual-size"])
                if virtual <= spec.root_gb << 30:  # never smaller than the image
                    argv.append(size)
        elif size:
            argv = ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), size]
        else:
            return
        run.run(argv, timeout=60)

    @one_at_a_time
    def snapshot(self, uuid: str) -> dict[str, Any]:
        """``{"image_id"}`` while the root disk has nothing of its own beyond its image, else a
        standalone qcow2 copy ``{"path", "disk_format"}``."""
        record = self._record(uuid)
        spec = self._spec(record)
        disk = self._dir(uuid) / "disk"
        if not disk.exists():
            return {"image_id": spec.image.id}
        extents = json.loads(run.run(["qemu-img", "map", "--output=json", str(disk)]))
        own = [e for e in extents if e.get("depth") == 0 and e.get("data")]
        if not own and spec.image.path is not None:
            return {"image_id": spec.image.id}
        target = self._dir(uuid) / f"snapshot-{int(time.time() * 1000)}.qcow2"
        run.run(["qemu-img", "convert", "-O", "qcow2", str(disk), str(target)], timeout=600)
        return {"path": str(target), "disk_format": "qcow2"}

    @staticmethod
    def _loop(record: dict[str, Any], volume: VolumeConnection) -> dict[str, Any]:
        """A loop device for ``volume``, recorded (not yet in the guest)."""
        volumes: dict[str, Any] = record.setdefault("volumes", {})
        if volume.volume_id in volumes:
            return dict(volumes[volume.volume_id])
        path = vols.volume_path(volume.connection_info)
        used = {v["device"] for v in volumes.values()}
        used.add(record["spec"]["block_devices"].get("root_device_name") or "/dev/vda")
        device = volume.device_name if volume.device_name and (
            volume.device_name not in used or volume.boot_index == 0) \
            else vols.next_device(used)
        entry = {"loop": vols.attach_loop(path), "device": device, "path": path}
        volumes[volume.volume_id] = entry
        return entry

    @one_at_a_time
    def attach_volume(self, uuid: str, volume: VolumeConnection) -> str:
        """The volume's file as a loop device, shown in a running guest as a block node."""
        record = self._record(uuid)
        if volume.volume_id in (record.get("volumes") or {}):
            return str(record["volumes"][volume.volume_id]["device"])
        entry = self._loop(record, volume)
        init = self.guest_init_pid(uuid)
        try:
            if init is not None:
                vols.expose(init, self._dir(uuid), {entry["device"]: entry["loop"]})
        except DriverError:
            vols.detach_loop(entry["loop"], entry["path"])
            raise
        self._save(uuid, record)
        return str(entry["device"])

    @one_at_a_time
    def detach_volume(self, uuid: str, volume_id: str) -> None:
        record = self._record(uuid)
        entry = (record.get("volumes") or {}).pop(volume_id, None)
        if entry is None:
            return
        init = self.guest_init_pid(uuid)
        if init is not None:
            with contextlib.suppress(DriverError):
                vols.hide(init, entry["device"])
        vols.detach_loop(entry["loop"], entry["path"])
        self._save(uuid, record)
