"""createImage's copy, after the API has answered: the server is in task ``image_snapshot``
with the queued image in its ``_snapshot_image`` hint; the conductor moves it to
``image_uploading``, has the image service copy the snapshot's data into the image (the
image goes ``saving``, then ``active``), then ends the task and its instance action.

A copy that fails, or one found half-done after a restart, or one past its deadline too often,
deletes the image (the image service drops whatever was stored) and ends the task as failed:
no snapshot is left ``queued`` or ``saving`` and the server takes new tasks again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pocketstack.common import exceptions
from pocketstack.compute.conductor.family import ENDED, Step, TaskFamily
from pocketstack.compute.domain import instance_actions, instances, states

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

LOG = logging.getLogger(__name__)
HINT = states.SNAPSHOT_IMAGE_HINT
ACTION, EVENT = "createImage", "compute_snapshot_instance"


def pending(row: dict[str, Any]) -> dict[str, Any] | None:
    """The hint's ``{"image_id", "source_id"}``, if the server has a copy to make."""
    found = (row["scheduler_hints"] or {}).get(HINT)
    return dict(found) if isinstance(found, dict) else None


def end(step: Step, ok: bool, message: str | None = None) -> None:
    """End the task (and drop the hint), closing the createImage action."""
    hints = {k: v for k, v in (step.row["scheduler_hints"] or {}).items() if k != HINT}
    step.update({**ENDED, "scheduler_hints": hints})
    record = instance_actions.latest(step.conn, step.uuid, ACTION)
    if record is not None and record["finish_time"] is None:
        instance_actions.event_finish(step.conn, record["id"], EVENT,
                                      "Success" if ok else "Error", message)
        instance_actions.finish(step.conn, record["id"], None if ok else "Error")


class Snapshot(TaskFamily):
    """See the module docstring."""

    name = "snapshot"
    task_states = frozenset({states.IMAGE_SNAPSHOT, states.IMAGE_UPLOADING})

    def __init__(self, conductor: Conductor) -> None:
        super().__init__(conductor)
        self.uploading: set[str] = set()  # instances whose copy runs in this process

    def advance(self, step: Step) -> None:
        found = pending(step.row)
        if found is None:
            return
        if step.row["task_state"] == states.IMAGE_SNAPSHOT:
            step.send("conductor", {"op": "upload_snapshot", "uuid": step.uuid})
        elif step.uuid not in self.uploading:  # the copy was lost (a restart)
            self._fail(step, found, "the snapshot's copy was interrupted")

    def give_up(self, step: Step) -> None:
        found = pending(step.row)
        if found is None:
            super().give_up(step)
            return
        self._fail(step, found, f"task {step.row['task_state']} timed out")

    def _fail(self, step: Step, found: dict[str, Any], message: str) -> None:
        end(step, False, message)
        step.send("conductor", {"op": "delete_image", "image_id": found["image_id"],
                                "uuid": step.uuid})
        step.note(f"snapshot {found['image_id']}: {message}; image deleted, task ended")

    def _begin(self, step: Step, out: dict[str, Any]) -> None:
        out.clear()  # a step may run again after losing its compare-and-swap
        found = pending(step.row)
        if step.row["task_state"] != states.IMAGE_SNAPSHOT or found is None:
            return  # taken already, or the server moved on (deleted, reset)
        step.update({"task_state": states.IMAGE_UPLOADING})
        out.update(found)

    def _finish(self, step: Step, image_id: str, ok: bool) -> None:
        found = pending(step.row)
        if step.row["task_state"] != states.IMAGE_UPLOADING or found is None or \
                found["image_id"] != image_id:
            return  # the server moved on meanwhile
        end(step, ok, None if ok else "the snapshot's copy failed")
        step.note(f"snapshot {image_id}: " + ("uploaded; task ended" if ok else
                                              "copy failed; task ended"))

    async def upload(self, uuid: str) -> None:
        """Copy the snapshot's data into its image (outside the instance's work queue: other
        work for the server, e.g. a delete, does not wait for the copy)."""
        c = self.conductor
        found: dict[str, Any] = {}
        row = await c.in_thread(c.db.read, instances.get, uuid, True)
        left = pending(row)
        if row["deleted"]:  # deleted before its copy began: the image goes too
            if left is not None:
                await c.in_thread(c.delete_image, str(left["image_id"]), uuid)
            return
        await c.run_step(uuid, self._begin, found)
        row = await c.in_thread(c.db.read, instances.get, uuid, True)
        if not found or row["deleted"] or row["task_state"] != states.IMAGE_UPLOADING or \
                (pending(row) or {}).get("image_id") != found["image_id"]:
            return  # not taken by this call
        image_id = str(found["image_id"])
        self.uploading.add(uuid)
        ok = False
        try:
            if c.images is not None:
                ok = await c.in_thread(c.images.upload_snapshot, image_id,
                                       found.get("source_id"))
        except exceptions.PocketstackError as exc:
            LOG.warning("[instance: %s] snapshot %s: copy refused: %s", uuid, image_id, exc)
        except Exception:
            LOG.exception("[instance: %s] snapshot %s: copy failed", uuid, image_id)
        finally:
            self.uploading.discard(uuid)
            await c.run_step(uuid, self._finish, image_id, ok)
        if not ok:
            await c.in_thread(c.delete_image, image_id, uuid)
