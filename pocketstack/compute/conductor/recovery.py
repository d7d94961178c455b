"""Nothing stays stuck: after a restart every task that was under way is resumed, and a task
that passes its deadline is taken again (its host work re-sent) up to
:data:`~.family.MAX_TASK_RETRIES` times, then given up cleanly by its family (a build goes to
ERROR with its claim released, a delete completes locally, any other task ends as failed)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pocketstack.compute.conductor.family import ENDED, MAX_TASK_RETRIES, Step
from pocketstack.compute.domain import states

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor


class Recovery:
    """See the module docstring."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor

    def resume(self, step: Step) -> None:
        family = self.conductor.family_of(step.row)
        if family is None:
            return
        step.note(f"{step.row['task_state']}: resuming the task after a restart")
        family.resume(step)

    def overdue(self, step: Step, now: dt.datetime) -> None:
        row = step.row
        if row["task_deadline"] is None or row["task_deadline"] >= now:
            return  # it moved on since the reconciler looked
        family = self.conductor.family_of(row)
        task = row["task_state"]
        attempts = row["task_attempts"] + 1
        if family is None:
            step.update(dict(ENDED))
            step.note(f"{task}: passed its deadline and no conductor task carries it; "
                      "task cleared")
            return
        if attempts > MAX_TASK_RETRIES:
            family.give_up(step)
            return
        step.update({"task_attempts": attempts, "task_deadline": self.conductor.deadline(
            build_task=task in (states.SCHEDULING, states.SPAWNING))})
        step.note(f"{task}: passed its deadline (retry {attempts} of {MAX_TASK_RETRIES})")
        family.resume(step)
