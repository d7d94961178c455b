"""``GET /servers/{id}/ips`` and ``/ips/{network_label}``: a server's addresses by network
(Tempest's compute volume tests read them to reach the guest)."""

from __future__ import annotations

from tests.compute.test_servers import IMAGE
from tests.conftest import LiveCloud, unique


def test_ips_by_network(cloud: LiveCloud) -> None:
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                       "--network", "private", "--wait", unique("ips"), cloud="pocketstack")
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as client:
        base = f"/compute/v2.1/servers/{server['id']}/ips"
        r = client.get(base)
        assert r.status_code == 200, r.text
        private = r.json()["addresses"]["private"]
        assert {a["version"] for a in private} == {4, 6}
        assert all(set(a) == {"version", "addr"} for a in private)
        r = client.get(f"{base}/private")
        assert r.status_code == 200 and r.json() == {"private": private}
        r = client.get(f"{base}/public")
        assert r.status_code == 404 and "itemNotFound" in r.json()
        other, _ = cloud.token("alt_demo", project="alt_demo")
        with cloud.client(other) as alt:
            assert alt.get(base).status_code == 404
    cloud.osc("server", "delete", "--wait", server["id"], cloud="pocketstack", as_json=False)
