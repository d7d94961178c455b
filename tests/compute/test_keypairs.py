"""Key pair API: import and generate, fingerprints, per-version shapes, owner-or-admin."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.compute.kit import Caller, Harness


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("kp"))
    yield harness
    harness.close()


def _ssh_key() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    digest = hashlib.md5(base64.b64decode(key.split()[1])).hexdigest()  # noqa: S324
    return key + " me@host", ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def test_import_show_list_delete_shapes(h: Harness) -> None:
    pub, fp = _ssh_key()
    r = h.demo.post("/os-keypairs", json={"keypair": {"name": "k1", "public_key": pub}},
                    version="2.10")
    assert r.status_code == 201, r.text
    assert r.json()["keypair"] == {"name": "k1", "public_key": pub, "fingerprint": fp,
                                   "type": "ssh", "user_id": "u-demo"}
    shown = h.demo.get("/os-keypairs/k1", version="2.2").json()["keypair"]
    assert set(shown) == {"public_key", "name", "fingerprint", "user_id", "deleted",
                          "created_at", "updated_at", "deleted_at", "id", "type"}
    assert shown["deleted"] is False and isinstance(shown["id"], int)
    assert "type" not in h.demo.get("/os-keypairs/k1").json()["keypair"]
    listed = h.demo.get("/os-keypairs", version="2.2").json()
    assert listed == {"keypairs": [{"keypair": {"name": "k1", "public_key": pub,
                                                "fingerprint": fp, "type": "ssh"}}]}
    assert h.alt.get("/os-keypairs").json() == {"keypairs": []}
    assert h.alt.get("/os-keypairs/k1").status_code == 404
    assert h.demo.post("/os-keypairs", json={"keypair": {"name": "k1", "public_key": pub}}
                       ).status_code == 409
    # 2.1: 200 on create, 202 on delete; 2.2+: 201 / 204
    r = h.demo.post("/os-keypairs", json={"keypair": {"name": "k-old", "public_key": pub}})
    assert r.status_code == 200 and "type" not in r.json()["keypair"]
    assert h.demo.delete("/os-keypairs/k-old").status_code == 202
    assert h.demo.delete("/os-keypairs/k1", version="2.2").status_code == 204
    r = h.demo.delete("/os-keypairs/k1", version="2.2")
    assert r.status_code == 404 and "itemNotFound" in r.json()


def test_generate_below_292_only(h: Harness) -> None:
    r = h.demo.post("/os-keypairs", json={"keypair": {"name": "gen"}}, version="2.10")
    kp = r.json()["keypair"]
    assert r.status_code == 201 and kp["private_key"].startswith("-----BEGIN RSA PRIVATE KEY")
    assert kp["public_key"].startswith("ssh-rsa ") and len(kp["fingerprint"]) == 47
    assert "private_key" not in h.demo.get("/os-keypairs/gen").json()["keypair"]
    r = h.demo.post("/os-keypairs", json={"keypair": {"name": "x5", "type": "x509"}},
                    version="2.10")
    assert r.status_code == 201
    cert = r.json()["keypair"]
    assert cert["type"] == "x509" and "BEGIN CERTIFICATE" in cert["public_key"]
    assert len(cert["fingerprint"]) == 59  # SHA1 colon-hex
    assert h.demo.post("/os-keypairs", json={"keypair": {"name": "gen2"}},
                       version="2.92").status_code == 400
    pub, _ = _ssh_key()
    r = h.demo.post("/os-keypairs", json={"keypair": {"name": "a@b.c", "public_key": pub}},
                    version="2.92")
    assert r.status_code == 201


@pytest.mark.parametrize("keypair", [
    {"name": "bad-key", "public_key": "ssh-rsa not-base64!"},
    {"name": "bad-key", "public_key": "garbage"},
    {"name": "bad/name", "public_key": "ssh-rsa AAAA"},
    {"name": "", "public_key": "ssh-rsa AAAA"},
    {"name": "x" * 256},
    {"name": "typed", "type": "dsa"},
    {"public_key": "ssh-rsa AAAA"},
    {"name": "k", "extra": 1},
])
def test_bad_input(h: Harness, keypair: dict[str, str]) -> None:
    r = h.demo.post("/os-keypairs", json={"keypair": keypair}, version="2.10")
    assert r.status_code == 400, (keypair, r.text)
    assert set(r.json()) == {"badRequest"}


def test_other_users_and_paging(h: Harness) -> None:
    pub, _ = _ssh_key()
    for name in ("pa", "pb", "pc"):
        h.alt.post("/os-keypairs", json={"keypair": {"name": name, "public_key": pub}})
    # only admins may name another user (2.10)
    assert h.demo.get("/os-keypairs?user_id=u-alt", version="2.10").status_code == 403
    assert h.demo.get("/os-keypairs/pa?user_id=u-alt", version="2.10").status_code == 403
    names = [k["keypair"]["name"] for k in h.admin.get(
        "/os-keypairs?user_id=u-alt", version="2.10").json()["keypairs"]]
    assert names == ["pa", "pb", "pc"]
    r = h.admin.post("/os-keypairs", json={"keypair": {"name": "for-alt", "public_key": pub,
                                                       "user_id": "u-alt"}}, version="2.10")
    assert r.json()["keypair"]["user_id"] == "u-alt"
    page = h.alt.get("/os-keypairs?limit=2", version="2.35").json()
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["for-alt", "pa"]
    assert "marker=pa" in page["keypairs_links"][0]["href"]
    rest = h.alt.get("/os-keypairs?limit=2&marker=pa", version="2.35").json()
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["pb", "pc"]
    assert h.alt.get("/os-keypairs?marker=zz", version="2.35").status_code == 400
    assert h.admin.delete("/os-keypairs/pa?user_id=u-alt", version="2.10").status_code == 204


def test_key_pair_quota(h: Harness) -> None:
    assert h.admin.put("/os-quota-sets/p-kq", json={"quota_set": {"key_pairs": 1}}
                       ).status_code == 200
    user = Caller(h.client, "u-kq", "p-kq", "member,reader")
    pub, _ = _ssh_key()
    assert user.post("/os-keypairs", json={"keypair": {"name": "one", "public_key": pub}}
                     ).status_code == 200
    r = user.post("/os-keypairs", json={"keypair": {"name": "two", "public_key": pub}})
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"] == "Quota exceeded, too many key pairs."
