"""The volume service's side of :class:`pocketstack.volume.interface.VolumeAPI`."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.volume import errors
from pocketstack.volume.domain import reimage as dreimage
from pocketstack.volume.domain import services as dservices
from pocketstack.volume.domain import snapshots, volumes
from pocketstack.volume.domain.common import deadline, now
from pocketstack.volume.interface import SnapshotInfo, VolumeInfo

if TYPE_CHECKING:
    from pocketstack.volume.service import VolumeService


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def info(row: dict[str, Any], type_name: str | None = None) -> VolumeInfo:
    return VolumeInfo(
        id=row["id"], project_id=row["project_id"], name=row["name"], size=int(row["size"]),
        status=row["status"], attach_status=row["attach_status"], bootable=bool(row["bootable"]),
        multiattach=bool(row["multiattach"]), availability_zone=row["availability_zone"],
        host=row["host"], attachments=list(row["attachments"]),
        image_metadata=dict(row["image_metadata"]), description=row.get("description"),
        volume_type=type_name, snapshot_id=row.get("snapshot_id"),
        metadata=dict(row.get("metadata") or {}), created_at=_when(row.get("created_at")))


def snapshot_info(row: dict[str, Any]) -> SnapshotInfo:
    return SnapshotInfo(
        id=row["id"], volume_id=row["volume_id"], project_id=row["project_id"],
        name=row["name"], description=row["description"], size=int(row["size"]),
        status=row["status"], created_at=_when(row["created_at"]))


def connection_info(service: VolumeService, row: dict[str, Any]) -> dict[str, Any]:
    """Asked of the volume's storage host over the bus (the agent knows where its file is),
    with the volume type's front-end QoS specs (``data.qos_specs``) when it has some.
    Blocks: call it from a worker thread, never on the event loop."""
    if not row["host"]:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} has no storage host.")
    try:
        reply = service.runtime.call_from_thread(
            f"volume.{row['host']}", {"op": "connection_info", "id": row["id"]}, 30)
    except RuntimeError:
        raise
    except Exception as exc:  # BusTimeout, a dead agent
        raise exceptions.ServiceUnavailable(f"storage host {row['host']} did not answer: "
                                            f"{exc}") from None
    if not isinstance(reply, dict) or "error" in reply:
        raise errors.InvalidState(f"Invalid volume: {(reply or {}).get('error')}")
    out = dict(reply["connection_info"])
    from pocketstack.volume.domain import qos

    specs = service.db.read(qos.front_end_specs, row["volume_type_id"])
    if specs:  # the hypervisor's to apply, as Cinder hands front-end QoS to Nova
        out["data"] = {**out.get("data", {}), "qos_specs": specs}
    return out


def reimage(service: VolumeService, ctx: RequestContext, volume_id: str, image_id: str,
            reimage_reserved: bool, request_id: str | None = None) -> None:
    """Cinder's ``os-reimage``: the volume (404), the image (404; 400 unless active), the
    policy (``volume:reimage``, ``volume:reimage_reserved`` for a ``reserved`` volume), then
    :func:`~.domain.reimage.begin` in one write; the task goes to the volume's host."""
    row = service.db.read(volumes.get, volume_id, ctx.project_id, ctx.is_admin)
    images = service.image_api()
    if images is None:
        raise errors.bad("No image service to re-image a volume from.")
    try:
        boot = images.get_image_for_boot(ctx, image_id)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Image {image_id} could not be found.") from None
    except exceptions.BadRequest as exc:
        raise errors.bad(str(exc)) from None
    image = dreimage.image_of(boot)
    until = deadline(service.options.volume_task_timeout)

    def write(conn: Any) -> dict[str, Any]:
        current = volumes.get(conn, row["id"], ctx.project_id, ctx.is_admin)
        rule = "volume:reimage_reserved" if current["status"] == "reserved" else \
            "volume:reimage"
        service.enforce(ctx, rule, {"project_id": current["project_id"]})
        return dreimage.begin(conn, current, image, reimage_reserved, until,
                              ctx.project_id, ctx.is_admin)

    service.send(service.db.write(write), request_id)


