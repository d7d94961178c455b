"""QoS specs (``/qos-specs``) with the stock CLI (``openstack volume qos …``) and over HTTP:
create with a consumer and properties, set/unset keys, associate with volume types (the type
shows its ``qos_specs_id``), disassociate one or all, delete refused while associated unless
forced, admin only, Cinder's 4xx for bad input."""

from __future__ import annotations

import httpx

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import wait_volume

V = "/volume/v3"


def test_qos_with_the_cli(cloud: LiveCloud) -> None:
    name = unique("qos")
    made = cloud.osc("volume", "qos", "create", "--consumer", "front-end", "--property",
                     "read_iops_sec=2000", name)
    qid = made["id"]
    assert made["consumer"] == "front-end" and made["name"] == name
    cloud.osc("volume", "qos", "set", "--property", "write_iops_sec=500", qid, as_json=False)
    shown = cloud.osc("volume", "qos", "show", qid)
    assert shown["properties"] == {"read_iops_sec": "2000", "write_iops_sec": "500"}
    cloud.osc("volume", "qos", "unset", "--property", "read_iops_sec", qid, as_json=False)
    assert cloud.osc("volume", "qos", "show", qid)["properties"] == {"write_iops_sec": "500"}
    vtype = cloud.osc("volume", "type", "create", unique("qtype"))["id"]
    cloud.osc("volume", "qos", "associate", qid, vtype, as_json=False)
    tname = cloud.osc("volume", "type", "show", vtype)["name"]
    listed = {q["ID"]: q for q in cloud.osc("volume", "qos", "list")}
    assert listed[qid]["Associations"] in ([tname], tname)
    assert cloud.osc("volume", "qos", "show", qid)["associations"] in ([tname], tname)
    # still associated: a plain delete is refused, nothing removed
    proc = cloud.osc("volume", "qos", "delete", qid, check=False, as_json=False)
    assert proc.returncode != 0
    assert cloud.osc("volume", "qos", "show", qid)["id"] == qid
    cloud.osc("volume", "qos", "disassociate", "--volume-type", vtype, qid, as_json=False)
    assert not cloud.osc("volume", "qos", "show", qid).get("associations")
    cloud.osc("volume", "qos", "delete", qid, as_json=False)
    assert qid not in {q["ID"] for q in cloud.osc("volume", "qos", "list")}
    cloud.osc("volume", "type", "delete", vtype, as_json=False)


def test_qos_over_http(admin: httpx.Client, demo: httpx.Client) -> None:
    r = admin.post(f"{V}/qos-specs", json={"qos_specs": {"name": unique("q"),
                                                         "consumer": "both", "k": "1"}})
    assert r.status_code == 200, r.text
    body = r.json()
    qos = body["qos_specs"]
    assert set(qos) == {"id", "name", "consumer", "specs"} and qos["specs"] == {"k": "1"}
    assert body["links"][0]["href"].endswith(f"/qos-specs/{qos['id']}")
    listed = admin.get(f"{V}/qos-specs").json()["qos_specs"]
    assert qos in listed
    # set answers the keys set; unset of a missing key is a 404
    r = admin.put(f"{V}/qos-specs/{qos['id']}", json={"qos_specs": {"iops": "500"}})
    assert r.status_code == 200 and r.json() == {"qos_specs": {"iops": "500"}}
    url = f"{V}/qos-specs/{qos['id']}/delete_keys"
    assert admin.put(url, json={"keys": ["iops"]}).status_code == 202
    assert admin.put(url, json={"keys": ["iops"]}).status_code == 404
    # associations: three types, one removed, then all
    types = [admin.post(f"{V}/types", json={"volume_type": {"name": unique("qt")}}).json()[
        "volume_type"]["id"] for _ in range(3)]
    for tid in types:
        r = admin.get(f"{V}/qos-specs/{qos['id']}/associate", params={"vol_type_id": tid})
        assert r.status_code == 202, r.text
    assoc = admin.get(f"{V}/qos-specs/{qos['id']}/associations").json()["qos_associations"]
    assert {a["id"] for a in assoc} == set(types)
    assert {a["association_type"] for a in assoc} == {"volume_type"}
    # a type holds one spec: another spec cannot take it
    other = admin.post(f"{V}/qos-specs", json={"qos_specs": {"name": unique("q")}}).json()[
        "qos_specs"]
    assert other["consumer"] == "back-end"
    r = admin.get(f"{V}/qos-specs/{other['id']}/associate", params={"vol_type_id": types[0]})
    assert r.status_code == 400, r.text
    r = admin.get(f"{V}/qos-specs/{qos['id']}/disassociate", params={"vol_type_id": types[0]})
    assert r.status_code == 202
    assoc = admin.get(f"{V}/qos-specs/{qos['id']}/associations").json()["qos_associations"]
    assert {a["id"] for a in assoc} == set(types[1:])
    assert admin.get(f"{V}/qos-specs/{qos['id']}/disassociate_all").status_code == 202
    assert admin.get(f"{V}/qos-specs/{qos['id']}/associations").json() == {
        "qos_associations": []}
    # forced delete of an associated spec disassociates it
    admin.get(f"{V}/qos-specs/{other['id']}/associate", params={"vol_type_id": types[1]})
    assert admin.delete(f"{V}/qos-specs/{other['id']}").status_code == 400
    assert admin.delete(f"{V}/qos-specs/{other['id']}?force=True").status_code == 202
    assert admin.get(f"{V}/types/{types[1]}").json()["volume_type"]["qos_specs_id"] is None
    assert admin.delete(f"{V}/qos-specs/{qos['id']}").status_code == 202
    assert admin.get(f"{V}/qos-specs/{qos['id']}").status_code == 404
    for tid in types:
        assert admin.delete(f"{V}/types/{tid}").status_code == 202


