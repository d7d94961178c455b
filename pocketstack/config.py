"""One typed settings object for the whole cloud.

Built once in ``main`` from (lowest to highest precedence) the defaults below, a TOML settings
file (``--config FILE`` or ``POCKETSTACK_CONFIG``), environment variables ``POCKETSTACK_<NAME>``
and command-line flags, then passed down explicitly. There is no global configuration.

Every option is documented where it is declared; ``pocketstack config-doc`` prints them all.

A service may declare a *section* of its own options (a frozen dataclass whose fields use
:func:`_opt`, named by the service's ``ServiceSpec.settings``); its options are set the same
ways — flat in the TOML file, ``POCKETSTACK_<NAME>``, or a flag — and read with
``settings.section(TheSection)``. Option names are unique across the core and every section.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar


def _opt(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every option of a Pocketstack process."""

    state_dir: str = _opt(
        "./state",
        "Directory holding the SQLite database, Fernet keys, image store and clouds.yaml.",
    )
    host: str = _opt("127.0.0.1", "Address the API listens on.")
    port: int = _opt(8080, "Port the API listens on (all services share it, path-routed).")
    public_url: str = _opt(
        "",
        "Base URL published in the service catalog; default http://HOST:PORT.",
    )
    database_url: str = _opt(
        "",
        "SQLAlchemy URL of the database (sqlite:///..., postgresql+psycopg://..., "
        "mysql+pymysql://...). Default: SQLite file STATE_DIR/pocketstack.db.",
    )
    region: str = _opt("RegionOne", "Region name used by bootstrap and the catalog.")
    admin_password: str = _opt(
        "", "Password for the bootstrap admin user; generated (and saved) when empty."
    )
    password_hash_rounds: int = _opt(
        12, "bcrypt cost factor for user passwords and application-credential secrets."
    )
    token_expiration: int = _opt(3600, "Lifetime of issued tokens, in seconds.")
    allow_expired_window: int = _opt(
        172800, "How long after expiry a token may still be validated with allow_expired=1."
    )
    fernet_max_active_keys: int = _opt(3, "Number of Fernet keys kept by rotation.")
    lockout_failure_attempts: int = _opt(
        0, "Lock a user after this many consecutive failed logins (0 disables lockout)."
    )
    lockout_duration: int = _opt(1800, "Seconds a locked-out user stays locked.")
    unique_last_password_count: int = _opt(
        0, "How many previous passwords a user may not reuse (0 or 1 disables the check)."
    )
    minimum_password_age: int = _opt(
        0, "Days a password must be kept before its owner may change it again."
    )
    password_expires_days: int = _opt(0, "Days until a password expires (0: never).")
    password_regex: str = _opt("", "Regular expression every new password must match.")
    password_regex_description: str = _opt(
        "", "Human description of password_regex, shown when a password is refused."
    )
    federation_oidc_providers: str = _opt(
        "", "OpenID Connect settings of OS-FEDERATION identity providers, keyed by identity "
        "provider id: a JSON file path, inline JSON or a TOML table; each gives issuer, one of "
        "jwks (inline) / jwks_file / jwks_url, and optionally audience, claim_prefix "
        "(default OIDC-), algorithms (default RS256), leeway (seconds). See "
        "docs/operations.md.")
    policy_file: str = _opt(
        "", "policy.yaml overriding default policy rules (OpenStack rule syntax)."
    )
    unified_limit_enforcement_model: str = _opt(
        "flat", "Keystone unified limits enforcement model: flat, or strict_two_level (a "
        "project's limit may not exceed its domain's; projects nest at most two deep)."
    )
    quota_driver: str = _opt(
        "db", "Where compute quotas come from: db (os-quota-sets, Nova's DbQuotaDriver) or "
        "unified_limits (keystone registered limits and project limits of the compute service, "
        "as Nova's UnifiedLimitsDriver: servers, class:VCPU, class:MEMORY_MB, class:DISK_GB, "
        "server_metadata_items, server_key_pairs, server_groups, server_group_members; "
        "os-quota-sets then shows them and its updates change nothing).")
    use_keystone_limits: bool = _opt(
        False, "Image quotas from keystone unified limits of the image service (Glance's "
        "use_keystone_limits): image_count_total, image_count_uploading, image_size_total and "
        "image_stage_total (MiB); a limit that is not registered is 0. Otherwise the "
        "image_quota_* options apply.")
    image_quota_count: int = _opt(-1, "Images a project may own (-1: unlimited).")
    image_quota_size: int = _opt(-1, "Bytes of image data a project may store (-1: unlimited).")
    image_quota_stage: int = _opt(
        -1, "Bytes a project may have staged for import (-1: unlimited).")
    image_quota_uploading: int = _opt(-1, "Concurrent uploads per project (-1: unlimited).")
    image_size_cap: int = _opt(1 << 40, "Largest image accepted, in bytes.")
    image_property_quota: int = _opt(128, "Custom properties per image.")
    image_tag_quota: int = _opt(128, "Tags per image.")
    image_member_quota: int = _opt(128, "Members (sharing projects) per image.")
    image_import_allowed_ports: str = _opt(
        "80,443", "Ports an import task may download from (comma-separated; empty: any), as "
        "Glance's [import_filtering_opts] allowed_ports.")
    image_default: bool = _opt(True, "Register the small default image on first start.")
    image_cache: bool = _opt(
        False, "Glance's image cache on the API node (STATE/image-cache): the /v2/cache API "
        "queues images, a prefetcher copies them, and downloads of cached images are served "
        "from the cache. Off: the cache API answers 404, as Glance without image_cache_dir.")
    image_default_guest: bool = _opt(
        False, "Make the default image the bootable guest (pocketstack-guest, built from "
        "Debian packages with `pocketstack image build-guest`'s builder, cached in "
        "~/.cache/pocketstack/guest-image) instead of the empty stub; `up --guest-image`.")
    image_require_format_match: bool = _opt(
        True, "Refuse uploads whose content is not their declared disk_format (Glance's "
        "require_image_format_match; unsafe images are refused either way).")
    compute_hosts: int = _opt(1, "Number of in-process compute agents started by `up`.")
    compute_host_prefix: str = _opt("compute", "In-process compute hosts are PREFIX1..PREFIXN.")
    compute_driver: str = _opt(
        "auto", "Hypervisor driver of the compute agents, by name: a driver registered under "
        "the pocketstack.compute_drivers entry-point group (built in: fake, namespace, "
        "libvirt), or "
        "auto: namespace where the Linux data plane runs and namespace guests can (busybox, "
        "dropbear, qemu-img, curl, the cgroup v1 freezer), else fake.")
    dataplane: str = _opt(
        "auto", "Kernel data plane: none (networks are rows; agents keep their state in the "
        "database), linux (bridges, VXLAN, dnsmasq, routers and nftables security groups in "
        "the cloud's own network namespaces; needs root, ip, nft and dnsmasq) or auto (linux "
        "where it can run).")
    kernel_prefix: str = _opt(
        "", "Name prefix of every kernel object the cloud makes (namespaces, nft tables, "
        "processes); empty: ps + 4 hex digits of the state directory's path.")
    underlay_cidr: str = _opt(
        "10.254.0.0/24", "Addresses of the hosts' tunnel (VXLAN) interfaces on the cloud's "
        "private underlay bridge; host N (1-based) takes the network's address N+1.")
    physnet_gateways: str = _opt(
        "public:172.24.4.1/24", "Address of the world beyond each physical network, set in "
        "its namespace: PHYSNET:ADDRESS/PREFIX,... (devstack's br-ex has 172.24.4.1/24).")
    physnet_root_links: str = _opt(
        "", "Physical networks also wired to the machine's own network namespace "
        "(comma-separated), as devstack's br-ex: a veth named PREFIX-PHYSNET there takes the "
        "physnet's gateway address, so the machine reaches floating IPs directly (Tempest "
        "with validation needs it). Empty: nothing is made outside the cloud's namespaces.")
    dataplane_resync_interval: float = _opt(
        10.0, "Seconds between the network agents' full comparisons of kernel and model.")
    metadata_secret: str = _opt(
        "", "Secret shared by the metadata proxies and the metadata API (Neutron's "
        "metadata_proxy_shared_secret); empty: made once and kept in STATE/metadata_secret.")
    transport_url: str = _opt(
        "", "Message bus: empty for in-process, or amqp://user:pass@host:5672/ for RabbitMQ."
    )
    fake_vcpus: int = _opt(8, "vCPUs of each fake compute host.")
    fake_memory_mb: int = _opt(16384, "Memory (MB) of each fake compute host.")
    fake_disk_gb: int = _opt(200, "Disk (GB) of each fake compute host.")
    fake_fail: str = _opt(
        "", "Failures the fake driver produces, to rehearse them: comma-separated "
        "MODE[=SECONDS][@HOST] with MODE spawn (spawns fail), hang (spawns never return), "
        "crash (the agent dies mid-spawn), guest_dies=N (guests shut down N s after boot), "
        "spawn_delay=N, attach (volume attaches fail), attach_delay=N, live_migration (live "
        "migrations from the host fail), live_migration_delay=N. Without @HOST a mode applies "
        "to every host.")
    libvirt_virt_type: str = _opt(
        "auto", "Domain type of the libvirt driver's guests: kvm, qemu (TCG) or auto (kvm "
        "where a probe guest really runs under KVM, else qemu; probed once per machine boot).")
    force_raw_images: bool = _opt(
        True, "The libvirt driver converts each cached base image to raw (Nova's "
        "force_raw_images); false keeps it in its own format.")
    pointer_model: str = _opt(
        "usbtablet", "The libvirt driver's pointer device for the graphical console (Nova's "
        "pointer_model): usbtablet (a USB tablet, and so a USB controller) or ps2mouse (no "
        "tablet, no USB controller). An image's hw_pointer_model or hw_input_bus wins.")
    mem_stats_period_seconds: int = _opt(
        10, "Seconds between the memory statistics of a libvirt guest's virtio balloon "
        "(Nova's [libvirt] option); 0 gives guests no balloon device.")
    libvirt_nic_rom: bool = _opt(
        False, "Give each libvirt guest NIC its iPXE option ROM (network boot). Off: no "
        "guest boots from the network here, and the firmware would load and run the ROM "
        "at every boot.")
    disk_cachemodes: str = _opt(
        "file=writeback", "Cache mode of a libvirt guest's own disks (root, ephemeral, swap, "
        "rescue), as Nova's [libvirt] disk_cachemodes entry for file disks: file=MODE with "
        "MODE none (O_DIRECT, Nova's default), writeback, writethrough, directsync or unsafe. "
        "writeback here: the boot loader's hundreds of synchronous reads of the shared base "
        "image come from the host's page cache instead of the disk; guest flushes still reach "
        "the disk. Volumes are always none.")
    image_cache_max_age: int = _opt(
        86400, "Seconds an unused base image stays in a host's instances/_base before the "
        "image cache manager removes it (Nova's remove_unused_original_minimum_age_seconds).")
    shutdown_timeout: int = _opt(
        60, "Seconds the libvirt driver waits for a guest to power off on ACPI before it "
        "stops it (Nova's shutdown_timeout).")
    migration_transport: str = _opt(
        "auto", "How a cold migration or resize moves a guest's disks to its new host: auto "
        "(a local copy when the source host's agent reports this machine and an instances "
        "directory this agent sees, else chunked bus calls to the source's agent) or bus "
        "(always over the bus, e.g. to rehearse hosts on separate machines on one).")
    cpu_allocation_ratio: float = _opt(16.0, "vCPU overcommit ratio reported to placement.")
    ram_allocation_ratio: float = _opt(1.5, "RAM overcommit ratio reported to placement.")
    disk_allocation_ratio: float = _opt(1.0, "Disk overcommit ratio reported to placement.")
    scheduler_max_attempts: int = _opt(3, "Hosts tried for one boot before it goes to ERROR.")
    scheduler_cache_seconds: float = _opt(
        1.0, "How long the scheduler reuses its view of hosts before re-reading it (claims in "
        "placement stay authoritative; a host that lost a race is re-read at once).")
    scheduler_max_candidates: int = _opt(
        1000, "Hosts with room that are filtered and weighed per decision (a random sample "
        "when more fit), as Nova's max_placement_results.")
    scheduler_filters: str = _opt(
        "ComputeFilter,AvailabilityZoneFilter,ImagePropertiesFilter,"
        "ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,AggregateMultiTenancyFilter,"
        "SameHostFilter,DifferentHostFilter",
        "Scheduler filters, in order (resources are filtered by placement first); also known: "
        "AggregateInstanceExtraSpecsFilter, JsonFilter (the query hint).",
    )
    scheduler_weighers: str = _opt(
        "RAMWeigher,CPUWeigher,DiskWeigher,ServerGroupSoftAffinityWeigher",
        "Scheduler weighers (each normalised to 0..1, summed with multiplier 1).",
    )
    build_timeout: int = _opt(300, "Seconds a build may take before the reconciler acts.")
    task_timeout: int = _opt(120, "Seconds any other instance task may take.")
    reconcile_interval: float = _opt(2.0, "Seconds between conductor reconcile passes.")
    volume_attach_timeout: float = _opt(
        60.0, "Seconds a volume attach or detach may take on the server's host before it is "
        "rolled back (the volume back to available or in-use).")
    heartbeat_interval: float = _opt(10.0, "Seconds between compute agent heartbeats.")
    console_token_ttl: int = _opt(
        600, "Seconds a remote console URL's token stays valid (Nova's [consoleauth] "
        "token_ttl); a console session is closed when its token expires.")
    serialproxy_host: str = _opt(
        "127.0.0.1", "Address each compute agent's console proxy (serial and VNC over "
        "websockets) listens on; 0.0.0.0 to serve clients on other machines.")
    serialproxy_port: int = _opt(
        6083, "Port of the compute agent's console proxy (Nova's serialproxy port); when it "
        "is taken (another agent on this machine) the proxy takes a free one; 0: always a "
        "free one.")
    console_base_url: str = _opt(
        "", "Base of the console URLs a compute agent hands out, e.g. ws://HOST:6083 "
        "(Nova's [serial_console] base_url); default ws://SERIALPROXY_HOST:PORT with the "
        "port the proxy really has. VNC URLs add /vnc_lite.html over http(s).")
    service_down_time: int = _opt(60, "A service silent this long is reported down.")
    default_availability_zone: str = _opt("nova", "Availability zone of hosts not in one.")
    log_level: str = _opt("info", "Logging level: debug, info, warning, error.")
    access_log: bool = _opt(False, "Log every HTTP request.")
    workers_threads: int = _opt(32, "Threads available to request handlers.")
    max_request_body_size: int = _opt(
        114688, "Largest request body (bytes) identity and compute accept; larger is a 413, "
        "as Keystone's and Nova's max_request_body_size. Image and placement accept JSON "
        "bodies up to 1 MiB; image data uploads are streamed and bounded by image_size_cap.")
    api_workers: int = _opt(
        1, "Processes serving the API on the one port (the conductor and in-process agents "
        "stay in the main process; extra API processes hand it work over a Unix socket in "
        "the state directory, or over RabbitMQ when transport_url is set).")
    sections: Mapping[type, Any] = field(
        default_factory=dict, compare=False, metadata={"doc": "", "internal": True})

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_path / 'pocketstack.db'}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def effective_metadata_secret(self) -> str:
        """``metadata_secret``, or the one kept in ``STATE/metadata_secret`` (made once)."""
        from pocketstack.common.metadata_secret import load_or_create

        return load_or_create(self.metadata_secret, self.state_path)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def section(self, kind: type[S]) -> S:
        """A service's own options (defaults when the section was not loaded)."""
        found = self.sections.get(kind)
        return found if found is not None else kind()


