"""The metadata definition namespaces a new cloud starts with (``/v2/metadefs``).

They describe the image, flavor and volume properties Nova understands (hypervisor, libvirt
devices, CPU pinning and topology, watchdog, memory pages, RNG, quotas, host capabilities) so
that clients such as the dashboard can offer them. Property names and allowed values are
Nova's documented ones; titles and descriptions are written here. Loaded once, on the first start
(when no resource type exists yet), as ``glance-manage db_load_metadefs`` would.
"""

from __future__ import annotations

from typing import Any

IMAGE = "OS::Glance::Image"
FLAVOR = "OS::Nova::Flavor"
VOLUME = "OS::Cinder::Volume"
AGGREGATE = "OS::Nova::Aggregate"
SERVER = "OS::Nova::Server"

RESOURCE_TYPES = (IMAGE, VOLUME, FLAVOR, AGGREGATE, SERVER)

# the usual triple: an image property hw_X, a volume's image metadata hw_X, a flavor extra
# spec hw:X
HW = [{"name": IMAGE, "prefix": "hw_"},
      {"name": VOLUME, "prefix": "hw_", "properties_target": "image"},
      {"name": FLAVOR, "prefix": "hw:"}]


def _s(title: str, description: str, enum: list[str] | None = None,
       default: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"title": title, "description": description, "type": "string"}
    if enum is not None:
        out["enum"] = enum
    if default is not None:
        out["default"] = default
    return out


def _i(title: str, description: str, minimum: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"title": title, "description": description, "type": "integer"}
    if minimum is not None:
        out["minimum"] = minimum
    return out


def _b(title: str, description: str) -> dict[str, Any]:
    return {"title": title, "description": description, "type": "boolean"}


_BUSES = ["scsi", "virtio", "uml", "xen", "ide", "usb", "fdc", "sata", "lxc"]