def test_qos_bad_input_and_policy(admin: httpx.Client, demo: httpx.Client) -> None:
    name = unique("q")
    assert admin.post(f"{V}/qos-specs", json={"qos_specs": {"consumer": "x",
                                                            "name": name}}).status_code == 400
    assert admin.post(f"{V}/qos-specs", json={"qos_specs": {"name": ""}}).status_code == 400
    assert admin.post(f"{V}/qos-specs", json={"qos_specs": {"name": name,
                                                            "k": ["x"]}}).status_code == 400
    assert admin.post(f"{V}/qos-specs", json={"qos": {}}).status_code == 400
    assert name not in {q["name"] for q in admin.get(f"{V}/qos-specs").json()["qos_specs"]}
    made = admin.post(f"{V}/qos-specs", json={"qos_specs": {"name": name}}).json()["qos_specs"]
    assert admin.post(f"{V}/qos-specs", json={"qos_specs": {"name": name}}).status_code == 409
    r = admin.get(f"{V}/qos-specs/{made['id']}/associate")
    assert r.status_code == 400 and "badRequest" in r.json()
    r = admin.get(f"{V}/qos-specs/{made['id']}/associate", params={"vol_type_id": "nope"})
    assert r.status_code == 404 and "itemNotFound" in r.json()
    assert admin.put(f"{V}/qos-specs/{made['id']}/delete_keys",
                     json={"keys": "k"}).status_code == 400
    assert demo.get(f"{V}/qos-specs").status_code == 403
    assert demo.post(f"{V}/qos-specs", json={"qos_specs": {"name": unique("q")}}
                     ).status_code == 403
    assert admin.get(f"{V}/qos-specs/{made['id']}x").status_code == 404
    assert admin.delete(f"{V}/qos-specs/{made['id']}").status_code == 202


def test_front_end_qos_in_the_connection_info(admin: httpx.Client, demo: httpx.Client) -> None:
    """A volume whose type has front-end (or both) QoS specs hands them to the hypervisor in
    its connection info; back-end specs stay with the backend."""
    vtype = admin.post(f"{V}/types", json={"volume_type": {"name": unique("fq")}}).json()[
        "volume_type"]["id"]
    front = admin.post(f"{V}/qos-specs", json={"qos_specs": {
        "name": unique("f"), "consumer": "front-end", "total_iops_sec": "300"}}).json()[
        "qos_specs"]["id"]
    back = admin.post(f"{V}/qos-specs", json={"qos_specs": {
        "name": unique("b"), "consumer": "back-end", "total_iops_sec": "9"}}).json()[
        "qos_specs"]["id"]
    vid = demo.post(f"{V}/volumes", json={"volume": {"size": 1, "volume_type": vtype}}).json()[
        "volume"]["id"]
    wait_volume(demo, vid)
    act = f"{V}/volumes/{vid}/action"

    def info() -> dict[str, object]:
        r = demo.post(act, json={"os-initialize_connection": {"connector": {}}})
        assert r.status_code == 200, r.text
        return r.json()["connection_info"]["data"]  # type: ignore[no-any-return]

    assert "qos_specs" not in info()
    admin.get(f"{V}/qos-specs/{back}/associate", params={"vol_type_id": vtype})
    assert "qos_specs" not in info()
    admin.get(f"{V}/qos-specs/{back}/disassociate", params={"vol_type_id": vtype})
    admin.get(f"{V}/qos-specs/{front}/associate", params={"vol_type_id": vtype})
    assert info()["qos_specs"] == {"total_iops_sec": "300"}
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(demo, vid, "gone")
    for q in (front, back):
        assert admin.delete(f"{V}/qos-specs/{q}?force=true").status_code == 202
    assert admin.delete(f"{V}/types/{vtype}").status_code == 202