S = TypeVar("S")


def _public_fields(kind: type) -> dict[str, Any]:
    return {f.name: f for f in fields(kind) if not f.metadata.get("internal")}


# options that take one of a few words
_CHOICES = {"unified_limit_enforcement_model": ("flat", "strict_two_level"),
            "quota_driver": ("db", "unified_limits"),
            "volume_quota_driver": ("db", "unified_limits")}


def _coerce(kind: Any, value: Any, name: str) -> Any:
    if isinstance(value, str):
        if kind in (bool, "bool"):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"option {name}: not a boolean: {value!r}")
        if kind in (int, "int"):
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"option {name}: not an integer: {value!r}") from None
        if kind in (float, "float"):
            try:
                return float(value)
            except ValueError:
                raise ValueError(f"option {name}: not a number: {value!r}") from None
    return value


def load_settings(
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    sections: Sequence[type] = (),
) -> Settings:
    """Build Settings from defaults, a TOML file, the environment and explicit overrides;
    ``sections`` are the services' own option classes, filled the same way."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    owner: dict[str, type] = {}
    known: dict[str, Any] = {}
    for kind in (Settings, *sections):
        for name, f in _public_fields(kind).items():
            if name in known:
                raise ValueError(f"option {name!r} is declared twice ({kind.__name__})")
            known[name] = f
            owner[name] = kind
    path = config_file or env.get("POCKETSTACK_CONFIG")
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        section = data.get("pocketstack", data)
        for key, value in section.items():
            if key not in known:
                raise ValueError(f"{path}: unknown option {key!r}")
            values[key] = value
    for name in known:
        env_value = env.get(f"POCKETSTACK_{name.upper()}")
        if env_value is not None:
            values[name] = env_value
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    coerced = {k: _coerce(known[k].type, v, k) for k, v in values.items()}
    for name, allowed in _CHOICES.items():
        if name in coerced and coerced[name] not in allowed:
            raise ValueError(f"option {name}: {coerced[name]!r} is not one of "
                             f"{', '.join(allowed)}")
    by_kind: dict[type, dict[str, Any]] = {kind: {} for kind in (Settings, *sections)}
    for name, value in coerced.items():
        by_kind[owner[name]][name] = value
    built = {kind: kind(**by_kind[kind]) for kind in sections}
    return Settings(**by_kind[Settings], sections=built)


def describe_options(sections: Sequence[type] = ()) -> str:
    """Render every option with its default and documentation (for `pocketstack config-doc`)."""
    lines = ["[pocketstack]"]
    for f in (f for kind in (Settings, *sections) for f in _public_fields(kind).values()):
        lines.append(f"# {f.metadata['doc']}")
        lines.append(f"# env: POCKETSTACK_{f.name.upper()}")
        lines.append(f"# {f.name} = {f.default!r}".replace("'", '"'))
        lines.append("")
    return "\n".join(lines)
