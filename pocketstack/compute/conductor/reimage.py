"""Re-imaging a volume-backed server's root volume during a rebuild (Nova 2.93), before the
host rebuilds the guest on it.

The API leaves ``{"volume_id", "image_id"}`` in the server's ``_reimage_root`` hint with the
``rebuilding`` task; :class:`~.power.PowerActions` then asks for :func:`run` (a
``reimage_root`` conductor message) instead of the host's ``rebuild``. In the instance's turn
of the work queue, through block storage's ``VolumeAPI`` and in the server user's context, as
Nova's compute manager does it with Cinder: the volume is held for the server (``in-use`` →
``reserved``; Nova's new attachment without a connector), re-imaged with
``reimage_reserved`` (``downloading``, written by the storage host), waited for (Nova waits for
Cinder's ``volume-reimaged`` event; here the volume's status is watched, at most until the
task's deadline) and given back (→ ``in-use``). Then the hint goes and the host's ``rebuild``
is sent as for any rebuild; the guest comes up on the new content (the same device path).

A failure ends the rebuild with the server in ERROR and a fault, as Nova's
``BuildAbortException`` does; a volume the storage host failed to write stays ``error`` (as
Cinder leaves it), one that was only held goes back to ``in-use``. Every step is safe to run
again (a restarted conductor resumes the task here).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pocketstack.common import exceptions
from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.conductor.build import requester
from pocketstack.compute.conductor.family import ENDED, Step
from pocketstack.compute.domain import instances, states
from pocketstack.compute.domain.common import isotime, utcnow

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

LOG = logging.getLogger(__name__)
HINT = states.REIMAGE_ROOT_HINT


def pending(row: dict[str, Any]) -> dict[str, Any] | None:
    """The re-image a rebuilding server waits for (None: none)."""
    found = (row["scheduler_hints"] or {}).get(HINT)
    if row["task_state"] != states.REBUILDING or not isinstance(found, dict):
        return None
    return dict(found)


def run(conductor: Conductor, uuid: str) -> list[Any]:
    """Re-image the root volume, then go on with the rebuild (see the module docstring).
    Blocks: runs in a worker thread, in the instance's turn of the work queue."""
    try:
        row = conductor.db.read(instances.get, uuid)
    except exceptions.NotFound:
        return []
    job = pending(row)
    if job is None:
        return []  # done already, or the task moved on
    failure = _reimage(conductor, row, str(job["volume_id"]), str(job["image_id"]))
    return conductor._step(uuid, _after, (conductor, failure))


def _seconds_left(row: dict[str, Any]) -> float:
    end = row.get("task_deadline")
    if end is None:
        return 60.0
    left = end.replace(tzinfo=None) - utcnow().replace(tzinfo=None)  # both UTC
    return max(1.0, left.total_seconds())


def _reimage(conductor: Conductor, row: dict[str, Any], volume_id: str,
             image_id: str) -> str | None:
    """The failure (None: the root volume has the new image and is in-use again)."""
    api = conductor.volume_api()
    if api is None:
        return "this cloud has no block storage service"
    uuid = str(row["uuid"])
    ctx = requester(row)
    try:
        volume = api.get_volume(ctx, volume_id)
        if volume.status == "in-use":
            volume = api.hold_for_reimage(ctx, volume_id, uuid)
        if volume.status == "reserved":
            try:
                api.reimage(ctx, volume_id, image_id, reimage_reserved=True)
            except Exception:
                api.release_reimaged(ctx, volume_id, uuid)  # refused: nothing was written
                raise
        volume = api.wait_for_status(ctx, volume_id, {"reserved"}, _seconds_left(row))
        if volume.status != "reserved":
            return f"volume {volume_id} went to {volume.status} while it was re-imaged"
        api.release_reimaged(ctx, volume_id, uuid)
    except TimeoutError:
        return f"volume {volume_id} was not re-imaged before the rebuild's deadline"
    except Exception as exc:
        return f"re-imaging volume {volume_id}: {exc or type(exc).__name__}"
    return None


def _after(step: Step, conductor: Conductor, failure: str | None) -> None:
    row = step.row
    if pending(row) is None:
        return  # the task moved on meanwhile
    hints = {k: v for k, v in (row["scheduler_hints"] or {}).items() if k != HINT}
    if failure is not None:
        message = f"Failed to rebuild volume backed instance. {failure}"
        step.settle({**ENDED, "vm_state": states.ERROR, "scheduler_hints": hints,
                     "fault": {"code": 500, "message": message,
                               "summary": "Failed to rebuild volume backed instance.",
                               "created": isotime(utcnow())}}, "rebuild", False, message)
        step.note(f"rebuild: {message}; the server is in ERROR")
        return
    step.update({"scheduler_hints": hints})
    if row["host"]:
        step.send(f"compute.{row['host']}", spawn.task_message(conductor, step.row, "rebuild"))
    step.note(f"rebuild: root volume re-imaged; rebuild sent to {row['host']}")
