"""Bodies too deep, too large or holding NUL, over every service: a 4xx in the service's own
error format (never a 500), the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, fresh_database, start_cloud

DEEP = b"[" * 1000 + b"]" * 1000


def _fault(service: str, r: httpx.Response, status: int) -> str:
    """The message of ``r``, checking it is ``status`` in ``service``'s error format."""
    assert r.status_code == status, r.text
    body: Any = r.json()
    if service == "identity":
        assert body["error"]["code"] == status
        return str(body["error"]["message"])
    if service == "compute":
        key = {400: "badRequest", 413: "overLimit"}[status]
        assert body[key]["code"] == status
        return str(body[key]["message"])
    if service == "image":
        assert body["code"].startswith(f"{status} ")
        return str(body["message"])
    assert body["errors"][0]["status"] == status  # placement
    return str(body["errors"][0]["detail"])


POSTS = [  # (service, path, microversion header) of a JSON endpoint per service
    ("identity", "/identity/v3/projects", {}),
    ("compute", "/compute/v2.1/servers", {}),
    ("image", "/image/v2/images", {}),
    ("placement", "/placement/resource_providers", {"OpenStack-API-Version": "placement 1.20"}),
]


def test_deep_body_on_unauthenticated_token_request_is_400(cloud: LiveCloud) -> None:
    r = httpx.post(cloud.identity + "/auth/tokens", content=DEEP,
                   headers={"Content-Type": "application/json"})
    assert "nested deeper" in _fault("identity", r, 400)


@pytest.mark.parametrize(("service", "path", "headers"), POSTS)
def test_deep_body_is_400_everywhere(admin: httpx.Client, service: str, path: str,
                                     headers: dict[str, str]) -> None:
    r = admin.post(path, content=DEEP, headers={"Content-Type": "application/json", **headers})
    assert "nested deeper" in _fault(service, r, 400)
    # deep, but not deep enough to overflow the parser: refused the same way
    nested: Any = "x"
    for _ in range(40):
        nested = {"k": nested}
    r = admin.post(path, json={"x": nested}, headers=headers)
    assert "nested deeper" in _fault(service, r, 400)


@pytest.mark.parametrize(("service", "path", "limit"), [
    ("identity", "/identity/v3/auth/tokens", 114688),
    ("compute", "/compute/v2.1/servers", 114688),
    ("image", "/image/v2/images", 1024 * 1024),
])
def test_body_over_the_limit_is_413(admin: httpx.Client, service: str, path: str,
                                    limit: int) -> None:
    padding = "x" * limit
    r = admin.post(path, json={"padding": padding})
    assert f"{limit} bytes" in _fault(service, r, 413)
    # a body just under the limit is read (and then refused on its merits)
    r = admin.post(path, json={"padding": "x" * (limit - 20)})
    assert r.status_code == 400, r.text


def test_body_limit_is_configurable(tmp_path_factory: pytest.TempPathFactory) -> None:
    state = tmp_path_factory.mktemp("small-body") / "state"
    state.mkdir()
    live = start_cloud(state, {"POCKETSTACK_MAX_REQUEST_BODY_SIZE": "2000"})
    try:
        token, _ = live.token()
        with live.client(token) as c:
            r = c.post("/identity/v3/projects", json={"project": {"name": "p" * 64,
                                                                  "description": "d" * 2000}})
            assert "2000 bytes" in _fault("identity", r, 413)
            r = c.post("/identity/v3/projects", json={"project": {"name": "small-enough"}})
            assert r.status_code == 201, r.text
    finally:
        live.stop()


# -- NUL characters: PostgreSQL cannot store them; every backend answers 400 ----------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def any_backend(request: pytest.FixtureRequest, cloud: LiveCloud,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    if request.param == "sqlite":
        yield cloud
        return
    url, drop = fresh_database("postgresql")
    state = tmp_path_factory.mktemp("nul-pg") / "state"
    state.mkdir()
    live = start_cloud(state, database_url=url)
    try:
        yield live
    finally:
        live.stop()
        drop()


NUL_REQUESTS = [  # (service, method, path, json body)
    ("identity", "POST", "/identity/v3/projects", {"project": {"name": "a\x00b"}}),
    ("identity", "POST", "/identity/v3/projects",
     {"project": {"name": "nul-desc", "description": "a\x00b"}}),
    ("identity", "GET", "/identity/v3/projects?name=a%00b", None),
    ("identity", "GET", "/identity/v3/users/a%00b", None),
    ("identity", "POST", "/identity/v3/auth/tokens", {"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": "ad\x00min", "domain": {"id": "default"}, "password": "x"}}}}}),
    ("compute", "POST", "/compute/v2.1/flavors",
     {"flavor": {"name": "a\x00b", "ram": 64, "vcpus": 1, "disk": 1}}),
    ("compute", "GET", "/compute/v2.1/servers/detail?name=a%00b", None),
    ("compute", "GET", "/compute/v2.1/flavors/a%00b", None),
    ("image", "POST", "/image/v2/images", {"name": "a\x00b"}),
    ("image", "GET", "/image/v2/images?name=a%00b", None),
    ("placement", "POST", "/placement/resource_providers", {"name": "a\x00b"}),
    ("placement", "GET", "/placement/resource_providers?name=a%00b", None),
]


@pytest.mark.parametrize(("service", "method", "path", "body"), NUL_REQUESTS)
def test_nul_character_is_400_on_every_backend(any_backend: LiveCloud, service: str,
                                               method: str, path: str,
                                               body: Any) -> None:
    token, _ = any_backend.token()
    with any_backend.client(token) as c:
        r = c.request(method, path, json=body)
        assert "NUL character" in _fault(service, r, 400)


@pytest.mark.parametrize(("service", "path", "body"), [
    ("identity", "/identity/v3/projects", b'{"project": {"name": "half\\ud800"}}'),
    ("compute", "/compute/v2.1/flavors",
     b'{"flavor": {"name": "half\\udfff", "ram": 64, "vcpus": 1, "disk": 1}}'),
    ("image", "/image/v2/images", b'{"name": "half\\ud800"}'),
    ("placement", "/placement/resource_providers", b'{"name": "half\\ud800"}'),
])
def test_lone_surrogate_is_400_on_every_backend(any_backend: LiveCloud, service: str,
                                                path: str, body: bytes) -> None:
    """JSON lets a string hold half a surrogate pair; no database can store it."""
    token, _ = any_backend.token()
    with any_backend.client(token) as c:
        r = c.post(path, content=body, headers={"Content-Type": "application/json"})
        assert "lone UTF-16 surrogate" in _fault(service, r, 400)
