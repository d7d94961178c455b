"""``POST /servers/{id}/action``: one small function per action, dispatched by body key.

Hypervisor actions record intent (a task state with a deadline and an instance action) and hint
the conductor; bookkeeping actions (lock, unlock) are done here and now.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable
from typing import Any

import anyio.from_thread
from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.compute.api import (
    interfaces,
    rebuild_volume,
    remote_consoles,
    server_live_migrate,
    server_rescue,
    server_shelve,
    server_snapshot,
    server_views,
)
from pocketstack.compute.api.common import (
    allowed,
    enforce,
    server_owner_limits,
    svc,
    version_at_least,
)
from pocketstack.compute.api.servers import _ref, load, start_delete
from pocketstack.compute.domain import (
    flavors,
    instance_actions,
    instances,
    keypairs,
    migrations,
    quotas,
    server_groups,
    states,
)
from pocketstack.compute.schemas import servers as schemas

LOG = logging.getLogger(__name__)
Handler = Callable[[ApiRequest, Any], Response]


def _task(req: ApiRequest, action: str, rule: str, name: str,
          extra: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None,
          admin_may_override_lock: bool = True) -> dict[str, Any]:
    """Start ``action`` on the server (409 if its state forbids it) and hint the conductor."""
    ctx = req.ctx
    service = svc(req)

    def write(conn: Any) -> dict[str, Any]:
        row = load(req, conn)
        enforce(req, rule, {"project_id": row["project_id"]})
        if row["locked"] and ctx.is_admin and admin_may_override_lock:
            row = dict(row, locked=False)
        values = extra(conn, row) if extra else {}
        updated = instances.start_task(conn, row, action, service.settings.task_timeout,
                                       values)
        record = instance_actions.start(conn, row["uuid"], name, req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.event_start(conn, record, "compute_" + name.lower(), row["host"])
        if name in migrations.MOVES:
            migrations.record(conn, row, record, name,
                              (values.get("new_flavor") or {}).get("id"),
                              ctx.project_id or "", ctx.user_id or "")
        return updated

    row = instances.write_checked(service.db, write)
    LOG.info("[instance: %s] %s: %s accepted (%s)", row["uuid"], row["task_state"], name,
             req.request_id)
    service.notify("conductor", {"op": "action", "uuid": row["uuid"]})
    return row


# body key -> (action, policy rule, instance-action name, status): actions that take no
# arguments and only hand a task to the conductor
PLAIN: dict[str, tuple[str, str, str, int]] = {
    "os-stop": ("stop", "os_compute_api:servers:stop", "stop", 202),
    "os-start": ("start", "os_compute_api:servers:start", "start", 202),
    "pause": ("pause", "os_compute_api:os-pause-server:pause", "pause", 202),
    "unpause": ("unpause", "os_compute_api:os-pause-server:unpause", "unpause", 202),
    "suspend": ("suspend", "os_compute_api:os-suspend-server:suspend", "suspend", 202),
    "resume": ("resume", "os_compute_api:os-suspend-server:resume", "resume", 202),
    "confirmResize": ("confirm_resize", "os_compute_api:servers:confirm_resize",
                      "confirmResize", 204),
    "revertResize": ("revert_resize", "os_compute_api:servers:revert_resize", "revertResize",
                     202),
}


def plain(key: str) -> Handler:
    action, rule, name, status = PLAIN[key]

    def handler(req: ApiRequest, arg: Any) -> Response:
        _task(req, action, rule, name)
        return empty_response(status)

    return handler


def reboot(req: ApiRequest, arg: Any) -> Response:
    kind = validate(schemas.REBOOT, arg)["type"].upper()
    _task(req, "reboot_hard" if kind == "HARD" else "reboot_soft",
          "os_compute_api:servers:reboot", "reboot")
    return empty_response(202)


def _new_flavor(req: ApiRequest, flavor_id: str) -> Callable[[Any, dict[str, Any]],
                                                           dict[str, Any]]:
    unified = server_owner_limits(req)

    def extra(conn: Any, row: dict[str, Any]) -> dict[str, Any]:
        try:
            flavor = flavors.get(conn, flavor_id)
        except exceptions.NotFound:
            raise exceptions.BadRequest(f"Flavor {flavor_id} could not be found.") from None
        if not flavors.accessible(conn, flavor, req.ctx.project_id, req.ctx.is_admin):
            raise exceptions.BadRequest(f"Flavor {flavor_id} could not be found.")
        if flavor["flavorid"] == row["flavor"]["id"]:
            raise exceptions.BadRequest("When resizing, instances must change flavor!")
        if flavor["root_gb"] < row["flavor"]["disk"]:
            raise exceptions.BadRequest("Resize error: Unable to resize disk down.")
        # the bigger flavor must fit the project's cores/ram quota (403 otherwise)
        new = flavors.snapshot(flavor)
        bfv = not row.get("image_ref")
        quotas.enforce(conn, row["project_id"], row["user_id"], {
            "cores": flavor["vcpus"] - int(row["flavor"]["vcpus"]),
            "ram": flavor["memory_mb"] - int(row["flavor"]["ram"]),
            "disk": quotas.disk_gb(new, bfv) - quotas.disk_gb(row["flavor"], bfv)}, unified)
        hints = dict(row["scheduler_hints"])
        hints.pop("_migrate", None)
        return {"new_flavor": flavors.snapshot(flavor), "scheduler_hints": hints}
    return extra


def resize(req: ApiRequest, arg: Any) -> Response:
    data = validate(schemas.RESIZE, arg)
    new_flavor = _new_flavor(req, _ref(data["flavorRef"]))

    def extra(conn: Any, row: dict[str, Any]) -> dict[str, Any]:
        values = new_flavor(conn, row)
        if "OS-DCF:diskConfig" in data:  # as Nova: the resize sets the server's disk config
            values["disk_config"] = data["OS-DCF:diskConfig"]
        return values

    _task(req, "resize", "os_compute_api:servers:resize", "resize", extra)
    return empty_response(202)


def migrate(req: ApiRequest, arg: Any) -> Response:
    data = validate(schemas.MIGRATE, arg) or {}
    host = data.get("host")

    def extra(conn: Any, row: dict[str, Any]) -> dict[str, Any]:
        hints = dict(row["scheduler_hints"])
        hints["_migrate"] = True
        if host:
            hints["_force_host"] = host
        return {"new_flavor": None, "scheduler_hints": hints}

    _task(req, "migrate", "os_compute_api:os-migrate-server:migrate", "migrate", extra)
    return empty_response(202)


def rebuild(req: ApiRequest, arg: Any) -> Response:
    data = validate(schemas.REBUILD, arg)
    ctx = req.ctx
    image_id = _ref(data["imageRef"])
    try:
        image = svc(req).images.get_image_for_boot(ctx, image_id)
    except exceptions.NotFound:
        raise exceptions.BadRequest(f"Image {image_id} could not be found.") from None
    reimage = rebuild_volume.plan(req, image)  # volume-backed: Nova's checks (2.93 re-images)

    def extra(conn: Any, row: dict[str, Any]) -> dict[str, Any]:
        volume_backed = rebuild_volume.root_volume_id(row) is not None
        if not volume_backed and row["flavor"]["disk"] and \
                image.min_root_gb > row["flavor"]["disk"]:
            raise exceptions.BadRequest("Flavor's disk is too small for requested image.")
        # a volume-backed server keeps its empty image (Nova's sign of one)
        values: dict[str, Any] = {} if volume_backed else {"image_ref": image.id}
        hints = {k: v for k, v in (row["scheduler_hints"] or {}).items()
                 if k != rebuild_volume.REIMAGE_HINT}
        if reimage is not None:
            hints[rebuild_volume.REIMAGE_HINT] = reimage
        if "OS-DCF:diskConfig" in data:
            values["disk_config"] = data["OS-DCF:diskConfig"]
        if "name" in data:
            values["display_name"] = data["name"]
        if "metadata" in data:
            values["metadata"] = data["metadata"]
        if "description" in data and version_at_least(req, "2.19"):
            values["description"] = data["description"]
        if "key_name" in data and version_at_least(req, "2.54"):
            values["key_name"], values["key_data"] = None, None
            if data["key_name"] is not None:
                try:
                    key = keypairs.get(conn, ctx.user_id or "", data["key_name"])
                except exceptions.NotFound:
                    raise exceptions.BadRequest("Invalid key_name provided.") from None
                values["key_name"], values["key_data"] = data["key_name"], key["public_key"]
        if row["vm_state"] == states.STOPPED:  # a stopped server is rebuilt stopped
            hints["_old_vm_state"] = states.STOPPED
        if hints != (row["scheduler_hints"] or {}):
            values["scheduler_hints"] = hints
        return values

    row = _task(req, "rebuild", "os_compute_api:servers:rebuild", "rebuild", extra)
    group = svc(req).db.read(server_groups.group_of, row["uuid"])
    view = server_views.detail(req, row, ctx.is_admin, group=group, view="rebuild")
    view["adminPass"] = data.get("adminPass") or secrets.token_urlsafe(9)
    if version_at_least(req, "2.54"):
        view["key_name"] = row["key_name"]
    if version_at_least(req, "2.57"):
        view["user_data"] = row["user_data"]
    return json_response({"server": view}, status=202)


def lock(req: ApiRequest, arg: Any) -> Response:
    data = validate(schemas.LOCK, arg) or {}
    if "locked_reason" in data and not version_at_least(req, "2.73"):
        raise exceptions.ValidationError("locked_reason is not allowed before 2.73")
    ctx = req.ctx

    def write(conn: Any) -> None:
        row = load(req, conn)
        enforce(req, "os_compute_api:os-lock-server:lock", {"project_id": row["project_id"]})
        instances.update(conn, row, {
            "locked": True, "locked_by": "admin" if ctx.is_admin else "owner",
            "locked_reason": data.get("locked_reason")})
        record = instance_actions.start(conn, row["uuid"], "lock", req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.finish(conn, record)

    instances.write_checked(svc(req).db, write)
    return empty_response(202)


def unlock(req: ApiRequest, arg: Any) -> Response:
    ctx = req.ctx

    def write(conn: Any) -> None:
        row = load(req, conn)
        enforce(req, "os_compute_api:os-lock-server:unlock", {"project_id": row["project_id"]})
        if row["locked_by"] == "admin" and not ctx.is_admin and not allowed(
                req, "os_compute_api:os-lock-server:unlock:unlock_override"):
            raise exceptions.Forbidden("Policy doesn't allow os_compute_api:os-lock-server:"
                                       "unlock:unlock_override to be performed.")
        instances.update(conn, row, {"locked": False, "locked_by": None,
                                     "locked_reason": None})
        record = instance_actions.start(conn, row["uuid"], "unlock", req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.finish(conn, record)

    instances.write_checked(svc(req).db, write)
    return empty_response(202)


def console_output(req: ApiRequest, arg: Any) -> Response:
    """Asked of the conductor, which checks the instance and asks its host (a bus call)."""
    data = validate(schemas.CONSOLE_OUTPUT, arg) or {}
    service = svc(req)
    row = service.db.read(lambda conn: load(req, conn))
    enforce(req, "os_compute_api:os-console-output", {"project_id": row["project_id"]})
    length = data.get("length")
    try:
        length = None if length in (None, "") else int(length)
    except (TypeError, ValueError):
        raise exceptions.ValidationError("Invalid input for field/attribute length.") from None
    if length is not None and length < -1:
        raise exceptions.ValidationError("length must be -1 or more")
    if service.bus_call is None:
        raise exceptions.ServiceUnavailable("The console is not reachable right now.")
    try:
        reply = anyio.from_thread.run(service.bus_call, "conductor",
                                      {"op": "console_output", "uuid": row["uuid"]}, 15.0)
    except Exception:
        raise exceptions.Conflict("The guest's console is not available.") from None
    reply = reply if isinstance(reply, dict) else {}
    if "error" in reply:
        error = reply["error"]
        if error.get("code") == 404:
            raise exceptions.NotFound(str(error.get("message")))
        raise exceptions.Conflict(str(error.get("message")))
    output = str(reply.get("output", ""))
    if length is not None and length >= 0:  # as Nova: the last `length` '\n'-separated parts
        output = "\n".join(output.split("\n")[-length:]) if length else ""
    return json_response({"output": output})


def force_delete(req: ApiRequest, arg: Any) -> Response:
    """Delete now, whatever the state (a soft-deleted server is not waited for)."""
    start_delete(req, "os_compute_api:os-deferred-delete:force")
    return empty_response(202)


def restore(req: ApiRequest, arg: Any) -> Response:
    """Bring a SOFT_DELETED server back (its guest is powered on again). ``deleted_at`` is
    cleared when the restore succeeds: a restore that fails leaves the reclaim on time."""
    _task(req, "restore", "os_compute_api:os-deferred-delete:restore", "restore")
    return empty_response(202)


CHANGE_PASSWORD = {"type": "object", "properties": {"adminPass": {"type": "string"}},
                   "required": ["adminPass"], "additionalProperties": False}


def change_password(req: ApiRequest, arg: Any) -> Response:
    """Nova's changePassword: the host's driver sets the guest's password (a call, so a
    refusal is the caller's 409); the password itself is never stored."""
    data = validate(CHANGE_PASSWORD, arg)
    service = svc(req)
    row = service.db.read(lambda conn: load(req, conn))
    enforce(req, "os_compute_api:os-admin-password", {"project_id": row["project_id"]})
    if row["vm_state"] != states.ACTIVE or row["task_state"] is not None or not row["host"]:
        raise exceptions.Conflict(f"Cannot 'changePassword' instance {row['uuid']} while it "
                                  f"is in vm_state {row['vm_state']}")
    if service.bus_call is None:
        raise exceptions.ServiceUnavailable("The compute host is not reachable right now.")
    try:
        reply = anyio.from_thread.run(service.bus_call, f"compute.{row['host']}", {
            "op": "set_admin_password", "uuid": row["uuid"], "password": data["adminPass"]},
            30.0)
    except Exception:
        reply = {"error": "the compute host did not answer"}
    if not isinstance(reply, dict) or reply.get("error"):
        reason = reply.get("error") if isinstance(reply, dict) else "no answer"
        raise exceptions.Conflict(f"Failed to set admin password on {row['uuid']} because "
                                  f"{reason}")
    return empty_response(202)


