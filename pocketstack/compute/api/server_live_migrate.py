"""``os-migrateLive``: the live-migration server action (admin).

The body follows Nova's microversions: before 2.25 ``host``, ``block_migration`` (a boolean)
and ``disk_over_commit`` are all required; from 2.25 ``block_migration`` may be ``"auto"`` and
``disk_over_commit`` is gone; 2.30 adds ``force``, 2.68 removes it again. A ``host`` that was
given is checked here (400 when no such compute host); before 2.34 the checks Nova's conductor
made synchronously (the server's own host, a host whose service is down) are 400s too, from
2.34 they end the migration as ``error`` instead. A host given without ``force`` (2.30+) is
validated by the scheduler's filters; a forced one (``force: true``, or any host before 2.30)
is claimed directly.

What is written (one transaction): task ``migrating`` with its deadline, the request in the
instance's internal hints (:data:`~.states.LIVE_MIGRATION_HINT`), an instance action
``live-migration`` with its ``conductor_live_migrate_instance`` event, and the migration record
(type ``live-migration``). The conductor (:mod:`pocketstack.compute.conductor.live_migrate`)
does the rest. :func:`abort` answers ``DELETE /servers/{id}/migrations/{id}`` (2.24) and
:func:`force_complete` ``POST /servers/{id}/migrations/{id}/action`` (2.22).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.common.api.validation import validate
from pocketstack.compute.api.common import enforce, svc, version_at_least
from pocketstack.compute.api.servers import load
from pocketstack.compute.domain import (
    instance_actions,
    instances,
    migrations,
    nodes,
    services,
    states,
)
from pocketstack.compute.domain.common import utcnow

LOG = logging.getLogger(__name__)

ACTION = "live-migration"
ABORT_ACTION = "live_migration_abort"
FORCE_COMPLETE_ACTION = "live_migration_force_complete"
_FORCE_COMPLETE = {"type": "object", "properties": {"force_complete": {"type": "null"}},
                   "required": ["force_complete"], "additionalProperties": False}
RULE = "os_compute_api:os-migrate-server:migrate_live"

# Nova's parameter_types.boolean: a JSON boolean or one of these strings
_TRUE = ("True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes")
_FALSE = ("False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no")
_BOOLEAN = {"type": ["boolean", "string"], "enum": [True, False, *_TRUE, *_FALSE]}
_HOST = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
         "pattern": "^[a-zA-Z0-9-._]*$"}


def schema(req: ApiRequest) -> dict[str, Any]:
    """The body's schema at the request's microversion."""
    props: dict[str, Any] = {"host": _HOST}
    if version_at_least(req, "2.25"):
        props["block_migration"] = {"oneOf": [_BOOLEAN, {"type": "string", "enum": ["auto"]}]}
        required = ["block_migration", "host"]
    else:
        props["block_migration"] = _BOOLEAN
        props["disk_over_commit"] = _BOOLEAN
        required = ["block_migration", "disk_over_commit", "host"]
    if version_at_least(req, "2.30") and not version_at_least(req, "2.68"):
        props["force"] = _BOOLEAN
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}


def _bool(value: Any) -> bool:
    return value is True or value in _TRUE


def _check_host(req: ApiRequest, conn: Any, row: dict[str, Any], host: str) -> None:
    """400 for a host that is no compute host; before 2.34 also for the server's own host and
    a host whose compute service is down (later, the conductor's checks end the migration)."""
    if not nodes.list_(conn, host):
        raise exceptions.BadRequest(f"Compute host {host} could not be found.")
    if version_at_least(req, "2.34"):
        return
    if host == row["host"]:
        raise exceptions.BadRequest(f"Unable to migrate instance ({row['uuid']}) to current "
                                    f"host ({host}).")
    service = services.compute_service_of(conn, host)
    if service is None or not services.is_up(service, utcnow(),
                                             svc(req).settings.service_down_time):
        raise exceptions.BadRequest(f"Compute service of {host} is unavailable at this time.")


def migrate_live(req: ApiRequest, arg: Any) -> Response:
    data = validate(schema(req), arg)
    host = data.get("host")
    block = data["block_migration"]
    request = {
        "host": host,
        # before 2.30 a given host is always forced (no scheduler); 2.68 dropped force
        "force": bool(host) and (_bool(data.get("force", False))
                                 if version_at_least(req, "2.30") else True),
        "block_migration": None if block == "auto" else _bool(block),
        "async": version_at_least(req, "2.34"),
    }
    ctx = req.ctx
    service = svc(req)

    def write(conn: Any) -> dict[str, Any]:
        row = load(req, conn)
        enforce(req, RULE, {"project_id": row["project_id"]})
        if row["locked"] and ctx.is_admin:  # an admin's action passes the lock
            row = dict(row, locked=False)
        instances.check_task(row, "live_migrate")  # 409 first, as Nova's state check
        if host:
            _check_host(req, conn, row, host)
        hints = dict(row["scheduler_hints"])
        hints[states.LIVE_MIGRATION_HINT] = request
        updated = instances.start_task(conn, row, "live_migrate", service.settings.task_timeout,
                                       {"scheduler_hints": hints})
        record = instance_actions.start(conn, row["uuid"], ACTION, req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.event_start(conn, record, "conductor_live_migrate_instance", None)
        migrations.record(conn, row, record, ACTION, None, ctx.project_id or "",
                          ctx.user_id or "")
        return updated

    row = instances.write_checked(service.db, write)
    LOG.info("[instance: %s] %s: live migration accepted (host %s, %s)", row["uuid"],
             row["task_state"], host or "chosen by the scheduler", req.request_id)
    service.notify("conductor", {"op": "action", "uuid": row["uuid"]})
    return empty_response(202)


def abort(req: ApiRequest) -> Response:
    """``DELETE /servers/{id}/migrations/{id}`` (2.24): abort a live migration under way —
    ``running`` only before 2.65, ``queued`` and ``preparing`` too from 2.65. The conductor
    rolls it back (the source's driver stops a move in progress); the migration ends
    ``cancelled``."""
    if not version_at_least(req, "2.24"):
        raise exceptions.NotFound("The resource could not be found.")
    service = svc(req)
    migration_id = req.path_params["migration_id"]
    abortable = ("queued", "preparing", "running") if version_at_least(req, "2.65") \
        else ("running",)

    def write(conn: Any) -> dict[str, Any]:
        row = load(req, conn)
        enforce(req, "os_compute_api:servers:migrations:delete",
                {"project_id": row["project_id"]})
        found = [m for m in migrations.list_(conn, [row["uuid"]])
                 if str(m["id"]) == migration_id]
        if not found:
            raise exceptions.NotFound(f"Migration {migration_id} not found for instance "
                                      f"{row['uuid']}.")
        migration = found[0]
        if migration["migration_type"] != "live-migration" or \
                migration["status"] not in abortable:
            raise exceptions.BadRequest(
                f"Migration {migration_id} state of instance {row['uuid']} is "
                f"{migration['status']}. Cannot abort live migration while the migration is "
                "in this state.")
        if row["task_state"] != states.MIGRATING:
            raise exceptions.Conflict(f"Cannot 'abort live migration' instance {row['uuid']} "
                                      f"while it is in task_state {row['task_state']}")
        hints = dict(row["scheduler_hints"])
        request = dict(hints.get(states.LIVE_MIGRATION_HINT) or {})
        if request.get("abort"):
            return row  # asked already
        return _ask(req, conn, row, {**request, "abort": True}, ABORT_ACTION,
                    "compute_live_migration_abort")

    return _accepted(req, instances.write_checked(service.db, write), migration_id, "abort")


def _ask(req: ApiRequest, conn: Any, row: dict[str, Any], request: dict[str, Any],
         action: str, event: str) -> dict[str, Any]:
    """Record what is asked of the migration under way for the conductor (the instance's
    live-migration hint) with its instance action and the source host's event."""
    ctx = req.ctx
    hints = dict(row["scheduler_hints"])
    hints[states.LIVE_MIGRATION_HINT] = request
    updated = instances.update(conn, row, {"scheduler_hints": hints})
    record = instance_actions.start(conn, row["uuid"], action, req.request_id,
                                    ctx.project_id or "", ctx.user_id or "")
    instance_actions.event_start(conn, record, event, row["host"])
    return updated


def _accepted(req: ApiRequest, row: dict[str, Any], migration_id: str, what: str) -> Response:
    LOG.info("[instance: %s] live migration %s: %s accepted (%s)", row["uuid"], migration_id,
             what, req.request_id)
    svc(req).notify("conductor", {"op": "action", "uuid": row["uuid"]})
    return empty_response(202)


def force_complete(req: ApiRequest) -> Response:
    """``POST /servers/{id}/migrations/{id}/action`` with ``force_complete`` (2.22): a live
    migration that is ``running`` is finished by pausing the guest on the source, so its
    memory stops changing and the copy converges (the destination resumes it). Nova's order
    of checks: the server's state (409 unless ACTIVE and ``migrating``), then the migration
    (400 when it is not this server's or not ``running``)."""
    if not version_at_least(req, "2.22"):
        raise exceptions.NotFound("The resource could not be found.")
    data = req.json()
    if not isinstance(data, dict) or len(data) != 1:
        raise exceptions.BadRequest("There is either no action or more than one action in "
                                    "the request body.")
    if "force_complete" not in data:
        raise exceptions.BadRequest(f"There is no such action: {next(iter(data))}")
    validate(_FORCE_COMPLETE, data)
    service = svc(req)
    migration_id = req.path_params["migration_id"]

    def write(conn: Any) -> dict[str, Any]:
        row = load(req, conn)
        enforce(req, "os_compute_api:servers:migrations:force_complete",
                {"project_id": row["project_id"]})
        for attr, wanted in (("vm_state", states.ACTIVE), ("task_state", states.MIGRATING)):
            if row[attr] != wanted:
                raise exceptions.Conflict(f"Cannot 'force_complete' instance {row['uuid']} "
                                          f"while it is in {attr} {row[attr]}")
        found = [m for m in migrations.list_(conn, [row["uuid"]])
                 if str(m["id"]) == migration_id]
        if not found:
            raise exceptions.BadRequest(f"Migration {migration_id} not found for instance "
                                        f"{row['uuid']}")
        if found[0]["status"] != "running":
            raise exceptions.BadRequest(
                f"Migration {migration_id} state of instance {row['uuid']} is "
                f"{found[0]['status']}. Cannot force complete while the migration is in this "
                "state.")
        request = dict(row["scheduler_hints"].get(states.LIVE_MIGRATION_HINT) or {})
        return _ask(req, conn, row, {**request, "force_complete": True,
                                     "force_complete_sent": False}, FORCE_COMPLETE_ACTION,
                    "compute_live_migration_force_complete")

    return _accepted(req, instances.write_checked(service.db, write), migration_id,
                     "force complete")
