"""Attaching and detaching volumes to running servers (``os-volume_attachments``) as conductor
tasks with a deadline.

The API records the intent and answers: the server's block device mapping is written with
``pending`` (``attach`` or ``detach``) and a ``deadline``, the volume is reserved (→
``attaching``) or set ``detaching`` at block storage as a task of this server with the same
deadline, and the conductor is hinted. In the instance's turn of the work queue (so never
beside another step of the same server), :class:`VolumeTasks` asks the server's host to plug or
unplug the volume — waiting at most until the deadline — then records the attachment at block
storage (→ ``in-use`` / ``available``) and the mapping, and closes the instance action
(``attach_volume`` / ``detach_volume``). A failure or a host that does not answer in time rolls
back: the volume goes back to ``available`` (or stays ``in-use`` for a detach), the pending
mapping is dropped (or unmarked), the action ends as ``Error`` and the server gets a fault
naming the reason; the server's own state is untouched.

A reservation nobody finishes (the conductor restarted, a lost hint) is found by
:meth:`VolumeTasks.reconcile` once block storage lists it as overdue, and rolled back the same
way. Nova sets no task state for volume attach/detach and neither does this: other actions on
the server are accepted meanwhile and run after the attach in the work queue.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from pocketstack.compute.conductor.family import Step
from pocketstack.compute.conductor.volumes import SERVICE_CTX
from pocketstack.compute.domain import instances
from pocketstack.compute.domain.common import isotime, utcnow

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

LOG = logging.getLogger(__name__)

GRACE = 5.0  # seconds block storage keeps a reservation past the mapping's deadline


def pending_bdm(row: dict[str, Any] | None, volume_id: str,
                kind: str | None = None) -> dict[str, Any] | None:
    """The server's mapping of ``volume_id`` with a pending ``kind`` (any with None)."""
    for bdm in (row or {}).get("block_devices") or []:
        if bdm.get("volume_id") == volume_id and bdm.get("pending") and (
                kind is None or bdm["pending"] == kind):
            return dict(bdm)
    return None


def deadline_after(seconds: float) -> str:
    return str(isotime(utcnow() + dt.timedelta(seconds=seconds)))


