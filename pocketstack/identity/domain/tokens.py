"""Authentication and tokens: verify methods, resolve scope, issue, validate and render.

Issuing never holds a write transaction across the password hash: the user is read, the hash is
checked outside any transaction, and only failure counters are written.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.identity import fernet, passwords
from pocketstack.identity.domain import (
    app_creds,
    assignments,
    catalog,
    domains,
    federation,
    projects,
    revocations,
    roles,
    trusts,
    users,
)
from pocketstack.identity.domain.common import REVISION_SQL, isotime, utcnow

AUTH_FAILED = "The request you have made requires authentication."


@dataclass(frozen=True)
class TokenSettings:
    expiration: int = 3600
    allow_expired_window: int = 172800


@dataclass
class TokenInfo:
    """A validated token with everything needed to render it or build a request context."""

    token: str
    payload: fernet.TokenPayload
    user: dict[str, Any]
    user_domain: dict[str, Any]
    project: dict[str, Any] | None = None
    project_domain: dict[str, Any] | None = None
    domain: dict[str, Any] | None = None
    roles: list[dict[str, Any]] = field(default_factory=list)
    app_cred: dict[str, Any] | None = None
    trust: dict[str, Any] | None = None
    service_providers: list[dict[str, Any]] = field(default_factory=list)
    # {"token": body} as JSON, by include_catalog: a cached TokenInfo is only ever served at
    # the identity revision it was built at, so its rendering stays true while it lives
    rendered: dict[bool, bytes] = field(default_factory=dict, repr=False)

    def context(self) -> RequestContext:
        p = self.payload
        return RequestContext(
            user_id=p.user_id,
            user_name=self.user["name"],
            user_domain_id=self.user["domain_id"],
            project_id=p.project_id,
            project_name=self.project["name"] if self.project else None,
            project_domain_id=self.project["domain_id"] if self.project else None,
            domain_id=p.domain_id,
            domain_name=self.domain["name"] if self.domain else None,
            system_scope=p.system,
            roles=[r["name"] for r in self.roles],
            role_ids=[r["id"] for r in self.roles],
            auth_token=self.token,
            audit_ids=list(p.audit_ids),
            application_credential_id=p.app_cred_id,
            application_credential_restricted=bool(
                self.app_cred and not self.app_cred["unrestricted"]),
        )


class RevisionCache:
    """A bounded LRU whose entries hold only while the identity revision is unchanged.

    Every write that can change what a token means (roles, assignments, enabled flags,
    revocations, names, the catalog) bumps the revision in the database, so a cached
    validation is never served after such a change — in this process or any other.
    """

    def __init__(self, size: int = 10000) -> None:
        self._data: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str, revision: int) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None or item[0] != revision:
                return None
            self._data.move_to_end(key)
            return item[1]

    def put(self, key: str, revision: int, value: Any) -> None:
        with self._lock:
            self._data[key] = (revision, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


class Authenticator:
    """Issues and validates tokens against one database and key repository."""

    def __init__(self, db: Database, keys: fernet.KeyRepository, rules: users.PasswordRules,
                 settings: TokenSettings) -> None:
        self.db = db
        self.keys = keys
        self.rules = rules
        self.settings = settings
        self._validated = RevisionCache()
        self._catalog = RevisionCache(size=1)
        self._roles = RevisionCache(size=1)
        self._sps = RevisionCache(size=1)

    def role_catalog(self, conn: Connection, revision: int) -> roles.RoleCatalog:
        found: roles.RoleCatalog | None = self._roles.get("roles", revision)
        if found is None:
            found = roles.RoleCatalog(conn)
            self._roles.put("roles", revision, found)
        return found

    def service_providers(self, conn: Connection, revision: int) -> list[dict[str, Any]]:
        """The enabled OS-FEDERATION service providers every token lists."""
        found: list[dict[str, Any]] | None = self._sps.get("sps", revision)
        if found is None:
            found = federation.enabled_sps(conn)
            self._sps.put("sps", revision, found)
        return found

    # -- issue ----------------------------------------------------------------------------------
    def issue(self, auth: dict[str, Any], caller_token: str | None = None) -> TokenInfo:
        identity = auth["identity"]
        methods: list[str] = list(dict.fromkeys(identity["methods"]))
        if not methods:
            raise exceptions.ValidationError("Invalid input for field 'identity/methods'.")
        user_id: str | None = None
        known_user: dict[str, Any] | None = None
        audit_chain: list[str] = []
        app_cred: dict[str, Any] | None = None
        expires_cap: float | None = None
        federation: tuple[str, str, list[str]] | None = None
        for method in methods:
            if method not in identity:
                raise exceptions.ValidationError(
                    f"Invalid input for field 'identity': '{method}' is a required property")
            if method == "password":
                known_user = self._password(identity["password"])
                found = str(known_user["id"])
            elif method == "token":
                prior = self.validate(identity["token"].get("id", ""))
                if prior.payload.app_cred_id:
                    raise exceptions.Forbidden(
                        "Cannot rescope a token issued for an application credential.")
                if prior.payload.trust_id:
                    raise exceptions.Forbidden("Cannot rescope a trust-scoped token.")
                found = prior.payload.user_id
                if prior.payload.federation is not None:
                    federation = prior.payload.federation
                    self._check_idp_enabled(federation[0])
                audit_chain = prior.payload.audit_ids[-1:]
                expires_cap = prior.payload.expires_at
                methods = list(dict.fromkeys(prior.payload.methods + methods))
            elif method == "application_credential":
                app_cred = self._app_cred(identity["application_credential"])
                found = app_cred["user_id"]
            else:
                raise exceptions.Unauthorized(f"Attempted to authenticate with an unsupported "
                                              f"method: {method}.")
            if user_id is not None and found != user_id:
                raise exceptions.Unauthorized(AUTH_FAILED)
            user_id = found
        assert user_id is not None
        methods = fernet.int_to_methods(fernet.methods_to_int(methods))  # as validation reads
        scope = auth.get("scope")
        now = time.time()
        expires = now + self.settings.expiration
        if expires_cap is not None:
            expires = min(expires, expires_cap)
        if app_cred and app_cred["expires_at"] is not None:
            expires = min(expires, app_cred["expires_at"].replace(tzinfo=dt.UTC).timestamp())
        payload = fernet.TokenPayload(
            user_id=user_id, methods=methods, issued_at=now, expires_at=int(expires),
            audit_ids=[fernet.new_audit_id(), *audit_chain],
            app_cred_id=app_cred["id"] if app_cred else None,
            federation=federation,
        )
        with self.db.reader() as conn:
            if federation is not None and scope is None:
                scope = "unscoped"  # a federated user has no default project
            trust = self._resolve_scope(conn, payload, scope, app_cred)
        if trust is not None:
            if trust["expires_at"] is not None:
                payload.expires_at = min(payload.expires_at, int(
                    trust["expires_at"].replace(tzinfo=dt.UTC).timestamp()))
            self.db.write(trusts.consume, trust["id"])
        revision = self.revision()
        with self.db.reader() as conn:
            token = fernet.encode(self.keys, payload)
            return self._load(conn, token, payload, for_issue=True,
                              catalog=self.role_catalog(conn, revision), user=known_user,
                              revision=revision)

    def issue_federated(self, user_id: str, idp_id: str, protocol_id: str,
                        group_ids: list[str], federated: bool = True) -> TokenInfo:
        """The unscoped token of a mapped login (``federated``: an ephemeral user, whose
        token names its identity provider, protocol and mapped groups)."""
        now = time.time()
        payload = fernet.TokenPayload(
            user_id=user_id, methods=["mapped"], issued_at=now,
            expires_at=int(now + self.settings.expiration),
            audit_ids=[fernet.new_audit_id()],
            federation=(idp_id, protocol_id, list(group_ids)) if federated else None)
        revision = self.revision()
        with self.db.reader() as conn:
            token = fernet.encode(self.keys, payload)
            return self._load(conn, token, payload, for_issue=True,
                              catalog=self.role_catalog(conn, revision), revision=revision)

    def _check_idp_enabled(self, idp_id: str) -> None:
        try:
            idp = self.db.read(federation.get_idp, idp_id)
        except exceptions.NotFound:
            raise exceptions.Unauthorized(AUTH_FAILED) from None
        if not idp["enabled"]:
            raise exceptions.Forbidden(f"Identity Provider {idp_id} is disabled")

    def _lookup_user(self, conn: Connection, spec: dict[str, Any]) -> dict[str, Any]:
        try:
            if "id" in spec:
                return users.get(conn, spec["id"])
            if "name" not in spec:
                raise exceptions.ValidationError(
                    "Invalid input for field 'identity/password/user': either 'id' or 'name' "
                    "with 'domain' is required.")
            domain = spec.get("domain")
            if not domain:
                raise exceptions.ValidationError(
                    "Invalid input for field 'user/domain': a user name needs its domain.")
            if "id" in domain:
                domain_id = domain["id"]
            else:
                domain_id = domains.get_by_name(conn, domain["name"])["id"]
            return users.get_by_name(conn, spec["name"], domain_id)
        except exceptions.NotFound:
            raise exceptions.Unauthorized(AUTH_FAILED) from None

    def _password(self, section: dict[str, Any]) -> dict[str, Any]:
        spec = section["user"]
        with self.db.reader() as conn:
            user = self._lookup_user(conn, spec)
            domain = domains.get(conn, user["domain_id"])
        now = utcnow()
        if not user["enabled"] or not domain["enabled"]:
            raise exceptions.Unauthorized(AUTH_FAILED)
        if users.is_locked(user, self.rules, now):
            raise exceptions.Unauthorized(
                f"The account is locked for user: {user['id']}.")
        if not passwords.check_password(spec.get("password", ""), user["password_hash"]):
            if self.rules.lockout_failure_attempts:
                self.db.write(users.record_failure, user["id"], now)
            raise exceptions.Unauthorized(AUTH_FAILED)
        if user["password_expires_at"] is not None and user["password_expires_at"] <= now \
                and not user["options"].get("ignore_password_expiry"):
            raise exceptions.Unauthorized(
                f"The password is expired and needs to be changed for user: {user['id']}.")
        if user["failed_auth_count"]:
            self.db.write(users.record_success, user, now)
        return user

    def _app_cred(self, section: dict[str, Any]) -> dict[str, Any]:
        with self.db.reader() as conn:
            if "id" in section:
                try:
                    cred = app_creds.get(conn, section["id"])
                except exceptions.NotFound:
                    raise exceptions.Unauthorized(AUTH_FAILED) from None
            else:
                user = self._lookup_user(conn, section.get("user") or {})
                try:
                    cred = app_creds.get_by_name(conn, user["id"], section.get("name", ""))
                except exceptions.NotFound:
                    raise exceptions.Unauthorized(AUTH_FAILED) from None
            user = users.get(conn, cred["user_id"])
        if not passwords.check_password(section.get("secret", ""), cred["secret_hash"]):
            raise exceptions.Unauthorized(AUTH_FAILED)
        if cred["expires_at"] is not None and cred["expires_at"] <= utcnow():
            raise exceptions.Unauthorized(AUTH_FAILED)
        if not user["enabled"]:
            raise exceptions.Unauthorized(AUTH_FAILED)
        return cred

    def _resolve_scope(self, conn: Connection, payload: fernet.TokenPayload,
                       scope: Any, app_cred: dict[str, Any] | None) -> dict[str, Any] | None:
        """Set the payload's scope; returns the trust when the scope is one."""
        if app_cred is not None:
            if scope not in (None, "unscoped") and not (
                    isinstance(scope, dict) and scope.get("project", {}).get("id")
                    == app_cred["project_id"]):
                raise exceptions.Unauthorized(
                    "Application credentials cannot request a scope.")
            payload.project_id = app_cred["project_id"]
            return None
        if scope is None:
            user = users.get(conn, payload.user_id)
            default = user["default_project_id"]
            if default:
                try:
                    project = projects.get(conn, default)
                    if project["enabled"] and assignments.effective_project_role_ids(
                            conn, payload.user_id, project):
                        payload.project_id = default
                except exceptions.NotFound:
                    pass
            return None
        if scope == "unscoped":
            return None
        if not isinstance(scope, dict) or len(scope) != 1:
            raise exceptions.ValidationError(
                "Invalid input for field 'scope': specify exactly one of project, domain, "
                "system.")
        if "project" in scope:
            spec = scope["project"]
            try:
                if "id" in spec:
                    project = projects.get(conn, spec["id"])
                else:
                    dspec = spec.get("domain") or {}
                    if "id" in dspec:
                        domain_id = dspec["id"]
                    elif "name" in dspec:
                        domain_id = domains.get_by_name(conn, dspec["name"])["id"]
                    else:
                        raise exceptions.ValidationError(
                            "Invalid input for field 'scope/project': a project name needs its "
                            "domain.")
                    project = projects.get_by_name(conn, spec.get("name", ""), domain_id)
            except exceptions.NotFound:
                raise exceptions.Unauthorized(AUTH_FAILED) from None
            payload.project_id = project["id"]
        elif "domain" in scope:
            spec = scope["domain"]
            try:
                domain = (domains.get(conn, spec["id"]) if "id" in spec
                          else domains.get_by_name(conn, spec.get("name", "")))
            except exceptions.NotFound:
                raise exceptions.Unauthorized(AUTH_FAILED) from None
            payload.domain_id = domain["id"]
        elif "system" in scope:
            if scope["system"] != {"all": True}:
                raise exceptions.ValidationError(
                    "Invalid input for field 'scope/system': only {\"all\": true} is valid.")
            payload.system = "all"
        elif "OS-TRUST:trust" in scope:
            return self._trust_scope(conn, payload, scope["OS-TRUST:trust"])
        else:
            raise exceptions.ValidationError("Invalid input for field 'scope'.")
        return None

    def _trust_scope(self, conn: Connection, payload: fernet.TokenPayload,
                     spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
            raise exceptions.ValidationError(
                "Invalid input for field 'scope/OS-TRUST:trust': 'id' is a required property.")
        try:
            trust = trusts.get(conn, spec["id"])
        except exceptions.NotFound:
            raise exceptions.NotFound(f"Could not find trust: {spec['id']}.") from None
        if trust["trustee_user_id"] != payload.user_id:
            raise exceptions.Forbidden("User is not a trustee.")
        if trusts.is_expired(trust):
            raise exceptions.NotFound(f"Could not find trust: {trust['id']}.")
        if trust["remaining_uses"] is not None and trust["remaining_uses"] <= 0:
            raise exceptions.Forbidden("The trust has no remaining uses.")
        payload.trust_id = trust["id"]
        payload.project_id = trust["project_id"]
        if trust["impersonation"]:
            payload.user_id = trust["trustor_user_id"]
        return trust

    # -- validate -------------------------------------------------------------------------------
    def _check_expiry(self, payload: fernet.TokenPayload, allow_expired: bool) -> None:
        now = time.time()
        if payload.expires_at <= now:
            if not allow_expired or payload.expires_at + self.settings.allow_expired_window <= now:
                raise exceptions.NotFound("Could not find token.")

    def revision(self) -> int:
        return int(self.db.scalar_fast(REVISION_SQL) or 0)

    def validate(self, token: str, allow_expired: bool = False) -> TokenInfo:
        revision = self.revision()
        cached: TokenInfo | None = self._validated.get(token, revision)
        if cached is not None:
            self._check_expiry(cached.payload, allow_expired)
            return cached
        with self.db.reader() as conn:
            payload = fernet.decode(self.keys, token)
            self._check_expiry(payload, allow_expired)
            issued = dt.datetime.fromtimestamp(payload.issued_at, dt.UTC).replace(tzinfo=None)
            if revocations.is_revoked(conn, user_id=payload.user_id,
                                      project_id=payload.project_id,
                                      audit_ids=payload.audit_ids, issued_at=issued):
                raise exceptions.NotFound("Token has been revoked.")
            info = self._load(conn, token, payload, for_issue=False,
                              catalog=self.role_catalog(conn, revision), revision=revision)
        self._validated.put(token, revision, info)
        return info

    def _load(self, conn: Connection, token: str, payload: fernet.TokenPayload,
              for_issue: bool, catalog: roles.RoleCatalog,
              user: dict[str, Any] | None = None, revision: int = 0) -> TokenInfo:
        """Read what the token refers to; refuse if any of it is gone or disabled."""
        failure: type[exceptions.PocketstackError] = (
            exceptions.Unauthorized if for_issue else exceptions.NotFound)
        message = AUTH_FAILED if for_issue else "Could not find token."
        seen_domains: dict[str, dict[str, Any]] = {}

        def domain_of(domain_id: str) -> dict[str, Any]:
            if domain_id not in seen_domains:
                seen_domains[domain_id] = domains.get(conn, domain_id)
            return seen_domains[domain_id]

        try:
            if user is None or user["id"] != payload.user_id:
                user = users.get(conn, payload.user_id)
            user_domain = domain_of(user["domain_id"])
        except exceptions.NotFound:
            raise failure(message) from None
        if not user["enabled"] or not user_domain["enabled"]:
            raise failure(message)
        info = TokenInfo(token=token, payload=payload, user=user, user_domain=user_domain)
        extra_groups: tuple[str, ...] = ()
        if payload.federation is not None:
            try:  # the identity provider must still exist
                federation.get_idp(conn, payload.federation[0])
            except exceptions.NotFound:
                raise failure(message) from None
            extra_groups = tuple(payload.federation[2])
        info.service_providers = self.service_providers(conn, revision)
        role_ids: set[str] = set()
        if payload.app_cred_id:
            try:
                info.app_cred = app_creds.get(conn, payload.app_cred_id)
            except exceptions.NotFound:
                raise failure(message) from None
        role_user = user["id"]
        if payload.trust_id:
            info.trust = self._load_trust(conn, payload.trust_id, failure, message)
            role_user = info.trust["trustor_user_id"]
        if payload.project_id:
            try:
                project = projects.get(conn, payload.project_id)
                project_domain = domain_of(project["domain_id"])
            except exceptions.NotFound:
                raise failure(message) from None
            if not project["enabled"] or not project_domain["enabled"]:
                raise failure(message)
            info.project, info.project_domain = project, project_domain
            role_ids = assignments.effective_project_role_ids(conn, role_user, project, catalog,
                                                              extra_groups)
            if info.trust is not None:
                delegated_ids = {r["id"] for r in info.trust["roles"]}
                if not delegated_ids <= role_ids:
                    raise failure(message)  # the trustor lost a delegated role
                role_ids &= roles.expand(delegated_ids, catalog.implications)
            if info.app_cred is not None:
                delegated = roles.expand({r["id"] for r in info.app_cred["roles"]},
                                         catalog.implications)
                role_ids &= delegated
        elif payload.domain_id:
            try:
                domain = domain_of(payload.domain_id)
            except exceptions.NotFound:
                raise failure(message) from None
            if not domain["enabled"]:
                raise failure(message)
            info.domain = domain
            role_ids = assignments.effective_domain_role_ids(conn, user["id"], domain["id"],
                                                             catalog, extra_groups)
        elif payload.system:
            role_ids = assignments.effective_system_role_ids(conn, user["id"], catalog,
                                                             extra_groups)
        if payload.scope_kind != "unscoped":
            if not role_ids:
                raise failure(message)
            info.roles = sorted(
                ({"id": r["id"], "name": r["name"]} for r in catalog.by_ids(role_ids).values()),
                key=lambda r: r["name"])
        return info

    @staticmethod
    def _load_trust(conn: Connection, trust_id: str,
                    failure: type[exceptions.PocketstackError], message: str) -> dict[str, Any]:
        try:
            trust = trusts.get(conn, trust_id)
            trustor = users.get(conn, trust["trustor_user_id"])
            trustee = users.get(conn, trust["trustee_user_id"])
        except exceptions.NotFound:
            raise failure(message) from None
        if trusts.is_expired(trust) or not trustor["enabled"] or not trustee["enabled"]:
            raise failure(message)
        return trust

    def catalog(self) -> list[dict[str, Any]]:
        revision = self.revision()
        found: list[dict[str, Any]] | None = self._catalog.get("catalog", revision)
        if found is None:
            found = self.db.read(catalog.token_catalog)
            self._catalog.put("catalog", revision, found)
        return found

    def revoke(self, token: str) -> None:
        info = self.validate(token)
        self.db.write(lambda conn: revocations.add_event(
            conn, audit_id=info.payload.audit_ids[0]))

    def context_for(self, token: str) -> RequestContext:
        """What another service's API uses to authenticate a request."""
        try:
            return self.validate(token).context()
        except exceptions.NotFound:
            raise exceptions.Unauthorized(AUTH_FAILED) from None

    # -- render ---------------------------------------------------------------------------------
    def render_json(self, info: TokenInfo, include_catalog: bool = True) -> bytes:
        """``{"token": ...}`` as JSON bytes, rendered once per cached token."""
        found = info.rendered.get(include_catalog)
        if found is None:
            found = json.dumps({"token": self.render(info, include_catalog)},
                               separators=(",", ":")).encode()
            info.rendered[include_catalog] = found
        return found

    def render(self, info: TokenInfo, include_catalog: bool = True) -> dict[str, Any]:
        p = info.payload
        methods = p.methods
        if p.federation is not None:  # Keystone names the protocol as the method
            methods = [p.federation[1] if m == "mapped" else m for m in methods]
        body: dict[str, Any] = {
            "methods": methods,
            "user": {
                "id": info.user["id"],
                "name": info.user["name"],
                "domain": {"id": info.user_domain["id"], "name": info.user_domain["name"]},
                "password_expires_at": isotime(info.user["password_expires_at"]),
            },
            "audit_ids": p.audit_ids,
            "expires_at": isotime(
                dt.datetime.fromtimestamp(p.expires_at, dt.UTC).replace(tzinfo=None)),
            "issued_at": isotime(
                dt.datetime.fromtimestamp(p.issued_at, dt.UTC).replace(tzinfo=None)),
        }
        if info.project is not None and info.project_domain is not None:
            body["project"] = {
                "id": info.project["id"],
                "name": info.project["name"],
                "domain": {"id": info.project_domain["id"], "name": info.project_domain["name"]},
            }
            body["is_domain"] = False
        elif info.domain is not None:
            body["domain"] = {"id": info.domain["id"], "name": info.domain["name"]}
        elif p.system:
            body["system"] = {"all": True}
        if p.scope_kind != "unscoped":
            body["roles"] = info.roles
            if include_catalog:
                body["catalog"] = self.catalog()
        if info.service_providers:
            body["service_providers"] = info.service_providers
        if p.federation is not None:
            idp_id, protocol_id, group_ids = p.federation
            body["user"]["OS-FEDERATION"] = {
                "groups": [{"id": g} for g in group_ids],
                "identity_provider": {"id": idp_id},
                "protocol": {"id": protocol_id},
            }
            del body["user"]["password_expires_at"]
        if info.trust is not None:
            body["OS-TRUST:trust"] = {
                "id": info.trust["id"],
                "impersonation": info.trust["impersonation"],
                "trustee_user": {"id": info.trust["trustee_user_id"]},
                "trustor_user": {"id": info.trust["trustor_user_id"]},
            }
        if info.app_cred is not None:
            body["application_credential"] = {
                "id": info.app_cred["id"],
                "name": info.app_cred["name"],
                "restricted": not info.app_cred["unrestricted"],
            }
            if info.app_cred["access_rules"]:
                body["application_credential"]["access_rules"] = info.app_cred["access_rules"]
        return body
