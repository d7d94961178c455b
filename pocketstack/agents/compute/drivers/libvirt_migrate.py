"""The ``libvirt`` driver's live migration: a running QEMU guest moves to the libvirtd of
another compute host of this machine, its local disks copied as it runs.

Each host's libvirtd lives in its own network namespace (see :mod:`.libvirt_host`), so the
hosts share no network; they do share the file system. Everything therefore goes over UNIX
sockets (libvirt 6.6+): the source's daemon drives the move (``--p2p``) through the
destination daemon's socket; QEMU's memory stream (``--migrateuri unix://``) and the NBD copy
of the local disks (``--disks-uri unix://``, ``--copy-storage-inc`` on top of the same base
image) go through sockets in the destination's run directory. Tunnelled migration
(``--tunnelled``) cannot copy disks here: libvirt 9.0 then wants the destination's NBD server
on a TCP host, and the hosts' namespaces cannot reach each other.

Steps (the agent's ``pre_live_migration``, ``live_migration``,
``post_live_migration_at_destination``, ``rollback_live_migration_at_destination``):

* destination: the instance directory made as a spawn would (root overlay on its own copy of
  the base image, ephemeral/swap, config drive, taps in its namespace), nothing started; the
  sockets' paths and its instance directory go back to the source;
* source: ``virsh migrate --live --p2p --persistent --undefinesource --copy-storage-inc
  --migrate-disks <local disks>`` with the migratable XML whose paths name the destination's
  directory (attached volumes are files both hosts see: not copied); a guest whose memory does
  not converge within ``MIGRATION_TIMEOUT`` seconds is paused to finish (``--timeout-suspend``)
  and resumed on the destination;
* destination: the guest runs there; its record takes the volumes along;
* rollback: the destination's directory and taps go (unless the guest runs there).

A ``block_migration`` of ``false`` (shared storage) is refused: the hosts share no instance
storage. While the move runs (neither call waits for the guest's lock, which the move holds):

* an abort (``live_migration_abort``) cancels libvirt's migration job (``virsh domjobabort``),
  the ``virsh migrate`` fails and the conductor rolls back; the guest keeps running here;
* a force-complete (``live_migration_force_complete``) pauses the guest (``virsh suspend``),
  as Nova's driver does without post-copy: its memory stops changing, so the copy converges;
  the destination resumes it when it adopts the guest.

Either one finding no migration job under way does nothing more (the move already ended).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pocketstack.agents.compute.drivers import libvirt_files as files
from pocketstack.agents.compute.drivers import libvirt_guest as guest
from pocketstack.agents.compute.drivers.base import DriverError, InstanceSpec

if TYPE_CHECKING:
    from pocketstack.agents.compute.drivers.libvirt import LibvirtDriver

LOG = logging.getLogger(__name__)
MIGRATION_TIMEOUT = 60  # seconds of live copy before the guest is paused to finish
_VIRSH_MIGRATE_TIMEOUT = 600.0
_SUN_PATH_MAX = 107


def _sockets(driver: LibvirtDriver, uuid: str) -> tuple[Path, Path]:
    run_dir = driver.daemon.run_dir
    memory, disks = run_dir / f"m-{uuid[:8]}.sock", run_dir / f"d-{uuid[:8]}.sock"
    if len(str(disks)) > _SUN_PATH_MAX:
        raise DriverError(f"{driver.host}: the migration sockets' path {disks} is too long")
    return memory, disks


def prepare(driver: LibvirtDriver, spec: InstanceSpec, source: str,
            block_migration: bool | None) -> dict[str, Any]:
    """On the destination: everything but the guest (see the module docstring)."""
    uuid = spec.uuid
    if block_migration is False:
        raise DriverError(f"{driver.host}: instance {uuid} is not on shared storage: the "
                          "compute hosts share no instance directory, so a live migration "
                          "here is a block migration (block_migration true or auto)")
    with contextlib.suppress(DriverError):
        if guest.active(driver, uuid):
            raise DriverError(f"{driver.host}: instance {uuid} already runs here")
    guest.remove(driver, uuid)  # leftovers of an earlier attempt
    if spec.image.path is not None and not Path(spec.image.path).is_file():
        raise DriverError(f"{driver.host}: image file {spec.image.path} is missing.")
    base = guest.instance_dir(driver, uuid)
    base_dir = driver.instances_dir / "_base"
    with guest.removed_on_failure(driver, uuid, f"preparing for {uuid}"):
        image = None
        if spec.image.id and spec.image.path is not None:
            image = files.ensure_base(base_dir, spec.image, driver.force_raw_images)
        base.mkdir(parents=True, exist_ok=False)
        record: dict[str, Any] = {"spec": spec.to_dict(), "created_at": time.time(),
                                  "building": True, "incoming_from": source, "volumes": {}}
        guest.save(driver, uuid, record)
        files.make_instance_disks(base, base_dir, spec, image)
        guest.ensure_taps(driver, spec, replace=True)
        memory, nbd = _sockets(driver, uuid)
    return {"uri": f"qemu+unix:///system?socket={driver.daemon.socket}",
            "instances_dir": str(driver.instances_dir), "migrate_uri": f"unix://{memory}",
            "serial_socket": str(guest.console_socket(driver, uuid, "serial")),
            "vnc_socket": str(guest.console_socket(driver, uuid, "vnc")),
            "disks_uri": f"unix://{nbd}"}


def migrate(driver: LibvirtDriver, uuid: str, dest: str,
            migrate_data: dict[str, Any]) -> dict[str, Any]:
    """On the source: move the running guest (see the module docstring)."""
    record = guest.record(driver, uuid)
    if not guest.active(driver, uuid):
        raise DriverError(f"{driver.host}: instance {uuid} is not running; only a running "
                          "guest live-migrates")
    try:
        uri, target_dir = str(migrate_data["uri"]), str(migrate_data["instances_dir"])
        memory, nbd = str(migrate_data["migrate_uri"]), str(migrate_data["disks_uri"])
    except KeyError as exc:
        raise DriverError(f"{dest} sent no {exc} for the live migration") from None
    mine = str(driver.instances_dir)
    local = [d.target for d in guest.domain(driver, uuid, record).disks
             if d.path.startswith(mine + "/") and not d.readonly]
    xml = driver.virsh("dumpxml", "--migratable", uuid).replace(mine + "/", target_dir + "/")
    for kind in ("serial", "vnc"):  # the console sockets are in each host's run directory
        if migrate_data.get(f"{kind}_socket"):
            xml = xml.replace(f"'{guest.console_socket(driver, uuid, kind)}'",
                              f"'{migrate_data[kind + '_socket']}'")
    with tempfile.NamedTemporaryFile("w", suffix=".xml", dir=guest.instance_dir(driver, uuid),
                                     delete=False) as handle:
        handle.write(xml)
    copy = ["--copy-storage-inc", "--migrate-disks", ",".join(local), "--disks-uri", nbd] \
        if local else []  # a volume-backed guest without ephemeral disks has none to copy
    args = ["migrate", "--live", "--p2p", "--persistent", "--undefinesource", *copy,
            "--xml", handle.name, "--migrateuri", memory,
            "--timeout", str(MIGRATION_TIMEOUT), "--timeout-suspend", uuid, uri]
    started = time.monotonic()
    forced = guest.instance_dir(driver, uuid) / _FORCED
    forced.unlink(missing_ok=True)
    try:
        driver.daemon.virsh(*args, timeout=_VIRSH_MIGRATE_TIMEOUT)
    except DriverError:
        if forced.exists():  # paused for a move that then failed: the guest runs on here
            forced.unlink(missing_ok=True)
            with contextlib.suppress(DriverError):
                driver.virsh("resume", uuid)
        raise
    finally:
        Path(handle.name).unlink(missing_ok=True)
    LOG.info("%s: %s live-migrated to %s in %.1f s", driver.host, uuid, dest,
             time.monotonic() - started)
    return {"volumes": record.get("volumes") or {}, "resume": forced.exists()}


_FORCED = "force-completed"  # marker in the source's instance directory


def _job_running(driver: LibvirtDriver, uuid: str) -> bool:
    try:
        info = driver.virsh("domjobinfo", uuid)
    except DriverError:  # the guest has gone (the move finished) or is not here
        return False
    kinds = [line.split(":", 1)[1].strip() for line in info.splitlines()
             if line.startswith("Job type:")]
    return bool(kinds) and kinds[0] not in ("None", "Completed", "Failed", "Cancelled")


def abort(driver: LibvirtDriver, uuid: str) -> None:
    """On the source, during the move: cancel libvirt's job (see the module docstring)."""
    if _job_running(driver, uuid):
        driver.virsh("domjobabort", uuid, check=False)
        LOG.info("%s: live migration of %s aborted", driver.host, uuid)


