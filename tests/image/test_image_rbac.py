"""Owners and admins manage images; readers read; other projects see only what visibility and
membership allow."""

from __future__ import annotations

import pytest

from tests.image.conftest import Persona, new_image, upload

V21 = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def _ids(p: Persona, **params: str) -> set[str]:
    r = p.client.get("/image/v2/images", params={"limit": "1000", **params})
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["images"]}


@pytest.fixture(scope="module")
def demo_images(img_demo: Persona) -> dict[str, dict]:
    c = img_demo.client
    out = {}
    for vis in ("private", "shared", "community"):
        image = new_image(c, visibility=vis, name=f"rbac-{vis}")
        assert upload(c, image["id"], vis.encode() * 100).status_code == 204
        out[vis] = image
    return out


def test_visibility_for_other_projects(img_alt: Persona, demo_images: dict) -> None:
    alt = img_alt.client
    private, shared, community = (demo_images[v]["id"] for v in ("private", "shared",
                                                                  "community"))
    assert alt.get(f"/image/v2/images/{private}").status_code == 404
    assert alt.get(f"/image/v2/images/{shared}").status_code == 404
    assert alt.get(f"/image/v2/images/{community}").status_code == 200
    assert alt.get(f"/image/v2/images/{community}/file").status_code == 200
    listed = _ids(img_alt)
    assert not listed & {private, shared, community}
    assert community in _ids(img_alt, visibility="community")
    assert alt.delete(f"/image/v2/images/{private}").status_code == 404
    assert alt.delete(f"/image/v2/images/{community}").status_code == 403
    r = alt.patch(f"/image/v2/images/{community}", headers=V21,
                  json=[{"op": "replace", "path": "/name", "value": "mine"}])
    assert r.status_code == 403


def test_membership_lifecycle(img_demo: Persona, img_alt: Persona, demo_images: dict) -> None:
    alt = img_alt.client
    image_id = demo_images["shared"]["id"]
    url = f"/image/v2/images/{image_id}/members"
    member = img_demo.client.post(url, json={"member": img_alt.project_id}).json()
    assert member["status"] == "pending" and member["image_id"] == image_id
    # pending: visible by id and with member_status=pending, not in the default list
    assert alt.get(f"/image/v2/images/{image_id}").status_code == 200
    assert image_id not in _ids(img_alt)
    assert image_id in _ids(img_alt, visibility="shared", member_status="pending")
    assert image_id not in _ids(img_alt, visibility="shared", member_status="rejected")
    assert alt.get(url).json()["members"][0]["member_id"] == img_alt.project_id
    assert alt.post(url, json={"member": img_alt.project_id}).status_code == 403
    r = alt.put(f"{url}/{img_alt.project_id}", json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert image_id in _ids(img_alt)
    assert alt.get(f"{url}/{img_alt.project_id}").json()["status"] == "accepted"
    r = alt.put(f"{url}/{img_alt.project_id}", json={"status": "rejected"})
    assert r.status_code == 200
    assert image_id not in _ids(img_alt)
    assert img_demo.client.delete(f"{url}/{img_alt.project_id}").status_code == 204
    assert alt.get(f"/image/v2/images/{image_id}").status_code == 404


def test_reader_reads_but_cannot_write(img_reader: Persona, demo_images: dict) -> None:
    r = img_reader.client
    image_id = demo_images["private"]["id"]
    assert r.get(f"/image/v2/images/{image_id}").status_code == 200
    assert image_id in _ids(img_reader)
    assert r.post("/image/v2/images", json={"name": "nope"}).status_code == 403
    assert r.delete(f"/image/v2/images/{image_id}").status_code == 403
    assert r.patch(f"/image/v2/images/{image_id}", headers=V21,
                   json=[{"op": "replace", "path": "/name", "value": "x"}]).status_code == 403
    assert r.put(f"/image/v2/images/{image_id}/tags/x").status_code == 403
    assert r.get(f"/image/v2/images/{image_id}/file").status_code == 403
    assert r.post(f"/image/v2/images/{image_id}/actions/deactivate").status_code == 403


def test_only_admin_publicizes_and_gives_away(img_demo: Persona, img_admin: Persona,
                                              img_alt: Persona) -> None:
    c = img_demo.client
    assert c.post("/image/v2/images", json={"name": "pub", "visibility": "public"}
                  ).status_code == 403
    assert c.post("/image/v2/images", json={"name": "x", "owner": img_alt.project_id}
                  ).status_code == 403
    image = new_image(c)
    url = f"/image/v2/images/{image['id']}"
    assert c.patch(url, headers=V21, json=[
        {"op": "replace", "path": "/visibility", "value": "public"}]).status_code == 403
    assert c.patch(url, headers=V21, json=[
        {"op": "replace", "path": "/visibility", "value": "community"}]).status_code == 200
    r = img_admin.client.patch(url, headers=V21, json=[
        {"op": "replace", "path": "/visibility", "value": "public"}])
    assert r.status_code == 200 and r.json()["visibility"] == "public"
    assert image["id"] in _ids(img_alt)
    public = img_admin.client.post("/image/v2/images", json={
        "name": "admin-public", "visibility": "public", "owner": img_demo.project_id})
    assert public.status_code == 201 and public.json()["owner"] == img_demo.project_id


def test_admin_sees_and_manages_everything(img_admin: Persona, demo_images: dict) -> None:
    a = img_admin.client
    ids = _ids(img_admin)
    assert {i["id"] for i in demo_images.values()} <= ids
    image_id = demo_images["private"]["id"]
    r = a.patch(f"/image/v2/images/{image_id}", headers=V21,
                json=[{"op": "add", "path": "/admin_note", "value": "seen"}])
    assert r.status_code == 200
    assert a.post(f"/image/v2/images/{image_id}/actions/deactivate").status_code == 204
    assert a.post(f"/image/v2/images/{image_id}/actions/reactivate").status_code == 204


def test_unauthenticated_is_401(img_demo: Persona) -> None:
    import httpx

    base = str(img_demo.client.base_url)
    r = httpx.get(base + "/image/v2/images")
    assert r.status_code == 401
    assert httpx.get(base + "/image/v2/images",
                     headers={"X-Auth-Token": "garbage"}).status_code == 401
    assert httpx.get(base + "/image").status_code == 300


def test_owner_may_add_its_own_project_as_member(img_demo: Persona) -> None:
    """Glance lets an image's owner be a member of it (and answer as that member)."""
    c = img_demo.client
    image = new_image(c)
    url = f"/image/v2/images/{image['id']}/members"
    r = c.post(url, json={"member": img_demo.project_id})
    assert r.status_code == 200, r.text
    assert r.json()["member_id"] == img_demo.project_id and r.json()["status"] == "pending"
    assert [m["member_id"] for m in c.get(url).json()["members"]] == [img_demo.project_id]
    r = c.put(f"{url}/{img_demo.project_id}", json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert c.delete(f"{url}/{img_demo.project_id}").status_code == 204
