"""``/servers``: create (records intent, hints the conductor), list, show, update, delete."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
import secrets
import uuid
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.common.timeutils import parse_isotime
from pocketstack.compute.api import block_devices, server_views
from pocketstack.compute.api.common import (
    allowed,
    auto_network,
    body,
    enforce,
    svc,
    unified_limits,
    version_at_least,
)
from pocketstack.compute.domain import (
    aggregates_view,
    flavors,
    instance_access,
    instance_actions,
    instances,
    keypairs,
    quotas,
    server_groups,
    services,
    states,
)
from pocketstack.compute.schemas import servers as schemas
from pocketstack.network.interface import PortRequest

MAX_LIMIT = 1000

STATUS_TO_VM_STATES = {
    "ACTIVE": [states.ACTIVE], "BUILD": [states.BUILDING], "SHUTOFF": [states.STOPPED],
    "PAUSED": [states.PAUSED], "SUSPENDED": [states.SUSPENDED], "ERROR": [states.ERROR],
    "VERIFY_RESIZE": [states.RESIZED], "DELETED": [states.DELETED],
    "SHELVED": [states.SHELVED], "SHELVED_OFFLOADED": [states.SHELVED_OFFLOADED],
    "RESCUE": [states.RESCUED], "SOFT_DELETED": [states.SOFT_DELETED],
    "RESIZE": [states.ACTIVE, states.STOPPED],
    "REBOOT": [states.ACTIVE], "HARD_REBOOT": [states.ACTIVE], "REBUILD": [states.ACTIVE],
}

LOG = logging.getLogger(__name__)


def _int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise exceptions.ValidationError(f"Invalid input for field/attribute {name}.") from None
    if number < 1:
        raise exceptions.ValidationError(f"Invalid input for field/attribute {name}: "
                                         "must be at least 1.")
    return number


def _ref(value: str) -> str:
    """flavorRef / imageRef may be URLs; the id is the last path segment."""
    return value.rstrip("/").rsplit("/", 1)[-1]


def _image_id(server: dict[str, Any]) -> str | None:
    """The image a server boots from (None: volume-backed, or none given)."""
    if block_devices.volume_backed(server):
        return None
    image = server.get("imageRef") or None
    for bdm in server.get("block_device_mapping_v2") or []:
        if bdm.get("source_type") == "image" and str(bdm.get("boot_index")) == "0":
            image = image or bdm.get("uuid")
    return _ref(image) if image else None


def requested_networks(req: ApiRequest, networks: Any, explicit: bool) -> list[dict[str, Any]]:
    """The ports a new server asks for, checked with networking and resolved (``auto``: the
    project's network), as ``[{network_id, port_id, fixed_ip}]`` for the conductor."""
    network = svc(req).network
    if network is None or networks == "none":
        if isinstance(networks, list) and networks:
            raise exceptions.BadRequest(
                f"Network {networks[0].get('uuid') or networks[0].get('port')} could not be "
                "found (this cloud has no networking service).")
        return []
    ctx = req.ctx
    if networks == "auto":
        default = auto_network(network, ctx, explicit)
        if default is None:
            return []
        return [{"network_id": default, "port_id": None, "fixed_ip": None}]
    out: list[dict[str, Any]] = []
    for entry in networks:
        port_id, net_id, fixed_ip = entry.get("port"), entry.get("uuid"), entry.get("fixed_ip")
        if port_id:
            if not _is_uuid(port_id):
                raise exceptions.BadRequest(f"Port id {port_id} could not be found.")
            try:
                network.validate_requests(ctx, [PortRequest(port_id=port_id)])
            except exceptions.NotFound:
                raise exceptions.BadRequest(f"Port id {port_id} could not be found.") from None
            except exceptions.Conflict:
                raise exceptions.Conflict(f"Port {port_id} is still in use.") from None
            out.append({"network_id": None, "port_id": port_id, "fixed_ip": None})
            continue
        if not net_id:
            raise exceptions.BadRequest("Bad networks format: network uuid is not in proper "
                                        f"format ({net_id})")
        if not _is_uuid(net_id):
            raise exceptions.BadRequest("Bad networks format: network uuid is not in proper "
                                        f"format ({net_id})")
        if fixed_ip is not None:
            try:
                ipaddress.ip_address(fixed_ip)
            except ValueError:
                raise exceptions.BadRequest(f"Invalid fixed IP address ({fixed_ip})") from None
        try:
            network.validate_requests(ctx, [PortRequest(network_id=net_id)])
        except exceptions.NotFound:
            raise exceptions.BadRequest(f"Network {net_id} could not be found.") from None
        out.append({"network_id": net_id, "port_id": None, "fixed_ip": fixed_ip})
    return out


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def with_addresses(req: ApiRequest, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with the addresses networking has for them (one batched read)."""
    network = svc(req).network
    if network is None or not rows:
        return rows
    found = network.instance_addresses([r["uuid"] for r in rows])
    return [dict(r, addresses=found.get(r["uuid"]) or {}) for r in rows]


def create_server(req: ApiRequest) -> Response:
    ctx = req.ctx
    service = svc(req)
    enforce(req, "os_compute_api:servers:create", {"project_id": ctx.project_id})
    data = body(req, schemas.CREATE)
    server = data["server"]
    if version_at_least(req, "2.37") and "networks" not in server:
        raise exceptions.ValidationError(
            "Invalid input for field/attribute server. 'networks' is a required property.")
    networks = server.get("networks", "auto")
    requested = requested_networks(req, networks, explicit="networks" in server)
    groups = [str(sg.get("name")) for sg in server.get("security_groups") or []
              if isinstance(sg, dict)]
    network = svc(req).network
    if requested and network is not None and set(groups) - {"default"}:
        visible = network.security_groups(ctx)
        known = {g["name"] for g in visible} | {g["id"] for g in visible}
        for name in groups:
            if name not in known:
                raise exceptions.BadRequest(
                    f"Security group {name} not found for project {ctx.project_id}.")
    min_count = _int(server.get("min_count", 1), "min_count")
    max_count = _int(server.get("max_count", min_count), "max_count")
    if min_count > max_count:
        raise exceptions.ValidationError("min_count must be <= max_count")
    if max_count > 1 and any(r["port_id"] for r in requested):
        raise exceptions.BadRequest("Unable to launch multiple instances with a single "
                                    "configured port ID. Please launch your instance one by "
                                    "one with different ports.")
    if max_count > 1 and any(r["fixed_ip"] for r in requested):
        raise exceptions.BadRequest("max_count cannot be greater than 1 if an fixed_ip is "
                                    "specified.")
    user_data = server.get("user_data")
    if user_data is not None:
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise exceptions.ValidationError("User data needs to be valid base 64.") from None
    hints = dict(data.get("os:scheduler_hints") or data.get("OS-SCH-HNT:scheduler_hints") or {})
    if isinstance(hints.get("group"), list):  # Nova takes a list's first group
        hints["group"] = hints["group"][0] if hints["group"] else None
    az = server.get("availability_zone")
    force_host = None
    if az and ":" in az:
        az, _, force_host = az.partition(":")
        force_host = force_host.split(":")[0] or None
        if force_host and not allowed(req, "os_compute_api:servers:create:forced_host"):
            raise exceptions.Forbidden("Policy doesn't allow os_compute_api:servers:create:"
                                       "forced_host to be performed.")
        az = az or None
    if server.get("host") and version_at_least(req, "2.74"):
        enforce(req, "os_compute_api:servers:create:forced_host")
        force_host = server["host"]
    image_id = _image_id(server)
    bdms = block_devices.check(ctx, service.volume, service.images, server)
    if not image_id and not block_devices.volume_backed(server):
        raise exceptions.BadRequest("Missing imageRef attribute")
    image = None
    if image_id:
        try:
            image = service.images.get_image_for_boot(ctx, image_id)
        except exceptions.NotFound:
            raise exceptions.BadRequest(f"Image {image_id} could not be found.") from None
    flavor_id = _ref(server["flavorRef"])

    def prepare(conn: Any) -> dict[str, Any]:
        try:
            flavor = flavors.get(conn, flavor_id)
        except exceptions.NotFound:
            raise exceptions.BadRequest(f"Flavor {flavor_id} could not be found.") from None
        if flavor["disabled"] or not flavors.accessible(conn, flavor, ctx.project_id,
                                                         ctx.is_admin):
            raise exceptions.BadRequest(f"Flavor {flavor_id} could not be found.")
        key_data = None
        if server.get("key_name"):
            try:
                key_data = keypairs.get(conn, ctx.user_id or "", server["key_name"])
            except exceptions.NotFound:
                raise exceptions.BadRequest("Invalid key_name provided.") from None
        if az:
            zones = {service.settings.default_availability_zone}
            for aggs in aggregates_view.by_host(conn).values():
                zones.update(a["metadata"].get("availability_zone") for a in aggs)
            if az not in zones:
                raise exceptions.BadRequest(
                    f"The requested availability zone is not available: {az}")
        group = None
        if hints.get("group"):
            try:
                group = server_groups.get(conn, hints["group"])
            except exceptions.NotFound:
                raise exceptions.BadRequest(
                    f"Invalid server group {hints['group']}: not found.") from None
        return {"flavor": flavor, "key": key_data, "group": group}

    found = service.db.read(prepare)
    flavor = found["flavor"]
    if image is not None and flavor["root_gb"] and image.min_root_gb > flavor["root_gb"]:
        if image.virtual_size and image.virtual_size > flavor["root_gb"] << 30:
            raise exceptions.BadRequest(
                f"Flavor's disk is too small for requested image. Flavor disk is "
                f"{flavor['root_gb'] << 30} bytes, image is {image.virtual_size} bytes.")
        raise exceptions.BadRequest(
            f"Flavor's disk is too small for requested image. Flavor disk is "
            f"{flavor['root_gb']} GB, the image needs {image.min_disk} GB (min_disk).")
    if image is not None and image.min_ram and flavor["memory_mb"] < image.min_ram:
        raise exceptions.BadRequest("Flavor's memory is too small for requested image.")
    snapshot = flavors.snapshot(flavor)
    admin_pass = server.get("adminPass") or secrets.token_urlsafe(9)
    if found["group"] is not None:
        hints["group"] = found["group"]["uuid"]
    internal_hints = dict(hints)
    if image is not None:
        internal_hints["_image_properties"] = dict(image.properties)
        internal_hints["_image"] = {  # what the conductor's spawn spec needs (spec.py)
            "id": image.id, "name": image.name, "disk_format": image.disk_format,
            "container_format": image.container_format, "size": image.size,
            "virtual_size": image.virtual_size, "properties": dict(image.properties),
            "path": image.path}
    if force_host:
        internal_hints["_force_host"] = force_host
    # the requester's roles: the conductor makes the ports as the requester would (an admin
    # may boot on any project's network, as Nova passes the user's context to Neutron)
    internal_hints["_roles"] = list(ctx.roles)
    base = {
        "display_name": server["name"], "description": server.get("description"),
        "project_id": ctx.project_id, "user_id": ctx.user_id,
        "image_ref": image.id if image is not None else None,
        "flavor": snapshot, "requested_az": az, "key_name": server.get("key_name"),
        "key_data": found["key"]["public_key"] if found["key"] else None,
        "user_data": user_data, "metadata": dict(server.get("metadata") or {}),
        "tags": list(server.get("tags") or []), "locked": False,
        "config_drive": "True" if str(server.get("config_drive", "")).lower() in (
            "true", "1") else "",
        "access_ip_v4": server.get("accessIPv4"), "access_ip_v6": server.get("accessIPv6"),
        "disk_config": server.get("OS-DCF:diskConfig", "MANUAL"),
        "security_groups": [sg["name"] for sg in server.get("security_groups") or []]
        or (["default"] if networks != "none" else []),
        "networks": requested,
        "addresses": {}, "block_devices": bdms,
        "scheduler_hints": internal_hints,
        "server_group": found["group"]["uuid"] if found["group"] else None,
        "admin_pass": None, "progress": 0,
    }
    vcpus, ram = snapshot["vcpus"], snapshot["ram"]
    disk = quotas.disk_gb(snapshot, image is None)
    unified = unified_limits(req)

    def write(conn: Any) -> list[dict[str, Any]]:
        count = max_count
        try:
            quotas.enforce(conn, ctx.project_id or "", ctx.user_id,
                           {"instances": count, "cores": count * vcpus, "ram": count * ram,
                            "disk": count * disk}, unified)
        except quotas.QuotaExceeded:
            if min_count == max_count:
                raise
            count = min_count  # Nova boots as many as fit between min and max
            quotas.enforce(conn, ctx.project_id or "", ctx.user_id,
                           {"instances": count, "cores": count * vcpus, "ram": count * ram,
                            "disk": count * disk}, unified)
        if base["metadata"]:
            quotas.check_metadata(conn, ctx.project_id or "", len(base["metadata"]), unified)
        rows = instances.create(conn, base, count, service.settings.build_timeout)
        for row in rows:
            action = instance_actions.start(conn, row["uuid"], "create", req.request_id,
                                            ctx.project_id or "", ctx.user_id or "")
            instance_actions.event_start(conn, action, "conductor_schedule_and_build", None)
            if found["group"] is not None:
                server_groups.add_member(conn, found["group"]["uuid"], row["uuid"], unified)
        return rows

    rows = service.db.write(write)
    for row in rows:
        LOG.info("[instance: %s] building: accepted (%s); scheduling", row["uuid"],
                 req.request_id)
        service.notify("conductor", {"op": "build", "uuid": row["uuid"]})
    if str(server.get("return_reservation_id", "")).lower() in ("true", "1"):
        return json_response({"reservation_id": rows[0]["reservation_id"]}, status=202)
    first = rows[0]
    reply: dict[str, Any] = {
        "id": first["uuid"], "links": server_views.summary(req, first)["links"],
        "OS-DCF:diskConfig": first["disk_config"], "adminPass": admin_pass,
    }
    if base["security_groups"]:
        reply["security_groups"] = [{"name": n} for n in base["security_groups"]]
    return json_response({"server": reply}, status=202,
                         headers={"Location": reply["links"][0]["href"]})


IP_FILTER_SCAN = 100_000  # servers an ip/ip6 filter looks through (one page is cut after it)


def _listing(req: ApiRequest, detailed: bool) -> Response:
    ctx = req.ctx
    service = svc(req)
    enforce(req, "os_compute_api:servers:detail" if detailed else "os_compute_api:servers:index",
            {"project_id": ctx.project_id})
    q = req.query
    all_tenants = q.get("all_tenants") is not None and q.get("all_tenants", "").lower() not in (
        "0", "false", "off", "no")
    project_id: str | None = ctx.project_id
    # As Nova: project_id/tenant_id choose a project only with all_tenants (lp:#1185290);
    # without it an admin lists its own project's servers too.
    if all_tenants:
        enforce(req, "os_compute_api:servers:detail:get_all_tenants" if detailed
                else "os_compute_api:servers:index:get_all_tenants")
        project_id = q.get("project_id") or q.get("tenant_id") or None
    filters: dict[str, Any] = {}
    if q.get("name"):
        filters["name"] = q["name"]
    if q.get("status"):
        status = q["status"].upper()
        if status not in STATUS_TO_VM_STATES:
            return json_response({"servers": []})
        filters["vm_state"] = STATUS_TO_VM_STATES[status]
    for key, column in (("image", "image_ref"), ("reservation_id", "reservation_id"),
                        ("availability_zone", "availability_zone"), ("key_name", "key_name")):
        if q.get(key):
            filters[column] = q[key].rsplit("/", 1)[-1]
    if q.get("flavor"):
        filters["flavor_id"] = q["flavor"].rsplit("/", 1)[-1]
    tags = [t for v in q.getlist("tags") for t in v.split(",") if t]
    tags_any = [t for v in q.getlist("tags-any") for t in v.split(",") if t]
    if tags:
        filters["tags"] = tags
    if tags_any:
        filters["tags_any"] = tags_any
    if ctx.is_admin:
        for key, column in (("host", "host"), ("node", "node"), ("user_id", "user_id")):
            if q.get(key):
                filters[column] = q[key]
    for key in ("changes-since", "changes-before"):
        if q.get(key):
            filters[key] = parse_isotime(q[key])
    if q.get("locked") is not None and version_at_least(req, "2.73"):
        filters["locked"] = q["locked"].lower() in ("true", "1")
    deleted = ctx.is_admin and q.get("deleted", "").lower() in ("true", "1")
    if "changes-since" in filters:
        deleted = True  # Nova lists deleted servers changed since
    sort_keys = q.getlist("sort_key") or ["created_at"]
    sort_dirs = q.getlist("sort_dir") or ["desc"]
    sort = []
    for index, key in enumerate(sort_keys):
        column = {"display_name": "display_name", "name": "display_name"}.get(key, key)
        if column not in instances.SORT_KEYS:
            raise exceptions.BadRequest(f"Invalid sort key {key}.")
        direction = sort_dirs[min(index, len(sort_dirs) - 1)].lower()
        if direction not in ("asc", "desc"):
            raise exceptions.BadRequest(f"Invalid sort direction {direction}.")
        sort.append((column, direction))
    limit = MAX_LIMIT  # as Nova's [api] max_limit: big listings come in pages
    if q.get("limit") is not None:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise exceptions.BadRequest("limit must be an integer") from None
        if limit < 0:
            raise exceptions.BadRequest("limit must be >= 0")
        limit = min(limit, MAX_LIMIT)

    # ``ip``/``ip6``: regular expressions matched against the servers' fixed addresses, which
    # networking holds (Nova filters after its database query too)
    by_ip: dict[int, re.Pattern[str]] = {}
    for version, key in ((4, "ip"), (6, "ip6")):
        if q.get(key) and service.network is not None:
            try:
                by_ip[version] = re.compile(q[key])
            except re.error:
                raise exceptions.BadRequest(f"Invalid {key} filter: {q[key]!r}") from None

    def read(conn: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        rows = instances.list_(conn, project_id=project_id, filters=filters, sort=sort,
                               limit=IP_FILTER_SCAN if by_ip else limit,
                               marker=q.get("marker"), deleted=deleted)
        by_host = services.compute_services_by_host(conn) if detailed and ctx.is_admin else {}
        return rows, by_host  # (Nova lists no server_groups, even at 2.71+)

    rows, by_host = service.db.read(read)
    if by_ip:
        rows = [r for r in with_addresses(req, rows) if any(
            a.get("version") in by_ip and by_ip[a["version"]].match(str(a.get("addr", "")))
            for addrs in r["addresses"].values() for a in addrs
            if a.get("OS-EXT-IPS:type", "fixed") == "fixed")]
    more = len(rows) > limit
    rows = rows[:limit]
    if detailed and not by_ip:
        rows = with_addresses(req, rows)
        items = [server_views.detail(req, r, ctx.is_admin, by_host.get(r["host"] or ""),
                                     service.settings.service_down_time, view="list")
                 for r in rows]
    else:
        items = [server_views.summary(req, r) for r in rows]
    out: dict[str, Any] = {"servers": items}
    if more and rows:
        params = [(k, v) for k, v in q.multi_items() if k != "marker"]
        params.append(("marker", rows[-1]["uuid"]))
        from urllib.parse import urlencode

        out["servers_links"] = [{"rel": "next",
                                 "href": f"{req.url_for(req.path)}?{urlencode(params)}"}]
    return json_response(out)


def list_servers(req: ApiRequest) -> Response:
    return _listing(req, detailed=False)


def list_servers_detail(req: ApiRequest) -> Response:
    return _listing(req, detailed=True)


def load(req: ApiRequest, conn: Any, uuid: str | None = None) -> dict[str, Any]:
    ctx = req.ctx
    return instance_access.load_instance(conn, ctx.project_id, ctx.is_admin,
                                         uuid or req.path_params["server_id"])


def show_server(req: ApiRequest) -> Response:
    ctx = req.ctx
    service = svc(req)

    def read(conn: Any) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
        row = load(req, conn)
        svc_row = services.compute_service_of(conn, row["host"])
        return row, svc_row, server_groups.group_of(conn, row["uuid"])

    row, svc_row, group = service.db.read(read)
    enforce(req, "os_compute_api:servers:show", {"project_id": row["project_id"]})
    row = with_addresses(req, [row])[0]
    return json_response({"server": server_views.detail(
        req, row, ctx.is_admin, svc_row, service.settings.service_down_time, group)})


def update_server(req: ApiRequest) -> Response:
    ctx = req.ctx
    service = svc(req)
    data = validate(schemas.UPDATE, req.json())["server"]
    if "description" in data and not version_at_least(req, "2.19"):
        raise exceptions.ValidationError("Additional properties are not allowed ('description' "
                                         "was unexpected)")
    changes: dict[str, Any] = {}
    for key, column in (("name", "display_name"), ("description", "description"),
                        ("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6"),
                        ("OS-DCF:diskConfig", "disk_config"), ("hostname", "hostname")):
        if key in data:
            changes[column] = data[key]

    def write(conn: Any) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
        row = load(req, conn)
        enforce(req, "os_compute_api:servers:update", {"project_id": row["project_id"]})
        if row["locked"] and not ctx.is_admin:
            raise exceptions.Conflict(f"Instance {row['uuid']} is locked")
        row = instances.update(conn, row, changes) if changes else row
        svc_row = services.compute_service_of(conn, row["host"])
        return row, svc_row, server_groups.group_of(conn, row["uuid"])

    row, svc_row, group = instances.write_checked(service.db, write)
    row = with_addresses(req, [row])[0]
    return json_response({"server": server_views.detail(
        req, row, ctx.is_admin, svc_row, service.settings.service_down_time, group,
        view="update")})


def delete_server(req: ApiRequest) -> Response:
    start_delete(req, "os_compute_api:servers:delete",
                 soft=svc(req).options.reclaim_instance_interval > 0)
    return empty_response(204)


def start_delete(req: ApiRequest, rule: str, soft: bool = False) -> None:
    """Delete the server now, or with ``soft`` (``reclaim_instance_interval`` set) put it in
    SOFT_DELETED: powered off, resources kept until it is restored or reclaimed. As Nova, a
    server that never ran, or has a task in flight, is deleted for good even then."""
    ctx = req.ctx
    service = svc(req)

    def write(conn: Any) -> dict[str, Any]:
        row = load(req, conn)
        enforce(req, rule, {"project_id": row["project_id"]})
        if row["locked"] and not ctx.is_admin:
            raise exceptions.Conflict(f"Instance {row['uuid']} is locked")
        if row["task_state"] == states.DELETING:
            return row
        if soft and row["vm_state"] == states.SOFT_DELETED and row["task_state"] is None:
            return row  # deleted already: the reclaim (or forceDelete) removes it
        event = "compute_terminate_instance"
        if soft and row["task_state"] is None and row["launched_at"] is not None:
            updated = instances.mark_soft_deleting(conn, row, service.settings.task_timeout)
            event = "compute_soft_delete_instance"
        else:
            updated = instances.mark_deleting(conn, row, service.settings.task_timeout)
        action = instance_actions.start(conn, row["uuid"], "delete", req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.event_start(conn, action, event, row["host"])
        return updated

    row = instances.write_checked(service.db, write)
    LOG.info("[instance: %s] %s: accepted (%s)", row["uuid"], row["task_state"],
             req.request_id)
    service.notify("conductor", {"op": "delete", "uuid": row["uuid"]})
