"""Everything after the build: host reports, deletes, power actions, resize and migrate, and
what the reconciler does with a task that has passed its deadline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from pocketstack.common import exceptions
from pocketstack.compute import tables as t
from pocketstack.compute.conductor import build
from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.domain import instance_actions, instances, nodes, states
from pocketstack.compute.domain.common import isotime, utcnow
from pocketstack.compute.scheduler.model import NoValidHost

if TYPE_CHECKING:
    import datetime as dt

    from pocketstack.compute.conductor.conductor import Conductor, Outbox

MAX_TASK_RETRIES = 3
OLD_VM_STATE = "_old_vm_state"  # internal scheduler hint: vm_state before a resize/migrate

# task_state -> the hypervisor operation that carries it out
TASK_OPS = {
    states.POWERING_OFF: "stop", states.POWERING_ON: "start",
    states.REBOOTING: "reboot_soft", states.REBOOTING_HARD: "reboot_hard",
    states.PAUSING: "pause", states.UNPAUSING: "unpause", states.SUSPENDING: "suspend",
    states.RESUMING: "resume", states.RESCUING: "rescue", states.UNRESCUING: "unrescue",
    states.REBUILDING: "rebuild",
}
# instance action names as Nova lists them in os-instance-actions
ACTION_NAMES = {
    "stop": "stop", "start": "start", "reboot_soft": "reboot", "reboot_hard": "reboot",
    "pause": "pause", "unpause": "unpause", "suspend": "suspend", "resume": "resume",
    "rescue": "rescue", "unrescue": "unrescue", "resize": "resize", "migrate": "migrate",
    "confirm_resize": "confirmResize", "revert_resize": "revertResize",
    "rebuild": "rebuild", "shelve": "shelve", "unshelve": "unshelve",
}


def _finish_action(conn: Any, uuid: str, action: str, ok: bool, host: str | None,
                   message: str | None = None) -> None:
    name = ACTION_NAMES.get(action, action)
    record = instance_actions.latest(conn, uuid, name)
    if record is None:
        return
    event = "compute_" + name.lower()
    instance_actions.event_finish(conn, record["id"], event, "Success" if ok else "Error",
                                  None if ok else message)
    instance_actions.finish(conn, record["id"], None if ok else "Error")


def _pending_op(row: dict[str, Any]) -> str | None:
    task = row["task_state"]
    if task in TASK_OPS:
        return "rebuild" if task == states.REBUILDING else TASK_OPS[task]
    return None


# -- reports from hosts ---------------------------------------------------------------------
def on_report(conductor: Conductor, msg: dict[str, Any]) -> Outbox:
    action = msg.get("action")
    uuid = msg.get("uuid") or ""
    if msg.get("purpose") == "cleanup":
        return []  # removal of a guest left on a former host: nothing to record
    try:
        row = conductor.db.read(instances.get, uuid)
    except exceptions.NotFound:
        return []
    ok = msg.get("result") == "ok"
    if action == "spawn":
        return _spawned(conductor, row, msg, ok)
    if action == "destroy":
        if row["task_state"] == states.DELETING and ok:
            finalize(conductor, row)
        return []
    if action == "resize":
        return _resized_in_place(conductor, row, msg, ok)
    expected = _pending_op(row)
    if expected is None or (action != expected and not (
            expected == "rebuild" and action == "reboot_hard")):
        return []  # stale: the instance has moved on
    return _power_result(conductor, row, expected, msg, ok)


def _spawned(conductor: Conductor, row: dict[str, Any], msg: dict[str, Any],
             ok: bool) -> Outbox:
    if row["task_state"] == states.RESIZE_FINISH:
        return _moved(conductor, row, msg, ok)
    if row["host"] != msg.get("host"):
        return []
    if row["task_state"] == states.SPAWNING:
        if ok:
            def run(conn: Any) -> None:
                current = instances.get(conn, row["uuid"])
                instances.update(conn, current, {
                    "vm_state": states.ACTIVE, "task_state": None, "task_deadline": None,
                    "power_state": msg.get("power_state") or 1, "launched_at": utcnow(),
                    "fault": None})
                record = instance_actions.latest(conn, row["uuid"], "create")
                if record is not None:
                    instance_actions.event_finish(conn, record["id"],
                                                  "compute__do_build_and_run_instance",
                                                  "Success")
                    instance_actions.finish(conn, record["id"])
            conductor.db.write(run)
            return []
        return _reschedule(conductor, row, msg.get("message") or "spawn failed")
    if row["task_state"] == states.UNSHELVING:
        if ok:
            conductor.db.write(lambda conn: _set(conn, row, {
                "vm_state": states.ACTIVE, "task_state": None, "task_deadline": None,
                "power_state": msg.get("power_state") or 1}, "unshelve", True))
        else:
            conductor.placement.delete_allocations(row["uuid"])
            conductor.db.write(lambda conn: _set(conn, row, {
                "vm_state": states.SHELVED_OFFLOADED, "task_state": None,
                "task_deadline": None, "host": None, "node": None}, "unshelve", False,
                msg.get("message")))
    return []


def _set(conn: Any, row: dict[str, Any], values: dict[str, Any], action: str, ok: bool,
         message: str | None = None) -> None:
    current = instances.get(conn, row["uuid"])
    instances.update(conn, current, values)
    _finish_action(conn, row["uuid"], action, ok, current["host"], message)


def _reschedule(conductor: Conductor, row: dict[str, Any], reason: str) -> Outbox:
    conductor.placement.delete_allocations(row["uuid"])
    host = row["host"]

    def note_failure(conn: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Record why ``host`` failed on its attempt; back to scheduling if attempts remain."""
        current = instances.get(conn, row["uuid"])
        if current["task_state"] != states.SPAWNING:
            raise exceptions.ConcurrentUpdate("instance moved on")
        records = instances.scheduling_records(conn, row["uuid"])
        last = [r for r in records if r["chosen_host"] == host]
        if last:
            last[-1]["record"] = dict(last[-1]["record"], failure=reason)
            conn.execute(sa.update(t.scheduling_records)
                         .where(t.scheduling_records.c.id == last[-1]["id"])
                         .values(record=last[-1]["record"]))
        if len(records) < conductor.settings.scheduler_max_attempts:
            current = instances.update(conn, current, {
                "host": None, "node": None, "task_state": states.SCHEDULING,
                "task_deadline": conductor.deadline(build_task=True)})
        return current, records

    try:
        current, records = conductor.db.write(note_failure)
    except exceptions.ConcurrentUpdate:
        return []
    if current["task_state"] == states.SCHEDULING:
        return [("conductor", {"op": "build", "uuid": row["uuid"]})]
    failures = [f"{r['chosen_host']}: {r['record'].get('failure', reason)}"
                for r in records if r["chosen_host"]]
    message = ("Build of instance failed on every host tried "
               f"({len(records)} attempt{'s' if len(records) > 1 else ''}).\n"
               + "\n".join(failures))
    build.fail(conductor, current, message,
               f"Build failed on {len(records)} host(s); an administrator can see why.")
    return []


