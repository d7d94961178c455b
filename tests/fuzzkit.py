"""The fuzz harness: every route of every service's route table, the callers, the known ids,
generated requests, and a fingerprint of the database to prove refused requests change nothing.

Used by ``tests/test_fuzz.py``. The route tables are read from the services' ``routes.py``, so a
new route is fuzzed the day it is added.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from hypothesis import strategies as st

from pocketstack.common.api.app import Route
from tests.conftest import LiveCloud

#: examples per route per backend; raise it for a longer campaign
EXAMPLES = int(os.environ.get("POCKETSTACK_FUZZ_EXAMPLES", "4"))
#: explore new ground (a fresh random seed each run) instead of CI's fixed, derandomized run
RANDOM = os.environ.get("POCKETSTACK_FUZZ_RANDOM") == "1"
#: no request may take longer than this (a hang is a failure, like a 500)
REQUEST_TIMEOUT = float(os.environ.get("POCKETSTACK_FUZZ_TIMEOUT", "20"))

ROLES = ("anonymous", "other-project member", "admin")

#: (backend, role, status) -> answers seen; written out when POCKETSTACK_FUZZ_STATS names a file
STATS: collections.Counter[tuple[str, str, int]] = collections.Counter()


# -- the route tables -------------------------------------------------------------------------
@dataclass(frozen=True)
class FuzzRoute:
    service: str
    prefix: str  # where the cloud mounts that table
    method: str
    path: str
    stream: bool
    public: bool

    @property
    def id(self) -> str:
        return f"{self.method} {self.prefix}{self.path}"

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


def all_routes() -> list[FuzzRoute]:
    """Every line of every service's route table, with the prefix the cloud mounts it at."""
    from pocketstack.compute import routes as compute
    from pocketstack.identity import routes as identity
    from pocketstack.image import routes as image
    from pocketstack.network import routes as network
    from pocketstack.placement import routes as placement
    from pocketstack.volume import routes as volume

    tables: list[tuple[str, str, list[Route]]] = [
        ("identity", "/identity", identity.ROUTES),
        ("image", "/image", image.ROUTES),
        ("placement", "/placement", placement.ROUTES),
        ("compute", "/compute/v2.1", compute.ROUTES),
        ("compute", "/compute", compute.ROOT_ROUTES),
        ("network", "/networking", network.ROUTES),
        ("volume", "/volume", volume.ROUTES),
    ]
    return [FuzzRoute(service, prefix, r.method, r.path, r.stream, r.public)
            for service, prefix, table in tables for r in table]


# -- the world the requests run in ------------------------------------------------------------
@dataclass(repr=False)
class World:
    """A live cloud with resources to aim at, the callers' tokens and a database view."""

    cloud: LiveCloud
    backend: str
    database_url: str
    tokens: dict[str, str | None] = field(repr=False)
    ids: dict[tuple[str, str], list[str]] = field(repr=False)  # (service, param) -> ids
    values: list[str] = field(repr=False)  # strings that mean something to the cloud
    subject_tokens: list[str] = field(repr=False)
    templates: dict[str, Any] = field(repr=False, default_factory=dict)  # route id -> body
    fingerprint: Callable[[], Any] = field(repr=False, default=lambda: None)
    last_fingerprint: Any = field(repr=False, default=None)  # as the last write left it

    def __repr__(self) -> str:
        return f"World({self.backend} at {self.cloud.url})"

    @functools.cached_property
    def texts(self) -> st.SearchStrategy[str]:
        return texts(self)

    @functools.cached_property
    def json_values(self) -> st.SearchStrategy[Any]:
        return json_values(self)

    @functools.cached_property
    def client(self) -> httpx.Client:
        """One client for the whole run (making one costs an SSL context)."""
        return httpx.Client(base_url=self.cloud.url, timeout=REQUEST_TIMEOUT)


# Columns the cloud rewrites on its own (heartbeats); everything else must stand still.
VOLATILE = {
    "compute_services": {"last_seen_up", "report_count", "updated_at", "generation"},
    "compute_nodes": {"updated_at", "generation"},
    "neutron_agents": {"heartbeat_timestamp", "configurations"},
    "cinder_services": {"heartbeat_at", "capabilities"},
}


