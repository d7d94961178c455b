"""The identity service object: wires database, keys, rules, policy and the ASGI app, and
bootstraps the accounts, roles and catalog of a new cloud."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, ServiceApp
from pocketstack.common.api.errors import keystone_error
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.exceptions import Unauthorized
from pocketstack.common.policy import PolicyEngine
from pocketstack.common.service import Authentication, CatalogEntry, Mount, Role, Runtime
from pocketstack.common.timeutils import utcnow
from pocketstack.config import Settings
from pocketstack.identity import accounts, fernet, oidc, passwords
from pocketstack.identity.domain.limits import model as limit_model
from pocketstack.identity.domain.tokens import AUTH_FAILED, Authenticator, TokenSettings
from pocketstack.identity.domain.users import PasswordRules
from pocketstack.identity.interface import IdentityAPI
from pocketstack.identity.policies import RULES


def password_rules(settings: Settings) -> PasswordRules:
    return PasswordRules(
        hash_rounds=settings.password_hash_rounds,
        lockout_failure_attempts=settings.lockout_failure_attempts,
        lockout_duration=settings.lockout_duration,
        unique_last_password_count=settings.unique_last_password_count,
        minimum_password_age_days=settings.minimum_password_age,
        password_expires_days=settings.password_expires_days,
        password_regex=settings.password_regex,
        password_regex_description=settings.password_regex_description,
    )


LOG = logging.getLogger(__name__)


class IdentityService:
    """Keystone v3 for one cloud."""

    name = "identity"
    catalog = (CatalogEntry("identity", "keystone", "/identity", "Keystone Identity Service"),)
    tables = "pocketstack.identity.tables"
    settings_section = None

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        db: Database = runtime.db
        settings: Settings = runtime.settings
        self.db = db
        self.settings = settings
        self.keys = fernet.KeyRepository(settings.state_path / "fernet-keys",
                                         settings.fernet_max_active_keys)
        self.rules = password_rules(settings)
        self.auth = Authenticator(db, self.keys, self.rules, TokenSettings(
            expiration=settings.token_expiration,
            allow_expired_window=settings.allow_expired_window))
        self.policy = PolicyEngine(RULES, settings.policy_file or None)
        self.limit_model = limit_model(settings.unified_limit_enforcement_model)
        # OpenID Connect providers of OS-FEDERATION identity providers (bearer-token login)
        self.oidc = oidc.Providers.load(settings.federation_oidc_providers)

    # -- the seam -------------------------------------------------------------------------------
    def mounts(self) -> list[Mount]:
        return [Mount("/identity", self.app())]

    def roles(self) -> list[Role]:
        return []

    def provides(self) -> dict[type, object]:
        return {Authentication: self, IdentityAPI: self}

    def prepare(self) -> None:
        """Create the key repository and bootstrap: roles, domain, accounts, the catalog of
        every service this cloud runs; write ``clouds.yaml``; prune old revocations."""
        from pocketstack.identity.domain import bootstrap, revocations

        first_start = not (self.settings.state_path / "credentials.json").exists()
        self.keys.setup()
        creds = accounts.credentials(self.settings)
        users = [user for user, *_ in accounts.ACCOUNTS]
        hashes: dict[str, str | None] = dict.fromkeys(users)
        if first_start:  # hash the new accounts' passwords side by side (bcrypt frees the GIL)
            with ThreadPoolExecutor(len(users)) as pool:
                computed = pool.map(lambda u: passwords.hash_password(
                    creds["passwords"][u], self.rules.hash_rounds), users)
                hashes = dict(zip(users, computed, strict=True))
        wanted = [
            bootstrap.Account(user=user, project=project, role=role,
                              password=creds["passwords"][user], system_role=system_role,
                              password_hash=hashes[user])
            for user, project, role, system_role in accounts.ACCOUNTS
        ]
        reset = ("admin",) if self.settings.admin_password else ()
        self.db.write(bootstrap.bootstrap, wanted, self.settings.region,
                      self.settings.effective_public_url, list(self.runtime.catalog),
                      self.rules, reset)
        expired = self.settings.token_expiration + self.settings.allow_expired_window
        self.db.write(revocations.prune, utcnow() - timedelta(seconds=expired))
        accounts.write_client_files(self.settings, creds)

    # -- the public interface (IdentityAPI) -----------------------------------------------------
    def project_id(self, name: str, domain_id: str = "default") -> str | None:
        from pocketstack.identity.domain import projects

        try:
            row = self.db.read(projects.get_by_name, name, domain_id)
        except exceptions.NotFound:
            return None
        return str(row["id"])

    def project_exists(self, project_id: str) -> bool:
        from pocketstack.identity.domain import projects

        try:
            self.db.read(projects.get, project_id)
        except exceptions.NotFound:
            return False
        return True

    def unified_limits(self, project_id: str | None, service_type: str,
                       resource_names: Sequence[str]) -> dict[str, int]:
        from pocketstack.identity.domain import limits

        return dict(self.db.read(limits.effective, project_id, service_type,
                                 self.settings.region, list(resource_names)))

    def authenticate_request(self, req: ApiRequest) -> RequestContext:
        """Turn ``X-Auth-Token`` into a context (any service's API uses this)."""
        token = req.headers.get("x-auth-token")
        if not token:
            raise Unauthorized(AUTH_FAILED)
        return self.auth.context_for(token)

    def app(self) -> ServiceApp:
        from pocketstack.identity.routes import ROUTES

        public_url = self.settings.effective_public_url
        return ServiceApp(
            "identity",
            ROUTES,
            keystone_error,
            authenticate=self.authenticate_request,
            request_id_headers=("X-Openstack-Request-Id",),
            unauthorized_headers={"WWW-Authenticate": f'Keystone uri="{public_url}/identity"'},
            state={"identity": self},
            max_body_size=self.settings.max_request_body_size,
        )
