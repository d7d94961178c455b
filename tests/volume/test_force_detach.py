"""The admin ``os-force_detach`` action: an attachment dropped whatever the volume's status
(here ``error`` after a reset), the volume ``available`` again; owners may not."""

from __future__ import annotations

import uuid

import httpx

from tests.volume.conftest import wait_volume

V = "/volume/v3"


def test_force_detach(admin: httpx.Client, demo: httpx.Client) -> None:
    vid = demo.post(f"{V}/volumes", json={"volume": {"size": 1}}).json()["volume"]["id"]
    wait_volume(demo, vid)
    act = f"{V}/volumes/{vid}/action"
    server = str(uuid.uuid4())
    r = demo.post(act, json={"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}})
    assert r.status_code == 202, r.text
    attachment = wait_volume(demo, vid, "in-use")["attachments"][0]
    assert attachment["server_id"] == server
    assert admin.post(act, json={"os-reset_status": {"status": "error"}}).status_code == 202
    wait_volume(demo, vid, "error")
    body = {"os-force_detach": {"connector": None, "attachment_id": attachment["attachment_id"]}}
    assert demo.post(act, json=body).status_code == 403
    r = admin.post(act, json={"os-force_detach": {"attachment_id": str(uuid.uuid4())}})
    assert r.status_code == 404 and "itemNotFound" in r.json()
    assert admin.post(act, json={"os-force_detach": "x"}).status_code == 400
    assert admin.post(act, json=body).status_code == 202
    shown = wait_volume(demo, vid, "available")
    assert shown["attachments"] == []
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(demo, vid, "gone")