class VolumeInterface:
    """Implements ``VolumeAPI`` on top of one :class:`VolumeService`."""

    def __init__(self, service: VolumeService) -> None:
        self.service = service
        self.db = service.db

    def _row(self, ctx: RequestContext, volume_id: str) -> dict[str, Any]:
        row: dict[str, Any] = self.db.read(volumes.get, volume_id, ctx.project_id,
                                           ctx.is_admin)
        return row

    def _change(self, ctx: RequestContext, volume_id: str, fn: Any, *args: Any) -> Any:
        def write(conn: Any) -> Any:
            row = volumes.get(conn, volume_id, ctx.project_id, ctx.is_admin)
            result = fn(conn, row, *args)
            return volumes.get(conn, volume_id, None, True) if result is None else result

        return self.db.write(write)

    def get_volume(self, ctx: RequestContext, volume_id: str) -> VolumeInfo:
        def read(conn: Any) -> VolumeInfo:
            row = volumes.get(conn, volume_id, ctx.project_id, ctx.is_admin)
            return info(row, volumes.type_names(conn).get(row["volume_type_id"] or ""))

        found: VolumeInfo = self.db.read(read)
        return found

    def list_volumes(self, ctx: RequestContext) -> list[VolumeInfo]:
        query = volumes.ListQuery(project_id=ctx.project_id or "")

        def read(conn: Any) -> list[VolumeInfo]:
            rows, _ = volumes.list_volumes(conn, query)
            names = volumes.type_names(conn)
            return [info(r, names.get(r["volume_type_id"] or "")) for r in rows]

        found: list[VolumeInfo] = self.db.read(read)
        return found

    def reserve(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None = None,
                deadline_seconds: float | None = None) -> VolumeInfo:
        until = None if deadline_seconds is None else deadline(deadline_seconds)
        return info(self._change(ctx, volume_id, volumes.reserve, instance_uuid, until))

    def unreserve(self, ctx: RequestContext, volume_id: str,
                  instance_uuid: str | None = None) -> None:
        self._change(ctx, volume_id, volumes.unreserve, instance_uuid)

    def attach(self, ctx: RequestContext, volume_id: str, instance_uuid: str,
               host: str | None, mountpoint: str | None,
               attachment_id: str | None = None, reserved: bool = False) -> dict[str, Any]:
        row = self._row(ctx, volume_id)
        conn_info = connection_info(self.service, row)  # before the state changes
        self._change(ctx, volume_id, volumes.attach, instance_uuid, host, mountpoint,
                     attachment_id, reserved)
        return conn_info

    def connection_info(self, ctx: RequestContext, volume_id: str) -> dict[str, Any]:
        return connection_info(self.service, self._row(ctx, volume_id))

    def begin_detaching(self, ctx: RequestContext, volume_id: str,
                        instance_uuid: str | None = None,
                        deadline_seconds: float | None = None) -> None:
        until = None if deadline_seconds is None else deadline(deadline_seconds)
        self._change(ctx, volume_id, volumes.begin_detaching, instance_uuid, until)

    def roll_detaching(self, ctx: RequestContext, volume_id: str) -> None:
        self._change(ctx, volume_id, volumes.roll_detaching)

    def overdue_reservations(self) -> list[tuple[str, str, str]]:
        found: list[tuple[str, str, str]] = self.db.read(volumes.overdue_reservations,
                                                         now())
        return found

    def detach(self, ctx: RequestContext, volume_id: str,
               instance_uuid: str | None = None) -> VolumeInfo:
        return info(self._change(ctx, volume_id, volumes.detach, instance_uuid))

    def create_volume(self, ctx: RequestContext, *, size: int, name: str | None = None,
                      image_id: str | None = None, snapshot_id: str | None = None,
                      source_volid: str | None = None, volume_type: str | None = None,
                      availability_zone: str | None = None,
                      metadata: dict[str, str] | None = None,
                      description: str | None = None) -> VolumeInfo:
        s = self.service
        if ctx.project_id is None:
            raise errors.bad("a project-scoped context is needed to create volumes.")
        s.enforce(ctx, "volume:create", {"project_id": ctx.project_id})
        source = volumes.Source()
        if image_id is not None:
            images = s.image_api()
            if images is None:
                raise errors.bad("No image service to create a volume from an image.")
            image = images.get_image_for_boot(ctx, image_id)
            source = volumes.Source("image", image.id, image.path, image.disk_format,
                                    {"image_id": image.id, "image_name": image.name or ""},
                                    image.min_root_gb)
        elif snapshot_id is not None:
            source = volumes.Source("snapshot", snapshot_id)
        elif source_volid is not None:
            source = volumes.Source("volume", source_volid)
        o = s.options
        project = ctx.project_id
        limits = s.quota_limits(project)

        def write(conn: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
            host = None
            if source.kind not in ("snapshot", "volume"):
                host = dservices.pick_host(conn, o.volume_service_down_time, None)
            return volumes.create(
                conn, project_id=project, user_id=ctx.user_id, name=name,
                description=description,
                size=size, availability_zone=availability_zone, volume_type=volume_type,
                metadata=dict(metadata or {}), source=source, host=host,
                default_az=o.volume_availability_zone, quota_defaults=limits,
                admin=ctx.is_admin, task_deadline=deadline(o.volume_task_timeout))

        row, msg = self.db.write(write)
        s.send(msg)
        return info(row, self.db.read(volumes.type_names).get(row["volume_type_id"] or ""))

    def reimage(self, ctx: RequestContext, volume_id: str, image_id: str,
                reimage_reserved: bool = False) -> None:
        reimage(self.service, ctx, volume_id, image_id, reimage_reserved)

    def hold_for_reimage(self, ctx: RequestContext, volume_id: str,
                         instance_uuid: str) -> VolumeInfo:
        return info(self._change(ctx, volume_id, dreimage.hold, instance_uuid))

    def release_reimaged(self, ctx: RequestContext, volume_id: str,
                         instance_uuid: str) -> VolumeInfo:
        return info(self._change(ctx, volume_id, dreimage.release, instance_uuid))

    def wait_for_status(self, ctx: RequestContext, volume_id: str, statuses: set[str],
                        timeout: float) -> VolumeInfo:
        end = time.monotonic() + timeout
        while True:
            found = self.get_volume(ctx, volume_id)
            if found.status in statuses or found.status.startswith("error"):
                return found
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"volume {volume_id} is still {found.status}")
            self.service.wait_change(min(left, 0.5))

    def delete_volume(self, ctx: RequestContext, volume_id: str) -> None:
        s = self.service

        def write(conn: Any) -> list[dict[str, Any]]:
            row = volumes.get(conn, volume_id, ctx.project_id, ctx.is_admin)
            s.enforce(ctx, "volume:delete", {"project_id": row["project_id"]})
            return volumes.begin_delete(conn, row, cascade=False, force=False,
                                        task_deadline=deadline(s.options.volume_task_timeout))

        s.send(self.db.write(write))

    def list_snapshots(self, ctx: RequestContext) -> list[SnapshotInfo]:
        query = volumes.ListQuery(project_id=ctx.project_id or "")
        rows, _ = self.db.read(snapshots.list_snapshots, query)
        return [snapshot_info(r) for r in rows]

    def get_snapshot(self, ctx: RequestContext, snapshot_id: str) -> SnapshotInfo:
        return snapshot_info(self.db.read(snapshots.get, snapshot_id, ctx.project_id,
                                          ctx.is_admin))

    def create_snapshot(self, ctx: RequestContext, volume_id: str, *,
                        name: str | None = None, description: str | None = None,
                        force: bool = False) -> SnapshotInfo:
        s = self.service
        if ctx.project_id is None:
            raise errors.bad("a project-scoped context is needed to create snapshots.")
        project = ctx.project_id
        limits = s.quota_limits(project)

        def write(conn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
            volume = volumes.get(conn, volume_id, ctx.project_id, ctx.is_admin)
            s.enforce(ctx, "volume:create_snapshot", {"project_id": volume["project_id"]})
            return snapshots.create(conn, volume, project_id=project, user_id=ctx.user_id,
                                    name=name, description=description, metadata={},
                                    force=force, quota_defaults=limits,
                                    task_deadline=deadline(s.options.volume_task_timeout))

        row, msg = self.db.write(write)
        s.send(msg)
        return snapshot_info(row)

    def delete_snapshot(self, ctx: RequestContext, snapshot_id: str) -> None:
        s = self.service

        def write(conn: Any) -> dict[str, Any] | None:
            row = snapshots.get(conn, snapshot_id, ctx.project_id, ctx.is_admin)
            s.enforce(ctx, "volume:delete_snapshot", {"project_id": row["project_id"]})
            host = volumes.get(conn, row["volume_id"], None, True)["host"]
            return snapshots.begin_delete(conn, row, host, False,
                                          deadline(s.options.volume_task_timeout))

        s.send(self.db.write(write))
