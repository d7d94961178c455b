"""OS-FEDERATION: identity providers, mappings, protocols and service providers with the stock
CLI, and the OpenID Connect login against a test issuer (an RSA key made here, its JWKS in a
file and served over http on 127.0.0.1) through keystoneauth's ``v3oidcaccesstoken`` plugin and
over HTTP."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.conftest import BIN, LiveCloud, start_cloud, unique

ISSUER = "https://issuer.test.example"
AUDIENCE = "pocketstack"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Issuer:
    """A test OpenID Connect provider: an RSA key pair and its JWKS."""

    def __init__(self, issuer: str, kid: str = "k1") -> None:
        self.issuer = issuer
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()

        def enc(n: int) -> str:
            return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                          "n": enc(numbers.n), "e": enc(numbers.e)}]}

    def token(self, sub: str, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "sub": sub, "aud": AUDIENCE, "iat": now,
                "exp": now + 300, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"
        signature = (key or self.key).sign(signing.encode(), padding.PKCS1v15(),
                                           hashes.SHA256())
        return f"{signing}.{_b64(signature)}"


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    jwks: bytes = b""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).jwks)

    def log_message(self, *args: Any) -> None:
        pass


class Fed:
    """The cloud with two OIDC identity providers configured and their issuers."""

    def __init__(self, live: LiveCloud, file_issuer: Issuer, url_issuer: Issuer,
                 jwks_path: Path) -> None:
        self.live = live
        self.issuer = file_issuer
        self.url_issuer = url_issuer
        self.jwks_path = jwks_path
        token, _ = live.token()
        self.admin = live.client(token)

    def auth_url(self, idp: str, protocol: str = "openid") -> str:
        return (f"{self.live.identity}/OS-FEDERATION/identity_providers/{idp}/protocols/"
                f"{protocol}/auth")

    def login(self, idp: str, jwt: str, protocol: str = "openid",
              method: str = "POST") -> httpx.Response:
        return httpx.request(method, self.auth_url(idp, protocol),
                             headers={"Authorization": f"Bearer {jwt}"}, timeout=30)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    base = tmp_path_factory.mktemp("federation")
    state = base / "state"
    state.mkdir()
    file_issuer = Issuer(ISSUER)
    url_issuer = Issuer("https://other-issuer.test.example", kid="u1")
    jwks_path = base / "jwks.json"
    jwks_path.write_text(json.dumps(file_issuer.jwks()))
    handler = type("Handler", (_JwksHandler,), {"jwks": json.dumps(url_issuer.jwks()).encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    providers = {
        "corp": {"issuer": ISSUER, "jwks_file": str(jwks_path), "audience": AUDIENCE},
        "other": {"issuer": url_issuer.issuer, "audience": [AUDIENCE, "x"],
                  "jwks_url": f"http://127.0.0.1:{server.server_address[1]}/jwks"},
    }
    config = base / "oidc.json"
    config.write_text(json.dumps(providers))
    live = start_cloud(state, {"POCKETSTACK_FEDERATION_OIDC_PROVIDERS": str(config),
                               "POCKETSTACK_COMPUTE_HOSTS": "0"})
    fed = Fed(live, file_issuer, url_issuer, jwks_path)
    try:
        yield fed
    finally:
        fed.admin.close()
        live.stop()
        server.shutdown()


def _write(tmp_path: Path, data: Any) -> str:
    path = tmp_path / f"{unique('rules')}.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture(scope="module")
def corp(fed: Fed, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Domain, group with a role on a project, mapping and protocol for IdP ``corp``."""
    osc = fed.live.osc
    tmp_path = tmp_path_factory.mktemp("corp")
    domain = osc("domain", "create", "corp-users")
    osc("identity", "provider", "create", "--remote-id", ISSUER, "--domain", domain["id"],
        "--enable", "corp")
    group = osc("group", "create", "--domain", "corp-users", "engineers")
    project = osc("project", "create", "--domain", "corp-users", "corp-project")
    osc("role", "add", "--group", group["id"], "--project", project["id"], "member",
        as_json=False)
    rules = [
        {"local": [{"user": {"name": "{0}", "email": "{1}"}}],
         "remote": [{"type": "OIDC-preferred_username"}, {"type": "OIDC-email"},
                    {"type": "OIDC-email_verified", "any_one_of": ["true"]}]},
        {"local": [{"groups": "{0}", "domain": {"name": "corp-users"}}],
         "remote": [{"type": "OIDC-groups", "whitelist": ["engineers", "nonexistent"]}]},
    ]
    osc("mapping", "create", "--rules", _write(tmp_path, rules), "corp-mapping")
    osc("federation", "protocol", "create", "--identity-provider", "corp", "--mapping",
        "corp-mapping", "openid")
    return {"domain": domain, "project": project, "group": group}


