"""What `run.py --validation` needs to know about the guests Tempest logs into.

Owns, per compute driver (`--compute-driver`), the tempest.conf options set before any `--set`
(which wins), the environment of the `pocketstack up` the harness starts, and the image Tempest
boots. Two drivers have guests Tempest can reach by SSH through floating IPs on `public`:

* ``namespace``: Linux namespaces running busybox and dropbear; they boot in well under a
  second and share the machine's tools; Tempest boots the harness's stub images.
* ``libvirt``: QEMU virtual machines (TCG here) booting ``pocketstack-guest``, the image
  `pocketstack image build-guest` makes (`up --guest-image` registers it; the cached build
  in ~/.cache/pocketstack/guest-image is reused); a guest is SSH-able 15-40 s after it starts
  on this loaded machine, so the timeouts are a TCG boot's, with room for two at once.

See docs/conformance.md ("With validation").
"""

from __future__ import annotations

import urllib.parse
from typing import Any

DRIVERS = ("namespace", "libvirt")

#: the image `up --guest-image` registers (pocketstack.image.guestimage.NAME)
GUEST_IMAGE = "pocketstack-guest"

#: for every driver: Tempest reaches the guests by SSH with the key pair through floating IPs
#: on `public`, which the cloud wires into this machine's namespace (devstack's br-ex)
COMMON_SETS = (
    "validation.run_validation=true",
    "validation.connect_method=floating",
    "validation.auth_method=keypair",
    # Nova (and Pocketstack) generate RSA key pairs; Tempest 47 defaults to ecdsa
    "validation.ssh_key_type=rsa",
    "validation.ip_version_for_ssh=4",
    # the metadata proxy on 169.254.169.254 (qdhcp namespace) and Nova's metadata API
    "compute-feature-enabled.metadata_service=true",
    # the guests' DHCP client (busybox), for test_subnet_details's lease renewal
    "scenario.dhcp_client=udhcpc",
    # port_security_enabled=false opens a port (nothing filtered): the scenario
    # test_boot_into_disabled_port_security_network_without_secgroup runs
    "network-feature-enabled.port_security=true",
)

DRIVER_SETS: dict[str, tuple[str, ...]] = {
    "namespace": (
        # a namespace guest's user (dropbear, key logins only)
        "validation.image_ssh_user=root",
        "validation.image_alt_ssh_user=root",
        # a guest boots in well under a second
        "validation.ping_timeout=60",
        "validation.connect_timeout=20",
        "validation.ssh_timeout=120",
    ),
    "libvirt": (
        # the guest image installs the key pair for root and `pocket`; root, as cirros'
        # images are used by devstack with `cirros` + sudo, here without the sudo
        "validation.image_ssh_user=root",
        "validation.image_alt_ssh_user=root",
        # TCG boots: SSH-able 15-40 s after QEMU starts on 2 loaded cores, longer while
        # several guests boot at once; ACTIVE (domain started) comes much sooner
        "validation.ping_timeout=240",
        "validation.connect_timeout=60",
        "validation.ssh_timeout=300",
        "compute.build_timeout=300",
        # what the libvirt driver does (pocketstack/agents/compute/drivers/libvirt.py):
        # console.log from the serial port, rescue from disk.rescue, resize (grows the root
        # disk, new vCPUs/memory), snapshot (qemu-img convert), pause (vCPUs stop), suspend
        # (managed save), shelve (snapshot + destroy), cold migration between this
        # machine's hosts, interface hot-plug, and an ISO 9660 config drive the guest reads
        "compute-feature-enabled.console_output=true",
        "compute-feature-enabled.rescue=true",
        "compute-feature-enabled.resize=true",
        "compute-feature-enabled.snapshot=true",
        "compute-feature-enabled.pause=true",
        "compute-feature-enabled.suspend=true",
        "compute-feature-enabled.shelve=true",
        "compute-feature-enabled.cold_migration=true",
        "compute-feature-enabled.interface_attach=true",
        "compute-feature-enabled.config_drive=true",
        # no QEMU guest agent in the image: the driver refuses a password change
        "compute-feature-enabled.change_password=false",
        # no live migration, no VNC/SPICE/serial console URL (README "What does not work")
        "compute-feature-enabled.live_migration=false",
        "compute-feature-enabled.vnc_console=false",
        "compute-feature-enabled.serial_console=false",
        "compute-feature-enabled.spice_console=false",
    ),
}


def check_driver(driver: str) -> str:
    if driver not in DRIVERS:
        raise ValueError(f"unknown compute driver {driver!r} (choose from {', '.join(DRIVERS)})")
    return driver


def validation_sets(driver: str) -> list[str]:
    """The tempest.conf options `--validation` sets for guests of ``driver``."""
    return list(COMMON_SETS) + list(DRIVER_SETS[check_driver(driver)])


def cloud_env(driver: str) -> dict[str, str]:
    """The environment of the cloud whose guests Tempest logs into."""
    env = {
        "POCKETSTACK_DATAPLANE": "linux",
        "POCKETSTACK_COMPUTE_DRIVER": check_driver(driver),
        # `public` wired to this machine's namespace for the floating IPs
        "POCKETSTACK_PHYSNET_ROOT_LINKS": "public",
    }
    if driver == "libvirt":
        # build (or take from the cache) and register the bootable guest image
        env["POCKETSTACK_IMAGE_DEFAULT_GUEST"] = "true"
    return env


def guest_image_id(images: list[dict[str, Any]]) -> str | None:
    """The newest active ``pocketstack-guest`` among an image listing."""
    found = [i for i in images if i.get("name") == GUEST_IMAGE and i.get("status") == "active"]
    found.sort(key=lambda i: str(i.get("created_at") or ""), reverse=True)
    return str(found[0]["id"]) if found else None


def set_guest_image(api: Any, conf: Any, image_base: str) -> str | None:
    """Make the registered guest image Tempest's ``image_ref`` and ``image_ref_alt`` (unless
    `--set` chose them); returns its id, or None when the cloud has none."""
    query = urllib.parse.urlencode({"name": GUEST_IMAGE})
    st, _, data = api.get(f"{image_base}/images?{query}")
    image = guest_image_id((data or {}).get("images", []) if st == 200 else [])
    if image is None:
        return None
    for opt in ("image_ref", "image_ref_alt"):
        if not conf.get("compute", opt):
            conf.set("compute", opt, image)
    return image
