"""The bootstrap accounts of a new cloud and the files that tell users how to log in.

devstack's accounts (admin, demo, alt_demo), their generated passwords kept in
``STATE/credentials.json``, and ``clouds.yaml`` / ``openrc`` written beside it.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from pocketstack.config import Settings

ACCOUNTS = (  # user, project, role, system role
    ("admin", "admin", "admin", "admin"),
    ("demo", "demo", "member", None),
    ("alt_demo", "alt_demo", "member", None),
)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def credentials(settings: Settings) -> dict[str, Any]:
    """The accounts' passwords: kept from an earlier start, generated for new accounts, the
    admin's replaced when one is configured."""
    path = settings.state_path / "credentials.json"
    creds: dict[str, Any] = {"passwords": {}}
    if path.exists():
        creds = json.loads(path.read_text())
    changed = not path.exists()
    for user, *_ in ACCOUNTS:
        if user not in creds["passwords"]:
            creds["passwords"][user] = secrets.token_urlsafe(12)
            changed = True
    if settings.admin_password and creds["passwords"]["admin"] != settings.admin_password:
        creds["passwords"]["admin"] = settings.admin_password
        changed = True
    if changed:
        _write_private(path, json.dumps(creds, indent=2))
    return creds


def write_client_files(settings: Settings, creds: dict[str, Any]) -> Path:
    """``clouds.yaml`` with the four clouds and an ``openrc`` for the admin."""
    auth_url = settings.effective_public_url + "/identity"
    pw = creds["passwords"]

    def cloud(user: str, project: str | None) -> dict[str, Any]:
        auth: dict[str, Any] = {"auth_url": auth_url, "username": user,
                                "password": pw[user], "user_domain_name": "Default"}
        if project:
            auth["project_name"] = project
            auth["project_domain_name"] = "Default"
        else:
            auth["system_scope"] = "all"
        return {"auth": auth, "region_name": settings.region,
                "identity_api_version": 3, "interface": "public"}

    doc = {"clouds": {
        "pocketstack-admin": cloud("admin", "admin"),
        "pocketstack": cloud("demo", "demo"),
        "pocketstack-alt": cloud("alt_demo", "alt_demo"),
        "pocketstack-system-admin": cloud("admin", None),
    }}
    path = settings.state_path / "clouds.yaml"
    _write_private(path, yaml.safe_dump(doc, sort_keys=False))
    lines = [
        f"export OS_AUTH_URL={auth_url}",
        "export OS_IDENTITY_API_VERSION=3",
        f"export OS_REGION_NAME={settings.region}",
        "export OS_USERNAME=${OS_USERNAME:-admin}",
        "export OS_PROJECT_NAME=${OS_PROJECT_NAME:-admin}",
        "export OS_USER_DOMAIN_NAME=Default",
        "export OS_PROJECT_DOMAIN_NAME=Default",
        f"export OS_PASSWORD=${{OS_PASSWORD:-{pw['admin']}}}",
        "",
    ]
    _write_private(settings.state_path / "openrc", "\n".join(lines))
    return path