def _claims(name: str, **extra: Any) -> dict[str, Any]:
    return {"preferred_username": name, "email": f"{name}@corp.example",
            "email_verified": True, "groups": ["engineers", "sales"], **extra}


# -- CRUD with the stock CLI ------------------------------------------------------------------
def test_identity_provider_cli(fed: Fed) -> None:
    osc = fed.live.osc
    name = unique("idp")
    created = osc("identity", "provider", "create", "--remote-id", "https://a.example",
                  "--remote-id", "https://b.example", "--description", "test idp",
                  "--enable", name)
    assert created["id"] == name and created["enabled"] is True
    assert sorted(created["remote_ids"]) == ["https://a.example", "https://b.example"]
    domain = osc("domain", "show", created["domain_id"])  # Keystone made one for it
    assert domain["description"] == f"Auto generated federated domain for Identity Provider: " \
                                    f"{name}"
    assert name in {i["ID"] for i in osc("identity", "provider", "list")}
    osc("identity", "provider", "set", "--remote-id", "https://c.example", "--disable", name,
        as_json=False)
    shown = osc("identity", "provider", "show", name)
    assert shown["remote_ids"] == ["https://c.example"] and shown["enabled"] is False
    # a remote id belongs to one identity provider
    dup = osc("identity", "provider", "create", "--remote-id", "https://c.example",
              unique("idp"), check=False)
    assert dup.returncode != 0 and "409" in dup.stderr
    r = fed.admin.get(f"/identity/v3/OS-FEDERATION/identity_providers/{name}")
    links = r.json()["identity_provider"]["links"]
    assert links["protocols"].endswith(f"/OS-FEDERATION/identity_providers/{name}/protocols")
    osc("identity", "provider", "delete", name, as_json=False)
    gone = fed.admin.get(f"/identity/v3/OS-FEDERATION/identity_providers/{name}")
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == f"Could not find Identity Provider: {name}."


def test_mapping_cli(fed: Fed, tmp_path: Path) -> None:
    osc = fed.live.osc
    name = unique("map")
    rules = [{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "OIDC-sub"}]}]
    created = osc("mapping", "create", "--rules", _write(tmp_path, rules), name)
    assert created["rules"] == rules and created["schema_version"] == "1.0"
    assert name in {m["ID"] for m in osc("mapping", "list")}
    rules2 = [{"local": [{"user": {"name": "{0}", "type": "local",
                                   "domain": {"name": "Default"}}}],
               "remote": [{"type": "OIDC-sub", "not_any_of": ["root"]}]}]
    osc("mapping", "set", "--rules", _write(tmp_path, rules2), name, as_json=False)
    assert osc("mapping", "show", name)["rules"] == rules2
    bad = [{"local": [{"user": {"name": "{0}", "type": "superuser"}}],
            "remote": [{"type": "OIDC-sub"}]}]
    refused = osc("mapping", "create", "--rules", _write(tmp_path, bad), unique("map"),
                  check=False)
    assert refused.returncode != 0 and "400" in refused.stderr
    dup = osc("mapping", "create", "--rules", _write(tmp_path, rules), name, check=False)
    assert dup.returncode != 0 and "409" in dup.stderr
    osc("mapping", "delete", name, as_json=False)
    assert name not in {m["ID"] for m in osc("mapping", "list")}