def make_fingerprint(database_url: str) -> tuple[Callable[[], Any], Callable[[], None]]:
    """A function returning every table's rows (minus heartbeat columns), and a closer.

    On SQLite the rows themselves (a few ms); on PostgreSQL a digest per table computed by the
    server in one round trip (fetching every table would cost a round trip each)."""
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    meta = sa.MetaData()
    meta.reflect(engine)
    tables = [t for t in meta.sorted_tables if t.name != "alembic_version"]

    def columns(table: sa.Table) -> list[sa.Column[Any]]:
        return [c for c in table.columns if c.name not in VOLATILE.get(table.name, ())]

    if engine.dialect.name == "postgresql":
        parts = []
        for table in tables:
            cols = ", ".join(f'"{c.name}"' for c in columns(table))
            parts.append(f"SELECT '{table.name}' AS tbl, count(*) AS nrows, "
                         f"md5(coalesce(string_agg(r, '|' ORDER BY r), '')) AS digest "
                         f'FROM (SELECT CAST(ROW({cols}) AS text) AS r FROM "{table.name}") AS s')
        digest = sa.text(" UNION ALL ".join(parts))

        def fingerprint() -> dict[str, list[str]]:
            with engine.connect() as conn:
                return {row.tbl: [f"{row.nrows} rows, digest {row.digest}"]
                        for row in conn.execute(digest)}

        return fingerprint, engine.dispose

    selects = [(table.name, sa.select(*columns(table))) for table in tables]

    def rows() -> dict[str, list[str]]:
        out = {}
        with engine.connect() as conn:
            for name, select in selects:
                out[name] = sorted(repr(tuple(row)) for row in conn.execute(select))
        return out

    return rows, engine.dispose


# Compute services and nodes register themselves again on their next heartbeat when an admin
# deleted them (the fuzzer's admin does): a row coming back is theirs, not a refused request's.
SELF_REGISTERING = {"compute_services", "compute_nodes"}
# As Neutron, a project's `default` security group (and its per-project lock row) is made on
# its first use — by a listing, or before a create is validated: rows added there together with
# a new `default` marker are that, not a refused request's write.
FIRST_USE = {"neutron_default_security_groups", "neutron_security_groups",
             "neutron_security_group_rules", "neutron_project_locks"}


def only_reregistration(before: dict[str, list[str]], after: dict[str, list[str]]) -> bool:
    """True when every difference is rows added to the self-registering tables (or a project's
    default security group made on first use)."""
    changed = {name for name in before if before[name] != after[name]}
    allowed = SELF_REGISTERING | {"neutron_project_locks"}
    if "neutron_default_security_groups" in changed:
        allowed |= FIRST_USE
    for name in changed:
        if name not in allowed:
            return False
        if "rows, digest" in (after[name] or [""])[0]:  # PostgreSQL: counts and digests only
            if int(after[name][0].split()[0]) <= int(before[name][0].split()[0]):
                return False
        elif not set(before[name]) <= set(after[name]):
            return False
    return True


def diff(before: dict[str, list[str]], after: dict[str, list[str]]) -> str:
    lines = []
    for name in before:
        if before[name] != after[name]:
            gone = sorted(set(before[name]) - set(after[name]))[:2]
            new = sorted(set(after[name]) - set(before[name]))[:2]
            lines.append(f"{name}: -{gone} +{new}")
    return "; ".join(lines)


def settle(world: World, quiet: float = 0.02, limit: float = 15.0) -> Any:
    """Wait until the database stops changing (an accepted write may start background work,
    e.g. a server build, that must not be blamed on the next refused request); return the
    last fingerprint."""
    deadline = time.monotonic() + limit
    last = world.fingerprint()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = world.fingerprint()
        if now == last:
            return now
        last = now
    return last


# -- building the world -----------------------------------------------------------------------
def _ok(r: httpx.Response, *codes: int) -> Any:
    assert r.status_code in codes, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


PLACEMENT = {"OpenStack-API-Version": "placement 1.39"}
NOVA = {"OpenStack-API-Version": "compute 2.90"}


