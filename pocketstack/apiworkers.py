"""``pocketstack up --api-workers N``: the API served by N processes on one port.

The main process binds the listening socket, bootstraps, runs the background roles (conductor,
in-process agents) and serves the API itself; it starts N-1 more processes (``pocketstack
_api-worker``) that inherit the socket — the kernel spreads connections between the processes
accepting on it — and serve the API only. They share the database (every cross-request cache
is keyed on a revision counter in it, so they never disagree) and hand work to the conductor:

* in-process bus (the default): over the main process's :class:`~.common.bus_relay.RelayServer`
  on ``STATE/bus.sock`` — a relayed cast is on the main bus before the API answers;
* RabbitMQ (``--transport-url amqp://…``): directly, as any process of the cloud.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pocketstack.config import Settings, _public_fields

SETTINGS_ENV = "POCKETSTACK_WORKER_SETTINGS"


def relay_path(settings: Settings) -> Path:
    return settings.state_path / "bus.sock"


def listen(settings: Settings) -> socket.socket:
    """The one listening socket every API process accepts on."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _encode(settings: Settings) -> str:
    values: dict[str, Any] = {name: getattr(settings, name) for name in _public_fields(Settings)}
    for kind, section in settings.sections.items():
        values.update({name: getattr(section, name) for name in _public_fields(kind)})
    return json.dumps(values)


def spawn(settings: Settings, sock: socket.socket, count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` API worker processes on ``sock``."""
    env = dict(os.environ, **{SETTINGS_ENV: _encode(settings)})
    return [subprocess.Popen([sys.executable, "-m", "pocketstack.cli", "_api-worker",
                              "--fd", str(sock.fileno())], pass_fds=(sock.fileno(),), env=env)
            for _ in range(count)]


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.terminate()
    for proc in workers:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def worker_settings() -> Settings:
    from pocketstack.config import load_settings
    from pocketstack.services import settings_sections

    values = json.loads(os.environ[SETTINGS_ENV])
    return load_settings(environ={}, overrides=values, sections=settings_sections())


def run_worker(fd: int) -> int:
    """One extra API process: serve on the inherited socket until told to stop."""
    import asyncio
    import signal

    import uvicorn

    from pocketstack.cloud import Cloud

    settings = worker_settings()
    sock = socket.socket(fileno=fd)
    if settings.transport_url:
        bus = None
    else:
        from pocketstack.common.bus_relay import RelayBus

        bus = RelayBus(relay_path(settings))
    cloud = Cloud(settings, bus=bus, api_only=True)
    server = uvicorn.Server(uvicorn.Config(
        cloud.app(), log_level="warning", access_log=settings.access_log, lifespan="on",
        server_header=False, date_header=True))

    parent = os.getppid()

    async def orphaned() -> None:  # the main process died without stopping us (kill -9)
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        server.should_exit = True

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        watch = asyncio.create_task(orphaned())
        await server.serve(sockets=[sock])
        watch.cancel()

    try:
        asyncio.run(serve())
    finally:
        cloud.close()
    return 0


__all__ = ["listen", "relay_path", "run_worker", "spawn", "stop"]