def test_protocol_and_service_provider_cli(fed: Fed, tmp_path: Path) -> None:
    osc = fed.live.osc
    idp, mapping, mapping2 = unique("idp"), unique("map"), unique("map")
    rules = [{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "OIDC-sub"}]}]
    osc("identity", "provider", "create", idp)
    osc("mapping", "create", "--rules", _write(tmp_path, rules), mapping)
    osc("mapping", "create", "--rules", _write(tmp_path, rules), mapping2)
    proto = osc("federation", "protocol", "create", "--identity-provider", idp, "--mapping",
                mapping, "openid")
    assert proto["id"] == "openid" and proto["mapping"] == mapping
    listed = osc("federation", "protocol", "list", "--identity-provider", idp)
    assert [(p["id"], p["mapping"]) for p in listed] == [("openid", mapping)]
    # the stock command returns the protocol as its exit status (exit 1 after a successful
    # update, whatever the cloud): what counts is that the update happened
    osc("federation", "protocol", "set", "--identity-provider", idp, "--mapping", mapping2,
        "openid", as_json=False, check=False)
    shown = osc("federation", "protocol", "show", "--identity-provider", idp, "openid")
    assert shown["mapping"] == mapping2
    missing = fed.admin.put(
        f"/identity/v3/OS-FEDERATION/identity_providers/{idp}/protocols/saml2",
        json={"protocol": {"mapping_id": "no-such-mapping"}})
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "Invalid mapping id: no-such-mapping"
    osc("federation", "protocol", "delete", "--identity-provider", idp, "openid",
        as_json=False)
    assert osc("federation", "protocol", "list", "--identity-provider", idp) == []
    osc("identity", "provider", "delete", idp, as_json=False)

    sp = unique("sp")
    created = osc("service", "provider", "create", "--auth-url",
                  "https://sp.example/v3/OS-FEDERATION/identity_providers/x/protocols/saml2/auth",
                  "--service-provider-url", "https://sp.example/Shibboleth.sso/SAML2/ECP",
                  "--enable", sp)
    assert created["enabled"] is True and created["relay_state_prefix"] == "ss:mem:"
    assert sp in {s["ID"] for s in osc("service", "provider", "list")}
    # an enabled service provider is listed in tokens
    token = fed.live.osc("token", "issue")["id"]
    body = httpx.get(f"{fed.live.identity}/auth/tokens", timeout=30,
                     headers={"X-Auth-Token": token, "X-Subject-Token": token}).json()["token"]
    assert sp in {s["id"] for s in body["service_providers"]}
    osc("service", "provider", "set", "--disable", sp, as_json=False)
    assert osc("service", "provider", "show", sp)["enabled"] is False
    osc("service", "provider", "delete", sp, as_json=False)
    assert sp not in {s["ID"] for s in osc("service", "provider", "list")}