def _seconds_left(bdm: dict[str, Any]) -> float:
    try:
        end = dt.datetime.fromisoformat(str(bdm.get("deadline")).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    now = utcnow()
    if end.tzinfo is not None and now.tzinfo is None:
        end = end.replace(tzinfo=None)
    return (end - now).total_seconds()


def _get(conn: Any, uuid: str) -> dict[str, Any] | None:
    try:
        return instances.get(conn, uuid)
    except Exception:
        return None


class VolumeTasks:
    """See the module docstring."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor

    # -- entry points (bus hints, the reconciler) -----------------------------------------------
    async def attach(self, uuid: str, volume_id: str) -> None:
        await self.conductor.queue.run(uuid, lambda: self._attach(uuid, volume_id))

    async def detach(self, uuid: str, volume_id: str) -> None:
        await self.conductor.queue.run(uuid, lambda: self._detach(uuid, volume_id))

    async def reconcile(self) -> None:
        api = self.conductor.volume_api()
        if api is None:
            return
        for volume_id, uuid, task in await self.conductor.in_thread(api.overdue_reservations):
            key = uuid or volume_id
            if self.conductor.queue.busy(key):
                continue  # the task itself is still running; it ends at its deadline

            async def job(vid: str = volume_id, server: str = uuid, kind: str = task) -> None:
                await self._roll_back(server, vid, kind, f"{kind} did not finish before "
                                      "its deadline")

            await self.conductor.queue.run(key, job)

    # -- the tasks ------------------------------------------------------------------------------
    async def _read(self, uuid: str) -> dict[str, Any] | None:
        c = self.conductor
        row: dict[str, Any] | None = await c.in_thread(c.db.read, _get, uuid)
        return row

    async def _host_call(self, host: str, message: dict[str, Any], timeout: float) -> str | None:
        """The host's error (or a timeout), None when it did the work."""
        if timeout <= 0:
            return "the deadline passed before the host was asked"
        try:
            reply = await self.conductor.bus.call(f"compute.{host}", message, timeout)
        except Exception as exc:
            return f"host {host} did not answer in time ({exc or type(exc).__name__})"
        if isinstance(reply, dict) and reply.get("error"):
            if message["op"] == "detach_volume" and reply.get("not_found"):
                return None  # no guest: nothing is plugged
            return str(reply["error"])
        return None

    async def _attach(self, uuid: str, volume_id: str) -> None:
        c = self.conductor
        row = await self._read(uuid)
        bdm = pending_bdm(row, volume_id, "attach")
        if row is None or bdm is None:
            return  # done, rolled back or the server is gone
        api = c.volume_api()
        host = row["host"]
        failure: str | None = None
        conn_info: dict[str, Any] = {}
        if api is None:
            failure = "this cloud has no block storage service"
        elif not host:
            failure = f"server {uuid} has no host"
        else:
            try:
                conn_info = await c.in_thread(api.connection_info, SERVICE_CTX, volume_id)
            except Exception as exc:
                failure = str(exc) or type(exc).__name__
        if failure is None:
            volume = {"volume_id": volume_id, "device_name": bdm.get("device_name"),
                      "driver_volume_type": conn_info.get("driver_volume_type") or "local",
                      "connection_info": conn_info,
                      "delete_on_termination": bool(bdm.get("delete_on_termination"))}
            failure = await self._host_call(host, {"op": "attach_volume", "uuid": uuid,
                                                   "volume": volume}, _seconds_left(bdm))
        if failure is None and api is not None:
            try:
                await c.in_thread(api.attach, SERVICE_CTX, volume_id, uuid, host,
                                  bdm.get("device_name"), bdm.get("attachment_id"), True)
            except Exception as exc:
                failure = str(exc) or type(exc).__name__
        if failure is not None:
            await self._roll_back(uuid, volume_id, "attach", failure)
            return
        await c.send(await c.in_thread(c._step, uuid, self._attached, (volume_id, conn_info)))

    def _attached(self, step: Step, volume_id: str, conn_info: dict[str, Any]) -> None:
        if pending_bdm(step.row, volume_id, "attach") is None:
            return
        bdms = []
        for bdm in step.row["block_devices"] or []:
            if bdm.get("volume_id") == volume_id and bdm.get("pending") == "attach":
                bdm = {k: v for k, v in bdm.items() if k not in ("pending", "deadline")}
                bdm["connection_info"] = conn_info
            bdms.append(bdm)
        step.update({"block_devices": bdms})
        step.finish_action("attach_volume", True)
        step.note(f"volume {volume_id} attached on {step.row['host']} as "
                  f"{next(b['device_name'] for b in bdms if b.get('volume_id') == volume_id)}")

    async def _detach(self, uuid: str, volume_id: str) -> None:
        c = self.conductor
        row = await self._read(uuid)
        bdm = pending_bdm(row, volume_id, "detach")
        if row is None or bdm is None:
            return
        api = c.volume_api()
        failure: str | None = None
        if api is None:
            failure = "this cloud has no block storage service"
        elif row["host"]:
            failure = await self._host_call(row["host"], {
                "op": "detach_volume", "uuid": uuid, "volume_id": volume_id},
                _seconds_left(bdm))
        if failure is None and api is not None:
            try:
                await c.in_thread(api.detach, SERVICE_CTX, volume_id, uuid)
            except Exception as exc:
                failure = str(exc) or type(exc).__name__
        if failure is not None:
            await self._roll_back(uuid, volume_id, "detach", failure)
            return
        await c.send(await c.in_thread(c._step, uuid, self._detached, (volume_id,)))

    def _detached(self, step: Step, volume_id: str) -> None:
        if pending_bdm(step.row, volume_id, "detach") is None:
            return
        step.update({"block_devices": [b for b in step.row["block_devices"] or []
                                       if b.get("volume_id") != volume_id]})
        step.finish_action("detach_volume", True)
        step.note(f"volume {volume_id} detached from {step.row['host']}")

    # -- rolling back ---------------------------------------------------------------------------
    async def _roll_back(self, uuid: str, volume_id: str, kind: str, why: str) -> None:
        """Undo a pending attach (volume back to where it was, mapping dropped, the host told
        to unplug it in case it did) or detach (volume in-use again, mapping kept)."""
        c = self.conductor
        api = c.volume_api()
        row = await self._read(uuid) if uuid else None
        if row is not None:  # the server's side first: once the volume is released, the server
            # no longer lists it (a second pass, if the release fails, finds no mapping to undo)
            await c.send(await c.in_thread(c._step, uuid, self._failed,
                                           (volume_id, kind, why)))
        if kind == "attach":
            if row is not None and row["host"]:  # it may have plugged it after all
                await c.bus.cast(f"compute.{row['host']}", {
                    "op": "detach_volume", "uuid": uuid, "volume_id": volume_id})
            if api is not None:
                try:
                    await c.in_thread(api.unreserve, SERVICE_CTX, volume_id, uuid or None)
                except Exception as exc:
                    LOG.warning("[instance: %s] unreserving volume %s: %s", uuid, volume_id,
                                exc)
        elif api is not None:
            try:
                await c.in_thread(api.roll_detaching, SERVICE_CTX, volume_id)
            except Exception as exc:
                LOG.warning("[instance: %s] rolling back the detach of volume %s: %s", uuid,
                            volume_id, exc)

    def _failed(self, step: Step, volume_id: str, kind: str, why: str) -> None:
        if pending_bdm(step.row, volume_id, kind) is None:
            return
        bdms = []
        for bdm in step.row["block_devices"] or []:
            if bdm.get("volume_id") == volume_id and bdm.get("pending") == kind:
                if kind == "attach":
                    continue
                bdm = {k: v for k, v in bdm.items() if k not in ("pending", "deadline")}
            bdms.append(bdm)
        message = f"Failed to {kind} volume {volume_id}: {why}"
        step.update({"block_devices": bdms, "fault": {
            "code": 500, "message": message, "created": isotime(utcnow())}})
        step.finish_action(f"{kind}_volume", False, message)
        step.note(f"{kind} of volume {volume_id} failed and was rolled back: {why}")
