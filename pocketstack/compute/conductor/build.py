"""Building an instance: schedule + claim, then ask the chosen host to spawn it.

A failed spawn releases the claim and reschedules to another host, up to
``scheduler_max_attempts``; every attempt's decision is kept in ``compute_scheduling_records``
(``pocketstack explain server`` prints them) and a final failure's fault names each host's
reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pocketstack.common import exceptions
from pocketstack.compute.domain import instance_actions, instances, server_groups, states
from pocketstack.compute.domain.common import isotime, utcnow
from pocketstack.compute.scheduler.model import NoValidHost, RequestSpec

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor, Outbox


def request_spec(conductor: Conductor, row: dict[str, Any], flavor: dict[str, Any],
                 ignore_hosts: set[str]) -> RequestSpec:
    group_policy, group_hosts, max_per_host = None, [], 1
    if row["server_group"]:
        with conductor.db.reader() as conn:
            try:
                group = server_groups.get(conn, row["server_group"])
            except exceptions.NotFound:
                group = None
            if group is not None:
                group_policy = group["policy"]
                members = [m for m in server_groups.members(conn, group["uuid"])
                           if m != row["uuid"]]
                group_hosts = instances.hosts_of(conn, members)
                max_per_host = int((group.get("rules") or {}).get("max_server_per_host", 1))
    image_props: dict[str, Any] = {}
    if row["image_ref"] and conductor.images is not None:
        image_props = dict(row["scheduler_hints"].get("_image_properties", {}))
    return RequestSpec(
        instance_uuid=row["uuid"], project_id=row["project_id"], user_id=row["user_id"],
        vcpus=int(flavor["vcpus"]), memory_mb=int(flavor["ram"]), root_gb=int(flavor["disk"]),
        extra_specs=dict(flavor.get("extra_specs") or {}), image_properties=image_props,
        availability_zone=row["requested_az"], group_uuid=row["server_group"] or None,
        group_policy=group_policy,
        group_hosts=group_hosts, group_max_per_host=max_per_host, ignore_hosts=ignore_hosts,
        force_host=row["scheduler_hints"].get("_force_host"))


def record_of(verdicts: list[Any], chosen: str | None, seconds: float,
              spec: RequestSpec) -> dict[str, Any]:
    return {
        "requested": {"vcpus": spec.vcpus, "memory_mb": spec.memory_mb,
                      "root_gb": spec.root_gb, "availability_zone": spec.availability_zone,
                      "group_policy": spec.group_policy},
        "hosts": {v.host: v.as_dict() for v in verdicts},
        "chosen": chosen,
        "seconds": round(seconds, 6),
    }


def spawn_spec(row: dict[str, Any], flavor: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": row["uuid"], "name": instances.instance_name(row), "vcpus": flavor["vcpus"],
        "memory_mb": flavor["ram"], "root_gb": flavor["disk"],
        "image": {"id": row["image_ref"]}, "metadata": dict(row["metadata"] or {}),
        "user_data": row["user_data"], "key_data": row["key_data"],
    }


def build(conductor: Conductor, uuid: str) -> Outbox:
    try:
        row = conductor.db.read(instances.get, uuid)
    except exceptions.NotFound:
        return []
    if row["vm_state"] != states.BUILDING or row["task_state"] != states.SCHEDULING:
        return []  # stale hint: someone already acted
    records = conductor.db.read(instances.scheduling_records, uuid)
    tried = {r["chosen_host"] for r in records if r["chosen_host"]}  # hosts that failed it
    attempt = len(records) + 1
    spec = request_spec(conductor, row, row["flavor"], tried)
    try:
        chosen, verdicts, seconds = conductor.scheduler.schedule(spec)
    except NoValidHost as exc:
        record = record_of(exc.verdicts, None, 0.0, spec)
        fail(conductor, row, exc.message, exc.summary, attempt, record)
        return []
    record = record_of(verdicts, chosen.host, seconds, spec)

    def commit(conn: Any) -> dict[str, Any]:
        current = instances.get(conn, uuid)
        if current["generation"] != row["generation"]:
            raise exceptions.ConcurrentUpdate(f"instance {uuid} changed while scheduling")
        if row["server_group"]:  # Nova's late check: another scheduler may have raced us
            server_groups.check_placement(conn, row["server_group"], uuid, chosen.host)
        instances.record_scheduling(conn, uuid, attempt, chosen.host, record)
        return instances.update(conn, current, {
            "host": chosen.host, "node": chosen.hypervisor_hostname,
            "availability_zone": chosen.availability_zone, "task_state": states.SPAWNING,
            "task_deadline": conductor.deadline(build_task=True), "task_attempts": 0})

    try:
        row = conductor.db.write(commit)
    except server_groups.PolicyViolation as exc:  # rescheduled, that host excluded
        conductor.placement.delete_allocations(uuid)
        conductor.db.write(instances.record_scheduling, uuid, attempt, chosen.host,
                           dict(record, failure=f"late check: {exc.message}"))
        if attempt < conductor.settings.scheduler_max_attempts:
            return [("conductor", {"op": "build", "uuid": uuid})]
        fail(conductor, row, f"Build of instance failed: {exc.message}",
             "The server group's policy could not be honoured.")
        return []
    except (exceptions.ConcurrentUpdate, exceptions.NotFound):
        conductor.placement.delete_allocations(uuid)  # deleted meanwhile: give it back
        return []
    return [(f"compute.{chosen.host}", {"op": "spawn", "uuid": uuid, "attempt": attempt,
                                         "spec": spawn_spec(row, row["flavor"])})]


def fail(conductor: Conductor, row: dict[str, Any], message: str, summary: str,
         attempt: int | None = None, record: dict[str, Any] | None = None) -> None:
    """Put a build into ERROR with a fault that explains it."""
    now = utcnow()

    def run(conn: Any) -> None:
        current = instances.get(conn, row["uuid"])
        if record is not None and attempt is not None:
            instances.record_scheduling(conn, row["uuid"], attempt, None, record)
        if current["task_state"] == states.DELETING:
            return  # the delete wins; nothing to report on a dying instance
        instances.update(conn, current, {
            "vm_state": states.ERROR, "task_state": None, "task_deadline": None, "host": None,
            "node": None, "fault": {"code": 500, "message": message, "summary": summary,
                                    "created": isotime(now)}})
        action = instance_actions.latest(conn, row["uuid"], "create")
        if action is not None:
            instance_actions.event_finish(conn, action["id"], "conductor_schedule_and_build",
                                          "Error", message)
            instance_actions.finish(conn, action["id"], "Error")

    conductor.db.write(run)