def test_federation_bad_input(fed: Fed) -> None:
    base = "/identity/v3/OS-FEDERATION"
    r = fed.admin.put(f"{base}/identity_providers/{unique('idp')}",
                      json={"identity_provider": {"remote_ids": "not-a-list"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == 400
    r = fed.admin.put(f"{base}/identity_providers/{unique('idp')}",
                      json={"identity_provider": {"domain_id": "no-such-domain"}})
    assert r.status_code == 400
    r = fed.admin.put(f"{base}/identity_providers/{'x' * 65}", json={"identity_provider": {}})
    assert r.status_code == 400
    r = fed.admin.patch(f"{base}/identity_providers/nope",
                        json={"identity_provider": {"enabled": True}})
    assert r.status_code == 404
    r = fed.admin.put(f"{base}/mappings/{unique('m')}", json={"mapping": {"rules": []}})
    assert r.status_code == 400
    r = fed.admin.put(f"{base}/mappings/{unique('m')}", json={"mapping": {"rules": [
        {"local": [{"user": {"name": "x"}}], "remote": [{"type": "a", "regex": True,
                                                          "any_one_of": ["("]}]}]}})
    assert r.status_code == 400 and "regular expression" in r.json()["error"]["message"]
    r = fed.admin.put(f"{base}/service_providers/{unique('sp')}",
                      json={"service_provider": {"auth_url": "https://a"}})
    assert r.status_code == 400
    r = fed.admin.get(f"{base}/mappings/nope")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "Could not find Mapping: nope."
    # duplicates are 409 with Keystone's message
    idp, sp, mapping = unique("idp"), unique("sp"), unique("map")
    assert fed.admin.put(f"{base}/identity_providers/{idp}",
                         json={"identity_provider": {}}).status_code == 201
    r = fed.admin.put(f"{base}/identity_providers/{idp}", json={"identity_provider": {}})
    assert r.status_code == 409
    assert r.json()["error"]["message"] == (
        f"Conflict occurred attempting to store identity_provider - Duplicate ID, {idp}.")
    rules = {"rules": [{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "a"}]}]}
    assert fed.admin.put(f"{base}/mappings/{mapping}",
                         json={"mapping": rules}).status_code == 201
    proto = f"{base}/identity_providers/{idp}/protocols/openid"
    assert fed.admin.put(proto, json={"protocol": {"mapping_id": mapping}}).status_code == 201
    assert fed.admin.put(proto, json={"protocol": {"mapping_id": mapping}}).status_code == 409
    sp_body = {"service_provider": {"auth_url": "https://a.example/v3",
                                    "sp_url": "https://a.example/sp"}}
    assert fed.admin.put(f"{base}/service_providers/{sp}", json=sp_body).status_code == 201
    assert fed.admin.put(f"{base}/service_providers/{sp}", json=sp_body).status_code == 409
    assert fed.admin.patch(f"{base}/service_providers/{sp}", json={"service_provider": {
        "sp_url": "not a url"}}).status_code == 400
    assert fed.admin.delete(f"{base}/identity_providers/{idp}").status_code == 204
    assert fed.admin.get(proto).status_code == 404
    # a member may not manage identity providers
    demo, _ = fed.live.token("demo", project="demo")
    r = httpx.put(f"{fed.live.identity}/OS-FEDERATION/identity_providers/{unique('idp')}",
                  json={"identity_provider": {}}, headers={"X-Auth-Token": demo}, timeout=30)
    assert r.status_code == 403


# -- the OpenID Connect login -----------------------------------------------------------------
def test_oidc_login_with_stock_cli(fed: Fed, corp: dict[str, Any]) -> None:
    facts = corp
    jwt = fed.issuer.token("u-1001", **_claims("alice"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    cmd = [str(BIN / "openstack"), "--os-auth-url", fed.live.url + "/identity",
           "--os-identity-api-version", "3", "--os-auth-type", "v3oidcaccesstoken",
           "--os-access-token", jwt, "--os-identity-provider", "corp", "--os-protocol",
           "openid", "--os-project-name", "corp-project", "--os-project-domain-name",
           "corp-users", "token", "issue", "-f", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    token = json.loads(proc.stdout)
    assert token["project_id"] == facts["project"]["id"]
    expected_user = hashlib.sha256(
        (facts["domain"]["id"] + "user" + "alice").encode()).hexdigest()
    assert token["user_id"] == expected_user
    user = fed.live.osc("user", "show", expected_user)
    assert user["name"] == "alice" and user["domain_id"] == facts["domain"]["id"]
    assert user["email"] == "alice@corp.example"
    shown = fed.admin.get(f"/identity/v3/users/{expected_user}").json()["user"]
    assert shown["federated"] == [{"idp_id": "corp", "protocols": [
        {"protocol_id": "openid", "unique_id": "alice"}]}]


def test_oidc_login_http_flow(fed: Fed, corp: dict[str, Any]) -> None:
    facts = corp
    r = fed.login("corp", fed.issuer.token("u-2002", **_claims("bob")))
    assert r.status_code == 201, r.text
    unscoped = r.headers["X-Subject-Token"]
    body = r.json()["token"]
    assert body["methods"] == ["openid"]
    assert "password_expires_at" not in body["user"]
    assert body["user"]["name"] == "bob"
    assert body["user"]["domain"] == {"id": facts["domain"]["id"], "name": "corp-users"}
    assert body["user"]["OS-FEDERATION"] == {
        "groups": [{"id": facts["group"]["id"]}], "identity_provider": {"id": "corp"},
        "protocol": {"id": "openid"}}
    assert "roles" not in body and "project" not in body
    # the mapped group's projects, then a project-scoped token through the token method
    with httpx.Client(base_url=fed.live.identity, headers={"X-Auth-Token": unscoped},
                      timeout=30) as client:
        projects = client.get("/auth/projects").json()["projects"]
        assert [p["id"] for p in projects] == [facts["project"]["id"]]
        legacy = client.get("/OS-FEDERATION/projects").json()["projects"]
        assert [p["id"] for p in legacy] == [facts["project"]["id"]]
    r = httpx.post(f"{fed.live.identity}/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": unscoped}},
        "scope": {"project": {"id": facts["project"]["id"]}}}})
    assert r.status_code == 201, r.text
    scoped = r.json()["token"]
    assert scoped["methods"] == ["token", "openid"]
    assert {ro["name"] for ro in scoped["roles"]} >= {"member", "reader"}
    assert scoped["user"]["OS-FEDERATION"]["identity_provider"] == {"id": "corp"}
    assert scoped["catalog"]
    # the scoped token works against another service
    with fed.live.client(r.headers["X-Subject-Token"]) as client:
        assert client.get("/compute/v2.1/servers").status_code == 200
    # GET works too, and the same identity maps to the same user, renamed as the IdP says
    again = fed.login("corp", fed.issuer.token("u-2002", **_claims("bob")), method="GET")
    assert again.status_code == 201
    assert again.json()["token"]["user"]["id"] == body["user"]["id"]


