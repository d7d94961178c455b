"""The build family (task states ``scheduling`` and ``spawning``): schedule + claim, then ask
the chosen host to spawn the instance.

Scheduling, the placement claim, the scheduling record and the instance's move to
``spawning`` on its host commit in one transaction (the claim joins the step's transaction), so
there is never a claim without an instance on its host or the other way round. A failed spawn
releases the claim and reschedules to another host, up to ``scheduler_max_attempts``; every
attempt's decision is kept in ``compute_scheduling_records`` (``pocketstack explain server``
prints them) and a final failure's fault names each host's reason.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.conductor import volumes
from pocketstack.compute.conductor.family import ENDED, MAX_TASK_RETRIES, Step, TaskFamily
from pocketstack.compute.domain import instance_actions, instances, server_groups, states
from pocketstack.compute.domain.common import isotime, utcnow
from pocketstack.compute.scheduler.model import NoValidHost, RequestSpec
from pocketstack.network.interface import PortRequest

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor


VIFS = spawn.VIFS
SERVICE_CTX = RequestContext(user_id="nova-conductor", roles=["admin"], system_scope="all")


def user_ports(row: dict[str, Any]) -> tuple[str, ...]:
    """The ports the user passed in (kept, unbound, when the instance lets them go)."""
    return tuple(str(r["port_id"]) for r in row["networks"] or [] if r.get("port_id"))


def rebind_ports(conductor: Conductor, step: Step, host: str | None = None,
                 then: list[tuple[str, dict[str, Any]]] | None = None,
                 migrating_from: str | None = None) -> None:
    """After this step commits, bind the instance's ports to ``host`` (by default the host
    it is on now; unbind them when it has none): moves, reverts, shelve offloads and
    unshelves. ``then``: messages sent once the ports are bound (a move's spawn on its
    target: as Nova's ``migrate_instance_finish`` before ``finish_migration``, the target's
    network agents must know the port is theirs when its tap appears, or they take the tap
    for a stale one). ``migrating_from``: a live migration's source, where the guest keeps
    running (and its ports wired) until it has moved."""
    if conductor.network is not None and step.row["networks"]:
        message: dict[str, Any] = {"op": "bind_ports", "uuid": step.uuid}
        if host is not None:
            message["host"] = host
        if migrating_from is not None:
            message["migrating_from"] = migrating_from
        if then:
            message["then"] = [[topic, body] for topic, body in then]
        step.send("conductor", message)
    else:
        for topic, body in then or []:
            step.send(topic, body)


def bind_ports(conductor: Conductor, uuid: str, host: str | None = None,
               migrating_from: str | None = None) -> None:
    """Bind (unbind) the instance's ports to ``host`` (default: its current host); its own
    transaction."""
    try:
        row = conductor.db.read(instances.get, uuid)
    except exceptions.NotFound:
        return
    found = conductor.network.instance_ports(uuid)
    if not found:
        return
    ctx = requester(row)
    conductor.network.allocate_for_instance(
        ctx, uuid, (row["host"] if host is None else host) or "",
        [PortRequest(port_id=v.port_id) for v in found], migrating_from=migrating_from)


def requester(row: dict[str, Any]) -> RequestContext:
    """The context ports are made in: the server's user and project with the roles the
    create request had (recorded by the API; ``member`` for servers made before that)."""
    roles = (row["scheduler_hints"] or {}).get("_roles") or ["member"]
    return RequestContext(user_id=row["user_id"], project_id=row["project_id"],
                          roles=[str(r) for r in roles])


def request_spec(conductor: Conductor, conn: Connection, row: dict[str, Any],
                 flavor: dict[str, Any], ignore_hosts: set[str],
                 move: bool = False) -> RequestSpec:
    """What the scheduler is asked for ``row``. A move (migrate, resize) drops the
    host forced at create time (``--availability-zone az:host``), as Nova's conductor resets
    the request spec's forced destinations: the server may go anywhere in its zone."""
    group_policy, group_hosts, max_per_host = None, [], 1
    if row["server_group"]:
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
    hints = row["scheduler_hints"] or {}
    same = _uuids(hints.get("same_host"))
    different = _uuids(hints.get("different_host"))
    return RequestSpec(
        same_host=None if same is None else instances.hosts_of(conn, same),
        different_host=instances.hosts_of(conn, different or []),
        query=hints.get("query"),
        instance_uuid=row["uuid"], project_id=row["project_id"], user_id=row["user_id"],
        vcpus=int(flavor["vcpus"]), memory_mb=int(flavor["ram"]), root_gb=int(flavor["disk"]),
        extra_specs=dict(flavor.get("extra_specs") or {}), image_properties=image_props,
        availability_zone=row["requested_az"], group_uuid=row["server_group"] or None,
        group_policy=group_policy,
        group_hosts=group_hosts, group_max_per_host=max_per_host, ignore_hosts=ignore_hosts,
        force_host=None if move else row["scheduler_hints"].get("_force_host"))


