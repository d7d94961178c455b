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
import urllib.request
from typing import Any

DRIVERS = ("namespace", "libvirt")

#: the image `up --guest-image` registers (pocketstack.image.guestimage.NAME)
GUEST_IMAGE = "pocketstack-guest"
#: a copy of it, Tempest's image_ref_alt: tests that filter by image or rebuild to another
#: image need two distinct images ("Need distinct images to run this test")
GUEST_IMAGE_ALT = GUEST_IMAGE + "-alt"
#: the guest image's properties the copy keeps (bus and NIC models, users)
_COPIED = ("hw_", "os_distro", "os_type", "os_admin_user", "default_user")

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
        # what the libvirt driver does (pocketstack/agents/compute/drivers/libvirt*.py):
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
        # serial console (ttyS0 on a UNIX socket, logged to console.log) and VNC (a UNIX
        # socket) through the agent's websocket proxy; no SPICE
        "compute-feature-enabled.vnc_console=true",
        "compute-feature-enabled.serial_console=true",
        "compute-feature-enabled.spice_console=false",
        # no live migration in Tempest's runs (README "What does not work")
        "compute-feature-enabled.live_migration=false",
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


def guest_image_id(images: list[dict[str, Any]], name: str = GUEST_IMAGE) -> str | None:
    """The newest active image called ``name`` among an image listing."""
    found = [i for i in images if i.get("name") == name and i.get("status") == "active"]
    found.sort(key=lambda i: str(i.get("created_at") or ""), reverse=True)
    return str(found[0]["id"]) if found else None


def _find(api: Any, image_base: str, name: str) -> str | None:
    st, _, data = api.get(f"{image_base}/images?{urllib.parse.urlencode({'name': name})}")
    return guest_image_id((data or {}).get("images", []) if st == 200 else [], name)


def copy_image(api: Any, image_base: str, image: str, name: str) -> str:
    """A public copy of ``image`` (data and the guest's properties) called ``name``."""
    st, _, src = api.get(f"{image_base}/images/{image}")
    if st != 200:
        raise RuntimeError(f"image {image}: {st} {src}")
    body = {"name": name, "disk_format": src["disk_format"],
            "container_format": src["container_format"], "visibility": "public"}
    body.update({k: v for k, v in src.items() if k.startswith(_COPIED) and isinstance(v, str)})
    st, _, new = api.post(f"{image_base}/images", body)
    if st not in (200, 201):
        raise RuntimeError(f"creating image {name}: {st} {new}")
    headers = {"X-Auth-Token": api.token}
    get = urllib.request.Request(f"{image_base}/images/{image}/file", headers=headers)
    with urllib.request.urlopen(get, timeout=300) as r:
        data = r.read()
    put = urllib.request.Request(f"{image_base}/images/{new['id']}/file", data=data,
                                 method="PUT",
                                 headers={**headers, "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(put, timeout=300):
        pass
    return str(new["id"])


def set_guest_image(api: Any, conf: Any, image_base: str) -> str | None:
    """Make the registered guest image Tempest's ``image_ref`` and a copy of it its
    ``image_ref_alt`` (unless `--set` chose them); returns the guest image's id, or None
    when the cloud has none."""
    image = _find(api, image_base, GUEST_IMAGE)
    if image is None:
        return None
    if not conf.get("compute", "image_ref"):
        conf.set("compute", "image_ref", image)
    if not conf.get("compute", "image_ref_alt"):
        alt = _find(api, image_base, GUEST_IMAGE_ALT) or copy_image(
            api, image_base, image, GUEST_IMAGE_ALT)
        conf.set("compute", "image_ref_alt", alt)
    return image