RESET_STATE = {"type": "object", "properties": {
    "state": {"type": "string", "enum": ["active", "error"]}},
    "required": ["state"], "additionalProperties": False}


def reset_state(req: ApiRequest, arg: Any) -> Response:
    """Admin: force vm_state active or error and drop any task (Nova's os-resetState)."""
    state = validate(RESET_STATE, arg)["state"]
    ctx = req.ctx

    def write(conn: Any) -> None:
        row = load(req, conn)
        enforce(req, "os_compute_api:os-admin-actions:reset_state",
                {"project_id": row["project_id"]})
        instances.update(conn, row, {
            "vm_state": states.ACTIVE if state == "active" else states.ERROR,
            "task_state": None, "task_deadline": None})
        record = instance_actions.start(conn, row["uuid"], "resetState", req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.finish(conn, record)

    instances.write_checked(svc(req).db, write)
    return empty_response(202)


SECURITY_GROUP = {"type": "object", "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["name"], "additionalProperties": False}


def _security_group(add: bool) -> Handler:
    """Nova's addSecurityGroup/removeSecurityGroup: the group goes on (off) every port of the
    server through networking, and the server's list of group names follows."""

    def handler(req: ApiRequest, arg: Any) -> Response:
        data = validate(SECURITY_GROUP, arg)
        service = svc(req)
        row = service.db.read(lambda conn: load(req, conn))
        enforce(req, "os_compute_api:os-security-groups:" + ("add" if add else "remove"),
                {"project_id": row["project_id"]})
        network = service.network
        if network is None:
            raise exceptions.NotImplementedYet("Network driver does not support this "
                                               "function.")
        ctx = dataclasses.replace(req.ctx, project_id=row["project_id"])
        name = network.set_instance_security_group(ctx, row["uuid"], data["name"], add)

        def write(conn: Any) -> None:
            current = load(req, conn, row["uuid"])
            names = [n for n in current["security_groups"] or [] if n != name]
            instances.update(conn, current, {"security_groups": names + [name] if add
                                             else names})

        instances.write_checked(service.db, write)
        return empty_response(202)

    return handler


FLOATING_IP = {"type": "object", "properties": {
    "address": {"type": "string", "minLength": 1},
    "fixed_address": {"type": "string"}},
    "required": ["address"], "additionalProperties": False}


def _floating_ip(add: bool) -> Handler:
    """Nova's addFloatingIp/removeFloatingIp (gone from 2.44 on) through networking."""
    action = "addFloatingIp" if add else "removeFloatingIp"

    def handler(req: ApiRequest, arg: Any) -> Response:
        if version_at_least(req, "2.44"):
            raise exceptions.BadRequest(f"There is no such action: {action}")
        data = validate(FLOATING_IP, arg)
        service = svc(req)
        row = service.db.read(lambda conn: load(req, conn))
        enforce(req, "os_compute_api:os-floating-ips:" + ("add" if add else "remove"),
                {"project_id": row["project_id"]})
        network = service.network
        if network is None:
            raise exceptions.NotImplementedYet("Network driver does not support this "
                                               "function.")
        ctx = dataclasses.replace(req.ctx, project_id=row["project_id"])
        try:
            network.associate_floating_ip(ctx, row["uuid"], data["address"],
                                          data.get("fixed_address"), add)
        except exceptions.NotFound:
            raise exceptions.NotFound(f"floating IP not found for address "
                                      f"{data['address']}.") from None
        except exceptions.Conflict as exc:
            if add:  # Nova: networking's conflict is FloatingIpAssociateFailed, a 400
                raise exceptions.BadRequest(str(exc)) from None
            raise exceptions.Conflict(str(exc)) from None
        except exceptions.BadRequest as exc:
            raise exceptions.BadRequest(str(exc)) from None
        return empty_response(202)

    return handler


ACTIONS: dict[str, Handler] = {
    **{key: plain(key) for key in PLAIN},
    "reboot": reboot, "resize": resize, "migrate": migrate, "rebuild": rebuild,
    "os-migrateLive": server_live_migrate.migrate_live,
    "shelve": server_shelve.shelve, "unshelve": server_shelve.unshelve,
    "shelveOffload": server_shelve.shelve_offload, "lock": lock,
    "unlock": unlock, "os-getConsoleOutput": console_output, "forceDelete": force_delete,
    "restore": restore,
    "changePassword": change_password, "os-resetState": reset_state,
    "createImage": server_snapshot.create_image,
    "createBackup": server_snapshot.create_backup, "rescue": server_rescue.rescue,
    "unrescue": server_rescue.unrescue,
    "addSecurityGroup": _security_group(True), "removeSecurityGroup": _security_group(False),
    "addFloatingIp": _floating_ip(True), "removeFloatingIp": _floating_ip(False),
    "injectNetworkInfo": interfaces.inject_network_info,
    "os-getSerialConsole": remote_consoles.get_serial_console,
    "os-getVNCConsole": remote_consoles.get_vnc_console,
    "os-getSPICEConsole": remote_consoles.get_spice_console,
}


def server_action(req: ApiRequest) -> Response:
    data = req.json()
    if not isinstance(data, dict) or len(data) != 1:
        raise exceptions.BadRequest("There is either no action or more than one action in "
                                    "the request body.")
    (name, arg), = data.items()
    handler = ACTIONS.get(name)
    if handler is None:
        raise exceptions.BadRequest(f"There is no such action: {name}")
    return handler(req, arg)
