"""Volume type encryption specs (``/types/{id}/encryption``) with the stock CLI
(``openstack volume type create/show/set/unset --encryption-…``) and over HTTP. They are
metadata: volumes of such a type are not encrypted (``encrypted: false``), and the spec is
frozen while volumes of the type exist."""

from __future__ import annotations

import httpx

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import wait_volume

V = "/volume/v3"


def test_encryption_with_the_cli(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("enc")
    made = cloud.osc("volume", "type", "create", "--encryption-provider", "luks",
                     "--encryption-cipher", "aes-xts-plain64", "--encryption-key-size", "256",
                     "--encryption-control-location", "front-end", name)
    tid = made["id"]
    enc = admin.get(f"{V}/types/{tid}/encryption").json()
    assert (enc["provider"], enc["cipher"], enc["key_size"], enc["control_location"]) == (
        "luks", "aes-xts-plain64", 256, "front-end")
    cloud.osc("volume", "type", "set", "--encryption-key-size", "128", tid, as_json=False)
    shown = cloud.osc("volume", "type", "show", "--encryption-type", tid)
    assert "key_size='128'" in str(shown["encryption"]) or \
        shown["encryption"].get("key_size") == 128
    cloud.osc("volume", "type", "unset", "--encryption-type", tid, as_json=False)
    assert admin.get(f"{V}/types/{tid}/encryption").json() == {}
    cloud.osc("volume", "type", "delete", tid, as_json=False)


def test_encryption_over_http(admin: httpx.Client, demo: httpx.Client) -> None:
    tid = admin.post(f"{V}/types", json={"volume_type": {"name": unique("enc")}}).json()[
        "volume_type"]["id"]
    url = f"{V}/types/{tid}/encryption"
    assert admin.get(url).json() == {}
    spec = {"provider": "LuksEncryptor", "key_size": 256, "cipher": "aes-xts-plain64",
            "control_location": "front-end"}
    r = admin.post(url, json={"encryption": spec})
    assert r.status_code == 200, r.text
    made = r.json()["encryption"]
    assert spec.items() <= made.items() and made["volume_type_id"] == tid
    eid = made["encryption_id"]
    assert admin.post(url, json={"encryption": spec}).status_code == 409
    assert admin.get(f"{url}/cipher").json() == {"cipher": "aes-xts-plain64"}
    assert admin.get(f"{url}/nonsense").status_code == 404
    r = admin.put(f"{url}/{eid}", json={"encryption": {"key_size": 128,
                                                       "control_location": "back-end"}})
    assert r.status_code == 200 and r.json() == {"encryption": {
        "key_size": 128, "control_location": "back-end"}}
    shown = admin.get(url).json()
    assert (shown["key_size"], shown["control_location"], shown["provider"]) == (
        128, "back-end", "LuksEncryptor")
    # bad input: nothing changes
    for bad in ({"control_location": "middle"}, {"key_size": -1}, {"provider": ""},
                {"colour": "red"}):
        assert admin.put(f"{url}/{eid}", json={"encryption": bad}).status_code == 400, bad
    assert admin.get(url).json() == shown
    assert admin.post(f"{V}/types/{unique('x')}/encryption",
                      json={"encryption": spec}).status_code == 404
    assert demo.get(url).status_code == 403
    # a volume of the type: it is not encrypted, and the spec is frozen while it exists
    vid = demo.post(f"{V}/volumes", json={"volume": {"size": 1, "volume_type": tid}}).json()[
        "volume"]["id"]
    assert wait_volume(demo, vid)["encrypted"] is False
    assert admin.delete(f"{url}/{eid}").status_code == 400
    assert admin.put(f"{url}/{eid}", json={"encryption": {"key_size": 512}}).status_code == 400
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(demo, vid, "gone")
    assert admin.delete(f"{url}/{unique('e')}").status_code == 404
    assert admin.delete(f"{url}/{eid}").status_code == 202
    assert admin.get(url).json() == {}
    assert admin.delete(f"{V}/types/{tid}").status_code == 202
