"""Time filters compare what the caller was shown: a resource's own shown time is inside both
``changes-since`` and ``changes-before`` it (stored times carry microseconds, views show most
of them to the second), on servers, instance actions and images alike."""

from __future__ import annotations

import datetime as dt
import time

import httpx

from tests.conftest import unique

API = "/compute/v2.1"
V = {"OpenStack-API-Version": "compute 2.66"}


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def _shown(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_server_filtered_by_its_own_updated_time(admin: httpx.Client) -> None:
    image = admin.get("/image/v2/images", params={"name": "pocketstack-empty-qcow2"}).json()[
        "images"][0]["id"]
    r = admin.post(f"{API}/servers", headers=V, json={"server": {
        "name": unique("since"), "imageRef": image, "flavorRef": "1", "networks": "none"}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    deadline = time.monotonic() + 30
    while (server := admin.get(f"{API}/servers/{sid}", headers=V).json()["server"])[
            "status"] != "ACTIVE":
        assert time.monotonic() < deadline, server["status"]
        time.sleep(0.1)
    updated = server["updated"]
    at = _parse(updated)

    def listed(**params: str) -> bool:
        r = admin.get(f"{API}/servers", headers=V, params=params)
        assert r.status_code == 200, r.text
        return sid in [s["id"] for s in r.json()["servers"]]

    assert listed(**{"changes-since": updated})
    assert listed(**{"changes-before": updated})
    assert listed(**{"changes-since": updated, "changes-before": updated})
    second = dt.timedelta(seconds=1)
    assert not listed(**{"changes-since": _shown(at + second)})
    assert not listed(**{"changes-before": _shown(at - second)})

    # instance actions (2.66): shown to the microsecond, filtered by the shown value or by
    # the second it falls in
    url = f"{API}/servers/{sid}/os-instance-actions"
    action = admin.get(url, headers=V).json()["instanceActions"][-1]
    for bound in (action["updated_at"], _shown(_parse(action["updated_at"]))):
        for key in ("changes-since", "changes-before"):
            got = admin.get(url, headers=V, params={key: bound}).json()["instanceActions"]
            assert action["request_id"] in [a["request_id"] for a in got], (key, bound)
    assert admin.delete(f"{API}/servers/{sid}").status_code == 204


def test_image_filtered_by_its_own_updated_time(admin: httpx.Client) -> None:
    r = admin.post("/image/v2/images", json={"name": unique("when")})
    assert r.status_code == 201, r.text
    image = r.json()
    updated = image["updated_at"]

    def listed(value: str) -> bool:
        r = admin.get("/image/v2/images", params={"updated_at": value})
        assert r.status_code == 200, r.text
        return image["id"] in [i["id"] for i in r.json()["images"]]

    for op in ("lte", "gte", "eq"):
        assert listed(f"{op}:{updated}"), op
    for op in ("lt", "gt", "neq"):
        assert not listed(f"{op}:{updated}"), op
    assert admin.delete(f"/image/v2/images/{image['id']}").status_code == 204