def build_world(cloud: LiveCloud, backend: str, database_url: str) -> World:
    """Create one of each resource kind (owned by the ``demo`` project or by admin) so that
    path ids reach the handlers, and tokens for the three callers."""
    admin_token, admin_body = cloud.token()
    alt_token, _ = cloud.token("alt_demo", project="alt_demo")
    demo_token, demo_body = cloud.token("demo", project="demo")
    ids: dict[tuple[str, str], list[str]] = {}

    def add(service: str, param: str, *values: str) -> None:
        ids.setdefault((service, param), []).extend(values)

    a = cloud.client(admin_token)
    d = cloud.client(demo_token)
    ident = "/identity/v3"
    demo_user = demo_body["user"]["id"]
    demo_project = demo_body["project"]["id"]
    tag = f"fz{uuid.uuid4().hex[:6]}"

    # identity (admin-made, except what only the owner can make)
    dom = _ok(a.post(f"{ident}/domains", json={"domain": {"name": tag + "-dom"}}), 201)
    proj = _ok(a.post(f"{ident}/projects", json={"project": {"name": tag + "-proj"}}), 201)
    user = _ok(a.post(f"{ident}/users", json={"user": {
        "name": tag + "-user", "password": "Fuzz-pass-1", "default_project_id":
        proj["project"]["id"]}}), 201)
    group = _ok(a.post(f"{ident}/groups", json={"group": {"name": tag + "-group"}}), 201)
    role = _ok(a.post(f"{ident}/roles", json={"role": {"name": tag + "-role"}}), 201)
    role2 = _ok(a.post(f"{ident}/roles", json={"role": {"name": tag + "-role2"}}), 201)
    p, u, g = proj["project"]["id"], user["user"]["id"], group["group"]["id"]
    r1, r2 = role["role"]["id"], role2["role"]["id"]
    _ok(a.put(f"{ident}/roles/{r1}/implies/{r2}"), 201)
    _ok(a.put(f"{ident}/projects/{p}/users/{u}/roles/{r1}"), 204)
    _ok(a.put(f"{ident}/groups/{g}/users/{u}"), 204)
    _ok(a.put(f"{ident}/projects/{p}/tags/{tag}"), 201)
    region = _ok(a.post(f"{ident}/regions", json={"region": {"id": tag + "-region"}}), 201)
    svc = _ok(a.post(f"{ident}/services", json={"service": {"type": tag, "name": tag}}), 201)
    ep = _ok(a.post(f"{ident}/endpoints", json={"endpoint": {
        "service_id": svc["service"]["id"], "interface": "public",
        "url": "http://fuzz.invalid/", "region_id": region["region"]["id"]}}), 201)
    pol = _ok(a.post(f"{ident}/policies", json={"policy": {"blob": "{}", "type": "x"}}), 201)
    cred = _ok(a.post(f"{ident}/credentials", json={"credential": {
        "user_id": demo_user, "type": "totp", "blob": "secret"}}), 201)
    consumer = _ok(a.post(f"{ident}/OS-OAUTH1/consumers", json={"consumer": {}}), 201)
    epg = _ok(a.post(f"{ident}/OS-EP-FILTER/endpoint_groups", json={"endpoint_group": {
        "name": tag, "filters": {"interface": "public"}}}), 201)
    appcred = _ok(d.post(f"{ident}/users/{demo_user}/application_credentials", json={
        "application_credential": {"name": tag, "access_rules": [
            {"service": "compute", "method": "GET", "path": "/v2.1/servers"}]}}), 201)
    rules = _ok(d.get(f"{ident}/users/{demo_user}/access_rules"), 200)["access_rules"]
    ec2 = _ok(d.post(f"{ident}/users/{demo_user}/credentials/OS-EC2",
                     json={"tenant_id": demo_project}), 201)
    trust = _ok(d.post(f"{ident}/OS-TRUST/trusts", json={"trust": {
        "trustor_user_id": demo_user, "trustee_user_id": u, "project_id": demo_project,
        "impersonation": False, "roles": [{"name": "member"}]}}), 201)
    subject, _ = cloud.token(tag + "-user", password="Fuzz-pass-1", project=tag + "-proj")

    add("identity", "domain_id", dom["domain"]["id"])
    add("identity", "project_id", p, demo_project)
    add("identity", "user_id", u, demo_user)
    add("identity", "group_id", g)
    add("identity", "role_id", r1, r2)
    add("identity", "prior_role_id", r1)
    add("identity", "implied_role_id", r2)
    add("identity", "tag", tag)
    add("identity", "region_id", region["region"]["id"])
    add("identity", "service_id", svc["service"]["id"])
    add("identity", "endpoint_id", ep["endpoint"]["id"])
    add("identity", "policy_id", pol["policy"]["id"])
    add("identity", "credential_id", cred["credential"]["id"])
    add("identity", "consumer_id", consumer["consumer"]["id"])
    add("identity", "endpoint_group_id", epg["endpoint_group"]["id"])
    add("identity", "cred_id", appcred["application_credential"]["id"])
    add("identity", "rule_id", *[r["id"] for r in rules])
    add("identity", "access", ec2["credential"]["access"])
    add("identity", "trust_id", trust["trust"]["id"])
    add("identity", "group", "identity", "ldap")
    add("identity", "option", "driver", "url")

    # image: a demo-owned shared image with a tag and a member
    image = _ok(d.post("/image/v2/images", json={
        "name": tag, "disk_format": "raw", "container_format": "bare",
        "visibility": "shared", "tags": [tag]}), 201)
    _ok(d.post(f"/image/v2/images/{image['id']}/members", json={"member": p}), 200)
    default_image = json.loads((cloud.state_dir / "image-default.json").read_text())["id"]
    add("image", "image_id", image["id"])
    add("image", "tag", tag)
    add("image", "member_id", p)
    add("image", "name", "image", "images", "member", "members")

    # compute: a demo server (ACTIVE) with metadata and a tag, a keypair, a server group;
    # an admin flavor with an extra spec and access for demo, an aggregate
    v21 = "/compute/v2.1"
    flavors = _ok(d.get(f"{v21}/flavors"), 200)["flavors"]
    tiny = next(f["id"] for f in flavors if f["name"] == "m1.tiny")
    _ok(d.post(f"{v21}/os-keypairs", json={"keypair": {"name": tag}}), 200)
    grp = _ok(d.post(f"{v21}/os-server-groups", json={"server_group": {
        "name": tag, "policies": ["anti-affinity"]}}), 200)
    server = _ok(d.post(f"{v21}/servers", headers=NOVA, json={"server": {
        "name": tag, "imageRef": default_image, "flavorRef": tiny, "networks": "none",
        "metadata": {"k": "v"}, "tags": [tag]}}), 202)["server"]
    deadline = time.monotonic() + 60
    while True:
        status = _ok(d.get(f"{v21}/servers/{server['id']}"), 200)["server"]["status"]
        if status == "ACTIVE":
            break
        assert status != "ERROR" and time.monotonic() < deadline, status
        time.sleep(0.1)
    actions = _ok(d.get(f"{v21}/servers/{server['id']}/os-instance-actions"),
                  200)["instanceActions"]
    flavor = _ok(a.post(f"{v21}/flavors", json={"flavor": {
        "name": tag, "ram": 64, "vcpus": 1, "disk": 1,
        "os-flavor-access:is_public": False}}), 200)["flavor"]
    _ok(a.post(f"{v21}/flavors/{flavor['id']}/os-extra_specs",
               json={"extra_specs": {"hw:cpu_policy": "shared"}}), 200)
    _ok(a.post(f"{v21}/flavors/{flavor['id']}/action",
               json={"addTenantAccess": {"tenant": demo_project}}), 200)
    agg = _ok(a.post(f"{v21}/os-aggregates", json={"aggregate": {"name": tag}}),
              200)["aggregate"]
    services = _ok(a.get(f"{v21}/os-services", headers=NOVA), 200)["services"]
    hypervisors = _ok(a.get(f"{v21}/os-hypervisors", headers=NOVA), 200)["hypervisors"]
    add("compute", "server_id", server["id"])
    add("compute", "flavor_id", flavor["id"], tiny)
    add("compute", "key", "hw:cpu_policy", "k")
    add("compute", "name", tag)
    add("compute", "group_id", grp["server_group"]["id"])
    add("compute", "aggregate_id", str(agg["id"]))
    add("compute", "service_id", *[str(s["id"]) for s in services])
    add("compute", "hypervisor_id", *[str(h["id"]) for h in hypervisors])
    add("compute", "pattern", *[h["hypervisor_hostname"] for h in hypervisors])
    add("compute", "host", *[h["hypervisor_hostname"] for h in hypervisors])
    add("compute", "project_id", demo_project, p)
    add("compute", "tenant_id", demo_project)
    add("compute", "request_id", *[x["request_id"] for x in actions])
    add("compute", "image_id", image["id"], default_image)
    add("compute", "tag", tag)

    # placement: a provider with a custom class inventory, a trait and a consumer
    cls, trait = f"CUSTOM_{tag.upper()}", f"CUSTOM_{tag.upper()}_T"
    _ok(a.put(f"/placement/resource_classes/{cls}", headers=PLACEMENT), 201)
    _ok(a.put(f"/placement/traits/{trait}", headers=PLACEMENT), 201)
    rp = _ok(a.post("/placement/resource_providers", headers=PLACEMENT,
                    json={"name": tag}), 200)
    _ok(a.put(f"/placement/resource_providers/{rp['uuid']}/inventories", headers=PLACEMENT,
              json={"resource_provider_generation": rp["generation"],
                    "inventories": {cls: {"total": 100}}}), 200)
    consumer_uuid = str(uuid.uuid4())
    _ok(a.put(f"/placement/allocations/{consumer_uuid}", headers=PLACEMENT, json={
        "allocations": {rp["uuid"]: {"resources": {cls: 1}}}, "project_id": demo_project,
        "user_id": demo_user, "consumer_generation": None,
        "consumer_type": "INSTANCE"}), 204)
    add("placement", "uuid", rp["uuid"])
    add("placement", "resource_class", cls)
    add("placement", "name", cls, trait)
    add("placement", "consumer_uuid", consumer_uuid, server["id"])

    # volume: a demo volume (available) with metadata and a snapshot; an admin type with an
    # extra spec, private, with access for demo
    vol = _ok(d.post("/volume/v3/volumes", json={"volume": {
        "size": 1, "name": tag, "metadata": {"k": "v"}}}), 202)["volume"]
    deadline = time.monotonic() + 30
    while _ok(d.get(f"/volume/v3/volumes/{vol['id']}"), 200)["volume"]["status"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    snap = _ok(d.post("/volume/v3/snapshots", json={"snapshot": {
        "volume_id": vol["id"], "name": tag, "metadata": {"k": "v"}}}), 202)["snapshot"]
    vtype = _ok(a.post("/volume/v3/types", json={"volume_type": {
        "name": tag, "os-volume-type-access:is_public": False,
        "extra_specs": {"k": "v"}}}), 200)["volume_type"]
    _ok(a.post(f"/volume/v3/types/{vtype['id']}/action",
               json={"addProjectAccess": {"project": demo_project}}), 202)
    add("volume", "volume_id", vol["id"])
    add("volume", "snapshot_id", snap["id"])
    add("volume", "type_id", vtype["id"], "default")
    add("volume", "project_id", demo_project, p)
    add("volume", "key", "k")
    add("volume", "action", "enable", "disable", "disable-log-reason")

    a.close()
    d.close()
    values = sorted({v for vs in ids.values() for v in vs} | {
        demo_project, demo_user, default_image, tiny, "member", "reader", "default",
        "Default", "public", "internal", "admin", "compute", "identity", "active", "raw",
        "bare", "qcow2", "VCPU", "MEMORY_MB", "DISK_GB", "affinity", "anti-affinity"})
    world = World(cloud, backend, database_url,
                  {"anonymous": None, "other-project member": alt_token, "admin": admin_token},
                  ids, values, [subject])
    del admin_body
    world.templates = harvest_templates(world)
    return world


def harvest_templates(world: World) -> dict[str, Any]:
    """A near-valid body for each write route, taken from what the cloud shows of the resource
    (GET of the same path for PUT/PATCH; an item of the collection, under the singular key, for
    POST). Mutating one field of it reaches deeper than a random body."""
    out: dict[str, Any] = {}
    headers = {"X-Auth-Token": world.tokens["admin"] or "", **NOVA}
    reads = {(r.prefix + r.path) for r in all_routes() if r.method == "GET"}
    for route in all_routes():
        if route.method not in ("POST", "PUT", "PATCH") or route.stream:
            continue
        path = route.prefix + route.path
        if path not in reads:
            continue
        for param in route.params:
            known = world.ids.get((route.service, param))
            if not known:
                break
            path = path.replace("{" + param + "}", quote(known[0], safe=""), 1)
        else:
            r = world.client.get(path, headers=headers)
            if r.status_code != 200 or not r.content:
                continue
            body = r.json()
            if route.method == "POST" and isinstance(body, dict):
                lists = [v for v in body.values() if isinstance(v, list) and v]
                if not lists or not isinstance(lists[0][0], dict):
                    continue
                item = lists[0][0]
                body = {singular(route): item} if route.service in (
                    "identity", "compute", "volume") else item
            out[route.id] = _writable(body)
    return out


_READ_ONLY = {"links", "self", "schema", "file", "first", "created_at", "updated_at", "size",
              "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "direct_url",
              "locations", "owner", "status", "stores"}


def _writable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _writable(v) for k, v in value.items() if k not in _READ_ONLY}
    if isinstance(value, list):
        return [_writable(v) for v in value]
    return value


