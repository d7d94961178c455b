"""The identity service object: wires database, keys, rules, policy and the ASGI app."""

from __future__ import annotations

from pocketstack.common.api.app import ApiRequest, ServiceApp
from pocketstack.common.api.errors import keystone_error
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.exceptions import Unauthorized
from pocketstack.common.policy import PolicyEngine
from pocketstack.config import Settings
from pocketstack.identity import fernet
from pocketstack.identity.domain.limits import model as limit_model
from pocketstack.identity.domain.tokens import AUTH_FAILED, Authenticator, TokenSettings
from pocketstack.identity.domain.users import PasswordRules
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


class IdentityService:
    """Keystone v3 for one cloud."""

    def __init__(self, db: Database, settings: Settings) -> None:
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
        )
