"""The services of a Pocketstack cloud, in start order: adding a service is one line here.

Each entry names where the service object lives (imported only when a cloud is built), its
tables module (for migrations) and its own settings section, if any. Identity comes first: the
others authenticate through it and bootstrap data that refers to its projects.
"""

from __future__ import annotations

from pocketstack.common.service import ServiceSpec

SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("identity", "pocketstack.identity.service:IdentityService",
                "pocketstack.identity.tables"),
    ServiceSpec("image", "pocketstack.image.service:ImageService", "pocketstack.image.tables"),
    ServiceSpec("placement", "pocketstack.placement.service:PlacementService",
                "pocketstack.placement.tables"),
    ServiceSpec("compute", "pocketstack.compute.service:ComputeService",
                "pocketstack.compute.tables", "pocketstack.compute.settings:ComputeSettings"),
    ServiceSpec("network", "pocketstack.network.service:NetworkService",
                "pocketstack.network.tables", "pocketstack.network.settings:NetworkSettings"),
    ServiceSpec("volume", "pocketstack.volume.service:VolumeService", "pocketstack.volume.tables",
                "pocketstack.volume.settings:VolumeSettings"),
)


def settings_sections() -> list[type]:
    """Every service's own option class (for loading settings and `config-doc`)."""
    return [kind for spec in SERVICES if (kind := spec.settings_section()) is not None]
