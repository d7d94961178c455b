"""``POST /v3/volumes/{id}/action``: one handler per action key (os-extend, os-reset_status,
os-force_delete, os-set_bootable, os-update_readonly_flag, os-retype,
os-volume_upload_image, os-reimage (3.68), and Nova's legacy os-reserve/os-unreserve/
os-begin_detaching/os-attach/os-detach/os-initialize_connection/os-terminate_connection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api import image_meta_actions
from pocketstack.volume.api.common import (
    ctx,
    svc,
    text,
    to_bool,
    to_int,
    uuid_text,
    version_at_least,
    volume_write,
)
from pocketstack.volume.domain import types, volumes
from pocketstack.volume.domain.common import deadline

VOLUME_STATUSES = {"available", "in-use", "error", "creating", "deleting", "error_deleting",
                   "attaching", "detaching", "extending", "error_extending", "maintenance",
                   "reserved", "downloading", "uploading", "retyping", "backing-up",
                   "restoring-backup", "error_restoring", "awaiting-transfer"}


def action(req: ApiRequest) -> Response:
    data = req.json()
    if not isinstance(data, dict) or len(data) != 1:
        raise errors.bad("There is no such action: the body must name exactly one action.")
    (name, arg), = data.items()
    handler = _ACTIONS.get(name)
    if handler is None:
        raise errors.bad(f"There is no such action: {name}")
    return handler(req, arg)


def _extend(req: ApiRequest, arg: Any) -> Response:
    if not isinstance(arg, dict):
        raise errors.bad("os-extend needs {'new_size': N}.")
    new_size = to_int(arg.get("new_size"), "new_size", 1)
    s = svc(req)
    in_use = version_at_least(req, "3.42")
    limits = s.quota_limits_of_volume(req.path_params["volume_id"])
    msg = volume_write(req, "volume:extend", lambda conn, row: volumes.begin_extend(
        conn, row, new_size, limits, deadline(s.options.volume_task_timeout),
        in_use))
    s.send(msg, req.request_id)
    return empty_response(202)


def _reset_status(req: ApiRequest, arg: Any) -> Response:
    if not isinstance(arg, dict) or not arg:
        raise errors.bad("os-reset_status needs a status.")
    values: dict[str, Any] = {}
    if "status" in arg:
        status = text(arg["status"], "status", 32, False)
        if status not in VOLUME_STATUSES:
            raise errors.bad(f"Invalid status: {status}")
        values.update(status=status, task=None, task_deadline=None)
    if "attach_status" in arg:
        if arg["attach_status"] not in ("attached", "detached"):
            raise errors.bad(f"Invalid attach_status: {arg['attach_status']}")
        values["attach_status"] = arg["attach_status"]
        if arg["attach_status"] == "detached":
            values["attachments"] = []
    if "migration_status" in arg:
        text(arg["migration_status"], "migration_status", 32)
    if not values and "migration_status" not in arg:
        raise errors.bad("Must specify 'status', 'attach_status' or 'migration_status' for "
                         "update.")
    if values:
        volume_write(req, "volume_extension:volume_admin_actions:reset_status",
               lambda conn, row: volumes.update(conn, row, values))
    return empty_response(202)


def _force_delete(req: ApiRequest, arg: Any) -> Response:
    s = svc(req)

    def begin(conn: Any, row: dict[str, Any]) -> list[dict[str, Any]]:
        if row["attachments"]:
            raise errors.InvalidState(f"Invalid volume: Volume {row['id']} is attached.")
        return volumes.begin_delete(conn, row, cascade=True, force=True,
                                    task_deadline=deadline(s.options.volume_task_timeout))

    s.send(volume_write(req, "volume_extension:volume_admin_actions:force_delete", begin))
    return empty_response(202)


def _set_bootable(req: ApiRequest, arg: Any) -> Response:
    if not isinstance(arg, dict) or "bootable" not in arg:
        raise errors.bad("Must specify bootable in request.")
    flag = to_bool(arg["bootable"], "bootable")
    volume_write(req, "volume_extension:volume_actions:set_bootable",
           lambda conn, row: volumes.update(conn, row, {"bootable": flag}))
    return empty_response(200)


def _readonly(req: ApiRequest, arg: Any) -> Response:
    if not isinstance(arg, dict) or "readonly" not in arg:
        raise errors.bad("Must specify readonly in request.")
    flag = to_bool(arg["readonly"], "readonly")

    def write(conn: Any, row: dict[str, Any]) -> Any:
        if row["status"] != "available":
            raise errors.InvalidState(f"Invalid volume: Volume {row['id']} status must be "
                                      f"available to update readonly flag, but current status "
                                      f"is: {row['status']}.")
        return volumes.update(conn, row, {"readonly": flag, "admin_metadata": {
            **row["admin_metadata"], "readonly": "True" if flag else "False"}})

    volume_write(req, "volume:update_readonly_flag", write)
    return empty_response(202)


def _retype(req: ApiRequest, arg: Any) -> Response:
    """Between types of the one file backend nothing moves: the type changes in place."""
    if not isinstance(arg, dict) or not isinstance(arg.get("new_type"), str):
        raise errors.bad("Must specify new_type in request.")
    policy = arg.get("migration_policy", "never")
    if policy not in (None, "never", "on-demand"):
        raise errors.bad(f"Invalid migration_policy: {policy}")
    c = ctx(req)

    def write(conn: Any, row: dict[str, Any]) -> Any:
        new = types.get(conn, arg["new_type"], c.project_id, c.is_admin)
        if row["status"] not in ("available", "in-use"):
            raise errors.InvalidState(f"Invalid volume: Volume {row['id']} status must be "
                                      f"available or in-use, not {row['status']}.")
        if new["id"] == row["volume_type_id"]:
            raise errors.bad("Retype requires a new volume type.")
        return volumes.update(conn, row, {"volume_type_id": new["id"]})

    volume_write(req, "volume:retype", write)
    return empty_response(202)


def _reimage(req: ApiRequest, arg: Any) -> Response:
    """3.68: the volume's content again from an image (see :mod:`..domain.reimage`)."""
    if not version_at_least(req, "3.68"):
        raise exceptions.NotFound("The resource could not be found.")
    if not isinstance(arg, dict):
        raise errors.bad("os-reimage must be an object.")
    extra = sorted(set(arg) - {"image_id", "reimage_reserved"})
    if extra:
        raise errors.bad(f"Additional properties are not allowed ({', '.join(extra)} "
                         "unexpected).")
    if "image_id" not in arg:
        raise errors.bad("'image_id' is a required property")
    image_id = uuid_text(arg["image_id"], "image_id")
    reserved = to_bool(arg.get("reimage_reserved", False), "reimage_reserved")
    from pocketstack.volume.public import reimage

    reimage(svc(req), ctx(req), req.path_params["volume_id"], image_id, reserved,
            req.request_id)
    return empty_response(202)


