"""Metadata definitions (/v2/metadefs): the seeded namespaces, namespace/object/property/tag
and resource type association lifecycles as Tempest drives them, visibility, protection, and
the stock CLI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveCloud, unique
from tests.image.conftest import Persona

NS = "/image/v2/metadefs/namespaces"


@pytest.fixture
def namespace(img_admin: Persona) -> Iterator[str]:
    name = unique("ns")
    r = img_admin.client.post(NS, json={"namespace": name, "visibility": "public"})
    assert r.status_code == 201, r.text
    yield name
    img_admin.client.put(f"{NS}/{name}", json={"namespace": name, "protected": False})
    img_admin.client.delete(f"{NS}/{name}")


def test_seeded_namespaces_and_resource_types(cloud: LiveCloud, img_demo: Persona) -> None:
    types = img_demo.client.get("/image/v2/metadefs/resource_types").json()["resource_types"]
    assert {"OS::Glance::Image", "OS::Nova::Flavor", "OS::Cinder::Volume"} <= {
        t["name"] for t in types}
    body = img_demo.client.get(NS, params={"limit": 100}).json()
    names = {n["namespace"] for n in body["namespaces"]}
    assert {"OS::Compute::Hypervisor", "OS::Compute::LibvirtImage", "OS::Compute::CPUPinning",
            "OS::Compute::Watchdog"} <= names
    assert body["schema"] == "/v2/schemas/metadefs/namespaces"
    pinning = img_demo.client.get(f"{NS}/OS::Compute::CPUPinning").json()
    assert pinning["protected"] is True and pinning["visibility"] == "public"
    assert pinning["properties"]["cpu_policy"]["enum"] == ["shared", "dedicated"]
    assert {a["name"]: a.get("prefix") for a in pinning["resource_type_associations"]} == {
        "OS::Glance::Image": "hw_", "OS::Cinder::Volume": "hw_", "OS::Nova::Flavor": "hw:"}
    # asked for one resource type, property names carry its prefix
    flavor = img_demo.client.get(f"{NS}/OS::Compute::CPUPinning",
                                 params={"resource_type": "OS::Nova::Flavor"}).json()
    assert "hw:cpu_policy" in flavor["properties"]
    prop = img_demo.client.get(f"{NS}/OS::Compute::Watchdog/properties/hw_watchdog_action",
                               params={"resource_type": "OS::Glance::Image"}).json()
    assert prop["name"] == "hw_watchdog_action" and "reset" in prop["enum"]
    quota = img_demo.client.get(f"{NS}/OS::Compute::Quota/objects").json()["objects"]
    assert "quota:cpu_shares" in {k for o in quota for k in o["properties"]}
    # filters
    image_ns = img_demo.client.get(NS, params={"resource_types": "OS::Nova::Aggregate"}
                                   ).json()["namespaces"]
    assert [n["namespace"] for n in image_ns] == ["OS::Compute::HostCapabilities"]
    # the stock CLI
    listed = cloud.osc("image", "metadef", "namespace", "list")
    assert "OS::Compute::Hypervisor" in {n["namespace"] for n in listed}
    shown = cloud.osc("image", "metadef", "namespace", "show", "OS::Compute::Hypervisor")
    assert shown["display_name"] == "Hypervisor Selection" and shown["protected"] is True
    assert shown["resource_type_associations"] == ["OS::Glance::Image"]
    rts = cloud.osc("image", "metadef", "resource", "type", "list")
    assert "OS::Nova::Flavor" in {r["Name"] for r in rts}


def test_namespace_lifecycle_as_tempest(img_admin: Persona) -> None:
    admin = img_admin.client
    name = unique("tempest-ns")
    r = admin.post(NS, json={
        "namespace": name, "visibility": "public", "description": "Tempest",
        "display_name": name, "protected": True,
        "resource_type_associations": [{"name": "OS::Glance::Image"}]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["self"] == f"/v2/metadefs/namespaces/{name}"
    assert created["owner"] == img_admin.project_id
    assert name in {n["namespace"] for n in admin.get(NS, params={"limit": 1000}).json()[
        "namespaces"]}
    shown = admin.get(f"{NS}/{name}").json()
    assert shown["visibility"] == "public" and shown["protected"] is True
    assert set(shown) >= {"namespace", "display_name", "description", "visibility",
                          "protected", "owner", "created_at", "updated_at", "self", "schema",
                          "resource_type_associations"}
    r = admin.delete(f"{NS}/{name}")
    assert r.status_code == 403 and "protected" in r.json()["message"]
    assert admin.post(NS, json={"namespace": name}).status_code == 409
    r = admin.put(f"{NS}/{name}", json={"namespace": name, "description": "Tempest",
                                        "visibility": "private", "display_name": name,
                                        "protected": False})
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == "private" and r.json()["protected"] is False
    assert admin.delete(f"{NS}/{name}").status_code == 204
    assert admin.get(f"{NS}/{name}").status_code == 404


def test_objects_properties_tags_and_associations(img_admin: Persona, namespace: str) -> None:
    admin = img_admin.client
    base = f"{NS}/{namespace}"
    # objects
    r = admin.post(f"{base}/objects", json={"name": "obj-1", "required": ["a"], "properties": {
        "a": {"title": "A", "type": "string"}}})
    assert r.status_code == 201, r.text
    assert r.json()["self"] == f"/v2/metadefs/namespaces/{namespace}/objects/obj-1"
    assert admin.post(f"{base}/objects", json={"name": "obj-1"}).status_code == 409
    r = admin.put(f"{base}/objects/obj-1", json={"name": "obj-2"})
    assert r.status_code == 200 and r.json()["name"] == "obj-2"
    assert admin.get(f"{base}/objects/obj-2").json()["name"] == "obj-2"
    assert admin.get(f"{base}/objects/obj-1").status_code == 404
    assert [o["name"] for o in admin.get(f"{base}/objects").json()["objects"]] == ["obj-2"]
    assert admin.delete(f"{base}/objects/obj-2").status_code == 204
    assert admin.get(f"{base}/objects").json()["objects"] == []
    # resource type association, then a property named after the resource type (as Tempest)
    r = admin.post(f"{base}/resource_types", json={"name": "OS::Glance::Image"})
    assert r.status_code == 201 and r.json()["name"] == "OS::Glance::Image"
    assert admin.post(f"{base}/resource_types",
                      json={"name": "OS::Glance::Image"}).status_code == 409
    enum = ["xen", "qemu", "kvm"]
    r = admin.post(f"{base}/properties", json={"name": "OS::Glance::Image", "title": "t1",
                                               "type": "string", "enum": enum})
    assert r.status_code == 201 and r.json()["title"] == "t1"
    assert admin.get(f"{base}/properties/OS::Glance::Image").json()["name"] == \
        "OS::Glance::Image"
    r = admin.put(f"{base}/properties/OS::Glance::Image",
                  json={"name": "OS::Glance::Image", "title": "t2", "type": "string",
                        "enum": enum})
    assert r.status_code == 200 and r.json()["title"] == "t2"
    assert admin.get(f"{base}/properties").json()["properties"]["OS::Glance::Image"][
        "title"] == "t2"
    assert admin.delete(f"{base}/properties/OS::Glance::Image").status_code == 204
    assert admin.get(f"{base}/properties").json()["properties"] == {}
    assert [a["name"] for a in admin.get(f"{base}/resource_types").json()[
        "resource_type_associations"]] == ["OS::Glance::Image"]
    assert admin.delete(f"{base}/resource_types/OS::Glance::Image").status_code == 204
    assert admin.get(f"{base}/resource_types").json()["resource_type_associations"] == []
    assert admin.delete(f"{base}/resource_types/OS::Glance::Image").status_code == 404
    # a new resource type comes into being with its first association
    new_type = unique("OS::Test::Thing")
    assert admin.post(f"{base}/resource_types", json={"name": new_type}).status_code == 201
    assert new_type in {t["name"] for t in admin.get(
        "/image/v2/metadefs/resource_types").json()["resource_types"]}
    # tags: bulk create replaces, X-Openstack-Append appends, one by one, rename, delete
    tags = [{"name": f"sample-tag{i}"} for i in (1, 2, 3)]
    r = admin.post(f"{base}/tags", json={"tags": tags})
    assert r.status_code == 201 and r.json() == {"tags": tags}
    assert len(admin.get(f"{base}/tags").json()["tags"]) == 3
    admin.post(f"{base}/tags", json={"tags": [{"name": "x"}]})
    assert [t["name"] for t in admin.get(f"{base}/tags").json()["tags"]] == ["x"]
    admin.post(f"{base}/tags", json={"tags": [{"name": "y"}]},
               headers={"X-Openstack-Append": "true"})
    assert {t["name"] for t in admin.get(f"{base}/tags").json()["tags"]} == {"x", "y"}
    assert admin.post(f"{base}/tags", json={"tags": [{"name": "z"}, {"name": "z"}]}
                      ).status_code == 409
    assert admin.post(f"{base}/tags/one").status_code == 201
    assert admin.post(f"{base}/tags/one").status_code == 409
    assert admin.get(f"{base}/tags/one").json()["name"] == "one"
    r = admin.put(f"{base}/tags/one", json={"name": "two"})
    assert r.status_code == 200 and r.json()["name"] == "two"
    assert admin.delete(f"{base}/tags/two").status_code == 204
    assert admin.get(f"{base}/tags/two").status_code == 404
    shown = admin.get(base).json()
    assert {t["name"] for t in shown["tags"]} == {"x", "y"}
    assert admin.delete(f"{base}/tags").status_code == 204
    assert admin.get(f"{base}/tags").json()["tags"] == []


def test_bad_input_and_permissions(img_admin: Persona, img_demo: Persona,
                                   img_alt: Persona) -> None:
    admin = img_admin.client
    for bad in ({}, {"namespace": ""}, {"namespace": "x" * 81},
                {"namespace": unique("ns"), "visibility": "shared"},
                {"namespace": unique("ns"), "protected": "yes"},
                {"namespace": unique("ns"), "properties": {"p": {"title": "t"}}},
                {"namespace": unique("ns"), "properties": {"p": {"title": "t",
                                                                 "type": "str"}}}):
        r = admin.post(NS, json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["code"] == "400 Bad Request"
    r = admin.post(NS, json={"namespace": unique("ns"), "self": "/x"})
    assert r.status_code == 403 and "read-only" in r.json()["message"]
    assert admin.get(NS, params={"limit": "x"}).status_code == 400
    assert admin.get(NS, params={"sort_dir": "up"}).status_code == 400
    assert admin.get(NS, params={"visibility": "shared"}).status_code == 400
    assert admin.get(f"{NS}/nope").status_code == 404
    assert admin.get(f"{NS}/nope/objects").status_code == 404
    # members read, only admins write
    r = img_demo.client.post(NS, json={"namespace": unique("ns")})
    assert r.status_code == 403
    assert img_demo.client.delete(f"{NS}/OS::Compute::Watchdog").status_code == 403
    assert img_demo.client.post(f"{NS}/OS::Compute::Watchdog/tags/t").status_code == 403
    # a private namespace exists only for its owner's project (and admins)
    private = unique("private-ns")
    assert admin.post(NS, json={"namespace": private,
                                "owner": img_demo.project_id}).status_code == 201
    try:
        assert img_demo.client.get(f"{NS}/{private}").status_code == 200
        assert img_alt.client.get(f"{NS}/{private}").status_code == 404
        assert private not in {n["namespace"] for n in img_alt.client.get(
            NS, params={"limit": 1000}).json()["namespaces"]}
        assert private in {n["namespace"] for n in img_demo.client.get(
            NS, params={"visibility": "private"}).json()["namespaces"]}
    finally:
        admin.delete(f"{NS}/{private}")
    # everything in a protected namespace is kept
    assert admin.delete(f"{NS}/OS::Compute::Watchdog/properties").status_code == 403
    assert admin.delete(
        f"{NS}/OS::Compute::Watchdog/properties/watchdog_action").status_code == 403


def test_namespace_pagination(img_admin: Persona) -> None:
    admin = img_admin.client
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(3)]
    for n in names:
        admin.post(NS, json={"namespace": n, "visibility": "public"})
    try:
        def page(**params: str) -> dict[str, Any]:
            r = admin.get(NS, params={"sort_key": "namespace", "sort_dir": "asc", **params})
            assert r.status_code == 200, r.text
            return r.json()  # type: ignore[no-any-return]

        everything = [n["namespace"] for n in page(limit="1000")["namespaces"]]
        assert [n for n in everything if n.startswith(prefix)] == names
        one = page(limit="1", marker=names[0])
        assert [n["namespace"] for n in one["namespaces"]] == [names[1]]
        assert one["next"].endswith(f"marker={names[1]}")
        assert "limit=1" in one["next"] and one["first"].startswith("/v2/metadefs/namespaces?")
        rest = page(limit="5", marker=names[1])
        assert rest["namespaces"][0]["namespace"] == names[2]
        assert admin.get(NS, params={"marker": "no-such-ns"}).status_code == 404
    finally:
        for n in names:
            admin.delete(f"{NS}/{n}")


def test_cli_namespace_and_property_lifecycle(cloud: LiveCloud) -> None:
    name = unique("cli-ns")
    created = cloud.osc("image", "metadef", "namespace", "create", "--public",
                        "--description", "made by the CLI", name)
    assert created["namespace"] == name and created["visibility"] == "public"
    cloud.osc("image", "metadef", "namespace", "set", "--display-name", "CLI namespace",
              "--public", name, as_json=False)
    shown = cloud.osc("image", "metadef", "namespace", "show", name)
    assert shown["display_name"] == "CLI namespace"
    prop = cloud.osc("image", "metadef", "property", "create", "--name", "hw_thing",
                     "--title", "Thing", "--type", "string", "--schema",
                     '{"enum": ["a", "b"]}', name)
    assert prop["name"] == "hw_thing" and prop["title"] == "Thing"
    listed = cloud.osc("image", "metadef", "property", "list", name)
    assert [p["name"] for p in listed] == ["hw_thing"]
    cloud.osc("image", "metadef", "property", "delete", name, "hw_thing", as_json=False)
    assert cloud.osc("image", "metadef", "property", "list", name) == []
    cloud.osc("image", "metadef", "namespace", "delete", name, as_json=False)
    assert name not in {n["namespace"] for n in cloud.osc(
        "image", "metadef", "namespace", "list")}


@pytest.mark.parametrize(("path", "name"), [
    ("namespace", "namespace"), ("namespaces", "namespaces"),
    ("resource_type", "resource_type_association"),
    ("resource_types", "resource_type_associations"), ("object", "object"),
    ("objects", "objects"), ("property", "property"), ("properties", "properties"),
    ("tag", "tag"), ("tags", "tags")])
def test_schemas(img_reader: Persona, path: str, name: str) -> None:
    r = img_reader.client.get(f"/image/v2/schemas/metadefs/{path}")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == name and "properties" in r.json()


def test_schema_documents_describe_what_is_validated(img_reader: Persona) -> None:
    ns = img_reader.client.get("/image/v2/schemas/metadefs/namespace").json()
    assert ns["required"] == ["namespace"]
    assert ns["properties"]["visibility"]["enum"] == ["public", "private"]
    assert ns["properties"]["created_at"]["readOnly"] is True
    prop = img_reader.client.get("/image/v2/schemas/metadefs/property").json()
    assert set(prop["required"]) == {"name", "title", "type"}
    assert img_reader.client.get("/image/v2/schemas/metadefs/nothing").status_code == 404