def _power_result(conductor: Conductor, row: dict[str, Any], action: str,
                  msg: dict[str, Any], ok: bool) -> Outbox:
    out: Outbox = []
    if ok:
        vm_state, power = states.RESULTS.get(action, (states.ACTIVE, 1))
        if action == "rebuild":
            vm_state, power = states.ACTIVE, 1
        values = {"vm_state": vm_state, "task_state": None, "task_deadline": None,
                  "power_state": msg.get("power_state") or power}
        if action == "rebuild":
            settled, out = _settled(row)  # a stopped server is rebuilt stopped
            values.update(settled)
    else:
        values = {"task_state": None, "task_deadline": None}
    conductor.db.write(lambda conn: _set(conn, row, values, action, ok, msg.get("message")))
    return out


# -- delete ---------------------------------------------------------------------------------
def delete(conductor: Conductor, uuid: str) -> Outbox:
    try:
        row = conductor.db.read(instances.get, uuid)
    except exceptions.NotFound:
        return []
    if row["task_state"] != states.DELETING:
        return []
    if not row["host"] or row["vm_state"] == states.SHELVED_OFFLOADED:
        finalize(conductor, row)
        return []
    if not conductor.host_is_up(row["host"]):
        finalize(conductor, row)  # the host is gone: delete locally, as Nova does
        return []
    out: Outbox = [(f"compute.{row['host']}", {"op": "destroy", "uuid": uuid})]
    if row["migration_source"] and row["migration_source"] != row["host"]:
        out.append((f"compute.{row['migration_source']}",
                    {"op": "destroy", "uuid": uuid, "purpose": "cleanup"}))
    return out