def _upload_image(req: ApiRequest, arg: Any) -> Response:
    from pocketstack.volume.api import upload

    return upload.upload_to_image(req, arg)


# Nova's legacy attach flow (before the attachments API)
def _reserve(req: ApiRequest, arg: Any) -> Response:
    volume_write(req, "volume:update", volumes.reserve)
    return empty_response(202)


def _unreserve(req: ApiRequest, arg: Any) -> Response:
    volume_write(req, "volume:update", volumes.unreserve)
    return empty_response(202)


def _begin_detaching(req: ApiRequest, arg: Any) -> Response:
    volume_write(req, "volume:update", volumes.begin_detaching)
    return empty_response(202)


def _roll_detaching(req: ApiRequest, arg: Any) -> Response:
    def write(conn: Any, row: dict[str, Any]) -> None:
        if row["status"] == "detaching":
            volumes.update(conn, row, {"status": "in-use"})

    volume_write(req, "volume:update", write)
    return empty_response(202)


def _attach(req: ApiRequest, arg: Any) -> Response:
    if not isinstance(arg, dict):
        raise errors.bad("os-attach needs an object.")
    server = text(arg.get("instance_uuid"), "instance_uuid", 36)
    host = text(arg.get("host_name"), "host_name")
    if not server and not host:
        raise errors.bad("Invalid request to attach volume to an invalid target")
    mountpoint = text(arg.get("mountpoint"), "mountpoint")
    volume_write(req, "volume:update", lambda conn, row: volumes.attach(
        conn, row, server or "", host, mountpoint))
    return empty_response(202)


def _detach(req: ApiRequest, arg: Any) -> Response:
    server = None
    if isinstance(arg, dict) and arg.get("attachment_id"):
        server = None
    volume_write(req, "volume:update", lambda conn, row: volumes.detach(conn, row, server))
    return empty_response(202)


def _force_detach(req: ApiRequest, arg: Any) -> Response:
    """Admin: drop an attachment (``attachment_id``; none named: all) whatever the volume's
    status; the volume is ``available`` when none is left."""
    if arg is not None and not isinstance(arg, dict):
        raise errors.bad("os-force_detach needs an object.")
    wanted = text((arg or {}).get("attachment_id"), "attachment_id", 36)

    def write(conn: Any, row: dict[str, Any]) -> Any:
        if wanted is None:
            return volumes.detach(conn, row, None)
        found = [a for a in row["attachments"]
                 if wanted in (a.get("attachment_id"), a.get("id"))]
        if not found:
            raise exceptions.NotFound(f"Volume attachment could not be found with filter: "
                                      f"attachment_id = {wanted}.")
        return volumes.detach(conn, row, found[0].get("server_id"))

    volume_write(req, "volume_extension:volume_admin_actions:force_detach", write)
    return empty_response(202)


def _initialize_connection(req: ApiRequest, arg: Any) -> Response:
    c = ctx(req)
    s = svc(req)
    row = s.db.read(volumes.get, req.path_params["volume_id"], c.project_id, c.is_admin)
    s.enforce(c, "volume:update", {"project_id": row["project_id"]})
    from pocketstack.volume.public import connection_info

    return json_response({"connection_info": connection_info(s, row)})


def _terminate_connection(req: ApiRequest, arg: Any) -> Response:
    load_only = ctx(req)
    svc(req).db.read(volumes.get, req.path_params["volume_id"], load_only.project_id,
                     load_only.is_admin)
    return empty_response(202)


_ACTIONS: dict[str, Callable[[ApiRequest, Any], Response]] = {
    "os-extend": _extend,
    "os-reset_status": _reset_status,
    "os-force_delete": _force_delete,
    "os-force_detach": _force_detach,
    "os-set_bootable": _set_bootable,
    "os-update_readonly_flag": _readonly,
    "os-set_image_metadata": image_meta_actions.set_image_metadata,
    "os-unset_image_metadata": image_meta_actions.unset_image_metadata,
    "os-show_image_metadata": image_meta_actions.show_image_metadata,
    "os-retype": _retype,
    "os-volume_upload_image": _upload_image,
    "os-reimage": _reimage,
    "os-reserve": _reserve,
    "os-unreserve": _unreserve,
    "os-begin_detaching": _begin_detaching,
    "os-roll_detaching": _roll_detaching,
    "os-attach": _attach,
    "os-detach": _detach,
    "os-initialize_connection": _initialize_connection,
    "os-terminate_connection": _terminate_connection,
}
