"""What other services may ask of identity (implemented by :class:`IdentityService`).

Authentication itself is :class:`pocketstack.common.service.Authentication` (every API needs
it); this adds the questions services ask while bootstrapping or validating requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pocketstack.common.service import Authentication


class IdentityAPI(Authentication, Protocol):
    def project_id(self, name: str, domain_id: str = "default") -> str | None:
        """The id of a project by name in a domain, or None when there is none."""
        ...

    def project_exists(self, project_id: str) -> bool: ...

    def unified_limits(self, project_id: str | None, service_type: str,
                       resource_names: Sequence[str]) -> dict[str, int]:
        """Unified limits of a project for resources of a service (named by its catalog type)
        in this cloud's region: for each name the project's own limit, else the registered
        default (keystone's flat model, as oslo.limit reads it); a name with no registered
        limit is absent. -1 means unlimited. Without a project: the registered defaults."""
        ...