def finalize(conductor: Conductor, row: dict[str, Any]) -> None:
    conductor.placement.delete_allocations(row["uuid"])

    def run(conn: Any) -> None:
        current = instances.get(conn, row["uuid"])
        instances.finalize_delete(conn, current)
        record = instance_actions.latest(conn, row["uuid"], "delete")
        if record is not None:
            instance_actions.event_finish(conn, record["id"], "compute_terminate_instance",
                                          "Success")
            instance_actions.finish(conn, record["id"])

    try:
        conductor.db.write(run)
    except exceptions.NotFound:
        pass


# -- actions --------------------------------------------------------------------------------
def action(conductor: Conductor, uuid: str) -> Outbox:
    try:
        row = conductor.db.read(instances.get, uuid)
    except exceptions.NotFound:
        return []
    task = row["task_state"]
    if task in TASK_OPS and row["host"]:
        return [(f"compute.{row['host']}", spawn.task_message(conductor, row,
                                                               TASK_OPS[task]))]
    if task == states.RESIZE_PREP:
        return _move(conductor, row)
    if task == states.RESIZE_CONFIRMING:
        return _confirm(conductor, row)
    if task == states.RESIZE_REVERTING:
        return _revert(conductor, row)
    if task == states.SHELVING:
        return _shelve(conductor, row)
    if task == states.UNSHELVING:
        return _unshelve(conductor, row)
    return []


def _move(conductor: Conductor, row: dict[str, Any]) -> Outbox:
    """Resize (new flavor) or cold-migrate (same flavor, another host)."""
    migrate = bool(row["scheduler_hints"].get("_migrate"))
    new_flavor = row["new_flavor"] or row["flavor"]
    ignore = {row["host"]} if migrate else set()
    spec = build.request_spec(conductor, row, new_flavor, ignore)
    name = "migrate" if migrate else "resize"
    try:
        chosen, verdicts, seconds = conductor.scheduler.schedule(spec)
    except NoValidHost as exc:  # the instance stays where it is, as it was
        fault = {"code": 500, "message": exc.message, "summary": exc.summary,
                 "created": isotime(utcnow())}
        message = exc.message
        conductor.db.write(lambda conn: _set(conn, row, {
            "task_state": None, "task_deadline": None, "new_flavor": None, "fault": fault},
            name, False, message))
        return []

    def commit(conn: Any) -> dict[str, Any]:
        current = instances.get(conn, row["uuid"])
        attempt = len(instances.scheduling_records(conn, row["uuid"])) + 1
        instances.record_scheduling(conn, row["uuid"], attempt, chosen.host,
                                    build.record_of(verdicts, chosen.host, seconds, spec))
        hints = dict(current["scheduler_hints"])
        hints[OLD_VM_STATE] = current["vm_state"]  # a stopped server stays stopped
        return instances.update(conn, current, {
            "task_state": states.RESIZE_FINISH, "migration_source": row["host"],
            "task_deadline": conductor.deadline(), "scheduler_hints": hints})

    row = conductor.db.write(commit)
    spec_msg = spawn.spawn_spec(conductor, row, new_flavor)
    if chosen.host == row["host"]:
        return [(f"compute.{chosen.host}", {"op": "resize", "uuid": row["uuid"],
                                             "spec": spec_msg})]
    return [(f"compute.{chosen.host}", {"op": "spawn", "uuid": row["uuid"], "spec": spec_msg,
                                         "purpose": "migrate"})]