def test_oidc_claims_checked(fed: Fed, corp: dict[str, Any]) -> None:
    iss = fed.issuer

    def refused(jwt: str, status: int, fragment: str, idp: str = "corp") -> None:
        r = fed.login(idp, jwt)
        assert r.status_code == status, r.text
        assert fragment in r.json()["error"]["message"], r.json()
        assert "X-Subject-Token" not in r.headers

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(iss.token("u-9", key=stranger, **_claims("eve")), 401, "signature")
    refused(iss.token("u-9", exp=int(time.time()) - 3600, **_claims("eve")), 401, "expired")
    refused(iss.token("u-9", nbf=int(time.time()) + 3600, **_claims("eve")), 401,
            "not yet valid")
    refused(iss.token("u-9", exp=None, **_claims("eve")), 401, "'exp' is required")
    refused(iss.token("u-9", aud="someone-else", **_claims("eve")), 401, "audience")
    refused(Issuer("https://evil.example").token("u-9", **_claims("eve")), 401, "signature")
    refused("not.a.jwt", 401, "OpenID Connect")
    refused(iss.token("u-9", **_claims("eve"))[:-10] + "AAAAAAAAAA", 401, "signature")
    # no rule applies (email not verified, no groups claim): nobody to map to
    refused(iss.token("u-9", **_claims("eve", email_verified=False, groups=None)), 401,
            "Could not map any federated user properties")
    r = httpx.post(fed.auth_url("corp"), timeout=30)
    assert r.status_code == 401 and "Bearer" in r.json()["error"]["message"]
    r = fed.login("no-such-idp", iss.token("u-9", **_claims("eve")))
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "Could not find Identity Provider: no-such-idp."
    r = fed.login("corp", iss.token("u-9", **_claims("eve")), protocol="saml2")
    assert r.status_code == 404
    # no user was shadowed by any of it
    assert "eve" not in {u["Name"] for u in fed.live.osc("user", "list", "--domain",
                                                         "corp-users")}


