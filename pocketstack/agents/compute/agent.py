"""The compute agent: one per host, drives its hypervisor driver, never touches the database.

It listens on ``compute.<host>`` for work from the conductor and heartbeats its inventory and
the guests it really has (with their real power states) every ``heartbeat_interval`` seconds.
Messages are hints: a spawn of a guest that already runs, or a destroy of one that is gone,
succeeds — so a retried message is harmless.

Two kinds of operation (see :data:`TASK_OPS` and :data:`CALL_OPS`):

* *tasks* arrive as casts; their outcome is reported back on ``conductor`` as
  ``{"op": "report", "action", "result": "ok"|"error", "power_state", ...}``;
* *calls* arrive as bus calls and answer the caller directly (``{"error": ...}`` on failure);
  the host calls (:data:`HOST_OPS`, e.g. ``host_uptime``) are about the machine, not a guest;
  the disk-move calls (:data:`.disk_move.OPS`) serve another agent pulling a guest's disks
  for its cold migration or resize (a ``spawn`` with a ``source`` host: :mod:`.disk_move`).

Driver methods may be sync or async: sync ones run in a worker thread (:meth:`_driver`). A
driver that raises :class:`AgentCrash` kills the agent on the spot — no report, no more
heartbeats — as a crashed agent process would (the conductor's deadlines take over).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pocketstack.agents.compute import disk_move, host_uptime
from pocketstack.agents.compute.console_proxy import ConsoleProxy, novnc_dir
from pocketstack.agents.compute.drivers.base import (
    RUNNING,
    AgentCrash,
    ConsoleTarget,
    ConsoleUnavailable,
    Driver,
    DriverError,
    InstanceNotFound,
    InstanceNotReady,
    InstanceSpec,
    MovedDisks,
    NetworkInterface,
    VolumeConnection,
)
from pocketstack.agents.compute.images import BusFetch, ImageCache
from pocketstack.agents.network.rpc import NetworkRPC
from pocketstack.config import Settings

LOG = logging.getLogger(__name__)

# power tasks: bus op -> driver method (uuid only)
_POWER_OPS = {
    "stop": "power_off", "start": "power_on", "pause": "pause", "unpause": "unpause",
    "suspend": "suspend", "resume": "resume", "unrescue": "unrescue",
}
#: live migration: op -> the driver method; each answers a dict the report carries under
#: the given key (None: nothing to carry)
LIVE_OPS: dict[str, tuple[str, str | None]] = {
    "pre_live_migration": ("pre_live_migration", "migrate_data"),
    "live_migration": ("live_migration", "transfer"),
    "post_live_migration_at_destination": ("post_live_migration_at_destination", None),
    "rollback_live_migration_at_destination": ("rollback_live_migration_at_destination", None),
    "live_migration_abort": ("live_migration_abort", None),
    "live_migration_force_complete": ("live_migration_force_complete", None),
}
TASK_OPS = frozenset({"spawn", "destroy", "resize", "rescue", "rebuild", "reboot_soft",
                      "reboot_hard", *_POWER_OPS, *LIVE_OPS})
#: after these succeed the guest's taps may be new: the network agents look at once
#: (and after the plug_vif call)
HINT_OPS = frozenset({"spawn", "rebuild", "resize", "rescue", "unrescue", "reboot_soft",
                      "reboot_hard", "start", "resume", "post_live_migration_at_destination"})
CALL_OPS = frozenset({"console_output", "console_connect", "info", "diagnostics", "snapshot",
                      "attach_volume",
                      "detach_volume", "plug_vif", "unplug_vif", "set_admin_password",
                      "volume_snapshot_create", "volume_snapshot_delete"})
#: optional driver methods (a driver without one refuses the call)
_OPTIONAL = frozenset({"volume_snapshot_create", "volume_snapshot_delete"})
CONSOLE_KINDS = frozenset({"serial", "vnc"})
#: calls about the host rather than a guest (no uuid, no driver)
HOST_OPS = frozenset({"host_uptime"})


@dataclass(frozen=True)
class AgentOptions:
    heartbeat_interval: float = 10.0
    cpu_allocation_ratio: float = 16.0
    ram_allocation_ratio: float = 1.5
    disk_allocation_ratio: float = 1.0
    availability_zone: str | None = None
    state_dir: Path | None = None  # this host's directory; images cache in instances/_base
    console_listen: str = "127.0.0.1"  # the console proxy (see console_proxy.py)
    console_port: int = 6083
    console_base_url: str = ""
    migration_transport: str = "auto"  # how a move's disks come here (see disk_move)

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentOptions:
        return cls(heartbeat_interval=settings.heartbeat_interval,
                   cpu_allocation_ratio=settings.cpu_allocation_ratio,
                   ram_allocation_ratio=settings.ram_allocation_ratio,
                   disk_allocation_ratio=settings.disk_allocation_ratio,
                   console_listen=settings.serialproxy_host,
                   console_port=settings.serialproxy_port,
                   console_base_url=settings.console_base_url,
                   migration_transport=settings.migration_transport)


class ComputeAgent:
    """Serves one host's hypervisor (see module docstring)."""

    def __init__(self, host: str, driver: Driver, bus: Any, options: AgentOptions,
                 images: ImageCache | None = None,
                 on_crash: Callable[[BaseException], None] | None = None) -> None:
        self.host = host
        self.driver = driver
        self.bus = bus
        self.options = options
        if images is None and options.state_dir is not None:
            images = ImageCache(options.state_dir / "instances" / "_base", BusFetch(bus))
        self.images = images
        self.exports: disk_move.DiskExports | None = None
        self.pulls: disk_move.DiskPull | None = None
        if options.state_dir is not None:
            instances = options.state_dir / "instances"
            self.exports = disk_move.DiskExports(host, instances, driver)
            self.pulls = disk_move.DiskPull(bus, host, instances, options.migration_transport)
        self.on_crash = on_crash
        self.dead = False
        self._task: asyncio.Task[None] | None = None
        self._building: dict[str, set[asyncio.Task[Any]]] = {}  # spawns/rebuilds in flight
        self.consoles = ConsoleProxy(host, options.console_listen, options.console_port,
                                     options.console_base_url, self._check_console_token,
                                     novnc_dir())
        self._moving: dict[str, asyncio.Lock] = {}  # one disk move per guest at a time

    @property
    def topic(self) -> str:
        return f"compute.{self.host}"

    async def start(self) -> None:
        await self.bus.subscribe(self.topic, self.handle)
        await self.heartbeat()
        self._task = asyncio.create_task(self._heartbeats())

    async def stop(self) -> None:
        await self.consoles.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _heartbeats(self) -> None:
        while not self.dead:
            await asyncio.sleep(self.options.heartbeat_interval)
            try:
                await self.heartbeat()
            except Exception:  # the next beat retries; a missed one only delays
                LOG.exception("%s: heartbeat failed", self.host)

    async def heartbeat(self) -> None:
        inventory = asdict(await self._driver("inventory"))
        inventory.update(cpu_allocation_ratio=self.options.cpu_allocation_ratio,
                         ram_allocation_ratio=self.options.ram_allocation_ratio,
                         disk_allocation_ratio=self.options.disk_allocation_ratio)
        await self.bus.cast("conductor", {
            "op": "heartbeat", "host": self.host, "inventory": inventory,
            "availability_zone": self.options.availability_zone,
            "instances": await self._driver("list_instances"),
            "capabilities": dict(self.driver.capabilities),
        })

    async def _driver(self, method: str, *args: Any) -> Any:
        """Call a driver method, sync (in a worker thread) or async."""
        fn = getattr(self.driver, method)
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        result = await asyncio.to_thread(fn, *args)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _die(self, exc: BaseException) -> None:
        LOG.error("%s: compute agent crashed: %s", self.host, exc)
        self.dead = True
        if self._task is not None:
            self._task.cancel()
        if self.on_crash is not None:
            self.on_crash(exc)

    async def _report(self, msg: dict[str, Any], result: str, **extra: Any) -> None:
        await self.bus.cast("conductor", {
            "op": "report", "host": self.host, "uuid": msg.get("uuid"),
            "action": msg.get("op"), "result": result, "attempt": msg.get("attempt"),
            "purpose": msg.get("purpose"), **extra})

    async def handle(self, msg: dict[str, Any]) -> Any:
        if self.dead:
            return None  # a dead agent answers nothing
        op = msg.get("op")
        uuid = msg.get("uuid", "")
        if op in CALL_OPS:
            return await self._answer(op, uuid, msg)
        if op in HOST_OPS:
            return {"uptime": await asyncio.to_thread(host_uptime.describe)}
        if op in disk_move.OPS:
            if self.exports is None:
                return {"error": f"{self.host} keeps no guest disks to move"}
            return await self.exports.answer(op, msg)
        try:
            if op not in TASK_OPS:
                raise DriverError(f"unknown operation {op!r}")
            extra = await self._task_op(op, uuid, msg)
        except AgentCrash as exc:
            self._die(exc)
            return None
        except DriverError as exc:
            LOG.info("%s: %s of %s failed: %s", self.host, op, uuid, exc)
            await self._report(msg, "error", message=str(exc))
            return None
        except Exception as exc:  # a driver bug: report it rather than leave a task hanging
            LOG.exception("%s: %s of %s crashed", self.host, op, uuid)
            await self._report(msg, "error", message=f"{type(exc).__name__}: {exc}")
            return None
        if op in HINT_OPS:
            await self._hint_network()
        power = None
        if op != "destroy":
            with contextlib.suppress(DriverError):
                power = await self._driver("power_state", uuid)
        await self._report(msg, "ok", power_state=power, **(extra or {}))
        return None

    async def _hint_network(self) -> None:
        """Tell the network agents this host's devices changed (a new tap to wire)."""
        try:
            await NetworkRPC(self.bus).hint({"resource": "device", "host": self.host})
        except Exception as exc:  # a hint is best effort: the agents resync on a timer
            LOG.warning("%s: network hint failed: %s", self.host, exc)

    # -- tasks ----------------------------------------------------------------------------------
    async def _spec(self, msg: dict[str, Any], *, rescue: bool = False) -> InstanceSpec:
        if not isinstance(msg.get("spec"), dict):
            raise DriverError(f"{msg.get('op')} of {msg.get('uuid')} came without a spec")
        spec = InstanceSpec.from_dict(msg["spec"])
        if self.images is not None:
            spec = replace(spec, image=await self.images.resolve(spec.image))
            if rescue and spec.rescue_image is not None:
                spec = replace(spec, rescue_image=await self.images.resolve(spec.rescue_image))
        return spec

    async def _task_op(self, op: str, uuid: str, msg: dict[str, Any]) -> dict[str, Any] | None:
        """Do one task; returns what its report carries besides the outcome, if anything."""
        if op in LIVE_OPS:
            return await self._live_op(op, uuid, msg)
        if op == "destroy":
            self.consoles.close_instance(uuid)
            for building in self._building.pop(uuid, set()):
                building.cancel()  # a delete wins over a spawn still under way
            await self._driver("destroy", uuid)
        elif op in ("spawn", "rebuild"):
            me = asyncio.current_task()
            assert me is not None
            self._building.setdefault(uuid, set()).add(me)
            try:
                spec = await self._spec(msg)
                if op == "spawn":
                    await self._spawn(spec, msg)
                elif hasattr(self.driver, "rebuild"):
                    await self._driver("rebuild", spec)
                else:  # a driver without rebuild: a new guest in place of the old one
                    await self._driver("destroy", uuid)
                    await self._driver("spawn", spec)
            finally:
                tasks = self._building.get(uuid, set())
                tasks.discard(me)
                if not tasks:
                    self._building.pop(uuid, None)
        elif op == "resize":
            await self._driver("resize", await self._spec(msg))
        elif op == "rescue":
            await self._driver("rescue", await self._spec(msg, rescue=True))
        elif op in ("reboot_soft", "reboot_hard"):
            await self._driver("reboot", uuid, op == "reboot_hard")
        else:
            await self._driver(_POWER_OPS[op], uuid)
        return None

    async def _spawn(self, spec: InstanceSpec, msg: dict[str, Any]) -> None:
        """A spawn; that of a guest moving here from ``source`` (a cold migration or resize)
        brings its disks along when the driver keeps disks (``spawn_moved``)."""
        source = msg.get("source")
        if not source or source == self.host or self.pulls is None or \
                getattr(self.driver, "spawn_moved", None) is None:
            await self._driver("spawn", spec)
            return
        lock = self._moving.setdefault(spec.uuid, asyncio.Lock())
        async with lock:  # a re-sent spawn waits for the move under way, then finds it done
            with contextlib.suppress(DriverError):
                if await self._driver("power_state", spec.uuid) == RUNNING:
                    await self._driver("spawn", spec)  # here already (a retried message)
                    return
            moved: MovedDisks | None = None
            try:
                moved = await self.pulls.pull(spec.uuid, str(source),
                                              flatten=spec.image.path is None)
                await self._driver("spawn_moved", spec, moved)
            finally:
                if moved is not None and not moved.local:
                    await asyncio.to_thread(shutil.rmtree, moved.directory, True)

    async def _live_op(self, op: str, uuid: str, msg: dict[str, Any]) -> dict[str, Any] | None:
        method, key = LIVE_OPS[op]
        if not hasattr(self.driver, method):
            if op in ("rollback_live_migration_at_destination", "live_migration_abort"):
                return None  # nothing was prepared, nothing is under way
            what = "force a live migration to complete" \
                if op == "live_migration_force_complete" else "live-migrate guests"
            raise DriverError(f"{self.host}: the {type(self.driver).__name__} cannot {what}")
        if op == "pre_live_migration":
            answer = await self._driver(method, await self._spec(msg), str(msg.get("source")),
                                        msg.get("block_migration"))
        elif op == "live_migration":
            answer = await self._driver(method, uuid, str(msg["dest"]),
                                        dict(msg.get("migrate_data") or {}))
        elif op == "post_live_migration_at_destination":
            answer = await self._driver(method, await self._spec(msg),
                                        dict(msg.get("transfer") or {}))
        else:
            answer = await self._driver(method, uuid)
        return {key: answer or {}} if key else None

    # -- consoles -------------------------------------------------------------------------------
    async def _console_connect(self, uuid: str, kind: str) -> dict[str, Any]:
        """Where the guest's console is and the base URL of this host's proxy for it (the
        conductor then issues the token)."""
        if getattr(self.driver, "get_console", None) is None:
            return {"error": f"the {type(self.driver).__name__} of host {self.host} has no "
                    "remote consoles", "not_implemented": True}
        if kind not in CONSOLE_KINDS:
            raise ConsoleUnavailable(f"no {kind} consoles on host {self.host}")
        target: ConsoleTarget = await self._driver("get_console", uuid, kind)
        return {"target": target.to_dict(), "base_url": await self.consoles.ensure()}

    async def _check_console_token(self, token: str) -> dict[str, Any]:
        reply = await self.bus.call("conductor", {"op": "console_check_token",
                                                  "token": token, "host": self.host}, 10.0)
        return reply if isinstance(reply, dict) else {"error": "no answer"}

    # -- calls ----------------------------------------------------------------------------------
    async def _answer(self, op: str, uuid: str, msg: dict[str, Any]) -> dict[str, Any] | None:
        try:
            if op in _OPTIONAL and getattr(self.driver, op, None) is None:
                raise DriverError(f"the {type(self.driver).__name__} of host {self.host} "
                                  f"does not do {op}")
            if op == "console_output":
                return {"output": await self._driver("console_output", uuid)}
            if op == "console_connect":
                return await self._console_connect(uuid, str(msg.get("kind")))
            if op in ("info", "diagnostics"):
                return {"info": await self._driver("info", uuid)}
            if op == "snapshot":
                return {"snapshot": await self._driver("snapshot", uuid)}
            if op == "attach_volume":
                volume = VolumeConnection.from_dict(msg["volume"])
                return {"device": await self._driver("attach_volume", uuid, volume)}
            if op == "detach_volume":
                await self._driver("detach_volume", uuid, msg["volume_id"])
            elif op == "plug_vif":
                await self._driver("plug_vif", uuid, NetworkInterface.from_dict(msg["vif"]))
                await self._hint_network()
            elif op == "unplug_vif":
                await self._driver("unplug_vif", uuid, msg["port_id"])
            elif op == "volume_snapshot_create":
                await self._driver(op, uuid, str(msg["volume_id"]), dict(msg["create_info"]))
            elif op == "volume_snapshot_delete":
                await self._driver(op, uuid, str(msg["volume_id"]), str(msg["snapshot_id"]),
                                   dict(msg["delete_info"]))
            elif op == "set_admin_password":
                await self._driver("set_admin_password", uuid, str(msg["password"]))
            return {}
        except AgentCrash as exc:
            self._die(exc)
            return None
        except DriverError as exc:
            LOG.info("%s: %s of %s failed: %s", self.host, op, uuid, exc)
            return {"error": str(exc), "not_found": isinstance(exc, InstanceNotFound),
                    "unavailable": isinstance(exc, ConsoleUnavailable),
                    "not_ready": isinstance(exc, InstanceNotReady)}
        except (KeyError, TypeError) as exc:
            return {"error": f"bad {op} request: {type(exc).__name__}: {exc}"}
        except Exception as exc:
            LOG.exception("%s: %s of %s crashed", self.host, op, uuid)
            return {"error": f"{type(exc).__name__}: {exc}"}
