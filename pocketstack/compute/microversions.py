"""Nova's microversion range as Pocketstack implements it.

Every response shape up to MAX_VERSION is implemented; the notable changes a client sees:
2.47 embeds the flavor in a server; 2.53 uses UUIDs for services and hypervisors; 2.69 answers
partial constructs during outages; 2.88 drops hypervisor statistics; 2.96 adds
``pinned_availability_zone``.
"""

from __future__ import annotations

from pocketstack.common.api.microversion import MicroversionSpec

MIN_VERSION = "2.1"
MAX_VERSION = "2.96"

SPEC = MicroversionSpec("compute", MIN_VERSION, MAX_VERSION, "X-OpenStack-Nova-API-Version")
