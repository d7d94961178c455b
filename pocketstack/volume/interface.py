"""What other services may ask of block storage (implemented by
:class:`pocketstack.volume.public.VolumeInterface`): compute attaches volumes to servers and
boots from them.

Compute's rebuild of a volume-backed server re-images its root volume: ``hold_for_reimage``
(in-use → reserved), ``reimage`` with ``reimage_reserved``, ``wait_for_status`` and
``release_reimaged`` (→ in-use).

The attach state machine, as Cinder's legacy flow has it: ``reserve`` (available →
attaching), ``attach`` (→ in-use, returns the connection info for the hypervisor driver),
``begin_detaching`` (in-use → detaching), ``detach`` (→ available, or in-use while other
attachments remain), ``unreserve`` (attaching → back, when the attach is abandoned).

Every method blocks (database, and a bus call to the storage host for the connection info):
call them from a worker thread (an API handler, ``asyncio.to_thread`` in a conductor), never
on the event loop. Failures are Cinder's: NotFound (404), InvalidState (400), OverQuota (413).

Only this module (and the types in it) may be imported by other services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pocketstack.common.context import RequestContext


@dataclass(frozen=True)
class VolumeInfo:
    """What compute needs to know of a volume."""

    id: str
    project_id: str
    name: str | None
    size: int  # GiB
    status: str
    attach_status: str
    bootable: bool
    multiattach: bool
    availability_zone: str
    host: str | None  # host@backend
    attachments: list[dict[str, Any]] = field(default_factory=list)
    image_metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    volume_type: str | None = None  # its name
    snapshot_id: str | None = None  # made from this snapshot
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None  # ISO 8601, as Cinder prints it


@dataclass(frozen=True)
class SnapshotInfo:
    """A volume snapshot, as compute's deprecated ``/os-snapshots`` proxy shows it."""

    id: str
    volume_id: str
    project_id: str
    name: str | None
    description: str | None
    size: int  # GiB
    status: str
    created_at: str | None  # ISO 8601


class VolumeAPI(Protocol):
    def get_volume(self, ctx: RequestContext, volume_id: str) -> VolumeInfo:
        """A volume ``ctx`` may see (NotFound otherwise)."""
        ...

    def list_volumes(self, ctx: RequestContext) -> list[VolumeInfo]:
        """The volumes of ``ctx``'s project, newest first (Cinder's list without
        ``all_tenants``; policy ``volume:get_all``)."""
        ...

    def reserve(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None = None,
                deadline_seconds: float | None = None) -> VolumeInfo:
        """available → attaching (BadRequest in another state; a multiattach volume may be
        in-use). With ``instance_uuid`` and ``deadline_seconds`` the reservation is compute's
        task: listed by :meth:`overdue_reservations` once the deadline passes."""
        ...

    def unreserve(self, ctx: RequestContext, volume_id: str,
                  instance_uuid: str | None = None) -> None:
        """attaching → its state before :meth:`reserve` (no-op otherwise, or when reserved
        for another server than ``instance_uuid``)."""
        ...

    def attach(self, ctx: RequestContext, volume_id: str, instance_uuid: str,
               host: str | None, mountpoint: str | None,
               attachment_id: str | None = None, reserved: bool = False) -> dict[str, Any]:
        """Record the attachment (→ in-use) and return the connection info:
        ``{"driver_volume_type": "local", "data": {"device_path": FILE}}``. With
        ``reserved``, only a volume still reserved for ``instance_uuid`` (InvalidState
        otherwise: the reservation was rolled back or released meanwhile)."""
        ...

    def connection_info(self, ctx: RequestContext, volume_id: str) -> dict[str, Any]:
        """The connection info of an existing volume (for a driver re-plugging it)."""
        ...

    def begin_detaching(self, ctx: RequestContext, volume_id: str,
                        instance_uuid: str | None = None,
                        deadline_seconds: float | None = None) -> None:
        """in-use → detaching (a compute task with a deadline, as :meth:`reserve`)."""
        ...

    def roll_detaching(self, ctx: RequestContext, volume_id: str) -> None:
        """detaching → in-use: the detach did not happen (no-op in another state)."""
        ...

    def overdue_reservations(self) -> list[tuple[str, str, str]]:
        """Compute's attaches and detaches past their deadline: (volume id, server uuid,
        ``attach`` | ``detach``), for compute's reconciler to roll back."""
        ...

    def detach(self, ctx: RequestContext, volume_id: str,
               instance_uuid: str | None = None) -> VolumeInfo:
        """Drop the server's attachment (all, without ``instance_uuid``): → available once
        none is left."""
        ...

    def create_volume(self, ctx: RequestContext, *, size: int, name: str | None = None,
                      image_id: str | None = None, snapshot_id: str | None = None,
                      source_volid: str | None = None, volume_type: str | None = None,
                      availability_zone: str | None = None,
                      metadata: dict[str, str] | None = None,
                      description: str | None = None) -> VolumeInfo:
        """Start creating a volume (status ``creating``; quotas of ``ctx``'s project; policy
        ``volume:create``)."""
        ...

    def reimage(self, ctx: RequestContext, volume_id: str, image_id: str,
                reimage_reserved: bool = False) -> None:
        """Start re-writing the volume from an image (Cinder's ``os-reimage``, 3.68): the
        volume goes ``downloading``, then back to its status (``error`` on a failure).
        NotFound for the volume or image; BadRequest for its status (``available``/``error``,
        ``reserved`` with ``reimage_reserved``) or an image that does not fit; Conflict when
        it has more than one attachment."""
        ...

    def hold_for_reimage(self, ctx: RequestContext, volume_id: str,
                         instance_uuid: str) -> VolumeInfo:
        """in-use, attached to ``instance_uuid`` only → ``reserved`` for it (the attachment
        stays): a volume-backed server's root volume before :meth:`reimage` with
        ``reimage_reserved`` (InvalidState otherwise; Conflict with more attachments)."""
        ...

    def release_reimaged(self, ctx: RequestContext, volume_id: str,
                         instance_uuid: str) -> VolumeInfo:
        """``reserved`` for ``instance_uuid`` → in-use again (no-op in another state, e.g.
        ``error`` after a failed re-image)."""
        ...

    def wait_for_status(self, ctx: RequestContext, volume_id: str, statuses: set[str],
                        timeout: float) -> VolumeInfo:
        """Block until the volume reaches one of ``statuses`` or ``error`` (returned, the
        caller decides), or raise TimeoutError."""
        ...

    def delete_volume(self, ctx: RequestContext, volume_id: str) -> None:
        """Start deleting a detached volume (e.g. ``delete_on_termination``; policy
        ``volume:delete``)."""
        ...

    def list_snapshots(self, ctx: RequestContext) -> list[SnapshotInfo]:
        """The snapshots of ``ctx``'s project, newest first (policy
        ``volume:get_all_snapshots``)."""
        ...

    def get_snapshot(self, ctx: RequestContext, snapshot_id: str) -> SnapshotInfo:
        """A snapshot ``ctx`` may see (NotFound otherwise)."""
        ...

    def create_snapshot(self, ctx: RequestContext, volume_id: str, *,
                        name: str | None = None, description: str | None = None,
                        force: bool = False) -> SnapshotInfo:
        """Start snapshotting a volume (status ``creating``; an ``in-use`` volume only with
        ``force``; quotas of ``ctx``'s project; policy ``volume:create_snapshot``)."""
        ...

    def delete_snapshot(self, ctx: RequestContext, snapshot_id: str) -> None:
        """Start deleting a snapshot (policy ``volume:delete_snapshot``)."""
        ...
