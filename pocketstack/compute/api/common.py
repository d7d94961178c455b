"""Helpers shared by Nova handlers: the service, policy, bodies, links."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest
from pocketstack.common.api.validation import validate

if TYPE_CHECKING:
    from pocketstack.common.context import RequestContext
    from pocketstack.compute.domain.quotas import Unified
    from pocketstack.compute.service import ComputeService
    from pocketstack.network.interface import NetworkAPI


def svc(req: ApiRequest) -> ComputeService:
    return req.state["compute"]  # type: ignore[no-any-return]


def unified_limits(req: ApiRequest, project_id: str | None = None,
                   defaults: bool = False) -> Unified | None:
    """The unified limits (``quota_driver = unified_limits``) of a project (by default the
    caller's; ``defaults``: the registered defaults), else None. Read before the write
    transaction that enforces them."""
    service = svc(req)
    if service.settings.quota_driver != "unified_limits":
        return None
    if defaults:
        return service.unified_limits(None)
    return service.unified_limits(project_id if project_id is not None
                                  else req.ctx.project_id or "")


def server_owner_limits(req: ApiRequest) -> Unified | None:
    """Unified limits of the project owning the server in the path (None: not in that mode)."""
    service = svc(req)
    if service.settings.quota_driver != "unified_limits":
        return None
    from pocketstack.compute.domain import instance_access

    def owner(conn: Any) -> str:
        return str(instance_access.load_instance(
            conn, req.ctx.project_id, req.ctx.is_admin,
            req.path_params["server_id"])["project_id"])

    return service.unified_limits(service.db.read(owner))


def enforce(req: ApiRequest, rule: str, target: dict[str, Any] | None = None) -> None:
    svc(req).policy.enforce(req.ctx, rule, target)


def allowed(req: ApiRequest, rule: str, target: dict[str, Any] | None = None) -> bool:
    return svc(req).policy.allowed(req.ctx, rule, target)


def body(req: ApiRequest, schema: dict[str, Any]) -> dict[str, Any]:
    data = validate(schema, req.json())
    if not isinstance(data, dict):
        raise exceptions.ValidationError("The request body must be a JSON object.")
    return data


def version_at_least(req: ApiRequest, version: str) -> bool:
    return req.microversion is not None and req.microversion.at_least(version)


def link(req: ApiRequest, kind: str, ident: Any) -> list[dict[str, str]]:
    """Nova's self + bookmark links for /v2.1/{kind}/{id}."""
    base = req.base_url  # http://h/compute/v2.1
    root = base[: -len("/v2.1")] if base.endswith("/v2.1") else base
    return [{"rel": "self", "href": f"{base}/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{root}/{kind}/{ident}"}]


def auto_network(network: NetworkAPI, ctx: RequestContext, explicit: bool) -> str | None:
    """The one network ``networks: auto`` (or no ``networks``) means for the caller: its own
    network, else the one shared network. Several: Nova's 409, naming them so the user can
    pick. None: with ``explicit`` (``auto`` asked for) Nova's 400, else no network."""
    candidates = network.auto_networks(ctx)
    if len(candidates) > 1:
        raise exceptions.Conflict(
            "More than one possible network found. Specify network ID(s) to select which "
            f"one(s) to connect to. (Candidates: {', '.join(candidates)}.)")
    if candidates:
        return candidates[0]
    if explicit:
        raise exceptions.BadRequest(
            f"Unable to automatically allocate a network for project {ctx.project_id}")
    return None
