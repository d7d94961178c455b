"""Server snapshots (Nova's createImage) as the image service records them.

Compute registers a queued image owned by the instance's project (:func:`register`), then
gives it data (:func:`upload`): with the fake hypervisor a snapshot's disk is the source
image's data, copied through the store like any upload, with the same quotas.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pocketstack.common import exceptions
from pocketstack.image.domain import images
from pocketstack.image.domain.common import QuotaExceeded

if TYPE_CHECKING:
    from pocketstack.image.service import ImageService

# Properties of the source image that describe its data, not the image record.
_NOT_INHERITED = {"image_type", "instance_uuid", "base_image_ref", "image_location",
                  "owner_id", "user_id", "os_glance_importing_to_stores",
                  "os_glance_failed_import", "description"}


def register(svc: ImageService, *, owner: str, name: str, source_id: str | None,
             instance_uuid: str, user_id: str | None, metadata: dict[str, str],
             min_disk: int, min_ram: int) -> dict[str, Any]:
    """A queued, private snapshot image (Nova's createImage answers with its id)."""
    quotas = svc.quotas_for(owner)

    def write(conn: Any) -> dict[str, Any]:
        source: dict[str, Any] = {}
        if source_id:
            try:
                source = images.get(conn, source_id)
            except exceptions.NotFound:
                source = {}
        props = {k: v for k, v in (source.get("properties") or {}).items()
                 if k not in _NOT_INHERITED}
        props.update({"image_type": "snapshot", "instance_uuid": instance_uuid,
                      "owner_id": owner})
        if source_id:
            props["base_image_ref"] = source_id
        if user_id:
            props["user_id"] = user_id
        props.update({k: str(v) for k, v in metadata.items()})
        return images.create(conn, {
            "name": name, "visibility": "private", "owner": owner,
            "disk_format": source.get("disk_format") or "qcow2",
            "container_format": source.get("container_format") or "bare",
            "min_disk": max(min_disk, int(source.get("min_disk") or 0)),
            "min_ram": max(min_ram, int(source.get("min_ram") or 0)),
        }, props, [], quotas)

    try:
        return svc.db.write(write)  # type: ignore[no-any-return]
    except QuotaExceeded as exc:
        raise exceptions.Forbidden(str(exc)) from None


def upload(svc: ImageService, image_id: str, source_id: str | None) -> bool:
    """Copy the source image's data into the snapshot and make it active.

    Returns False when the snapshot was deleted meanwhile (nothing is left behind)."""
    try:
        grant = svc.db.write(images.begin_upload, image_id, False,
                             svc.quotas_for_image(image_id))
    except (exceptions.NotFound, exceptions.Conflict):
        return False
    try:
        location = None
        if source_id:
            try:
                location = svc.db.read(images.get, source_id)["location"]
            except exceptions.NotFound:
                location = None
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.sha512()
        size = 0

        def chunks() -> Any:
            nonlocal size
            for chunk in svc.store.get(location) if location else iter(()):
                md5.update(chunk)
                sha.update(chunk)
                size += len(chunk)
                yield chunk

        stored = svc.store.put(image_id, chunks())
        virtual = svc.db.read(images.get, source_id)["virtual_size"] if location else 0
        facts = {"size": size, "virtual_size": virtual, "checksum": md5.hexdigest(),
                 "os_hash_algo": "sha512", "os_hash_value": sha.hexdigest()}
        try:
            svc.db.write(images.finish_upload, grant, stored, facts,
                         svc.quotas_for(grant.owner), False)
        except exceptions.Gone:
            svc.store.delete(stored)
            return False
    except Exception:
        svc.db.write(images.abort_upload, grant)
        raise
    return True


def register_plain(svc: ImageService, *, owner: str, name: str, disk_format: str,
                   container_format: str, visibility: str, protected: bool,
                   properties: dict[str, str], min_disk: int) -> dict[str, Any]:
    """A queued image of another service's data (a volume uploaded to an image)."""
    quotas = svc.quotas_for(owner)

    def write(conn: Any) -> dict[str, Any]:
        return images.create(conn, {
            "name": name, "visibility": visibility, "owner": owner, "protected": protected,
            "disk_format": disk_format, "container_format": container_format,
            "min_disk": min_disk, "min_ram": 0}, dict(properties), [], quotas)

    try:
        return svc.db.write(write)  # type: ignore[no-any-return]
    except QuotaExceeded as exc:
        raise exceptions.Forbidden(str(exc)) from None


def upload_chunks(svc: ImageService, image_id: str, data: Iterable[bytes],
                  virtual_size: int | None) -> bool:
    """Fill a queued image with ``data`` and make it active (False: deleted meanwhile)."""
    try:
        grant = svc.db.write(images.begin_upload, image_id, False,
                             svc.quotas_for_image(image_id))
    except (exceptions.NotFound, exceptions.Conflict):
        return False
    try:
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.sha512()
        size = 0

        def chunks() -> Any:
            nonlocal size
            for chunk in data:
                md5.update(chunk)
                sha.update(chunk)
                size += len(chunk)
                yield chunk

        stored = svc.store.put(image_id, chunks())
        facts = {"size": size, "virtual_size": virtual_size or size,
                 "checksum": md5.hexdigest(), "os_hash_algo": "sha512",
                 "os_hash_value": sha.hexdigest()}
        try:
            svc.db.write(images.finish_upload, grant, stored, facts,
                         svc.quotas_for(grant.owner), False)
        except exceptions.Gone:
            svc.store.delete(stored)
            return False
    except Exception:
        svc.db.write(images.abort_upload, grant)
        raise
    return True
