"""The block storage service's options (read with ``settings.section(VolumeSettings)``)."""

from __future__ import annotations

from dataclasses import dataclass

from pocketstack.config import _opt


@dataclass(frozen=True)
class VolumeSettings:
    """Storage backend, task deadlines, heartbeats and default quotas (Cinder-like)."""

    volume_backend_name: str = _opt(
        "file", "Backend name: the storage host is HOST@NAME (cinder-volume's host@backend).")
    volume_storage_host: str = _opt(
        "", "Host of the in-process storage agent (empty: the cloud's first compute host name).")
    volume_agent_in_process: bool = _opt(
        True, "Run the storage agent inside `pocketstack up` (else: `pocketstack agent volume`).")
    volume_task_timeout: float = _opt(
        600.0, "Seconds a volume may stay creating/deleting/extending before it goes to error.")
    volume_report_interval: float = _opt(10.0, "Seconds between storage agent heartbeats.")
    volume_progress_interval: float = _opt(
        2.0, "Seconds between progress reports of a long copy (the volume's `progress` "
        "metadata while it is created from an image, snapshot, volume or backup).")
    volume_copy_bps_limit: int = _opt(
        0, "Bytes per second an image-to-volume copy may write (0: no limit), as Cinder's.")
    volume_api_threads: int = _opt(
        4, "Block storage API requests handled at once (each in a worker thread); more wait "
        "their turn, first come first served. One Python process runs one thread at a time: "
        "more threads only queue for the interpreter lock, each holding up its database "
        "write the while (20 clients at once: create to available 2-6x slower with 40).")
    volume_service_down_time: int = _opt(60, "A storage service silent this long is down.")
    volume_availability_zone: str = _opt("nova", "Availability zone of the storage hosts.")
    volume_quota_driver: str = _opt(
        "db", "Where volume quotas come from: db (os-quota-sets) or unified_limits (keystone "
        "registered limits and project limits of the block-storage service, named as the "
        "quota set: volumes, gigabytes, snapshots, backups, backup_gigabytes, groups, "
        "per_volume_gigabytes; a name keystone does not hold keeps the volume_quota_* "
        "default; os-quota-sets then shows them and its updates change nothing).")
    volume_quota_volumes: int = _opt(10, "Default volumes per project (-1: unlimited).")
    volume_quota_gigabytes: int = _opt(1000, "Default GiB of volumes and snapshots per project.")
    volume_quota_snapshots: int = _opt(10, "Default snapshots per project.")
    volume_quota_per_volume_gigabytes: int = _opt(-1, "Largest volume (GiB; -1: no limit).")
    volume_quota_backups: int = _opt(10, "Default backups per project.")
    volume_quota_backup_gigabytes: int = _opt(1000, "Default GiB of backups per project.")
    volume_quota_groups: int = _opt(10, "Default groups per project.")
