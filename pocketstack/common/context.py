"""The request context: who is calling, with which scope and roles, under which request id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


@dataclass
class RequestContext:
    """The authenticated caller of one request (built from a validated token)."""

    request_id: str = field(default_factory=new_request_id)
    user_id: str | None = None
    user_name: str | None = None
    user_domain_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None  # domain-scoped token
    domain_name: str | None = None
    system_scope: str | None = None  # "all" for system-scoped tokens
    roles: list[str] = field(default_factory=list)
    role_ids: list[str] = field(default_factory=list)
    auth_token: str | None = None
    audit_ids: list[str] = field(default_factory=list)
    application_credential_id: str | None = None
    application_credential_restricted: bool = False
    token_data: dict[str, Any] | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_system(self) -> bool:
        return self.system_scope == "all"

    def policy_creds(self) -> dict[str, Any]:
        """Credentials in the shape oslo.policy check strings read."""
        return {
            "user_id": self.user_id,
            "user_domain_id": self.user_domain_id,
            "project_id": self.project_id,
            "project_domain_id": self.project_domain_id,
            "domain_id": self.domain_id,
            "system_scope": self.system_scope,
            "roles": list(self.roles),
            "is_admin": self.is_admin,
            "token.application_credential.restricted": self.application_credential_restricted,
        }