def _settled(row: dict[str, Any]) -> tuple[dict[str, Any], Outbox]:
    """State after a confirm or revert: as before the resize (stopped stays stopped, and the
    guest is powered off again)."""
    hints = dict(row["scheduler_hints"])
    old = hints.pop(OLD_VM_STATE, states.ACTIVE)
    if old == states.STOPPED:
        return ({"vm_state": states.STOPPED, "power_state": 4, "scheduler_hints": hints},
                [(f"compute.{row['host']}", {"op": "stop", "uuid": row["uuid"],
                                             "purpose": "settle"})])
    return {"vm_state": states.ACTIVE, "scheduler_hints": hints}, []


def _resized_in_place(conductor: Conductor, row: dict[str, Any], msg: dict[str, Any],
                      ok: bool) -> Outbox:
    if row["task_state"] == states.RESIZE_REVERTING:
        values, out = _settled(row)
        conductor.db.write(lambda conn: _set(conn, row, {
            **values, "task_state": None, "task_deadline": None,
            "flavor": row["old_flavor"] or row["flavor"], "old_flavor": None,
            "migration_source": None}, "revert_resize", ok, msg.get("message")))
        return out
    return _moved(conductor, row, msg, ok)


def _moved(conductor: Conductor, row: dict[str, Any], msg: dict[str, Any], ok: bool) -> Outbox:
    name = "migrate" if row["scheduler_hints"].get("_migrate") else "resize"
    if row["task_state"] != states.RESIZE_FINISH:
        return []
    if not ok:
        # give the source back its allocation
        conductor.placement.claim(row["uuid"], {_node_uuid(conductor, row["host"]): _res(
            row["flavor"])}, row["project_id"], row["user_id"])
        conductor.db.write(lambda conn: _set(conn, row, {
            "task_state": None, "task_deadline": None, "new_flavor": None,
            "migration_source": None}, name, False, msg.get("message")))
        return []
    conductor.db.write(lambda conn: _set(conn, row, {
        "vm_state": states.RESIZED, "task_state": None, "task_deadline": None,
        "host": msg["host"], "node": _node_name(conductor, msg["host"]),
        "old_flavor": row["flavor"], "flavor": row["new_flavor"] or row["flavor"],
        "new_flavor": None, "power_state": msg.get("power_state") or 1}, name, True))
    return []


def _confirm(conductor: Conductor, row: dict[str, Any]) -> Outbox:
    source = row["migration_source"]
    values, out = _settled(row)
    conductor.db.write(lambda conn: _set(conn, row, {
        **values, "task_state": None, "task_deadline": None,
        "old_flavor": None, "migration_source": None}, "confirm_resize", True))
    if source and source != row["host"]:
        out.append((f"compute.{source}", {"op": "destroy", "uuid": row["uuid"],
                                          "purpose": "cleanup"}))
    return out


def _revert(conductor: Conductor, row: dict[str, Any]) -> Outbox:
    source = row["migration_source"] or row["host"]
    old = row["old_flavor"] or row["flavor"]
    conductor.placement.claim(row["uuid"], {_node_uuid(conductor, source): _res(old)},
                              row["project_id"], row["user_id"])
    if source == row["host"]:
        return [(f"compute.{source}", {"op": "resize", "uuid": row["uuid"],
                                        "spec": spawn.spawn_spec(conductor, row, old)})]
    target = row["host"]
    values, out = _settled(dict(row, host=source))
    conductor.db.write(lambda conn: _set(conn, row, {
        **values, "task_state": None, "task_deadline": None,
        "host": source, "node": _node_name(conductor, source), "flavor": old,
        "old_flavor": None, "migration_source": None}, "revert_resize", True))
    return [*out, (f"compute.{target}", {"op": "destroy", "uuid": row["uuid"],
                                          "purpose": "cleanup"})]


def _shelve(conductor: Conductor, row: dict[str, Any]) -> Outbox:
    """Shelve and offload at once (Nova's default shelved_offload_time = 0)."""
    host = row["host"]
    conductor.placement.delete_allocations(row["uuid"])
    conductor.db.write(lambda conn: _set(conn, row, {
        "vm_state": states.SHELVED_OFFLOADED, "task_state": None, "task_deadline": None,
        "host": None, "node": None, "power_state": 4}, "shelve", True))
    if host:
        return [(f"compute.{host}", {"op": "destroy", "uuid": row["uuid"], "purpose": "cleanup"})]
    return []


