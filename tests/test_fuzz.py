"""Hostile input as a test: generated paths, ids, query strings, headers and bodies to every route
of every service, as anonymous, as another project's member and as admin, on SQLite and on
PostgreSQL. Never a 500 (or another 5xx but 501), never a hang, never a change to the database
from a refused request. The seed corpus below keeps what once broke from coming back.

``POCKETSTACK_FUZZ_EXAMPLES=200 POCKETSTACK_FUZZ_RANDOM=1 pytest tests/test_fuzz.py`` runs a
longer campaign from a fresh seed (docs/reliability.md); by default the run is small and
derandomized, the same requests every time.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import fuzzkit
from tests.conftest import fresh_database, start_cloud
from tests.fuzzkit import FuzzRequest, FuzzRoute, World

# Hypothesis chains a settings object per run of a parametrized @given test and resolves some
# of its properties recursively along that chain: with ~1,000 cases (every route of every
# service, on two backends) that passes Python's default limit of 1,000 frames.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))

ROUTES = fuzzkit.all_routes()
WRITES = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH")]
READS = [r for r in ROUTES if r.method in ("GET", "HEAD")]
PARAMETRISED = [r for r in ROUTES if r.params]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state = tmp_path_factory.mktemp(f"fuzz-{request.param}") / "state"
    state.mkdir()
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{state / 'pocketstack.db'}"
        live = start_cloud(state)
    else:
        url, drop = fresh_database(request.param)
        live = start_cloud(state, database_url=url)
    fingerprint, close = None, None
    try:
        w = fuzzkit.build_world(live, request.param, url)
        fingerprint, close = fuzzkit.make_fingerprint(url)
        w.fingerprint = fingerprint
        w.last_fingerprint = fuzzkit.settle(w, 0.25)
        yield w
    finally:
        if close is not None:
            close()
            w.client.close()
        live.stop()
        if drop is not None:
            drop()


@pytest.fixture(scope="module", autouse=True)
def _stats() -> Iterator[None]:
    yield
    out = os.environ.get("POCKETSTACK_FUZZ_STATS")
    if out:
        rows = [{"backend": b, "role": r, "status": s, "count": n}
                for (b, r, s), n in sorted(fuzzkit.STATS.items())]
        Path(out).write_text(json.dumps(rows, indent=1))


def test_every_service_route_table_is_fuzzed() -> None:
    """The route tables are read, not copied: every service is here, and every route."""
    from pocketstack.services import SERVICES

    assert {r.service for r in ROUTES} == {spec.name for spec in SERVICES}
    assert len(ROUTES) == len({r.id for r in ROUTES}) > 300


def test_the_checks_can_fail(world: World) -> None:
    """The state check sees a write; a refused write leaves the fingerprint as it was; the
    known-bug filter only covers what it names."""
    admin = {"X-Auth-Token": world.tokens["admin"] or ""}
    before = world.fingerprint()
    r = world.client.post("/identity/v3/projects", headers=admin,
                          json={"project": {"name": "fuzz-self-test"}})
    assert r.status_code == 201, r.text
    after = world.fingerprint()
    assert "identity_projects" in fuzzkit.diff(before, after)
    world.last_fingerprint = None
    refused = FuzzRequest("POST", "/identity/v3/projects", "", JSON,
                          b'{"project": {"name": "fuzz-self-test"}}', "")
    assert fuzzkit.send(world, "other-project member", refused) == []
    assert world.fingerprint() == after
    assert fuzzkit.pending(world, refused) is None
    assert len(world.templates) > 30  # near-valid bodies to mutate were found


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
@settings(max_examples=fuzzkit.EXAMPLES, derandomize=not fuzzkit.RANDOM, database=None,
          deadline=None, suppress_health_check=list(HealthCheck), print_blob=fuzzkit.RANDOM)
@given(data=st.data())
def test_route_survives_hostile_input(world: World, route: FuzzRoute, data: st.DataObject) -> None:
    req = data.draw(fuzzkit.requests_for(route, world), label="request")
    problems: list[str] = []
    for role in fuzzkit.ROLES:
        problems += fuzzkit.send(world, role, req)
    assert not problems, "\n".join(problems)


def test_control_characters_in_server_names_are_refused(world: World) -> None:
    """Nova's schema refuses control characters in a server name: a 400, nothing built."""
    image = world.ids[("compute", "image_id")][-1]
    flavor = world.ids[("compute", "flavor_id")][-1]
    req = FuzzRequest("POST", "/compute/v2.1/servers", "", JSON, _json({"server": {
        "name": "bad\x1bname\x07", "imageRef": image, "flavorRef": flavor,
        "networks": "none"}}), "")
    r = world.client.post(req.path, content=req.body, headers={
        **JSON, "X-Auth-Token": world.tokens["other-project member"] or ""})
    world.last_fingerprint = fuzzkit.settle(world, 0.25)
    assert r.status_code == 400 and "name" in r.text, r.text


