"""Volume transfers over HTTP (both collections) and with the stock CLI: the auth key is shown
once, the volume waits in ``awaiting-transfer``, a wrong key or a full receiver changes
nothing, accepting moves the volume and its snapshots, deleting the request gives it back."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import wait_status, wait_volume

V = "/volume/v3"
MV = {"OpenStack-API-Version": "volume 3.57"}


def _volume(client: httpx.Client) -> str:
    r = client.post(f"{V}/volumes", json={"volume": {"size": 1}})
    assert r.status_code == 202, r.text
    vid = str(r.json()["volume"]["id"])
    wait_volume(client, vid)
    return vid


def _transfer(client: httpx.Client, vid: str, path: str = "os-volume-transfer",
              **extra: Any) -> dict[str, Any]:
    r = client.post(f"{V}/{path}", json={"transfer": {"volume_id": vid, "name": "t",
                                                      **extra}},
                    headers=MV if path == "volume-transfers" else {})
    assert r.status_code == 202, r.text
    return r.json()["transfer"]  # type: ignore[no-any-return]


def test_transfer_over_http(cloud: LiveCloud, admin: httpx.Client, demo: httpx.Client,
                            alt: httpx.Client) -> None:
    vid = _volume(demo)
    r = demo.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vid}})
    sid = r.json()["snapshot"]["id"]
    wait_status(demo, f"{V}/snapshots/{sid}", "snapshot", {"available"})
    tr = _transfer(demo, vid)
    assert len(tr["auth_key"]) == 16 and tr["volume_id"] == vid
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["status"] == "awaiting-transfer"
    shown = demo.get(f"{V}/os-volume-transfer/{tr['id']}").json()["transfer"]
    assert "auth_key" not in shown and shown["name"] == "t"
    assert tr["id"] in {x["id"] for x in demo.get(f"{V}/os-volume-transfer").json()[
        "transfers"]}
    assert alt.get(f"{V}/os-volume-transfer/{tr['id']}").status_code == 404
    assert not alt.get(f"{V}/os-volume-transfer/detail").json()["transfers"]
    # the volume is busy while the request is pending
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 400
    assert demo.post(f"{V}/os-volume-transfer",
                     json={"transfer": {"volume_id": vid}}).status_code == 400
    # bad input and a wrong key change nothing
    acc = f"{V}/os-volume-transfer/{tr['id']}/accept"
    assert alt.post(acc, json={"accept": {"auth_key": "0" * 16}}).status_code == 400
    assert alt.post(acc, json={"accept": {}}).status_code == 400
    assert alt.post(acc, json={}).status_code == 400
    assert alt.post(f"{V}/os-volume-transfer/nope/accept",
                    json={"accept": {"auth_key": "x"}}).status_code == 404
    for bad in ({}, {"volume_id": 3}, {"volume_id": "missing"}):  # Cinder's schema: 400
        r = demo.post(f"{V}/os-volume-transfer", json={"transfer": bad})
        assert r.status_code == 400, (bad, r.text)
    r = demo.post(f"{V}/os-volume-transfer",
                  json={"transfer": {"volume_id": "00000000-0000-0000-0000-000000000000"}})
    assert r.status_code == 404, r.text
    # no_snapshots needs 3.55
    r = demo.post(f"{V}/os-volume-transfer",
                  json={"transfer": {"volume_id": vid, "no_snapshots": True}})
    assert r.status_code == 400
    # a receiver without room: 413, nothing moves
    _, token = cloud.token("alt_demo", project="alt_demo")
    alt_project = token["project"]["id"]
    admin.put(f"{V}/os-quota-sets/{alt_project}", json={"quota_set": {"snapshots": 0}})
    try:
        assert alt.post(acc, json={"accept": {"auth_key": tr["auth_key"]}}).status_code == 413
    finally:
        admin.delete(f"{V}/os-quota-sets/{alt_project}")
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["status"] == "awaiting-transfer"
    r = alt.post(acc, json={"accept": {"auth_key": tr["auth_key"]}})
    assert r.status_code == 202, r.text
    assert r.json()["transfer"]["volume_id"] == vid
    assert demo.get(f"{V}/volumes/{vid}").status_code == 404
    moved = alt.get(f"{V}/volumes/{vid}").json()["volume"]
    assert moved["status"] == "available"
    assert alt.get(f"{V}/snapshots/{sid}").status_code == 200
    assert demo.get(f"{V}/os-volume-transfer/{tr['id']}").status_code == 404
    # the 3.55 collection, no_snapshots, and delete gives the volume back
    tr2 = _transfer(alt, vid, "volume-transfers", no_snapshots=True)
    shown = alt.get(f"{V}/volume-transfers/{tr2['id']}", headers=MV).json()["transfer"]
    assert shown["no_snapshots"] is True and shown["source_project_id"] == alt_project
    assert alt.get(f"{V}/volume-transfers/{tr2['id']}").status_code == 404  # below 3.55
    assert alt.delete(f"{V}/volume-transfers/{tr2['id']}", headers=MV).status_code == 202
    assert alt.get(f"{V}/volumes/{vid}").json()["volume"]["status"] == "available"
    assert alt.delete(f"{V}/snapshots/{sid}").status_code == 202
    wait_status(alt, f"{V}/snapshots/{sid}", "snapshot", {"gone"})
    assert alt.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(alt, vid, "gone")


def test_transfer_cli(cloud: LiveCloud) -> None:
    name = unique("tvol")
    vid = cloud.osc("volume", "create", "--size", "1", name, cloud="pocketstack")["id"]
    token, _ = cloud.token()
    with cloud.client(token) as client:
        wait_volume(client, vid)
    req = cloud.osc("volume", "transfer", "request", "create", "--name", name, vid,
                    cloud="pocketstack")
    assert req["auth_key"]
    listed = cloud.osc("volume", "transfer", "request", "list", cloud="pocketstack")
    assert req["id"] in {x["ID"] for x in listed}
    shown = cloud.osc("volume", "transfer", "request", "show", req["id"], cloud="pocketstack")
    assert shown["volume_id"] == vid and "auth_key" not in shown
    cloud.osc("volume", "transfer", "request", "accept", "--auth-key", req["auth_key"],
              req["id"])
    moved = cloud.osc("volume", "show", vid)
    assert moved["status"] == "available"
    cloud.osc("volume", "delete", vid, as_json=False)