def _uuids(value: Any) -> list[str] | None:
    """A same_host/different_host hint as a list of server uuids (None: no hint)."""
    if value is None or value == []:
        return None
    return [str(v) for v in (value if isinstance(value, list) else [value])]


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


class Build(TaskFamily):
    """See the module docstring."""

    name = "build"
    task_states = frozenset({states.SCHEDULING, states.SPAWNING})

    def advance(self, step: Step) -> None:
        if step.row["vm_state"] == states.BUILDING and \
                step.row["task_state"] == states.SCHEDULING:
            self.schedule(step)
        # spawning: the host has it; its report (or the deadline) moves it on

    def resume(self, step: Step) -> None:
        row = step.row
        if row["task_state"] == states.SPAWNING and row["host"]:
            self._spawn_or_allocate(step, self._attempts(step))
            step.note(f"building: spawn re-sent to {row['host']}")
            return
        self.advance(step)

    def _attempts(self, step: Step) -> int:
        return len(instances.scheduling_records(step.conn, step.uuid))

    def schedule(self, step: Step) -> None:
        step.need_write()
        conductor, row = self.conductor, step.row
        records = instances.scheduling_records(step.conn, step.uuid)
        tried = {r["chosen_host"] for r in records if r["chosen_host"]}  # hosts that failed it
        attempt = len(records) + 1
        spec = request_spec(conductor, step.conn, row, row["flavor"], tried)
        try:
            chosen, verdicts, seconds = conductor.scheduler.schedule(spec)  # claims
        except NoValidHost as exc:
            earlier = [f"{r['chosen_host']}: {r['record']['failure']}" for r in records
                       if r["chosen_host"] and r["record"].get("failure")]
            message = exc.message + ("\nEarlier attempts failed:\n" + "\n".join(earlier)
                                     if earlier else "")
            self.fail(step, message, exc.summary, attempt,
                      record_of(exc.verdicts, None, 0.0, spec))
            return
        record = record_of(verdicts, chosen.host, seconds, spec)
        if row["server_group"]:
            try:  # Nova's late check: a build of another scheduler may have raced this one
                server_groups.check_placement(step.conn, row["server_group"], step.uuid,
                                              chosen.host)
            except server_groups.PolicyViolation as exc:
                conductor.placement.delete_allocations(step.uuid)
                instances.record_scheduling(step.conn, step.uuid, attempt, chosen.host,
                                            dict(record, failure=f"late check: {exc.message}"))
                step.note(f"building: {chosen.host} would break the server group's policy "
                          f"({exc.message}); claim released")
                if attempt < conductor.settings.scheduler_max_attempts:
                    # a new step, once this one has committed: scheduling again here would
                    # wait for the scheduler's group queue while holding this transaction's
                    # placement locks, which the build ahead in that queue may need
                    step.send("conductor", {"op": "build", "uuid": step.uuid})
                else:
                    self.fail(step, f"Build of instance failed: {exc.message}",
                              "The server group's policy could not be honoured.")
                return
        instances.record_scheduling(step.conn, step.uuid, attempt, chosen.host, record)
        hints = {k: v for k, v in row["scheduler_hints"].items() if k != VIFS}
        step.update({"host": chosen.host, "node": chosen.hypervisor_hostname,
                     "availability_zone": chosen.availability_zone,
                     "task_state": states.SPAWNING, "task_attempts": 0,
                     "scheduler_hints": hints,
                     "task_deadline": conductor.deadline(build_task=True)})
        self._spawn_or_allocate(step, attempt)
        step.note(f"building: scheduled on {chosen.host} (attempt {attempt}), resources "
                  f"claimed; spawning")

    def _spawn_or_allocate(self, step: Step, attempt: int) -> None:
        """Send the spawn, or first have the instance's ports allocated and bound on its host
        (outside this step's transaction: networking writes in its own)."""
        row = step.row
        if volumes.pending(row):
            step.send("conductor", {"op": "prepare_volumes", "uuid": step.uuid,
                                    "host": row["host"], "attempt": attempt})
            return
        if self.conductor.network is not None and row["networks"] and \
                VIFS not in row["scheduler_hints"]:
            step.send("conductor", {"op": "allocate_ports", "uuid": step.uuid,
                                    "host": row["host"], "attempt": attempt})
            return
        step.to_host(row["host"], "spawn", attempt=attempt,
                     spec=spawn.spawn_spec(self.conductor, row, row["flavor"]))

    def allocate_ports(self, uuid: str, host: str, attempt: int) -> list[Any]:
        """Allocate and bind the instance's ports on ``host`` (its own transaction), then
        record them and send the spawn; a binding no agent can serve reschedules, any other
        failure ends the build in ERROR. Runs in the instance's turn of the work queue."""
        conductor = self.conductor
        try:
            row = conductor.db.read(instances.get, uuid)
        except exceptions.NotFound:
            return []
        if row["task_state"] != states.SPAWNING or row["host"] != host or \
                VIFS in row["scheduler_hints"]:
            return []  # stale: the build moved on
        requests = [PortRequest(network_id=r.get("network_id"), port_id=r.get("port_id"),
                                fixed_ip=r.get("fixed_ip")) for r in row["networks"]]
        ctx = requester(row)
        groups = [g for g in row["security_groups"] or []]
        vifs: list[dict[str, Any]] = []
        failure, fatal = None, False
        try:  # a resumed attempt may have made ports already: start afresh
            conductor.network.deallocate_for_instance(SERVICE_CTX, uuid, user_ports(row))
            implicit = groups in ([], ["default"])
            made = conductor.network.allocate_for_instance(
                ctx, uuid, host, requests, None if implicit else groups)
            vifs = [dataclasses.asdict(v) for v in made]
            if implicit and groups and made and \
                    not conductor.network.instance_security_groups([uuid]).get(uuid):
                # the implicit default applies to no port (port security is off on their
                # networks): the server shows no groups, as Nova shows its ports' groups
                groups = []
        except exceptions.PocketstackError as exc:
            failure, fatal = str(exc), True
        else:
            failed = [v for v in vifs if v["vif_type"] == "binding_failed"]
            if failed:
                why = failed[0].get("binding_failure")
                failure = (f"Binding failed for port {failed[0]['port_id']}"
                           + (f": {why}" if why else
                              ", please check neutron logs for more information."))
        return conductor._step(uuid, self._ports_allocated, (host, attempt, vifs, failure,
                                                              fatal, groups))

    def _ports_allocated(self, step: Step, host: str, attempt: int, vifs: list[dict[str, Any]],
                         failure: str | None, fatal: bool,
                         groups: list[str] | None = None) -> None:
        row = step.row
        if row["task_state"] != states.SPAWNING or row["host"] != host:
            step.send("conductor", {"op": "release_ports", "uuid": step.uuid,
                                    "keep": list(user_ports(row))})
            return
        if failure is not None:
            if fatal:
                self.conductor.placement.delete_allocations(step.uuid)
                self.fail(step, f"Build of instance {step.uuid} aborted: {failure}",
                          f"Build of instance {step.uuid} aborted: {failure}")
            else:
                self.reschedule(step, failure)
            return
        values: dict[str, Any] = {"scheduler_hints": dict(row["scheduler_hints"], **{VIFS: vifs})}
        if groups is not None and groups != list(row["security_groups"] or []):
            values["security_groups"] = groups
        step.update(values)
        step.to_host(host, "spawn", attempt=attempt,
                     spec=spawn.spawn_spec(self.conductor, step.row, step.row["flavor"]))
        step.note(f"building: {len(vifs)} port(s) bound on {host}; spawning")

    def prepare_volumes(self, uuid: str, host: str, attempt: int) -> list[Any]:
        """Make and attach the instance's volumes on ``host`` (block storage's own
        transactions), then record them and go on to the ports or the spawn; a failure ends
        the build in ERROR. Runs in the instance's turn of the work queue."""
        conductor = self.conductor
        try:
            row = conductor.db.read(instances.get, uuid)
        except exceptions.NotFound:
            return []
        if row["task_state"] != states.SPAWNING or row["host"] != host or \
                not volumes.pending(row):
            return []  # stale: the build moved on
        bdms, failure = volumes.prepare(conductor.volume_api(), requester(row), uuid, host,
                                        list(row["block_devices"] or []),
                                        float(conductor.settings.build_timeout))
        return conductor._step(uuid, self._volumes_ready, (host, attempt, bdms, failure))

    def _volumes_ready(self, step: Step, host: str, attempt: int, bdms: list[dict[str, Any]],
                       failure: str | None) -> None:
        row = step.row
        made = [b for b in bdms if b.get("volume_id") and b.get("destination_type") == "volume"]
        if row["task_state"] != states.SPAWNING or row["host"] != host:
            if made and failure is None:
                step.send("conductor", {"op": "release_volumes", "uuid": step.uuid,
                                        "volumes": made})
            return
        if failure is not None:
            self.conductor.placement.delete_allocations(step.uuid)
            self.fail(step, f"Build of instance {step.uuid} aborted: {failure}",
                      f"Build of instance {step.uuid} aborted: Failure prepping block "
                      "device.")
            return
        step.update({"block_devices": bdms})
        self._spawn_or_allocate(step, attempt)
        step.note(f"building: {len(made)} volume(s) attached on {host}")

    def on_report(self, step: Step, msg: dict[str, Any]) -> None:
        row = step.row
        if msg.get("action") != "spawn" or row["task_state"] != states.SPAWNING or \
                row["host"] != msg.get("host"):
            return  # stale: an earlier attempt, or the instance moved on
        step.need_write()
        if msg.get("result") != "ok":
            self.reschedule(step, msg.get("message") or "spawn failed")
            return
        step.update({**ENDED, "vm_state": states.ACTIVE,
                     "power_state": msg.get("power_state") or 1, "launched_at": utcnow(),
                     "fault": None})
        record = instance_actions.latest(step.conn, step.uuid, "create")
        if record is not None:
            instance_actions.event_finish(step.conn, record["id"],
                                          "compute__do_build_and_run_instance", "Success")
            instance_actions.finish(step.conn, record["id"])
        step.note(f"active: spawned on {row['host']}")

    def reschedule(self, step: Step, reason: str) -> None:
        """Give the failed host's claim back and try another host while attempts remain."""
        step.need_write()
        conductor, host = self.conductor, step.row["host"]
        conductor.placement.delete_allocations(step.uuid)
        records = instances.scheduling_records(step.conn, step.uuid)
        last = [r for r in records if r["chosen_host"] == host]
        if last:
            last[-1]["record"] = dict(last[-1]["record"], failure=reason)
            instances.set_scheduling_record(step.conn, last[-1]["id"], last[-1]["record"])
        maximum = conductor.settings.scheduler_max_attempts
        if len(records) < maximum:
            step.update({"host": None, "node": None, "task_state": states.SCHEDULING,
                         "task_deadline": conductor.deadline(build_task=True)})
            step.note(f"building: spawn on {host} failed ({reason}); claim released, "
                      f"rescheduling (attempt {len(records) + 1} of {maximum})")
            # scheduled by a new step once this one (and its release) has committed: never
            # wait for the scheduler while holding placement's locks
            step.send("conductor", {"op": "build", "uuid": step.uuid})
            return
        failures = [f"{r['chosen_host']}: {r['record'].get('failure', reason)}"
                    for r in records if r["chosen_host"]]
        message = ("Build of instance failed on every host tried "
                   f"({len(records)} attempt{'s' if len(records) > 1 else ''}).\n"
                   + "\n".join(failures))
        self.fail(step, message,
                  f"Build failed on {len(records)} host(s); an administrator can see why.")

    def fail(self, step: Step, message: str, summary: str, attempt: int | None = None,
             record: dict[str, Any] | None = None) -> None:
        """Put a build into ERROR with a fault that explains it."""
        step.need_write()
        if record is not None and attempt is not None:
            instances.record_scheduling(step.conn, step.uuid, attempt, None, record)
        if self.conductor.network is not None and step.row["networks"]:
            step.send("conductor", {"op": "release_ports", "uuid": step.uuid,
                                    "keep": list(user_ports(step.row))})
        step.update({**ENDED, "vm_state": states.ERROR, "host": None, "node": None,
                     "fault": {"code": 500, "message": message, "summary": summary,
                               "created": isotime(utcnow())}})
        action = instance_actions.latest(step.conn, step.uuid, "create")
        if action is not None:
            instance_actions.event_finish(step.conn, action["id"],
                                          "conductor_schedule_and_build", "Error", message)
            instance_actions.finish(step.conn, action["id"], "Error")
        step.note(f"error: {summary} {message.splitlines()[0]}")

    def give_up(self, step: Step) -> None:
        step.need_write()
        row = step.row
        task, host = row["task_state"], row["host"]
        if host:
            self.conductor.placement.delete_allocations(step.uuid)
        self.fail(step, f"Build timed out (task {task} on {host or 'no host'} passed its "
                        f"deadline {MAX_TASK_RETRIES} times).",
                  "Build timed out.")
        if host:
            step.to_host(host, "destroy", purpose="cleanup")
