"""The ``pocketstack`` command: ``up``, ``agent compute|network|volume``, ``clean``, ``explain``,
``db upgrade``, ``fernet rotate``, ``config-doc``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pocketstack import __version__
from pocketstack.config import Settings, describe_options, load_settings

LOG = logging.getLogger("pocketstack")
KEEP_ALIVE_SECONDS = 75


def openstack_command(path: str | None = None) -> str:
    """How to run the stock ``openstack`` CLI from the user's shell: plain ``openstack``
    when that is the one on ``PATH``, else the one installed beside this ``pocketstack``
    (the virtualenv ``make setup`` made, which is usually not on ``PATH``)."""
    beside = Path(sys.executable).parent / "openstack"
    found = shutil.which("openstack", path=path)
    if found is not None and (not beside.exists() or Path(found).samefile(beside)):
        return "openstack"
    if beside.exists():
        return shlex.quote(str(beside))
    return "openstack"  # not installed here: `pip install python-openstackclient`


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pocketstack", description=__doc__)
    p.add_argument("--version", action="version", version=f"pocketstack {__version__}")
    p.add_argument("--config", help="TOML settings file (see `pocketstack config-doc`)")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run a whole cloud in the foreground")
    up.add_argument("--state-dir", dest="state_dir")
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.add_argument("--public-url", dest="public_url")
    up.add_argument("--database-url", dest="database_url")
    up.add_argument("--admin-password", dest="admin_password")
    up.add_argument("--hosts", "--compute-hosts", dest="compute_hosts", type=int,
                    help="compute hosts (each its own namespace with the Linux data plane)")
    up.add_argument("--policy-file", dest="policy_file")
    up.add_argument("--transport-url", dest="transport_url",
                    help="amqp://user:pass@host:5672/ to let agents on other hosts join")
    up.add_argument("--api-workers", dest="api_workers", type=int,
                    help="processes serving the API (default 1)")
    up.add_argument("--guest-image", dest="image_default_guest", action="store_const",
                    const=True, help="on first start, build the bootable guest image from "
                    "Debian packages and register it as the default image instead of the stub")
    worker = sub.add_parser("_api-worker")  # started by `up --api-workers N`, not by users
    worker.add_argument("--fd", type=int, required=True)
    up.add_argument("--compute-driver", dest="compute_driver",
                    help="hypervisor driver of the in-process compute hosts (default fake)")
    up.add_argument("--fake-fail", dest="fake_fail",
                    help="fake driver failure modes, e.g. spawn, hang, crash, guest_dies=5")
    up.add_argument("--dataplane", choices=["none", "linux", "auto"],
                    help="kernel data plane: none (default), linux or auto")

    agent = sub.add_parser("agent", help="run an agent that joins a cloud over the bus")
    agent_sub = agent.add_subparsers(dest="agent_kind", required=True)
    compute = agent_sub.add_parser("compute", help="a compute host (hypervisor driver)")
    compute.add_argument("--host", required=True, help="this compute host's name")
    compute.add_argument("--transport-url", dest="transport_url", required=True)
    compute.add_argument("--driver", dest="compute_driver",
                         help="hypervisor driver by name (default fake)")
    compute.add_argument("--state-dir", dest="state_dir",
                         help="directory for this host's state (guests, image cache)")
    compute.add_argument("--fake-fail", dest="fake_fail",
                         help="fake driver failure modes, e.g. spawn, hang, crash, guest_dies=5")
    compute.add_argument("--vcpus", dest="fake_vcpus", type=int)
    compute.add_argument("--memory-mb", dest="fake_memory_mb", type=int)
    compute.add_argument("--disk-gb", dest="fake_disk_gb", type=int)
    network = agent_sub.add_parser("network", help="a host's network agents (Linux data plane)")
    network.add_argument("--host", required=True, help="this host's name (e.g. compute2)")
    network.add_argument("--host-index", dest="host_index", type=int, required=True,
                         help="the host's number N: its underlay address is underlay_cidr + N+1")
    network.add_argument("--transport-url", dest="transport_url", required=True)
    network.add_argument("--network-node", dest="network_node", action="store_true",
                         help="also run DHCP, L3 and the metadata proxy here")
    network.add_argument("--state-dir", dest="state_dir",
                         help="the cloud's state directory (kernel prefix, metadata secret)")
    network.add_argument("--kernel-prefix", dest="kernel_prefix")

    volume = agent_sub.add_parser("volume", help="a storage host (cinder-volume, file backend)")
    volume.add_argument("--host", required=True, help="this storage host's name (HOST or "
                        "HOST@BACKEND)")
    volume.add_argument("--transport-url", dest="transport_url", required=True)
    volume.add_argument("--state-dir", dest="state_dir",
                        help="directory whose volumes/<host@backend>/ keeps the volume files")

    clean = sub.add_parser("clean", help="remove every kernel object of the cloud "
                           "(namespaces, their links and processes)")
    clean.add_argument("--state-dir", dest="state_dir")
    clean.add_argument("--kernel-prefix", dest="kernel_prefix")

    explain = sub.add_parser("explain", help="why the scheduler placed (or refused) a server")
    explain.add_argument("kind", choices=["server"])
    explain.add_argument("server_id")
    explain.add_argument("--state-dir", dest="state_dir")
    explain.add_argument("--database-url", dest="database_url")
    explain.add_argument("--json", action="store_true", help="print the raw records")

    trace = sub.add_parser("trace", help="the path a packet takes through the virtual network")
    trace.add_argument("source", help="a server (name or id) or a port (id or name)")
    trace.add_argument("--to", required=True, help="an IP address or a server")
    trace.add_argument("--protocol", choices=["icmp", "tcp", "udp"], default="icmp")
    trace.add_argument("--port", type=int, help="destination port (tcp, udp)")
    trace.add_argument("--live", action="store_true",
                       help="check each hop in the kernel and send one real probe")
    trace.add_argument("--json", action="store_true")
    trace.add_argument("--state-dir", dest="state_dir")
    trace.add_argument("--database-url", dest="database_url")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upg = db_sub.add_parser("upgrade", help="apply migrations")
    upg.add_argument("--state-dir", dest="state_dir")
    upg.add_argument("--database-url", dest="database_url")
    upg.add_argument("revision", nargs="?", default="head")

    fernet = sub.add_parser("fernet", help="token keys")
    f_sub = fernet.add_subparsers(dest="fernet_command", required=True)
    rot = f_sub.add_parser("rotate", help="promote the staged key, stage a new one")
    rot.add_argument("--state-dir", dest="state_dir")

    image = sub.add_parser("image", help="guest images")
    image_sub = image.add_subparsers(dest="image_command", required=True)
    guest = image_sub.add_parser(
        "build-guest", help="build the small bootable guest image (qcow2) from Debian packages")
    guest.add_argument("--output", help="where to write the qcow2 (default: "
                       "~/.cache/pocketstack/guest-image/pocketstack-guest.qcow2)")
    guest.add_argument("--cache-dir", dest="cache_dir",
                       help="downloaded and unpacked .debs (default ~/.cache/pocketstack/"
                       "guest-image)")
    guest.add_argument("--kernel-package", dest="kernel_package",
                       default="linux-image-cloud-amd64",
                       help="Debian kernel package (default linux-image-cloud-amd64)")
    guest.add_argument("--register", action="store_true",
                       help="upload it to the running cloud's image service as the default "
                       "image (pocketstack-guest), replacing an older one of that name")
    guest.add_argument("--state-dir", dest="state_dir",
                       help="the cloud whose clouds.yaml --register uses")
    guest.add_argument("--os-cloud", dest="os_cloud", default="pocketstack-admin",
                       help="the clouds.yaml entry --register uses (default pocketstack-admin)")
    guest.add_argument("--clouds-yaml", dest="clouds_yaml",
                       help="clouds.yaml for --register (default: the state directory's)")

    sub.add_parser("config-doc", help="print every option with its documentation")
    return p


def _dataplane_line(settings: Settings) -> str:
    """What the cloud's guests and networks are, for the ready banner."""
    from pocketstack.agents.compute.drivers.loader import driver_name
    from pocketstack.agents.kernel import run
    from pocketstack.agents.kernel.names import KernelNames
    from pocketstack.agents.network.host import dataplane_on

    driver = driver_name(settings)
    if not dataplane_on(settings):
        why = run.missing() if settings.dataplane == "auto" else None
        return (f"data plane: none (networks are the model only{': ' + why if why else ''}); "
                f"compute driver: {driver}")
    prefix = KernelNames.for_settings(settings.kernel_prefix, settings.state_path).prefix
    return (f"data plane: linux in namespaces {prefix}-* (reach floating IPs with "
            f"`ip netns exec {prefix}-phys-public ...`; remove with `pocketstack clean`); "
            f"compute driver: {driver}")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for key in ("state_dir", "host", "port", "public_url", "database_url", "admin_password",
                "compute_hosts", "policy_file", "transport_url", "compute_driver", "fake_vcpus",
                "fake_memory_mb", "fake_disk_gb", "api_workers", "fake_fail", "dataplane",
                "kernel_prefix", "image_default_guest"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    from pocketstack.services import settings_sections

    return load_settings(args.config, overrides=overrides, sections=settings_sections())


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def cmd_up(settings: Settings, started: float) -> int:
    import uvicorn

    from pocketstack.cloud import Cloud

    cloud = Cloud(settings)
    cloud.prepare()
    sock = None
    workers: list[Any] = []
    if settings.api_workers > 1:
        from pocketstack import apiworkers

        sock = apiworkers.listen(settings)
        if not settings.transport_url:
            from pocketstack.common.bus_relay import RelayServer

            cloud.extra_roles.append(RelayServer(cloud.bus, apiworkers.relay_path(settings)))
    config = uvicorn.Config(
        cloud.app(),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=settings.access_log,
        lifespan="on",
        server_header=False,
        date_header=True,
        # Clients poll every few seconds on kept-alive connections (`openstack … --wait`
        # every 5 s): an idle timeout as short as that races their next request into a reset.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        task = asyncio.create_task(server.serve(sockets=[sock] if sock else None))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started and sock is not None:
            from pocketstack import apiworkers

            workers.extend(apiworkers.spawn(settings, sock, settings.api_workers - 1))
        if server.started:
            elapsed = time.monotonic() - started
            url = settings.effective_public_url
            clouds = settings.state_path / "clouds.yaml"
            print(f"Pocketstack {__version__} is ready at {url} ({elapsed:.2f}s)\n"
                  f"  {_dataplane_line(settings)}\n"
                  f"  clouds.yaml: {clouds}\n"
                  f"  try: OS_CLIENT_CONFIG_FILE={shlex.quote(str(clouds))} "
                  f"{openstack_command()} --os-cloud pocketstack-admin token issue", flush=True)
        await task

    try:
        asyncio.run(serve())
    finally:
        if workers:
            from pocketstack import apiworkers

            apiworkers.stop(workers)
        cloud.close()
    return 0


def cmd_clean(settings: Settings) -> int:
    """Remove the cloud's namespaces (with their links and processes) and its pid files."""
    from pocketstack.agents.kernel import cleanup, run
    from pocketstack.agents.kernel.names import KernelNames

    names = KernelNames.for_settings(settings.kernel_prefix, settings.state_path)
    try:
        removed = cleanup.remove_all(names, settings.state_path)
    except run.KernelError as exc:
        print(f"pocketstack: {exc}", file=sys.stderr)
        return 1
    for netns in removed:
        print(f"removed namespace {netns}")
    print(f"{len(removed)} namespaces of {names.prefix}-* removed" if removed
          else f"nothing to remove: no namespace {names.prefix}-*")
    return 0


def cmd_build_guest(settings: Settings, args: argparse.Namespace) -> int:
    """Build the guest image; with ``--register`` upload it to the running cloud."""
    from pathlib import Path

    from pocketstack.image import guestimage
    from pocketstack.image.guestimage import upload

    cache = Path(args.cache_dir) if args.cache_dir else guestimage.default_cache_dir()
    output = Path(args.output) if args.output else cache / f"{guestimage.NAME}.qcow2"
    try:
        built = guestimage.build_guest_image(output, cache, kernel_package=args.kernel_package)
    except guestimage.GuestBuildError as exc:
        print(f"pocketstack: cannot build the guest image: {exc}", file=sys.stderr)
        return 1
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in built.timings.items())
    print(f"built {built.path} in {built.seconds:.1f}s ({steps}): {built.size / 2**20:.1f} MiB, "
          f"virtual {built.virtual_size / 2**20:.0f} MiB, kernel {built.kernel_version}, "
          f"SSH users root and {built.ssh_user}")
    if args.register:
        clouds = Path(args.clouds_yaml) if args.clouds_yaml else \
            settings.state_path / "clouds.yaml"
        try:
            image_id = upload.upload(built.path, clouds, args.os_cloud, guestimage.NAME,
                                     dict(guestimage.PROPERTIES))
        except guestimage.GuestBuildError as exc:
            print(f"pocketstack: cannot register the guest image: {exc}", file=sys.stderr)
            return 1
        print(f"registered image {guestimage.NAME} ({image_id})")
    return 0


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = _parser().parse_args(argv)
    if args.command == "_api-worker":
        from pocketstack.apiworkers import run_worker

        logging.basicConfig(level=logging.WARNING)
        return run_worker(args.fd)
    if args.command == "config-doc":
        from pocketstack.services import settings_sections

        print(describe_options(settings_sections()))
        return 0
    try:
        settings = _settings(args)
    except (ValueError, OSError) as exc:
        print(f"pocketstack: {exc}", file=sys.stderr)
        return 2
    _logging(settings)
    if args.command in ("up", "agent"):
        from pocketstack.agents.compute.drivers.loader import check_settings

        try:
            check_settings(settings)
        except ValueError as exc:
            print(f"pocketstack: {exc}", file=sys.stderr)
            return 2
    if args.command == "up":
        if settings.image_default_guest:
            from pocketstack.image.guestimage import check_tools

            missing = check_tools()
            if missing:
                print(f"pocketstack: --guest-image: cannot build the guest image: {missing}",
                      file=sys.stderr)
                return 2
        return cmd_up(settings, started)
    if args.command == "image":
        return cmd_build_guest(settings, args)
    if args.command == "agent" and args.agent_kind == "volume":
        from pocketstack.agents.volume.runner import run_volume_agent
        from pocketstack.volume.settings import VolumeSettings

        vs = settings.section(VolumeSettings)
        return run_volume_agent(settings, args.host, vs.volume_backend_name,
                                vs.volume_report_interval, vs.volume_availability_zone)
    if args.command == "agent" and args.agent_kind == "network":
        from pocketstack.agents.network.process import run_network_agent

        return run_network_agent(settings, args.host, args.host_index, args.network_node)
    if args.command == "agent":
        from pocketstack.agents.compute.runner import run_compute_agent

        return run_compute_agent(settings, args.host)
    if args.command == "clean":
        return cmd_clean(settings)
    if args.command == "explain":
        from pocketstack.compute.explain import explain_server

        return explain_server(settings, args.server_id, as_json=args.json)
    if args.command == "trace":
        from pocketstack.network.tracecmd import main as trace_main

        return trace_main(settings, args.source, args.to, args.protocol, args.port,
                          as_json=args.json, live=args.live)
    if args.command == "db":
        from pocketstack.common import migrate
        from pocketstack.common.db import Database

        settings.state_path.mkdir(parents=True, exist_ok=True)
        db = Database(settings.effective_database_url)
        migrate.upgrade(db, args.revision)
        print(f"database at revision {migrate.current_revision(db)}")
        db.dispose()
        return 0
    if args.command == "fernet":
        from pocketstack.identity.fernet import KeyRepository

        repo = KeyRepository(settings.state_path / "fernet-keys", settings.fernet_max_active_keys)
        primary = repo.rotate()
        print(f"rotated: key {primary} is now primary")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