def test_oidc_remote_ids_disabled_idp_and_key_rotation(fed: Fed, corp: dict[str, Any]) -> None:
    osc = fed.live.osc
    jwt = fed.issuer.token("u-3003", **_claims("carol"))
    # the token's issuer must be among the IdP's remote ids
    osc("identity", "provider", "set", "--remote-id", "https://elsewhere.example", "corp",
        as_json=False)
    try:
        r = fed.login("corp", jwt)
        assert r.status_code == 403
        assert "not included among the accepted identifiers" in r.json()["error"]["message"]
    finally:
        osc("identity", "provider", "set", "--remote-id", ISSUER, "corp", as_json=False)
    osc("identity", "provider", "set", "--disable", "corp", as_json=False)
    try:
        r = fed.login("corp", jwt)
        assert r.status_code == 403
        assert r.json()["error"]["message"] == "Identity Provider corp is disabled"
    finally:
        osc("identity", "provider", "set", "--enable", "corp", as_json=False)
    assert fed.login("corp", jwt).status_code == 201
    # the issuer rotates its key: the JWKS file is re-read
    old_key, old_jwks = fed.issuer.key, fed.jwks_path.read_text()
    fed.issuer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fed.issuer.kid = "k2"
    try:
        new_jwt = fed.issuer.token("u-3003", **_claims("carol"))
        assert fed.login("corp", new_jwt).status_code == 401
        fed.jwks_path.write_text(json.dumps(fed.issuer.jwks()))
        assert fed.login("corp", new_jwt).status_code == 201
        assert fed.login("corp", jwt).status_code == 401  # the old key is gone
    finally:
        fed.issuer.key, fed.issuer.kid = old_key, "k1"
        fed.jwks_path.write_text(old_jwks)


def test_oidc_jwks_url_ephemeral_projects_and_rules(fed: Fed) -> None:
    """IdP ``other`` (JWKS over http): a mapping that provisions a project, maps groups by id,
    refuses a blacklisted user and uses regex; the shadow user follows renames."""
    osc = fed.live.osc
    group = osc("group", "create", unique("ops"))
    rules = {"rules": [
        {"local": [{"user": {"name": "{0}", "id": "{1}"}},
                   {"projects": [{"name": "sandbox-{0}", "roles": [{"name": "member"}]}]}],
         "remote": [{"type": "OIDC-name"}, {"type": "OIDC-sub"},
                    {"type": "OIDC-sub", "not_any_of": ["root", "admin"]}]},
        {"local": [{"group": {"id": group["id"]}}],
         "remote": [{"type": "OIDC-roles", "any_one_of": ["^ops-.*$"], "regex": True}]},
    ], "schema_version": "2.0"}
    mapping = unique("map")
    r = fed.admin.put(f"/identity/v3/OS-FEDERATION/mappings/{mapping}",
                      json={"mapping": rules})
    assert r.status_code == 201 and r.json()["mapping"]["schema_version"] == "2.0"
    osc("identity", "provider", "create", "--remote-id", fed.url_issuer.issuer, "--enable",
        "other")
    osc("federation", "protocol", "create", "--identity-provider", "other", "--mapping",
        mapping, "openid")
    idp = osc("identity", "provider", "show", "other")
    login = fed.login("other", fed.url_issuer.token("dave-7", name="dave",
                                                    roles=["ops-oncall"]))
    assert login.status_code == 201, login.text
    body = login.json()["token"]
    assert body["user"]["OS-FEDERATION"]["groups"] == [{"id": group["id"]}]
    assert body["user"]["domain"]["id"] == idp["domain_id"]
    project = osc("project", "show", "--domain", idp["domain_id"], "sandbox-dave")
    r = httpx.post(f"{fed.live.identity}/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["token"],
                     "token": {"id": login.headers["X-Subject-Token"]}},
        "scope": {"project": {"id": project["id"]}}}})
    assert r.status_code == 201 and "member" in {ro["name"] for ro in r.json()["token"]["roles"]}
    # renamed at the IdP: same user, new name
    renamed = fed.login("other", fed.url_issuer.token("dave-7", name="david", roles=[]))
    assert renamed.status_code == 201
    assert renamed.json()["token"]["user"]["id"] == body["user"]["id"]
    assert renamed.json()["token"]["user"]["name"] == "david"
    assert renamed.json()["token"]["user"]["OS-FEDERATION"]["groups"] == []
    # root is refused by not_any_of; deleting the IdP invalidates its tokens
    refused = fed.login("other", fed.url_issuer.token("root", name="root"))
    assert refused.status_code == 401
    osc("identity", "provider", "delete", "other", as_json=False)
    check = httpx.get(f"{fed.live.identity}/auth/tokens", timeout=30, headers={
        "X-Auth-Token": fed.live.token()[0],
        "X-Subject-Token": renamed.headers["X-Subject-Token"]})
    assert check.status_code == 404


