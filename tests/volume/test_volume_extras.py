"""Volume image metadata actions and the owner's ``os-update_snapshot_status``."""

from __future__ import annotations

import httpx

from tests.volume.conftest import wait_status, wait_volume

V = "/volume/v3"


def test_image_metadata_actions_and_snapshot_status(demo: httpx.Client,
                                                    alt: httpx.Client) -> None:
    vid = demo.post(f"{V}/volumes", json={"volume": {"size": 1}}).json()["volume"]["id"]
    wait_volume(demo, vid)
    act = f"{V}/volumes/{vid}/action"
    r = demo.post(act, json={"os-set_image_metadata": {"metadata": {"a": "1", "b": "2"}}})
    assert r.status_code == 200 and r.json()["metadata"] == {"a": "1", "b": "2"}, r.text
    assert demo.post(act, json={"os-unset_image_metadata": {"key": "a"}}).status_code == 200
    assert demo.post(act, json={"os-unset_image_metadata": {"key": "a"}}).status_code == 404
    r = demo.post(act, json={"os-show_image_metadata": None})
    assert r.json()["metadata"] == {"b": "2"}
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["volume_image_metadata"] == {
        "b": "2"}
    assert demo.post(act, json={"os-set_image_metadata": {"metadata": [1]}}).status_code == 400
    assert alt.post(act, json={"os-show_image_metadata": None}).status_code == 404
    sid = demo.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vid}}).json()[
        "snapshot"]["id"]
    wait_status(demo, f"{V}/snapshots/{sid}", "snapshot", {"available"})
    sact = f"{V}/snapshots/{sid}/action"
    r = demo.post(sact, json={"os-update_snapshot_status": {"status": "error",
                                                            "progress": "80%"}})
    assert r.status_code == 202, r.text
    shown = demo.get(f"{V}/snapshots/{sid}").json()["snapshot"]
    assert shown["status"] == "error"
    assert shown["os-extended-snapshot-attributes:progress"] == "80%"
    assert demo.post(sact, json={"os-reset_status": {"status": "available"}}).status_code == 403
    assert demo.delete(f"{V}/snapshots/{sid}").status_code == 202
    wait_status(demo, f"{V}/snapshots/{sid}", "snapshot", {"gone"})
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(demo, vid, "gone")