# -- the seed corpus: what broke, kept as explicit cases ------------------------------------
@dataclass(frozen=True)
class Seed:
    """One kind of hostile input, applied to every route it makes sense for."""

    name: str
    routes: list[FuzzRoute]
    build: Any  # (route, path) -> list[FuzzRequest]
    pending: str = ""  # "", "all" or a backend: still a 500 there until the bugs branch lands


def _path(world: World, route: FuzzRoute, override: str | None = None,
          at: int | None = None) -> str:
    """The route's path with real ids, ``override`` (already encoded) at parameter ``at``
    (every parameter when ``at`` is None)."""
    path = route.prefix + route.path
    for i, param in enumerate(route.params):
        known = world.ids.get((route.service, param), ["x"])
        value = override if override is not None and at in (None, i) else \
            quote(known[0], safe="")
        path = path.replace("{" + param + "}", value, 1)
    return path


def _each_param(route: FuzzRoute, ids: tuple[str, ...], body: bytes = b"{}",
                query: str = "") -> Any:
    """One request per hostile id per path parameter (the others real), so the handler is
    reached with the hostile one wherever it sits."""
    return lambda w: [FuzzRequest(route.method, _path(w, route, value, at), query, JSON, body,
                                  value) for value in ids for at in range(len(route.params))]


def _envelope(route: FuzzRoute, inner: dict[str, Any]) -> dict[str, Any]:
    if route.service in ("image", "placement"):
        return inner
    return {fuzzkit.singular(route): inner}


JSON = {"Content-Type": "application/json"}


def _body(route: FuzzRoute, body: bytes, headers: dict[str, str] | None = None,
          query: str = "") -> Any:
    return lambda world: [FuzzRequest(route.method, _path(world, route), query,
                                      headers or JSON, body, body.decode("latin-1"))]


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


