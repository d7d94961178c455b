"""Instance state model: vm_state / task_state / power_state, and the API status they show.

Which actions are allowed in which states (Nova's ``check_instance_state``), as data.
"""

from __future__ import annotations

BUILDING, ACTIVE, STOPPED, PAUSED, SUSPENDED = "building", "active", "stopped", "paused", \
    "suspended"
RESIZED, ERROR, DELETED, SHELVED, SHELVED_OFFLOADED, RESCUED = "resized", "error", "deleted", \
    "shelved", "shelved_offloaded", "rescued"
SOFT_DELETED = "soft-delete"

# task states
SCHEDULING, SPAWNING, DELETING = "scheduling", "spawning", "deleting"
POWERING_OFF, POWERING_ON, REBOOTING, REBOOTING_HARD = "powering-off", "powering-on", \
    "rebooting", "rebooting_hard"
PAUSING, UNPAUSING, SUSPENDING, RESUMING = "pausing", "unpausing", "suspending", "resuming"
RESIZE_PREP, RESIZE_FINISH, RESIZE_REVERTING, RESIZE_CONFIRMING = "resize_prep", \
    "resize_finish", "resize_reverting", "resize_confirming"
REBUILDING, MIGRATING, SHELVING, UNSHELVING = "rebuilding", "migrating", "shelving", \
    "unshelving"
RESCUING, UNRESCUING, IMAGE_SNAPSHOT = "rescuing", "unrescuing", "image_snapshot"
IMAGE_BACKUP, IMAGE_UPLOADING = "image_backup", "image_uploading"
SOFT_DELETING, RESTORING = "soft-deleting", "restoring"

# internal scheduler hints that carry shelve's facts from the API to the conductor
SNAPSHOT_IMAGE_HINT = "_snapshot_image"  # createImage's image the conductor is to fill
SHELVED_IMAGE_HINT = "_shelved_image"  # the <name>-shelved snapshot unshelve boots from
UNSHELVE_HOST_HINT = "_unshelve_host"  # the host an unshelve was asked to use (2.91)
# a live migration's request and progress ({"host", "force", "block_migration", "dest", ...})
LIVE_MIGRATION_HINT = "_live_migration"
# a volume-backed server's rebuild from 2.93: {"volume_id", "image_id"} to re-image first
REIMAGE_ROOT_HINT = "_reimage_root"
# the vm_state a soft-deleted server had (restored to it when it has no guest to power on)
BEFORE_SOFT_DELETE_HINT = "_before_soft_delete"

_STATUS = {
    BUILDING: "BUILD", ACTIVE: "ACTIVE", STOPPED: "SHUTOFF", PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED", RESIZED: "VERIFY_RESIZE", ERROR: "ERROR", DELETED: "DELETED",
    SHELVED: "SHELVED", SHELVED_OFFLOADED: "SHELVED_OFFLOADED", RESCUED: "RESCUE",
    SOFT_DELETED: "SOFT_DELETED",
}
_TASK_STATUS = {
    REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT", RESIZE_PREP: "RESIZE",
    RESIZE_FINISH: "RESIZE", MIGRATING: "MIGRATING", REBUILDING: "REBUILD",
    RESIZE_REVERTING: "REVERT_RESIZE",
}


def status(vm_state: str, task_state: str | None) -> str:
    if vm_state == PAUSED and task_state == MIGRATING:  # a paused server live-migrating
        return "MIGRATING"
    if vm_state in (ACTIVE, STOPPED, RESIZED) and task_state in _TASK_STATUS:
        if vm_state == RESIZED and task_state != RESIZE_REVERTING:
            return "VERIFY_RESIZE"
        return _TASK_STATUS[task_state]
    return _STATUS.get(vm_state, "UNKNOWN")


# action -> (vm_states it may start from, task_state it sets)
ACTIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "stop": ((ACTIVE, RESCUED, ERROR), POWERING_OFF),
    "start": ((STOPPED,), POWERING_ON),
    "reboot_soft": ((ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR), REBOOTING),
    "reboot_hard": ((ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR), REBOOTING_HARD),
    "pause": ((ACTIVE, RESCUED), PAUSING),
    "unpause": ((PAUSED,), UNPAUSING),
    "suspend": ((ACTIVE,), SUSPENDING),
    "resume": ((SUSPENDED,), RESUMING),
    "resize": ((ACTIVE, STOPPED), RESIZE_PREP),
    "migrate": ((ACTIVE, STOPPED), RESIZE_PREP),
    "live_migrate": ((ACTIVE, PAUSED), MIGRATING),
    "confirm_resize": ((RESIZED,), RESIZE_CONFIRMING),
    "revert_resize": ((RESIZED,), RESIZE_REVERTING),
    "rebuild": ((ACTIVE, STOPPED, ERROR), REBUILDING),
    "shelve": ((ACTIVE, STOPPED, PAUSED, SUSPENDED), SHELVING),
    "shelve_offload": ((SHELVED,), SHELVING),
    "unshelve": ((SHELVED, SHELVED_OFFLOADED), UNSHELVING),
    "rescue": ((ACTIVE, STOPPED, ERROR), RESCUING),
    "unrescue": ((RESCUED,), UNRESCUING),
    "create_image": ((ACTIVE, STOPPED, PAUSED, SUSPENDED), IMAGE_SNAPSHOT),
    "create_backup": ((ACTIVE, STOPPED, PAUSED, SUSPENDED), IMAGE_BACKUP),
    "restore": ((SOFT_DELETED,), RESTORING),
}

# Actions that run on the hypervisor; their success sets these states.
RESULTS: dict[str, tuple[str, int]] = {
    "stop": (STOPPED, 4), "start": (ACTIVE, 1), "reboot_soft": (ACTIVE, 1),
    "reboot_hard": (ACTIVE, 1), "pause": (PAUSED, 3), "unpause": (ACTIVE, 1),
    "suspend": (SUSPENDED, 7), "resume": (ACTIVE, 1), "rescue": (RESCUED, 1),
    "unrescue": (ACTIVE, 1),
}

# A hard reboot may replace these tasks (Nova's ALLOW_REBOOT: a stuck soft reboot, pause,
# suspend... is recovered by a hard reboot); every other action needs no task in flight.
REPLACEABLE: dict[str, dict[str, str]] = {
    "reboot_hard": {REBOOTING: "reboot", REBOOTING_HARD: "reboot", RESUMING: "resume",
                    UNPAUSING: "unpause", PAUSING: "pause", SUSPENDING: "suspend"},
}
