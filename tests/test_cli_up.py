"""`pocketstack up` as a user runs it: first start, restart on the same state, the other
commands, and settings from file and environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from pocketstack import __version__
from pocketstack.config import load_settings
from tests.conftest import BIN, start_cloud


def _count(cloud, path: str, key: str) -> int:  # type: ignore[no-untyped-def]
    token, _ = cloud.token()
    return len(httpx.get(cloud.url + path, headers={"X-Auth-Token": token}).json()[key])


def test_restart_keeps_state_and_bootstrap_changes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    first = start_cloud(state)
    try:
        clouds = yaml.safe_load((state / "clouds.yaml").read_text())["clouds"]
        assert set(clouds) == {"pocketstack-admin", "pocketstack", "pocketstack-alt",
                               "pocketstack-system-admin"}
        assert clouds["pocketstack-system-admin"]["auth"]["system_scope"] == "all"
        assert "OS_AUTH_URL" in (state / "openrc").read_text()
        token, _ = first.token()
        r = httpx.post(first.identity + "/projects", headers={"X-Auth-Token": token},
                       json={"project": {"name": "survivor"}})
        assert r.status_code == 201
        counts = {k: _count(first, f"/identity/v3/{k}", k)
                  for k in ("users", "roles", "projects", "services", "endpoints")}
        demo_pw = first.password("demo")
    finally:
        first.stop()
    second = start_cloud(state)
    try:
        # the old token still validates: keys and state survived
        r = httpx.get(second.identity + "/auth/tokens",
                      headers={"X-Auth-Token": token, "X-Subject-Token": token})
        assert r.status_code == 200
        assert {k: _count(second, f"/identity/v3/{k}", k)
                for k in ("users", "roles", "projects", "services", "endpoints")} == counts
        assert second.password("demo") == demo_pw
        second.token("demo", project="demo")
    finally:
        second.stop()


def test_catalog_follows_a_new_port(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    start_cloud(state).stop()
    moved = start_cloud(state)
    try:
        _, body = moved.token()
        urls = [e["url"] for s in body["catalog"] for e in s["endpoints"]]
        assert urls and all(u.startswith(moved.url) for u in urls)
        auth_url = yaml.safe_load((state / "clouds.yaml").read_text())[
            "clouds"]["pocketstack"]["auth"]["auth_url"]
        assert auth_url == moved.url + "/identity"
    finally:
        moved.stop()


def test_version_db_upgrade_and_fernet_rotate(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN / "pocketstack"), "--version"], capture_output=True,
                         text=True, check=True)
    assert __version__ in out.stdout
    state = str(tmp_path / "s")
    out = subprocess.run([str(BIN / "pocketstack"), "db", "upgrade", "--state-dir", state],
                         capture_output=True, text=True, check=True)
    assert "revision" in out.stdout
    for expected in ("2", "3"):
        out = subprocess.run([str(BIN / "pocketstack"), "fernet", "rotate", "--state-dir",
                              state], capture_output=True, text=True, check=True)
        assert f"key {expected} is now primary" in out.stdout
    keys = sorted(p.name for p in (tmp_path / "s" / "fernet-keys").iterdir())
    assert keys == ["0", "2", "3"]  # max 3 active keys: staged, primary, one secondary


def test_config_doc_lists_every_option() -> None:
    out = subprocess.run([str(BIN / "pocketstack"), "config-doc"], capture_output=True,
                         text=True, check=True).stdout
    assert "POCKETSTACK_DATABASE_URL" in out and "token_expiration" in out


def test_settings_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text('[pocketstack]\nport = 9000\ntoken_expiration = 60\n')
    s = load_settings(str(cfg), environ={"POCKETSTACK_PORT": "9100"}, overrides={})
    assert s.port == 9100 and s.token_expiration == 60
    s = load_settings(str(cfg), environ={}, overrides={"port": 9200})
    assert s.port == 9200
    bad = tmp_path / "bad.toml"
    bad.write_text("[pocketstack]\nno_such_option = 1\n")
    with pytest.raises(ValueError, match="no_such_option"):
        load_settings(str(bad), environ={})
    with pytest.raises(ValueError, match="not an integer"):
        load_settings(None, environ={"POCKETSTACK_PORT": "eighty"})


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[pocketstack]\nport = 'x'\nnope = 1\n")
    out = subprocess.run([str(BIN / "pocketstack"), "--config", str(bad), "up"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "nope" in out.stderr
    json.dumps({})


def test_policy_file_overrides_a_default(tmp_path: Path) -> None:
    """An operator's policy.yaml (OpenStack rule syntax) replaces a default rule."""
    policy = tmp_path / "policy.yaml"
    policy.write_text('"identity:list_projects": "role:member"\n')
    state = tmp_path / "state"
    state.mkdir()
    live = start_cloud(state, {"POCKETSTACK_POLICY_FILE": str(policy)})
    try:
        token, _ = live.token("demo", project="demo")
        with live.client(token) as demo:
            assert demo.get("/identity/v3/projects").status_code == 200  # opened up
            assert demo.get("/identity/v3/users").status_code == 403  # still the default
    finally:
        live.stop()


def test_ready_message_command_works_from_a_plain_shell(tmp_path: Path) -> None:
    """The `try:` line of the ready message runs as printed from a shell whose PATH does not
    hold the virtualenv (as after `make up`)."""
    state = tmp_path / "state"
    state.mkdir()
    plain = {"PATH": "/usr/bin:/bin"}
    cloud = start_cloud(state, plain)
    try:
        log = (tmp_path / "state.log").read_text()
        line = next(x for x in log.splitlines() if x.strip().startswith("try: "))
        command = line.strip().removeprefix("try: ")
        assert str(BIN / "openstack") in command, command
        proc = subprocess.run(["/bin/sh", "-c", command + " -f value -c id"], env=plain,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().startswith("gAAAAA")
    finally:
        cloud.stop()
