"""A small bootable guest image built from Debian packages (``pocketstack image build-guest``).

A qcow2 disk that boots alone, as a cloud image does: an MBR with syslinux's boot code, a FAT
boot partition (syslinux, the Debian cloud kernel, a busybox initramfs with the disk drivers)
and an ext4 root labelled ``pocketroot`` (busybox, dropbear, the kernel modules it needs, the
init scripts in ``files/``). At boot the guest runs DHCP on every NIC, reads the config drive
(label ``config-2``) or else the metadata service (OpenStack layout), sets the hostname,
installs the instance's public keys for ``root`` and for :data:`SSH_USER`, starts dropbear on
port 22, runs user data that starts with ``#!`` once per instance, and powers off on the ACPI
power button. Its serial console (ttyS0) shows ``pocketstack-guest: ...`` progress lines,
the last being ``pocketstack-guest: ready: ...`` (:data:`READY_MARKER`).

Only Debian packages are downloaded (``apt-get download``), into a cache reused by every build.
"""

from __future__ import annotations

from pocketstack.image.guestimage.build import (
    GuestImage,
    build_guest_image,
    check_tools,
    default_cache_dir,
)
from pocketstack.image.guestimage.debs import GuestBuildError

NAME = "pocketstack-guest"
SSH_USER = "pocket"
READY_MARKER = "pocketstack-guest: ready"
#: Image properties the image is registered with.
PROPERTIES = {
    "hw_disk_bus": "virtio",
    "hw_vif_model": "virtio",
    "os_distro": "debian",
    "os_type": "linux",
    "os_admin_user": "root",
    "default_user": SSH_USER,
    "description": "Bootable pocketstack guest: Debian 12 cloud kernel, busybox, dropbear. "
                   f"SSH as root or {SSH_USER} with the instance's key pair; config drive or "
                   "metadata service; user data starting with #! runs once.",
}

__all__ = ["NAME", "PROPERTIES", "READY_MARKER", "SSH_USER", "GuestBuildError", "GuestImage",
           "build_guest_image", "check_tools", "default_cache_dir"]
