"""Both URL forms of Cinder v3: ``/v3/{project_id}/volumes`` (the project in the path, as
devstack's catalog has it) and ``/v3/volumes`` (3.67). The project segment is stripped before
routing, so the route table has one line per resource; it must be the token's project unless
the caller is an admin (Cinder answers 400 "Malformed request url" otherwise)."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

#: first path segments after /v3 that are resources, not project ids
RESOURCES = frozenset({
    "volumes", "snapshots", "types", "os-quota-sets", "os-quota-class-sets", "limits",
    "os-availability-zone", "os-services", "extensions", "attachments", "backups",
    "os-volume-transfer", "volume-transfers", "groups", "group_types", "group_snapshots",
    "qos-specs", "scheduler-stats", "messages", "workers", "capabilities", "os-hosts",
    "manageable_volumes", "manageable_snapshots", "clusters", "default-types",
    "consistencygroups", "cgsnapshots", "resource_filters", "os-snapshot-manage",
    "os-volume-manage"})
#: the project id taken from the path, handed to the handlers (a client's own is dropped)
URL_PROJECT = b"x-pocketstack-url-project"
_PROJECT = re.compile(r"^/v3/([^/]+)(/.*)?$")


class ProjectPaths:
    """ASGI wrapper: ``/v3/<project>/<rest>`` → ``/v3/<rest>`` (see module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("pocketstack.subpath", scope.get("path", ""))
            m = _PROJECT.match(path)
            if m and m.group(1) not in RESOURCES and m.group(2) not in (None, "/"):
                scope = dict(scope)
                scope["pocketstack.subpath"] = "/v3" + (m.group(2) or "")
                headers = [(k, v) for k, v in scope.get("headers", []) if k != URL_PROJECT]
                headers.append((URL_PROJECT, m.group(1).encode("latin-1", "replace")))
                scope["headers"] = headers
            else:
                scope = dict(scope)
                scope["headers"] = [(k, v) for k, v in scope.get("headers", [])
                                    if k != URL_PROJECT]
        await self.app(scope, receive, send)
