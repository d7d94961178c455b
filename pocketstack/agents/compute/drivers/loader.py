"""Finding and building a hypervisor driver by name.

Drivers are registered under the ``pocketstack.compute_drivers`` entry-point group: the name
is the entry point's name, its object a factory ``(DriverContext) -> Driver`` (a class whose
constructor takes the context works too). Pocketstack declares its own ``fake`` driver there
in ``pyproject.toml``; another installed package adds one by declaring its own, e.g.::

    [project.entry-points."pocketstack.compute_drivers"]
    libvirt = "pocketstack_libvirt.driver:create"

The built-in drivers are also known without package metadata (``BUILTIN``), so a source
checkout whose installed metadata is stale still finds ``fake``; an installed entry point of
the same name wins.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pocketstack.agents.compute.agent import AgentOptions, ComputeAgent
from pocketstack.agents.compute.drivers.base import Driver, DriverContext

if TYPE_CHECKING:
    from pocketstack.config import Settings

GROUP = "pocketstack.compute_drivers"
BUILTIN = {"fake": "pocketstack.agents.compute.drivers.fake:create",
           "namespace": "pocketstack.agents.compute.drivers.namespace:create",
           "libvirt": "pocketstack.agents.compute.drivers.libvirt:create"}


class UnknownDriver(ValueError):
    """No driver of that name is installed."""


class DriverLoadError(ValueError):
    """A driver was found but could not be imported or built."""


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def available() -> dict[str, Callable[[], Any]]:
    """Driver names -> a loader of each one's factory (nothing is imported yet)."""
    found: dict[str, Callable[[], Any]] = {
        name: functools.partial(_resolve, target) for name, target in BUILTIN.items()}
    for ep in entry_points(group=GROUP):
        found[ep.name] = ep.load
    return found


def load_driver(name: str, context: DriverContext) -> Driver:
    """Build the driver called ``name`` for ``context.host``.

    Raises :class:`UnknownDriver` (naming the available drivers) for a name nobody
    registered, :class:`DriverLoadError` when the driver's code fails to load or build.
    """
    drivers = available()
    if name not in drivers:
        names = ", ".join(sorted(drivers)) or "none"
        raise UnknownDriver(f"unknown compute driver {name!r}; available: {names} "
                            f"(drivers register under the {GROUP!r} entry-point group)")
    try:
        factory = drivers[name]()
    except Exception as exc:
        raise DriverLoadError(f"compute driver {name!r} failed to load: "
                              f"{type(exc).__name__}: {exc}") from exc
    if not callable(factory):
        raise DriverLoadError(f"compute driver {name!r} is not a factory: {factory!r}")
    try:
        driver = factory(context)
    except (ValueError, TypeError) as exc:
        raise DriverLoadError(f"compute driver {name!r} refused its configuration for host "
                              f"{context.host}: {exc}") from exc
    return cast(Driver, driver)


def driver_name(settings: Settings) -> str:
    """The driver ``compute_driver`` names; ``auto``: ``namespace`` where the Linux data
    plane runs (``dataplane``) and namespace guests can, else ``fake``."""
    if settings.compute_driver != "auto":
        return settings.compute_driver
    from pocketstack.agents.compute.drivers.namespace import missing
    from pocketstack.agents.network.host import dataplane_on

    return "namespace" if dataplane_on(settings) and missing() is None else "fake"


def check_settings(settings: Settings) -> None:
    """Refuse, before anything starts, a driver name nobody registered or a ``fake_fail``
    the fake driver cannot parse (raises ValueError with the reason)."""
    drivers = available()
    name = driver_name(settings)
    if name not in drivers:
        names = ", ".join(sorted(drivers)) or "none"
        raise UnknownDriver(f"unknown compute driver {name!r}; available: {names}")
    if settings.migration_transport not in ("auto", "bus"):
        raise ValueError(f"migration_transport {settings.migration_transport!r}: expected "
                         "auto or bus")
    if settings.fake_fail:
        from pocketstack.agents.compute.drivers.fake import FailureModes

        FailureModes.parse(settings.fake_fail, "")


def load_agent(host: str, settings: Settings, bus: Any, options: AgentOptions,
               state_dir: Path, on_crash: Callable[[BaseException], None] | None = None,
               ) -> ComputeAgent:
    """The compute agent of ``host``: its driver (``settings.compute_driver``) built with
    ``state_dir`` as the host's own directory, where the agent also caches images."""
    driver = load_driver(driver_name(settings), DriverContext(host, settings, state_dir))
    return ComputeAgent(host, driver, bus, replace(options, state_dir=state_dir),
                        on_crash=on_crash)