def force_complete(driver: LibvirtDriver, uuid: str) -> None:
    """On the source, during the move: pause the guest (see the module docstring)."""
    if not _job_running(driver, uuid):
        raise DriverError(f"{driver.host}: no live migration of {uuid} runs here")
    (guest.instance_dir(driver, uuid) / _FORCED).touch()
    driver.virsh("suspend", uuid)
    LOG.info("%s: %s paused to complete its live migration", driver.host, uuid)


def adopt(driver: LibvirtDriver, spec: InstanceSpec, transfer: dict[str, Any]) -> None:
    """On the destination, after the move: the guest is this host's."""
    uuid = spec.uuid
    record = guest.record(driver, uuid)
    if not guest.active(driver, uuid):
        raise DriverError(f"{driver.host}: instance {uuid} did not arrive")
    record["volumes"] = dict(transfer.get("volumes") or record.get("volumes") or {})
    record.pop("building", None)
    record.pop("incoming_from", None)
    guest.save(driver, uuid, record)
    if transfer.get("resume") and "paused" in driver.virsh("domstate", uuid):
        driver.virsh("resume", uuid)  # paused by a force-complete on the source


def rollback(driver: LibvirtDriver, uuid: str) -> None:
    """On the destination, after a failed move: what ``prepare`` made goes."""
    with contextlib.suppress(DriverError):
        if guest.active(driver, uuid):
            LOG.warning("%s: %s runs here; not rolled back", driver.host, uuid)
            return
    guest.remove(driver, uuid)
