"""The API kit: routing, fault wrapper, error bodies, microversions, request ids."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from pocketstack.common import exceptions
from pocketstack.common.api import errors
from pocketstack.common.api.app import ApiRequest, Route, ServiceApp, json_response
from pocketstack.common.api.microversion import MicroversionSpec, Version


def _ok(req: ApiRequest):  # type: ignore[no-untyped-def]
    return json_response({"id": req.path_params.get("thing_id"),
                          "version": str(req.microversion) if req.microversion else None})


def _boom(req: ApiRequest):  # type: ignore[no-untyped-def]
    raise RuntimeError("a bug with a secret inside")


def _missing(req: ApiRequest):  # type: ignore[no-untyped-def]
    raise exceptions.NotFound("Thing x could not be found.")


def _echo(req: ApiRequest):  # type: ignore[no-untyped-def]
    return json_response(req.json())


def _app(fmt: errors.ErrorFormat = errors.nova_error,
         mv: MicroversionSpec | None = None) -> TestClient:
    routes = [Route("GET", "/things/{thing_id}", _ok, public=True),
              Route("DELETE", "/things/{thing_id}", _missing, public=True),
              Route("GET", "/boom", _boom, public=True),
              Route("POST", "/echo", _echo, public=True)]
    return TestClient(ServiceApp("test", routes, fmt, microversions=mv),
                      raise_server_exceptions=False)


def test_route_params_and_request_id() -> None:
    r = _app().get("/things/abc")
    assert r.status_code == 200 and r.json()["id"] == "abc"
    assert r.headers["x-openstack-request-id"].startswith("req-")


def test_unknown_path_and_method() -> None:
    client = _app()
    r = client.get("/nothing")
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404
    r = client.put("/things/abc")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    assert r.json()["badMethod"]["code"] == 405


def test_fault_wrapper_hides_bugs() -> None:
    r = _app().get("/boom")
    assert r.status_code == 500
    assert "secret" not in r.text
    assert r.json()["computeFault"]["code"] == 500


@pytest.mark.parametrize("fmt,key", [
    (errors.keystone_error, "error"), (errors.neutron_error, "NeutronError"),
    (errors.placement_error, "errors"), (errors.glance_error, "message"),
])
def test_error_formats(fmt: errors.ErrorFormat, key: str) -> None:
    r = _app(fmt).delete("/things/x")
    assert r.status_code == 404 and key in r.json()


def test_malformed_and_oversized_bodies() -> None:
    client = _app()
    r = client.post("/echo", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "Malformed" in r.json()["badRequest"]["message"]
    r = client.post("/echo", content=b"x" * (2 * 1024 * 1024))
    assert r.status_code == 413


def test_microversions() -> None:
    mv = MicroversionSpec("compute", "2.1", "2.96", "X-OpenStack-Nova-API-Version")
    client = _app(mv=mv)
    r = client.get("/things/a")
    assert r.json()["version"] == "2.1"
    assert r.headers["openstack-api-version"] == "compute 2.1"
    assert r.headers["x-openstack-nova-api-version"] == "2.1"
    r = client.get("/things/a", headers={"OpenStack-API-Version": "compute 2.50"})
    assert r.json()["version"] == "2.50"
    r = client.get("/things/a", headers={"X-OpenStack-Nova-API-Version": "latest"})
    assert r.json()["version"] == "2.96"
    assert client.get("/things/a", headers={
        "OpenStack-API-Version": "compute 3.0"}).status_code == 406
    assert client.get("/things/a", headers={
        "OpenStack-API-Version": "compute two"}).status_code == 400
    assert client.get("/things/a", headers={
        "OpenStack-API-Version": "volume 3.5"}).json()["version"] == "2.1"


def test_version_ordering() -> None:
    assert Version.parse("2.10") > Version.parse("2.9")
    assert Version.parse("2.96").at_least("2.47")


def _located(req: ApiRequest):  # type: ignore[no-untyped-def]
    from pocketstack.common.api.app import empty_response

    return empty_response(201, {"Location": req.url_for(req.path)})


def _own_response(req: ApiRequest):  # type: ignore[no-untyped-def]
    from starlette.responses import Response

    return Response(b"", status_code=204, headers={"Location": "http://h/" + req.path_params["x"]})


@pytest.mark.parametrize("segment, encoded", [
    ("%ff%fe", "%EF%BF%BD%EF%BF%BD"),  # invalid UTF-8, decoded to U+FFFD: not Latin-1
    ("%C3%A9t%C3%A9", "%C3%A9t%C3%A9"),  # é: Latin-1, but not ASCII
    ("a%01b%07c%7f", "a%01b%07c%7F"),  # control characters: not sendable at all (NUL: a 400)
    ("sp%20ace", "sp%20ace"),
])
def test_hostile_ids_echoed_in_headers_are_percent_encoded(segment: str, encoded: str) -> None:
    """Found by the fuzz test: a tag like %ff or %00 echoed in a Location header was a 500 (or a
    dropped connection). URLs built from decoded paths are encoded; any header value a handler
    builds itself is made sendable as the last step."""
    client = TestClient(ServiceApp("test", [
        Route("PUT", "/tags/{x}", _located, public=True),
        Route("POST", "/own/{x}", _own_response, public=True)], errors.keystone_error),
        raise_server_exceptions=False)
    r = client.put(f"/tags/{segment}")
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/tags/{encoded}"  # (no public base URL in this app)
    if segment.startswith("a%01"):  # Latin-1 but not sendable: the kit's last guard
        r = client.post(f"/own/{segment}")
        assert r.status_code == 204, r.text
        assert r.headers["location"] == "http://h/a%01b%07c%7F"
