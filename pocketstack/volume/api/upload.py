"""``os-volume_upload_image``: a new image in the image service with the volume's data.

The volume goes ``uploading`` (a task with a deadline) while a worker thread reads its file
(converted with ``qemu-img convert`` when another ``disk_format`` than raw is asked) into the
image through :class:`ImageAPI`; it goes back to its former status when done (on failure the
image is not activated: it stays queued). The file is read where the storage agent says it
is, so this needs the agent on the same machine (the in-process one, or one sharing the
state directory).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import ctx, svc, text, to_bool, version_at_least
from pocketstack.volume.api.views import when
from pocketstack.volume.domain import tasks, volumes
from pocketstack.volume.domain.common import deadline

LOG = logging.getLogger(__name__)
DISK_FORMATS = {"raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx"}
CONTAINER_FORMATS = {"bare", "ovf", "ova", "docker", "compressed"}
CHUNK = 1 << 20


def upload_to_image(req: ApiRequest, arg: Any) -> Response:
    c = ctx(req)
    s = svc(req)
    if not isinstance(arg, dict):
        raise errors.bad("os-volume_upload_image needs an object.")
    name = text(arg.get("image_name"), "image_name", 255, False)
    if not name:
        raise errors.bad("image_name is required.")
    force = to_bool(arg.get("force", False), "force")
    disk_format = str(arg.get("disk_format") or "raw").lower()
    container_format = str(arg.get("container_format") or "bare").lower()
    if disk_format not in DISK_FORMATS:
        raise errors.bad(f"Invalid disk-format '{disk_format}' is specified. Allowed disk-"
                         f"formats are {', '.join(sorted(DISK_FORMATS))}.")
    if container_format not in CONTAINER_FORMATS:
        raise errors.bad(f"Invalid container-format '{container_format}'.")
    visibility = "private"
    protected = False
    if version_at_least(req, "3.1"):
        visibility = str(arg.get("visibility") or "private")
        if visibility not in ("private", "public", "shared", "community"):
            raise errors.bad(f"Invalid visibility '{visibility}'.")
        if visibility == "public" and not c.is_admin:
            raise exceptions.PolicyForbidden("Only an administrator may upload a public "
                                             "image.")
        protected = to_bool(arg.get("protected", False), "protected")
    images = s.image_api()
    if images is None:
        raise errors.bad("No image service to upload to.")

    def begin(conn: Any) -> dict[str, Any]:
        row = volumes.get(conn, req.path_params["volume_id"], c.project_id, c.is_admin)
        s.enforce(c, "volume:copy_volume_to_image", {"project_id": row["project_id"]})
        tasks.begin_upload(conn, row, force, deadline(s.options.volume_task_timeout))
        return row

    row = s.db.write(begin)
    try:
        from pocketstack.volume.public import connection_info

        path = connection_info(s, row)["data"]["device_path"]
        if not os.access(path, os.R_OK):
            raise errors.bad("The volume's storage host is not on this machine.")
        props = {k: v for k, v in row["image_metadata"].items()
                 if k not in ("image_id", "image_name", "checksum", "size", "disk_format",
                              "container_format", "min_disk", "min_ram")}
        image = images.create_image(owner=row["project_id"], name=name,
                                    disk_format=disk_format,
                                    container_format=container_format,
                                    visibility=visibility, protected=protected,
                                    properties=props, min_disk=int(row["size"]))
    except BaseException:
        s.db.write(tasks.end_upload, row["id"])
        raise
    threading.Thread(target=_copy, args=(s, row["id"], image["id"], path, disk_format,
                                         int(row["size"]) << 30),
                     name=f"upload-{row['id'][:8]}", daemon=True).start()
    return json_response({"os-volume_upload_image": {
        "id": row["id"], "updated_at": when(row["updated_at"]), "status": "uploading",
        "display_description": row["description"], "size": row["size"],
        "volume_type": None, "image_id": image["id"], "container_format": container_format,
        "disk_format": disk_format, "image_name": name,
        "protected": protected, "visibility": visibility}}, 202)


def _chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _copy(s: Any, volume_id: str, image_id: str, path: str, disk_format: str,
          virtual_size: int) -> None:
    images = s.image_api()
    tmp = None
    try:
        source = path
        if disk_format != "raw":
            fd, tmp = tempfile.mkstemp(prefix="upload-", dir=str(s.runtime.state))
            os.close(fd)
            proc = subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", disk_format,
                                   path, tmp], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"qemu-img convert failed: {proc.stderr.strip()[:200]}")
            source = tmp
        images.upload_image(image_id, _chunks(source), virtual_size)
    except Exception:
        LOG.exception("volume %s: upload to image %s failed", volume_id, image_id)
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        s.db.write(tasks.end_upload, volume_id)
        s.task_done(volume_id)
