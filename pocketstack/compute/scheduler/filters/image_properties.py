"""ImagePropertiesFilter: the host's hypervisor and architecture suit the image."""

from __future__ import annotations

from pocketstack.compute.scheduler.model import HostState, RequestSpec


class ImagePropertiesFilter:
    name = "ImagePropertiesFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        props = spec.image_properties
        wanted_type = props.get("hypervisor_type") or props.get("img_hv_type")
        if wanted_type and str(wanted_type).lower() != host.hypervisor_type.lower():
            return f"image needs hypervisor {wanted_type}, host runs {host.hypervisor_type}"
        arch = props.get("architecture") or props.get("hw_architecture")
        host_arch = host.cpu_info.get("arch")
        if arch and host_arch and str(arch).lower() != str(host_arch).lower():
            return f"image needs architecture {arch}, host is {host_arch}"
        return None
