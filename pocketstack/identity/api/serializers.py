"""Rows → Keystone v3 JSON shapes."""

from __future__ import annotations

from typing import Any

from pocketstack.common.api.app import ApiRequest
from pocketstack.identity.api.common import link
from pocketstack.identity.domain import roles
from pocketstack.identity.domain.common import isotime


def domain_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "name": row["name"], "description": row["description"] or "",
        "enabled": row["enabled"], "tags": row["tags"], "options": row["options"],
        "links": link(req, f"/v3/domains/{row['id']}"),
    })
    return out


def project_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "name": row["name"], "domain_id": row["domain_id"],
        "description": row["description"] or "", "enabled": row["enabled"],
        "parent_id": row["parent_id"] or row["domain_id"], "is_domain": False,
        "tags": row["tags"], "options": row["options"],
        "links": link(req, f"/v3/projects/{row['id']}"),
    })
    return out


def user_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "name": row["name"], "domain_id": row["domain_id"],
        "enabled": row["enabled"],
        "password_expires_at": isotime(row["password_expires_at"]),
        "options": row["options"],
        "links": link(req, f"/v3/users/{row['id']}"),
    })
    if row["default_project_id"]:
        out["default_project_id"] = row["default_project_id"]
    if row["description"] is not None:
        out["description"] = row["description"]
    if row["email"] is not None:
        out["email"] = row["email"]
    return out


def group_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "name": row["name"], "domain_id": row["domain_id"],
        "description": row["description"] or "",
        "links": link(req, f"/v3/groups/{row['id']}"),
    })
    return out


def role_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "name": row["name"],
        "domain_id": roles.domain_of(row),
        "description": row["description"], "options": row["options"],
        "links": link(req, f"/v3/roles/{row['id']}"),
    })
    return out


def role_ref(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"],
            "links": link(req, f"/v3/roles/{row['id']}")}


def service_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "type": row["type"], "name": row["name"],
        "description": row["description"], "enabled": row["enabled"],
        "links": link(req, f"/v3/services/{row['id']}"),
    })
    return out


def endpoint_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row["extra"].items() if k != "managed_by"}
    out.update({
        "id": row["id"], "service_id": row["service_id"], "interface": row["interface"],
        "region_id": row["region_id"], "region": row["region_id"], "url": row["url"],
        "enabled": row["enabled"], "links": link(req, f"/v3/endpoints/{row['id']}"),
    })
    return out


def region_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "description": row["description"] or "",
        "parent_region_id": row["parent_region_id"],
        "links": link(req, f"/v3/regions/{row['id']}"),
    })
    return out


def app_cred_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "user_id": row["user_id"], "project_id": row["project_id"],
        # Keystone renders it with oslo's default datetime format: microseconds, no zone.
        "expires_at": (row["expires_at"].strftime("%Y-%m-%dT%H:%M:%S.%f")
                       if row["expires_at"] is not None else None),
        "unrestricted": row["unrestricted"],
        "roles": [{"id": r["id"], "name": r["name"], "domain_id": r.get("domain_id")}
                  for r in row["roles"]],
        "access_rules": row["access_rules"],
        "links": link(req, f"/v3/users/{row['user_id']}/application_credentials/{row['id']}"),
    }


def credential_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "user_id": row["user_id"], "project_id": row["project_id"],
        "type": row["type"], "blob": row["blob"],
        "links": link(req, f"/v3/credentials/{row['id']}"),
    })
    return out
