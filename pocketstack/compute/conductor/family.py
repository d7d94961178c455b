"""What every task family shares: the :class:`Step` (one transition of one instance, in one
transaction) and the :class:`TaskFamily` base class the conductor dispatches to.

A step reads the instance inside a write transaction, decides, and writes with the row's
generation (compare-and-swap); placement claims and releases made during the step join the
same transaction (see ``PlacementClient.joining``). The messages it wants sent and the log lines
it wants written are collected and only go out once the transaction has committed — so a hint
never precedes the state that justifies it, and the log only tells what really happened.

A step may be tried in a read transaction first (hints that usually only re-send host work):
it then calls :meth:`Step.need_write` before its first write of any kind (instance row,
instance actions, placement), which sends it round again in a write transaction. A step never
opens a write transaction of its own (on SQLite it would wait for its own lock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from pocketstack.compute.domain import instance_actions, instances, nodes

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

Outbox = list[tuple[str, dict[str, Any]]]

MAX_TASK_RETRIES = 3  # deadlines a task may pass (each time resumed) before it is given up

# instance action names as Nova lists them in os-instance-actions
ACTION_NAMES = {
    "stop": "stop", "start": "start", "reboot_soft": "reboot", "reboot_hard": "reboot",
    "pause": "pause", "unpause": "unpause", "suspend": "suspend", "resume": "resume",
    "rescue": "rescue", "unrescue": "unrescue", "resize": "resize", "migrate": "migrate",
    "confirm_resize": "confirmResize", "revert_resize": "revertResize",
    "rebuild": "rebuild", "shelve": "shelve", "unshelve": "unshelve",
}


class NeedsWrite(Exception):  # noqa: N818 - a signal, not an error
    """A step tried read-only wants to write: run it again in a write transaction."""


@dataclass
class Step:
    """One transition of one instance (see the module docstring)."""

    conn: Connection
    row: dict[str, Any]
    writable: bool = True
    out: Outbox = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def need_write(self) -> None:
        """Call before writing anything: in a read-only try, start over in a write one."""
        if not self.writable:
            raise NeedsWrite

    @property
    def uuid(self) -> str:
        return str(self.row["uuid"])

    def send(self, topic: str, message: dict[str, Any]) -> None:
        self.out.append((topic, message))

    def to_host(self, host: str, op: str, **extra: Any) -> None:
        self.send(f"compute.{host}", {"op": op, "uuid": self.uuid, **extra})

    def note(self, text: str) -> None:
        """A line for the log, ``[instance: <uuid>] <text>``, written after the commit."""
        self.notes.append(text)

    def update(self, values: dict[str, Any]) -> dict[str, Any]:
        """Write ``values`` if the row is unchanged since this step read it."""
        self.need_write()
        self.row = instances.update(self.conn, self.row, values)
        return self.row

    def finish_action(self, action: str, ok: bool, message: str | None = None) -> None:
        """Close the instance action (os-instance-actions) the API opened for ``action``."""
        self.need_write()
        name = ACTION_NAMES.get(action, action)
        record = instance_actions.latest(self.conn, self.uuid, name)
        if record is None:
            return
        instance_actions.event_finish(self.conn, record["id"], "compute_" + name.lower(),
                                      "Success" if ok else "Error", None if ok else message)
        instance_actions.finish(self.conn, record["id"], None if ok else "Error")

    def settle(self, values: dict[str, Any], action: str, ok: bool,
               message: str | None = None) -> None:
        """End the task: write ``values`` and close its instance action."""
        self.update(values)
        self.finish_action(action, ok, message)

    def node(self, host: str) -> dict[str, Any]:
        found = nodes.list_(self.conn, host)
        if not found:
            raise LookupError(f"No compute node on host {host}.")
        return found[0]


ENDED = {"task_state": None, "task_deadline": None}


class TaskFamily:
    """A family of instance tasks: the task states it owns, what the conductor does when
    hinted, after a restart or a missed deadline, and what a host's report means."""

    name = "task"
    task_states: frozenset[str] = frozenset()

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor

    def advance(self, step: Step) -> None:
        """A hint arrived: take the conductor's next step of the task, if it has one now."""

    def resume(self, step: Step) -> None:
        """After a restart or a missed deadline: take the step again, re-sending host work
        that may have been lost (hosts treat a repeated message as a no-op)."""
        self.advance(step)

    def on_report(self, step: Step, msg: dict[str, Any]) -> None:
        """A host reported the outcome of work this family sent (stale reports: ignore)."""

    def give_up(self, step: Step) -> None:
        """The task passed its deadline too often: end it cleanly, as failed."""
        task = step.row["task_state"]
        step.settle(dict(ENDED), self.action_name(step.row) or str(task), False,
                    f"task {task} timed out")
        step.note(f"{task}: timed out; task ended as failed, the instance stays "
                  f"{step.row['vm_state']}")

    def action_name(self, row: dict[str, Any]) -> str | None:
        """The API action (``stop``, ``resize``...) the instance's current task carries out."""
        return None
