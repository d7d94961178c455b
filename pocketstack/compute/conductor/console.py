"""Console output: the API asks the conductor (a bus ``call``), the conductor checks the
instance can show one and asks its host's agent. Not a task: it reads, so it does not wait
behind the instance's work queue, and Nova allows it in any task state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pocketstack.common import exceptions
from pocketstack.compute.domain import instances, states

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

TIMEOUT = 10.0


def _conflict(message: str) -> dict[str, Any]:
    return {"error": {"code": 409, "message": message}}


class Console:
    """See the module docstring."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor

    async def output(self, uuid: str) -> dict[str, Any]:
        """``{"output": text}``, or ``{"error": {"code", "message"}}`` as the API answers it."""
        conductor = self.conductor
        try:
            row = await conductor.in_thread(conductor.db.read, instances.get, uuid)
        except exceptions.NotFound as exc:
            return {"error": {"code": 404, "message": exc.message}}
        if not row["host"] or row["vm_state"] in (states.BUILDING, states.ERROR):
            return _conflict(f"Cannot 'get_console_output' instance {uuid} while it is in "
                             f"vm_state {row['vm_state']}")
        if not await conductor.in_thread(conductor.host_is_up, row["host"]):
            return _conflict(f"Compute service of {row['host']} is unavailable at this time.")
        try:
            reply = await conductor.bus.call(f"compute.{row['host']}",
                                             {"op": "console_output", "uuid": uuid}, TIMEOUT)
        except Exception:  # noqa: BLE001 - timeouts and transport errors alike
            reply = None
        if not isinstance(reply, dict) or "output" not in reply:
            return _conflict("The guest's console is not available.")
        return {"output": str(reply["output"])}