NAMESPACES: list[dict[str, Any]] = [
    {
        "namespace": "OS::Compute::Hypervisor", "display_name": "Hypervisor Selection",
        "description": "Which hypervisor and virtual machine mode an image needs; the "
                       "scheduler only places it on matching hosts.",
        "resource_type_associations": [{"name": IMAGE}],
        "properties": {
            "hypervisor_type": _s("Hypervisor Type", "The hypervisor the image was built for.",
                                  ["baremetal", "hyperv", "kvm", "lxc", "qemu", "uml",
                                   "vmware", "vz", "xen"]),
            "vm_mode": _s("VM Mode", "The virtual machine mode (the guest ABI) the image "
                          "expects.", ["hvm", "xen", "uml", "exe"]),
        },
    },
    {
        "namespace": "OS::Compute::LibvirtImage", "display_name": "libvirt Driver Options",
        "description": "Virtual hardware a libvirt guest booted from this image gets.",
        "resource_type_associations": [{"name": IMAGE}],
        "properties": {
            "hw_disk_bus": _s("Disk Bus", "Bus the disks are attached to.", _BUSES),
            "hw_cdrom_bus": _s("CD-ROM Bus", "Bus the CD-ROM drives are attached to.", _BUSES),
            "hw_firmware_type": _s("Firmware Type", "Boot firmware of the guest.",
                                   ["bios", "uefi"]),
            "hw_machine_type": _s("Machine Type", "Emulated machine type, e.g. q35."),
            "hw_rng_model": _s("Random Number Generator Device", "Model of the random number "
                               "generator device given to the guest.", default="virtio"),
            "hw_scsi_model": _s("SCSI Model", "Model of the SCSI controller.",
                                default="virtio-scsi"),
            "hw_video_model": _s("Video Model", "Model of the graphics device.",
                                 ["vga", "cirrus", "vmvga", "xen", "qxl", "virtio", "gop",
                                  "none", "bochs"]),
            "hw_video_ram": _i("Max Video RAM", "Video memory of the guest, in MiB (the "
                               "flavor's hw_video:ram_max_mb caps it).", 0),
            "hw_vif_model": _s("Virtual Network Interface", "Model of the network devices.",
                               ["e1000", "e1000e", "ne2k_pci", "netfront", "pcnet",
                                "rtl8139", "spapr-vlan", "virtio", "vmxnet3", "igb"]),
            "hw_vif_multiqueue_enabled": _s("Multiqueue Networking", "Give each network "
                                            "device one queue per vCPU.", ["true", "false"]),
            "hw_qemu_guest_agent": _s("QEMU Guest Agent", "The image runs the QEMU guest "
                                      "agent (quiesced snapshots, password changes).",
                                      ["yes", "no"]),
            "hw_pointer_model": _s("Pointer Model", "Input device for the graphical console.",
                                   ["usbtablet"]),
            "os_type": _s("OS Type", "Operating system family of the guest.",
                          ["linux", "windows"]),
            "os_command_line": _s("Kernel Command Line", "Kernel arguments, for images booted "
                                  "with a separate kernel."),
        },
    },
    {
        "namespace": "OS::Compute::CPUPinning", "display_name": "CPU Pinning",
        "description": "Whether the guest's vCPUs get host CPUs of their own, and how "
                       "hyperthread siblings are used.",
        "resource_type_associations": HW,
        "properties": {
            "cpu_policy": _s("CPU Policy", "shared: vCPUs float over the host's CPUs; "
                             "dedicated: each vCPU is pinned to a host CPU of its own.",
                             ["shared", "dedicated"]),
            "cpu_thread_policy": _s("CPU Thread Policy", "With dedicated CPUs: avoid "
                                    "(isolate), prefer or require hyperthread siblings.",
                                    ["isolate", "prefer", "require"]),
        },
    },
    {
        "namespace": "OS::Compute::Watchdog", "display_name": "Watchdog Behavior",
        "description": "A virtual hardware watchdog and what happens when the guest stops "
                       "feeding it.",
        "resource_type_associations": HW,
        "properties": {
            "watchdog_action": _s("Watchdog Action", "Action taken when the watchdog fires "
                                  "(disabled: no watchdog device).",
                                  ["disabled", "reset", "poweroff", "pause", "none"]),
        },
    },
    {
        "namespace": "OS::Compute::GuestShutdownBehavior",
        "display_name": "Shutdown Behavior",
        "description": "How long a clean shutdown may take before the guest is powered off.",
        "resource_type_associations": [{"name": IMAGE}],
        "properties": {
            "os_shutdown_timeout": _i("Shutdown timeout", "Seconds the guest is given to shut "
                                      "down cleanly on stop or delete.", 0),
        },
    },
    {
        "namespace": "OS::Compute::VirtCPUTopology", "display_name": "Virtual CPU Topology",
        "description": "Sockets, cores and threads the guest sees its vCPUs as, and the most "
                       "of each it may be given.",
        "resource_type_associations": HW,
        "properties": {
            "cpu_sockets": _i("vCPU Sockets", "Preferred number of sockets.", 1),
            "cpu_cores": _i("vCPU Cores", "Preferred number of cores per socket.", 1),
            "cpu_threads": _i("vCPU Threads", "Preferred number of threads per core.", 1),
            "cpu_max_sockets": _i("Max vCPU Sockets", "Most sockets allowed.", 1),
            "cpu_max_cores": _i("Max vCPU Cores", "Most cores per socket allowed.", 1),
            "cpu_max_threads": _i("Max vCPU Threads", "Most threads per core allowed.", 1),
        },
    },
    {
        "namespace": "OS::Compute::GuestMemoryBacking", "display_name": "Memory Backing",
        "description": "The page size backing the guest's memory.",
        "resource_type_associations": HW,
        "properties": {
            "mem_page_size": _s("Memory Page Size", "small, large, any, or a size such as "
                                "2MB or 1GB."),
        },
    },
    {
        "namespace": "OS::Compute::CPUMode", "display_name": "CPU Mode",
        "description": "The CPU model the guest sees.",
        "resource_type_associations": [{"name": IMAGE, "prefix": "hw_"},
                                       {"name": FLAVOR, "prefix": "hw:"}],
        "properties": {
            "cpu_mode": _s("CPU Mode", "host-model and host-passthrough expose the host's "
                           "CPU; custom uses a named model.",
                           ["none", "host-model", "host-passthrough", "custom"]),
        },
    },
    {
        "namespace": "OS::Compute::RandomNumberGenerator",
        "display_name": "Random Number Generator",
        "description": "Whether guests of a flavor may have a random number generator device, "
                       "and how much entropy they may draw.",
        "resource_type_associations": [{"name": FLAVOR}],
        "properties": {
            "hw_rng:allowed": _b("Random Number Generator Allowed",
                                 "Images may ask for an RNG device (hw_rng_model)."),
            "hw_rng:rate_bytes": _i("Random Number Generator Rate Bytes",
                                    "Bytes the guest may read per period.", 0),
            "hw_rng:rate_period": _i("Random Number Generator Rate Period",
                                     "The period, in milliseconds.", 0),
        },
    },
    {
        "namespace": "OS::Compute::Quota", "display_name": "Flavor Quota",
        "description": "Resource limits and shares a flavor imposes on its guests.",
        "resource_type_associations": [{"name": FLAVOR}],
        "objects": [
            {"name": "CPU Limits", "description": "CPU time the guest may use.",
             "properties": {
                 "quota:cpu_shares": _i("Quota: CPU Shares", "Relative weight against "
                                        "other guests on the host.", 0),
                 "quota:cpu_period": _i("Quota: CPU Period", "Enforcement interval, in "
                                        "microseconds.", 1000),
                 "quota:cpu_quota": _i("Quota: CPU Quota", "Microseconds of CPU time per "
                                       "period (-1: no limit).", -1)}},
            {"name": "Disk QoS", "description": "Disk throughput and operation limits.",
             "properties": {
                 f"quota:disk_{kind}_{unit}_sec": _i(
                     f"Quota: Disk {kind} {unit}/s", f"Disk {kind} {unit} per second.", 0)
                 for kind in ("read", "write", "total") for unit in ("bytes", "iops")}},
            {"name": "Virtual Interface QoS", "description": "Network bandwidth limits "
             "(kilobytes per second; burst in kilobytes).",
             "properties": {
                 f"quota:vif_{way}_{what}": _i(f"Quota: VIF {way} {what}",
                                               f"{way.capitalize()} {what} of each "
                                               "interface.", 0)
                 for way in ("inbound", "outbound") for what in ("average", "burst",
                                                                  "peak")}},
        ],
    },
    {
        "namespace": "OS::Compute::HostCapabilities", "display_name": "Compute Host Capabilities",
        "description": "CPU capabilities a host must have to run a flavor or to be in an "
                       "aggregate matched by one.",
        "resource_type_associations": [
            {"name": FLAVOR, "prefix": "capabilities:"},
            {"name": AGGREGATE, "prefix": "aggregate_instance_extra_specs:"}],
        "properties": {
            "cpu_info:vendor": _s("Vendor", "CPU vendor.", ["Intel", "AMD"]),
            "cpu_info:arch": _s("Architecture", "CPU architecture.",
                                ["x86", "x86_64", "i686", "ia64", "ARMv8-A", "ARMv7-A"]),
            "cpu_info:topology:cores": _i("cores", "Cores per socket.", 1),
            "cpu_info:topology:threads": _i("threads", "Threads per core.", 1),
            "cpu_info:topology:sockets": _i("sockets", "Sockets.", 1),
        },
    },
    {
        "namespace": "OS::Glance::CommonImageProperties",
        "display_name": "Common Image Properties",
        "description": "Properties many images carry, describing the guest operating system "
                       "and how the image was made.",
        "resource_type_associations": [{"name": IMAGE}],
        "properties": {
            "architecture": _s("Architecture", "CPU architecture the image needs, e.g. "
                               "x86_64 or aarch64."),
            "os_distro": _s("OS Distro", "Operating system distribution, in lower case "
                            "(ubuntu, fedora, windows, ...)."),
            "os_version": _s("OS Version", "Version of the distribution, e.g. 24.04."),
            "kernel_id": _s("Kernel ID", "Image holding the kernel to boot an AMI-style image "
                            "with."),
            "ramdisk_id": _s("Ramdisk ID", "Image holding the ramdisk to boot with."),
            "instance_uuid": _s("Instance ID", "The server a snapshot image was taken of."),
        },
    },
]