def _unshelve(conductor: Conductor, row: dict[str, Any]) -> Outbox:
    spec = build.request_spec(conductor, row, row["flavor"], set())
    try:
        chosen, verdicts, seconds = conductor.scheduler.schedule(spec)
    except NoValidHost as exc:
        message = exc.message
        conductor.db.write(lambda conn: _set(conn, row, {
            "task_state": None, "task_deadline": None}, "unshelve", False, message))
        return []
    row = conductor.db.write(lambda conn: instances.update(conn, instances.get(
        conn, row["uuid"]), {"host": chosen.host, "node": chosen.hypervisor_hostname,
                            "task_deadline": conductor.deadline(build_task=True)}))
    spec_msg = spawn.spawn_spec(conductor, row, row["flavor"])
    return [(f"compute.{chosen.host}", {"op": "spawn", "uuid": row["uuid"], "spec": spec_msg})]


def _res(flavor: dict[str, Any]) -> dict[str, int]:
    wanted = {"VCPU": int(flavor["vcpus"]), "MEMORY_MB": int(flavor["ram"]),
              "DISK_GB": int(flavor["disk"])}
    return {k: v for k, v in wanted.items() if v > 0}


def _node(conductor: Conductor, host: str) -> dict[str, Any]:
    found = conductor.db.read(nodes.list_, host)
    if not found:
        raise exceptions.NotFound(f"No compute node on host {host}.")
    return found[0]


def _node_uuid(conductor: Conductor, host: str) -> str:
    return str(_node(conductor, host)["uuid"])


def _node_name(conductor: Conductor, host: str) -> str:
    return str(_node(conductor, host)["hypervisor_hostname"])


# -- deadlines and restarts -----------------------------------------------------------------
def resume(conductor: Conductor, row: dict[str, Any]) -> Outbox:
    task = row["task_state"]
    if task == states.SCHEDULING:
        return [("conductor", {"op": "build", "uuid": row["uuid"]})]
    if task == states.DELETING:
        return delete(conductor, row["uuid"])
    if task == states.SPAWNING and row["host"]:
        spec_msg = spawn.spawn_spec(conductor, row, row["flavor"])
        return [(f"compute.{row['host']}", {"op": "spawn", "uuid": row["uuid"],
                                             "spec": spec_msg})]
    return action(conductor, row["uuid"])


def overdue(conductor: Conductor, row: dict[str, Any], now: dt.datetime) -> Outbox:
    """A task passed its deadline: try again, or give up cleanly — never stay stuck."""
    attempts = row["task_attempts"] + 1
    task = row["task_state"]
    if attempts > MAX_TASK_RETRIES or task is None:
        return _give_up(conductor, row)
    conductor.db.write(lambda conn: instances.update(conn, instances.get(conn, row["uuid"]), {
        "task_attempts": attempts,
        "task_deadline": conductor.deadline(build_task=task in (states.SCHEDULING,
                                                                states.SPAWNING))}))
    return resume(conductor, row)


def _give_up(conductor: Conductor, row: dict[str, Any]) -> Outbox:
    task = row["task_state"]
    if task == states.DELETING:
        finalize(conductor, row)
        return []
    if task in (states.SCHEDULING, states.SPAWNING):
        if row["host"]:
            conductor.placement.delete_allocations(row["uuid"])
        build.fail(conductor, row, f"Build timed out (task {task} on "
                                   f"{row['host'] or 'no host'} passed its deadline "
                                   f"{MAX_TASK_RETRIES} times).",
                   "Build timed out.")
        return [(f"compute.{row['host']}", {"op": "destroy", "uuid": row["uuid"],
                                             "purpose": "cleanup"})] if row["host"] else []
    name = _pending_op(row) or task
    conductor.db.write(lambda conn: _set(conn, row, {
        "task_state": None, "task_deadline": None}, name or "unknown", False,
        f"task {task} timed out"))
    return []
