"""Lockout, password history and self-service password change (the cloud fixture runs with
lockout after 3 failures for 5 s and a history of 2)."""

from __future__ import annotations

import time

import httpx

from tests.conftest import LiveCloud, unique


def _login(cloud: LiveCloud, name: str, password: str) -> httpx.Response:
    return httpx.post(cloud.identity + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": "default"}, "password": password}}},
        "scope": "unscoped"}})


def _user(admin: httpx.Client, password: str) -> tuple[str, str]:
    name = unique("sc")
    user = admin.post("/identity/v3/users", json={"user": {"name": name, "password": password}})
    assert user.status_code == 201
    return name, user.json()["user"]["id"]


def test_lockout_after_failures(cloud: LiveCloud, admin: httpx.Client) -> None:
    name, _ = _user(admin, "right-pw-1")
    for _ in range(3):
        assert _login(cloud, name, "wrong").status_code == 401
    locked = _login(cloud, name, "right-pw-1")
    assert locked.status_code == 401
    assert "locked" in locked.json()["error"]["message"]
    time.sleep(5.2)
    assert _login(cloud, name, "right-pw-1").status_code == 201


def test_self_service_password_change_and_history(cloud: LiveCloud,
                                                  admin: httpx.Client) -> None:
    name, uid = _user(admin, "first-pw-1")
    token = _login(cloud, name, "first-pw-1").headers["X-Subject-Token"]

    def change(old: str, new: str) -> httpx.Response:
        return httpx.post(f"{cloud.identity}/users/{uid}/password",
                          json={"user": {"original_password": old, "password": new}})

    assert change("not-it", "second-pw-2").status_code == 401
    assert change("first-pw-1", "second-pw-2").status_code == 204
    # tokens issued before the change are revoked
    check = admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert check.status_code == 404
    assert _login(cloud, name, "second-pw-2").status_code == 201
    assert _login(cloud, name, "first-pw-1").status_code == 401
    # history of 2: the previous password cannot come back
    reuse = change("second-pw-2", "first-pw-1")
    assert reuse.status_code == 400
    assert "previous password" in reuse.json()["error"]["message"]
    assert change("second-pw-2", "third-pw-3").status_code == 204


def test_admin_password_reset_revokes_tokens(cloud: LiveCloud, admin: httpx.Client) -> None:
    name, uid = _user(admin, "reset-pw-1")
    token = _login(cloud, name, "reset-pw-1").headers["X-Subject-Token"]
    r = admin.patch(f"/identity/v3/users/{uid}", json={"user": {"password": "reset-pw-2"}})
    assert r.status_code == 200
    assert admin.get("/identity/v3/auth/tokens",
                     headers={"X-Subject-Token": token}).status_code == 404
    assert _login(cloud, name, "reset-pw-2").status_code == 201


def test_admin_reset_ignores_password_history(cloud: LiveCloud, admin: httpx.Client) -> None:
    """Keystone applies the history to self-service changes only."""
    name, uid = _user(admin, "hist-pw-1")
    for password in ("hist-pw-2", "hist-pw-2", "hist-pw-1"):
        r = admin.patch(f"/identity/v3/users/{uid}", json={"user": {"password": password}})
        assert r.status_code == 200, r.text
    assert _login(cloud, name, "hist-pw-1").status_code == 201
    # ... while the self-service route still refuses a recent password
    reuse = httpx.post(f"{cloud.identity}/users/{uid}/password", json={"user": {
        "original_password": "hist-pw-1", "password": "hist-pw-2"}})
    assert reuse.status_code == 400
