"""Cinder's attachments API over HTTP with microversion headers: the attachment's and the
volume's statuses through create → update (connector) → os-complete → delete, the
connection info, ``mode``, refusals (attached non-multiattach volume, old microversions,
another project's attachment)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.volume.conftest import wait_volume

V = "/volume/v3"


def _h(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume {version}"}


def _volume(client: httpx.Client) -> str:
    r = client.post(f"{V}/volumes", json={"volume": {"size": 1}})
    assert r.status_code == 202, r.text
    vid: str = r.json()["volume"]["id"]
    wait_volume(client, vid)
    return vid


def _status(client: httpx.Client, vid: str) -> dict[str, Any]:
    vol: dict[str, Any] = client.get(f"{V}/volumes/{vid}").json()["volume"]
    return vol


SERVER = "3f5f1a9e-3c5b-4bd2-9b7e-3b1f6c0a1d11"
CONNECTOR = {"host": "compute1", "initiator": "iqn.test", "mountpoint": "/dev/vdb"}


def test_attachment_lifecycle(demo: httpx.Client) -> None:
    vid = _volume(demo)
    r = demo.post(f"{V}/attachments", headers=_h("3.54"),
                  json={"attachment": {"volume_uuid": vid, "instance_uuid": SERVER,
                                       "mode": "ro"}})
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    assert att["status"] == "reserved" and att["attach_mode"] == "ro"
    assert att["connection_info"] == {} and att["instance"] == SERVER
    assert _status(demo, vid)["status"] == "reserved"
    assert _status(demo, vid)["attachments"] == []  # not attached yet
    aid = att["id"]
    r = demo.put(f"{V}/attachments/{aid}", headers=_h("3.54"),
                 json={"attachment": {"connector": CONNECTOR}})
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    assert att["status"] == "attaching"
    info = att["connection_info"]
    assert info["driver_volume_type"] == "local" and info["attachment_id"] == aid
    assert info["data"]["device_path"].endswith(vid) and info["data"]["access_mode"] == "ro"
    assert _status(demo, vid)["status"] == "attaching"
    r = demo.post(f"{V}/attachments/{aid}/action", headers=_h("3.44"),
                  json={"os-complete": None})
    assert r.status_code == 204, r.text
    vol = _status(demo, vid)
    assert vol["status"] == "in-use"
    assert [(a["server_id"], a["attachment_id"], a["device"]) for a in vol["attachments"]] \
        == [(SERVER, aid, "/dev/vdb")]
    r = demo.get(f"{V}/attachments", headers=_h("3.27"), params={"volume_id": vid})
    assert r.json()["attachments"] == [{"id": aid, "status": "attached", "instance": SERVER,
                                        "volume_id": vid}]
    detail = demo.get(f"{V}/attachments/detail", headers=_h("3.27"),
                      params={"instance_id": SERVER}).json()["attachments"]
    assert [d["id"] for d in detail] == [aid] and detail[0]["attached_at"]
    assert demo.get(f"{V}/attachments/{aid}", headers=_h("3.27")).json()[
        "attachment"]["status"] == "attached"
    # an attached non-multiattach volume: a second attachment is refused
    r = demo.post(f"{V}/attachments", headers=_h("3.27"),
                  json={"attachment": {"volume_uuid": vid, "instance_uuid": SERVER}})
    assert r.status_code == 400, r.text
    assert "badRequest" in r.json()
    # an in-use volume cannot be deleted
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 400
    r = demo.delete(f"{V}/attachments/{aid}", headers=_h("3.27"))
    assert r.status_code == 200, r.text
    vol = _status(demo, vid)
    assert vol["status"] == "available" and vol["attachments"] == []
    assert demo.get(f"{V}/attachments/{aid}", headers=_h("3.27")).status_code == 404
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 202


def test_create_with_connector_then_delete_unreserves(demo: httpx.Client) -> None:
    vid = _volume(demo)
    r = demo.post(f"{V}/attachments", headers=_h("3.27"),
                  json={"attachment": {"volume_uuid": vid, "instance_uuid": SERVER,
                                       "connector": CONNECTOR}})
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    assert att["status"] == "attaching" and att["connection_info"]["data"]["device_path"]
    assert _status(demo, vid)["status"] == "attaching"
    assert demo.delete(f"{V}/attachments/{att['id']}", headers=_h("3.27")).status_code == 200
    assert _status(demo, vid)["status"] == "available"
    demo.delete(f"{V}/volumes/{vid}")


def test_microversions_and_bad_input(demo: httpx.Client, alt: httpx.Client) -> None:
    vid = _volume(demo)
    body = {"attachment": {"volume_uuid": vid, "instance_uuid": SERVER}}
    assert demo.post(f"{V}/attachments", headers=_h("3.26"), json=body).status_code == 404
    assert demo.get(f"{V}/attachments", headers=_h("3.0")).status_code == 404
    r = demo.post(f"{V}/attachments", headers=_h("3.53"),
                  json={"attachment": {**body["attachment"], "mode": "ro"}})
    assert r.status_code == 400, r.text
    r = demo.post(f"{V}/attachments", headers=_h("3.54"),
                  json={"attachment": {**body["attachment"], "mode": "rx"}})
    assert r.status_code == 400, r.text
    assert demo.post(f"{V}/attachments", headers=_h("3.27"),
                     json={"attachment": {"instance_uuid": SERVER}}).status_code == 400
    assert _status(demo, vid)["status"] == "available"  # nothing half-written
    # another project's volume and attachment: 404
    assert alt.post(f"{V}/attachments", headers=_h("3.27"), json=body).status_code == 404
    r = demo.post(f"{V}/attachments", headers=_h("3.27"), json=body)
    aid = r.json()["attachment"]["id"]
    assert alt.get(f"{V}/attachments/{aid}", headers=_h("3.27")).status_code == 404
    assert alt.delete(f"{V}/attachments/{aid}", headers=_h("3.27")).status_code == 404
    assert alt.get(f"{V}/attachments", headers=_h("3.27")).json()["attachments"] == []
    # os-complete needs 3.44 and a connector first
    assert demo.post(f"{V}/attachments/{aid}/action", headers=_h("3.43"),
                     json={"os-complete": None}).status_code == 404
    assert demo.post(f"{V}/attachments/{aid}/action", headers=_h("3.44"),
                     json={"os-complete": None}).status_code == 400
    assert demo.delete(f"{V}/attachments/{aid}", headers=_h("3.27")).status_code == 200
    demo.delete(f"{V}/volumes/{vid}")
