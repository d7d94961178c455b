"""The seed's identity commands and everyday identity work, with the stock `openstack` CLI."""

from __future__ import annotations

from tests.conftest import LiveCloud, unique


def test_token_issue(cloud: LiveCloud) -> None:
    token = cloud.osc("token", "issue")
    assert token["id"].startswith("gAAAAA")
    assert len(token["id"]) < 255
    assert token["project_id"] and token["user_id"]


def test_catalog_commands(cloud: LiveCloud) -> None:
    services = cloud.osc("service", "list")
    assert {"Name": "keystone", "Type": "identity"} in [
        {"Name": s["Name"], "Type": s["Type"]} for s in services]
    endpoints = cloud.osc("endpoint", "list")
    identity = [e for e in endpoints if e["Service Type"] == "identity"]
    assert identity and identity[0]["URL"] == cloud.url + "/identity"
    assert identity[0]["Region"] == "RegionOne"


def test_service_create_and_delete_by_name(cloud: LiveCloud) -> None:
    name = unique("svc")
    created = cloud.osc("service", "create", "--name", name, "object-store")
    assert created["type"] == "object-store"
    cloud.osc("service", "delete", name, as_json=False)
    assert all(s["Name"] != name for s in cloud.osc("service", "list"))


def test_list_commands(cloud: LiveCloud) -> None:
    assert {"Default"} <= {d["Name"] for d in cloud.osc("domain", "list")}
    assert {"admin", "demo", "alt_demo"} <= {p["Name"] for p in cloud.osc("project", "list")}
    assert {"admin", "demo", "alt_demo"} <= {u["Name"] for u in cloud.osc("user", "list")}
    assert {"admin", "member", "reader", "manager", "service"} <= {
        r["Name"] for r in cloud.osc("role", "list")}


def test_role_create(cloud: LiveCloud) -> None:
    name = unique("role")
    role = cloud.osc("role", "create", name)
    assert role["name"] == name
    assert name in {r["Name"] for r in cloud.osc("role", "list")}


def test_project_user_group_and_assignments(cloud: LiveCloud) -> None:
    project = unique("proj")
    user = unique("user")
    group = unique("group")
    p = cloud.osc("project", "create", "--description", "made by a test", project)
    assert p["name"] == project and p["domain_id"] == "default"
    u = cloud.osc("user", "create", "--password", "pw-123456", "--project", project, user)
    assert u["name"] == user
    g = cloud.osc("group", "create", group)
    cloud.osc("group", "add", "user", group, user, as_json=False)
    assert user in cloud.osc("group", "contains", "user", group, user, as_json=False)
    cloud.osc("role", "add", "--project", project, "--user", user, "member", as_json=False)
    cloud.osc("role", "add", "--project", project, "--group", group, "reader", as_json=False)
    rows = cloud.osc("role", "assignment", "list", "--names", "--project", project)
    seen = {(r["Role"], r["User"], r["Group"]) for r in rows}
    assert ("member", f"{user}@Default", "") in seen
    assert ("reader", "", f"{group}@Default") in seen
    effective = cloud.osc("role", "assignment", "list", "--names", "--effective",
                          "--user", user)
    assert {r["Role"] for r in effective} == {"member", "reader"}
    # the new user can log in to the project
    cloud.osc("group", "delete", g["id"], as_json=False)
    cloud.osc("user", "delete", user, as_json=False)
    cloud.osc("project", "delete", project, as_json=False)


def test_application_credential_login(cloud: LiveCloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = unique("appcred")
    created = cloud.osc("application", "credential", "create", "--role", "member", name)
    secret = created["Secret"]
    assert secret and created["Roles"][0]["name"] == "member"
    shown = cloud.osc("application", "credential", "show", name)
    assert not shown.get("Secret") and not shown.get("secret")
    # log in with it, as a user of clouds.yaml would
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  appcred:\n    auth_type: v3applicationcredential\n    auth:\n"
        f"      auth_url: {cloud.url}/identity\n"
        f"      application_credential_id: {created['ID']}\n"
        f"      application_credential_secret: {secret}\n"
        "    region_name: RegionOne\n")
    import os
    import subprocess

    from tests.conftest import BIN

    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    out = subprocess.run([str(BIN / "openstack"), "--os-cloud", "appcred", "token", "issue",
                          "-f", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"project_id"' in out.stdout
    cloud.osc("application", "credential", "delete", name, as_json=False)
    again = subprocess.run([str(BIN / "openstack"), "--os-cloud", "appcred", "token", "issue"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode != 0


def test_token_revoke(cloud: LiveCloud) -> None:
    token = cloud.osc("token", "issue")["id"]
    cloud.osc("token", "revoke", token, as_json=False)
    import httpx

    admin_token, _ = cloud.token()
    r = httpx.get(cloud.identity + "/auth/tokens",
                  headers={"X-Auth-Token": admin_token, "X-Subject-Token": token})
    assert r.status_code == 404


def test_member_is_refused_admin_calls(cloud: LiveCloud) -> None:
    proc = cloud.osc("user", "list", cloud="pocketstack", check=False)
    assert proc.returncode != 0
    assert "ForbiddenException: 403" in proc.stderr, proc.stderr
    proc = cloud.osc("project", "create", unique("nope"), cloud="pocketstack", check=False)
    assert proc.returncode != 0


def test_system_scoped_admin(cloud: LiveCloud) -> None:
    token = cloud.osc("token", "issue", cloud="pocketstack-system-admin")
    assert token["id"]
    assert "project_id" not in token or not token.get("project_id")
    users = cloud.osc("user", "list", cloud="pocketstack-system-admin")
    assert any(u["Name"] == "admin" for u in users)