def test_oidc_login_as_local_user(fed: Fed, corp: dict[str, Any], tmp_path: Path) -> None:
    """A ``local`` user in a mapping logs in as that existing user (no shadow user)."""
    osc = fed.live.osc
    rules = [{"local": [{"user": {"name": "demo", "domain": {"name": "Default"},
                                  "type": "local"}}],
              "remote": [{"type": "OIDC-sub", "any_one_of": ["u-local"]}]}]
    mapping = unique("map")
    osc("mapping", "create", "--rules", _write(tmp_path, rules), mapping)
    base = "/identity/v3/OS-FEDERATION/identity_providers/corp/protocols/openid"
    assert fed.admin.patch(base, json={"protocol": {"mapping_id": mapping}}).status_code == 200
    try:
        r = fed.login("corp", fed.issuer.token("u-local", **_claims("whoever")))
        assert r.status_code == 201, r.text
        user = r.json()["token"]["user"]
        assert user["id"] == osc("user", "show", "demo")["id"]
        assert "OS-FEDERATION" not in user
        refused = fed.login("corp", fed.issuer.token("u-other", **_claims("whoever")))
        assert refused.status_code == 401
    finally:
        fed.admin.patch(base, json={"protocol": {"mapping_id": "corp-mapping"}})


def test_authorization_ttl_keeps_memberships(fed: Fed, corp: dict[str, Any]) -> None:
    """With an authorization_ttl the mapped groups outlive the federated token: an application
    credential of the federated user gets its roles through them; a later login without the
    group takes the membership away."""
    osc = fed.live.osc
    osc("identity", "provider", "set", "--authorization-ttl", "60", "corp", as_json=False)
    try:
        assert osc("identity", "provider", "show", "corp")["authorization_ttl"] == 60
        login = fed.login("corp", fed.issuer.token("u-4004", **_claims("frank")))
        assert login.status_code == 201, login.text
        user_id = login.json()["token"]["user"]["id"]
        groups = fed.admin.get(f"/identity/v3/users/{user_id}/groups").json()["groups"]
        assert [g["id"] for g in groups] == [corp["group"]["id"]]
        assert groups[0]["membership_expires_at"].endswith("Z")
        scoped = httpx.post(f"{fed.live.identity}/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["token"],
                         "token": {"id": login.headers["X-Subject-Token"]}},
            "scope": {"project": {"id": corp["project"]["id"]}}}})
        assert scoped.status_code == 201
        cred = httpx.post(f"{fed.live.identity}/users/{user_id}/application_credentials",
                          headers={"X-Auth-Token": scoped.headers["X-Subject-Token"]},
                          json={"application_credential": {"name": unique("ac")}}, timeout=30)
        assert cred.status_code == 201, cred.text
        secret, cred_id = cred.json()["application_credential"]["secret"], \
            cred.json()["application_credential"]["id"]

        def by_app_cred() -> httpx.Response:
            return httpx.post(f"{fed.live.identity}/auth/tokens", timeout=30, json={"auth": {
                "identity": {"methods": ["application_credential"],
                             "application_credential": {"id": cred_id, "secret": secret}}}})

        r = by_app_cred()
        assert r.status_code == 201, r.text
        assert "member" in {ro["name"] for ro in r.json()["token"]["roles"]}
        # the IdP no longer puts frank in engineers: the membership goes at the next login
        again = fed.login("corp", fed.issuer.token("u-4004", **_claims("frank", groups=["x"])))
        assert again.status_code == 201
        assert fed.admin.get(f"/identity/v3/users/{user_id}/groups").json()["groups"] == []
        assert by_app_cred().status_code == 401
    finally:
        fed.admin.patch("/identity/v3/OS-FEDERATION/identity_providers/corp",
                        json={"identity_provider": {"authorization_ttl": None}})