def mutate(value: Any, world: World) -> st.SearchStrategy[Any]:
    """One field of ``value`` replaced, removed or added, anywhere in the tree."""
    if isinstance(value, dict) and value:
        key = st.sampled_from(sorted(value))
        return st.one_of(
            key.flatmap(lambda k: mutate(value[k], world).map(lambda v: {**value, k: v})),
            key.map(lambda k: {x: y for x, y in value.items() if x != k}),
            st.tuples(st.sampled_from(BODY_KEYS), world.json_values).map(
                lambda kv: {**value, kv[0]: kv[1]}),
            world.json_values)
    if isinstance(value, list) and value:
        index = st.integers(0, len(value) - 1)
        return st.one_of(
            index.flatmap(lambda i: mutate(value[i], world).map(
                lambda v: [*value[:i], v, *value[i + 1:]])),
            world.json_values.map(lambda v: [*value, v]),
            world.json_values)
    return world.json_values


# -- generated requests -----------------------------------------------------------------------
SPECIAL_TEXT = [
    "", " ", "  padded  ", "\x00", "nul\x00byte", "\t", "line\nbreak", "\x1b[31m", "\u202e",
    "\ufeff", "\U0001f600", "é", "x" * 256, "x" * 5000, "0", "-1", "1.5", "1e400",
    "99999999999999999999999999", "-99999999999999999999", "NaN", "null", "true", "[]",
    "{}", "..", "../..", "/", "%", "%00", "*", "'; DROP TABLE x; --", "<script>",
    "1970-01-01T00:00:00Z", "2999-12-31T23:59:59Z", "not-a-date", "latest", "2.1", "1.0",
]
BODY_KEYS = [
    "name", "description", "enabled", "id", "domain_id", "parent_id", "password",
    "original_password", "email", "tags", "is_domain", "options", "region_id", "service_id",
    "interface", "url", "type", "blob", "project_id", "user_id", "role_id", "roles",
    "trustor_user_id", "trustee_user_id", "impersonation", "expires_at", "remaining_uses",
    "flavorRef", "imageRef", "min_count", "max_count", "networks", "metadata", "meta",
    "key_name", "availability_zone", "user_data", "block_device_mapping_v2",
    "security_groups", "ram", "vcpus", "disk", "swap", "rxtx_factor", "OS-FLV-EXT-DATA:ephemeral",
    "os-flavor-access:is_public", "public_key", "policies", "policy", "rules", "host", "status",
    "disabled_reason", "forced_down", "visibility", "disk_format", "container_format",
    "min_ram", "min_disk", "protected", "member", "resource_provider_generation", "total",
    "reserved", "allocation_ratio", "min_unit", "max_unit", "step_size", "inventories",
    "allocations", "resources", "consumer_generation", "traits", "aggregates", "uuid",
    "parent_provider_uuid", "adminPass", "hosts", "filters", "secret", "access",
    "access_rules", "unrestricted", "identity", "methods", "scope", "token",
    "application_credential", "tenant_id", "tenant", "extra_specs", "quota_set", "instances",
    "cores", "force", "state", "flavor", "image", "group", "limit", "marker", "hint",
    "os:scheduler_hints", "accessIPv4", "config_drive", "locked_reason", "method",
    "import_method", "stores", "all_stores", "uri", "generation", "mappings", "consumer_type",
    "same_host", "different_host", "query", "backup_type", "rotation", "availability_zone",
]
ENVELOPES = [
    "auth", "project", "user", "group", "role", "domain", "region", "service", "endpoint",
    "policy", "credential", "consumer", "endpoint_group", "trust", "application_credential",
    "server", "flavor", "keypair", "server_group", "aggregate", "quota_set", "metadata",
    "meta", "tags", "extra_specs", "os-start", "os-stop", "reboot", "resize", "confirmResize",
    "revertResize", "rebuild", "createImage", "lock", "unlock", "pause", "unpause", "suspend",
    "resume", "shelve", "shelveOffload", "unshelve", "migrate", "rescue", "unrescue",
    "os-getConsoleOutput", "forceDelete", "changePassword", "os-resetState", "addHost",
    "removeHost", "set_metadata", "addTenantAccess", "removeTenantAccess", "config",
    "image_member", "trusts", "inventories", "allocations", "createBackup", "restore",
]
QUERY_KEYS = [
    "limit", "marker", "name", "sort", "sort_key", "sort_dir", "all_tenants", "all_projects",
    "project_id", "tenant_id", "status", "changes-since", "changes-before", "enabled",
    "domain_id", "user_id", "visibility", "member_status", "owner", "tag", "tags", "tags-any",
    "not-tags", "not-tags-any", "member_of", "resources", "required", "in_tree", "uuid",
    "hypervisor_hostname_pattern", "with_servers", "start", "end", "detailed", "flavor",
    "image", "host", "include_subtree", "effective", "scope.project.id", "user.id", "role.id",
    "group.id", "nocatalog", "allow_expired", "minDisk", "minRam", "is_public", "type",
    "interface", "service_id", "region_id", "parent_region_id", "deleted", "ip", "is_domain",
    "parent_id", "include_names", "created_at", "updated_at", "size_min", "size_max",
    "os_hidden", "protected", "group_policy", "limit", "fields", "parents_as_list",
    "subtree_as_list", "password_expires_at", "trustor_user_id", "trustee_user_id",
]
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "text/plain",
    "application/openstack-images-v2.1-json-patch", "application/octet-stream",
    "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "", "*/*",
]
HEADER_NAMES = [
    "OpenStack-API-Version", "X-OpenStack-Nova-API-Version", "X-Subject-Token",
    "Accept", "X-Openstack-Request-Id", "X-Auth-Token", "If-Match", "Range",
    "X-Image-Meta-Name", "Content-Range", "Accept-Encoding",
]
VERSION_VALUES = [
    "compute 2.1", "compute 2.90", "compute latest", "compute 2.999", "compute 3.0",
    "compute x", "placement 1.39", "placement latest", "placement 1.0", "placement 9.9",
    "placement 1.-1", "identity 3.14", "image 2.16", "2.1", "latest", "compute 2.1, placement 1.2",
]

_ascii = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
header_value = st.one_of(st.text(_ascii, max_size=40), st.sampled_from(VERSION_VALUES))


def texts(world: World) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=24), st.sampled_from(SPECIAL_TEXT),
                     st.sampled_from(world.values))


def json_values(world: World) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(),
        st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**40, -(10**40)]),
        st.floats(allow_nan=True, allow_infinity=True), texts(world))
    keys = st.one_of(st.sampled_from(BODY_KEYS), st.text(max_size=10))
    return st.recursive(scalars, lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=5)), max_leaves=12)


def envelopes_for(route: FuzzRoute) -> list[str]:
    """Envelope keys the route may want, guessed from its path (plural → singular)."""
    statics = [s for s in route.path.split("/") if s and not s.startswith("{")]
    if not statics:
        return ENVELOPES
    last = statics[-1].removeprefix("os-").replace("-", "_")
    guesses = {last}
    for plural, single in (("ies", "y"), ("s", "")):
        if last.endswith(plural):
            guesses.add(last[: -len(plural)] + single)
    return sorted(guesses)


def singular(route: FuzzRoute) -> str:
    """The likeliest envelope key: the singular of the path's last word."""
    return min(envelopes_for(route), key=len)


@dataclass
class FuzzRequest:
    """One generated request, sent once per caller."""

    method: str
    path: str  # already percent-encoded
    query: str
    headers: dict[str, str]
    body: bytes | None
    raw: str = ""  # what went in, for the known-bug filter and the report

    def describe(self) -> str:
        body = self.body if self.body is None or len(self.body) < 300 else \
            self.body[:300] + b"..."
        return f"{self.method} {self.path}?{self.query} headers={self.headers} body={body!r}"


def _encode_segment(value: str | bytes) -> str:
    return quote(value, safe="") if value else "%20"


@st.composite
def requests_for(draw: st.DrawFn, route: FuzzRoute, world: World) -> FuzzRequest:
    path = route.prefix + route.path
    raw: list[str] = []
    for param in route.params:
        known = world.ids.get((route.service, param), [])
        value: str | bytes = draw(st.one_of(
            *( [st.sampled_from(known)] * 3 if known else []),
            world.texts, st.binary(min_size=1, max_size=8)))
        raw.append(value if isinstance(value, str) else value.decode("latin-1"))
        path = path.replace("{" + param + "}", _encode_segment(value), 1)
    pairs = draw(st.lists(st.tuples(
        st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=8)), world.texts),
        max_size=4))
    raw += [k + v for k, v in pairs]
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    if draw(st.integers(0, 9)) == 0:
        query += draw(st.sampled_from(["&%ff=%fe", "&a=%00", "&&=&", "&%=%", "&a=1&a=2"]))
    headers = {name: draw(header_value) for name in draw(
        st.lists(st.sampled_from(HEADER_NAMES), max_size=3, unique=True))}
    if draw(st.booleans()):
        headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES))
    if "X-Subject-Token" in headers and world.subject_tokens and draw(st.booleans()):
        headers["X-Subject-Token"] = world.subject_tokens[0]
    envs = envelopes_for(route)
    template = world.templates.get(route.id)
    body_value = draw(st.one_of(
        *([mutate(template, world)] * 4 if template is not None else []),
        st.none(),
        world.json_values,
        st.fixed_dictionaries({}, optional={
            k: st.dictionaries(st.sampled_from(BODY_KEYS), world.json_values, max_size=5)
            for k in envs}),
        st.dictionaries(st.sampled_from(ENVELOPES),
                        st.dictionaries(st.sampled_from(BODY_KEYS), world.json_values,
                                        max_size=4), min_size=1, max_size=2),
        st.lists(st.fixed_dictionaries({
            "op": st.sampled_from(["add", "replace", "remove", "move", "copy", "test", "x"]),
            "path": st.one_of(st.sampled_from(["/name", "/tags", "/visibility", "/x",
                                               "/locations", "/owner", "/", "", "/tags/-"]),
                              st.text(max_size=10)),
            "value": world.json_values}), max_size=3),
        st.binary(max_size=64).map(lambda b: ("raw", b)),
    ))
    if body_value is None:
        body = None
    elif isinstance(body_value, tuple):
        body = body_value[1]
    else:
        body = json.dumps(body_value).encode()
    raw.append(repr(body))
    return FuzzRequest(route.method, path, query, headers, body, "".join(raw))


# -- sending and checking ---------------------------------------------------------------------
#: 500s known and being fixed elsewhere; while listed they are tolerated (see
#: docs/reliability.md). Empty: every 500 fails the test.
PENDING_FIXES: list[tuple[str, Callable[[World, FuzzRequest], bool]]] = []


def pending(world: World, req: FuzzRequest) -> str | None:
    for reason, matches in PENDING_FIXES:
        if matches(world, req):
            return reason
    return None


def send(world: World, role: str, req: FuzzRequest,
         tolerate_pending: bool = True) -> list[str]:
    """Send ``req`` as ``role``; return what went wrong (empty when all is well).

    Around writes (any method but GET and HEAD) the database is fingerprinted: a refused
    write must leave it as it was; after an accepted one, background work is let settle."""
    headers = dict(req.headers)
    token = world.tokens[role]
    if token is not None:
        headers["X-Auth-Token"] = token
    url = req.path + ("?" + req.query if req.query else "")
    write = req.method not in ("GET", "HEAD")
    before = None
    if write:
        before = world.last_fingerprint or world.fingerprint()
    try:
        r = world.client.request(req.method, url, headers=headers, content=req.body)
    except httpx.TimeoutException:
        world.last_fingerprint = None
        return [f"{role}: no answer within {REQUEST_TIMEOUT} s (hang): {req.describe()}"]
    except httpx.TransportError as exc:
        world.last_fingerprint = None
        return [f"{role}: connection failed ({exc!r}): {req.describe()}"]
    STATS[(world.backend, role, r.status_code)] += 1
    problems = []
    if r.status_code >= 500 and r.status_code != 501:
        if not tolerate_pending or pending(world, req) is None:
            problems.append(f"{role}: {r.status_code} {r.text[:300]} for {req.describe()}")
    elif 400 <= r.status_code < 500 and req.method != "HEAD" and r.content:
        try:
            json.loads(r.content)
        except ValueError:
            problems.append(f"{role}: {r.status_code} with a non-JSON error body "
                            f"{r.text[:200]!r} for {req.describe()}")
    if not write:
        return problems
    if 400 <= r.status_code < 500:
        after = world.fingerprint()
        if after != before and not only_reregistration(before, after):
            problems.append(f"{role}: refused ({r.status_code}) yet the database changed: "
                            f"{diff(before, after)} for {req.describe()}")
            after = settle(world)
        world.last_fingerprint = after
    else:
        # accepted (or failed): let background work finish before the next check; writes
        # to servers start builds and actions, so wait longer for them to go quiet
        quiet = 0.25 if "/servers" in req.path or "/import" in req.path or \
            req.path.startswith("/volume") else 0.02
        world.last_fingerprint = settle(world, quiet)
    return problems
