"""``GET /limits``: a project's absolute limits and what it uses (rate limits are empty)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.common import enforce, svc, unified_limits, version_at_least
from pocketstack.compute.domain import quotas


def show(req: ApiRequest) -> Response:
    project_id = req.ctx.project_id or ""
    user_id = req.ctx.user_id
    wanted = req.query.get("tenant_id")
    enforce(req, "os_compute_api:limits", {"project_id": project_id})
    if wanted and wanted != project_id:
        enforce(req, "os_compute_api:limits:other_project", {"project_id": wanted})
        project_id, user_id = wanted, None

    unified = unified_limits(req, project_id)
    if unified is not None:
        user_id = None  # unified limits are per project

    def read(conn: Any) -> tuple[dict[str, int], dict[str, int]]:
        return (quotas.get_limits(conn, project_id, user_id, unified),
                quotas.count_usage(conn, project_id))

    limits, usage = svc(req).db.read(read)
    absolute = {
        "maxTotalInstances": limits["instances"],
        "maxTotalCores": limits["cores"],
        "maxTotalRAMSize": limits["ram"],
        "maxServerMeta": limits["metadata_items"],
        "maxImageMeta": limits["metadata_items"],
        "maxPersonality": limits["injected_files"],
        "maxPersonalitySize": limits["injected_file_content_bytes"],
        "maxTotalKeypairs": limits["key_pairs"],
        "maxServerGroups": limits["server_groups"],
        "maxServerGroupMembers": limits["server_group_members"],
        "maxSecurityGroups": limits["security_groups"],
        "maxSecurityGroupRules": limits["security_group_rules"],
        "maxTotalFloatingIps": limits["floating_ips"],
        "totalInstancesUsed": usage["instances"],
        "totalCoresUsed": usage["cores"],
        "totalRAMUsed": usage["ram"],
        "totalServerGroupsUsed": usage["server_groups"],
        "totalSecurityGroupsUsed": 0,
        "totalFloatingIpsUsed": 0,
    }
    if version_at_least(req, "2.36"):
        for key in ("maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps",
                    "totalSecurityGroupsUsed", "totalFloatingIpsUsed"):
            absolute.pop(key)
    if version_at_least(req, "2.39"):
        absolute.pop("maxImageMeta")
    if version_at_least(req, "2.57"):
        absolute.pop("maxPersonality")
        absolute.pop("maxPersonalitySize")
    return json_response({"limits": {"rate": [], "absolute": absolute}})