SEEDS = [
    Seed("deep-arrays", list(dict.fromkeys(WRITES + [r for r in ROUTES if r.public])),
         lambda r: _body(r, b"[" * 1000 + b"]" * 1000)),
    Seed("deep-objects", WRITES,
         lambda r: _body(r, b'{"a":' * 1000 + b"1" + b"}" * 1000)),
    Seed("nul-in-names", WRITES, lambda r: _body(r, _json(_envelope(r, {
        "name": "nul\x00name", "description": "nul\x00description", "id": "nul\x00id"})))),
    Seed("nul-in-query-filters", READS, lambda r: lambda w: [FuzzRequest(
        r.method, _path(w, r), "name=a%00b&marker=%00&status=%00&tags=a%00&limit=1",
        {}, None, "\x00")]),
    Seed("nul-in-path-ids", PARAMETRISED, lambda r: _each_param(r, ("nul%00id",))),
    Seed("huge-numbers", WRITES + READS, lambda r: _body(r, _json(_envelope(r, {
        k: 10**40 for k in ("ram", "vcpus", "disk", "min_count", "max_count", "total",
                            "min_ram", "min_disk", "generation", "resource_provider_generation",
                            "remaining_uses", "swap", "max_unit", "step_size")})),
        query="limit=99999999999999999999999&marker=-99999999999999999999")),
    # found by the fuzz test: DELETE /compute/v2.1/os-services/99999999999999999999999999
    # was a 500 (OverflowError in SQLite's driver; "integer out of range" on PostgreSQL)
    Seed("huge-path-ids", PARAMETRISED, lambda r: _each_param(
        r, ("99999999999999999999999999", "-99999999999999999999", "2147483648"))),
    # found by the fuzz test: PUT /identity/v3/projects/{id}/tags/%ff was a 500 (the decoded
    # tag, echoed in the Location header, is not Latin-1); a control character there made the
    # response unsendable
    Seed("unsendable-ids", PARAMETRISED, lambda r: _each_param(
        r, ("%ff%fe", "%C3%A9t%C3%A9", "ctl%07%1b%7f", "tab%09sp%20"))),
    # found by the fuzz test: the cloud's own representation of an existing service or
    # endpoint POSTed back (same id) was a 500 (unique key violation); now a 409
    Seed("existing-resources-posted-back", WRITES, lambda r: lambda w: [
        FuzzRequest(r.method, _path(w, r), "", JSON, _json(w.templates[r.id]), "")
        for _ in [0] if r.id in w.templates]),
    Seed("invalid-utf8", WRITES + READS, lambda r: lambda w: [FuzzRequest(
        r.method, _path(w, r, "%ff%fe") if r.params else _path(w, r), "name=%ff&%fe=1",
        JSON, b'{"name": "\xff\xfe\xfd", "x": "\xc3"}', "\xff")]),
    Seed("duplicate-keys", WRITES, lambda r: _body(
        r, b'{"%s": {"name": "a", "name": "b"}, "%s": {"name": 1}, "name": "x", "name": 2}'
        % ((fuzzkit.singular(r).encode(),) * 2))),
    Seed("wrong-types", WRITES, lambda r: lambda w: [
        FuzzRequest(r.method, _path(w, r), "", JSON, _json(v), "")
        for v in ("string", 5, _envelope(r, []),
                  {fuzzkit.singular(r): {"name": ["list"], "enabled": "yes",
                                                "description": {}, "tags": "t",
                                                "metadata": [1], "id": 5}})]),
    Seed("empty-bodies", WRITES, lambda r: lambda w: [
        FuzzRequest(r.method, _path(w, r), "", h, b"", "")
        for h in (JSON, {})]),
    Seed("bodies-on-get", READS + [r for r in ROUTES if r.method == "DELETE"],
         lambda r: _body(r, b'{"name": "x", "limit": "y"}')),
    Seed("wrong-content-types", WRITES, lambda r: lambda w: [
        FuzzRequest(r.method, _path(w, r), "", {"Content-Type": ct}, b'{"x": 1}', "")
        for ct in ("text/plain", "application/x-www-form-urlencoded", "garbage/")]),
]


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s.name)
def test_seed_corpus(world: World, seed: Seed, request: pytest.FixtureRequest) -> None:
    """Each seed goes to every route it applies to, as every caller; a seed still pending on
    another branch is an expected failure here (not strict: it passes once fixed)."""
    if seed.pending in ("all", world.backend):
        request.applymarker(pytest.mark.xfail(reason="fixed on the bugs branch", strict=False))
    problems: list[str] = []
    for route in seed.routes:
        # anonymous callers are turned away before any handler on non-public routes: the
        # fuzz test covers that; the corpus aims at the handlers
        roles = fuzzkit.ROLES if route.public else fuzzkit.ROLES[1:]
        for req in seed.build(route)(world):
            for role in roles:
                problems += fuzzkit.send(world, role, req, tolerate_pending=False)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
