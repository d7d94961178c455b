"""``/metadata``: the instance metadata service, as Nova's metadata API behind Neutron's proxy.

Not in the catalog. Every request comes from a metadata proxy
(:mod:`pocketstack.agents.network.metadata`) and names its instance: ``X-Instance-ID``, its
``X-Instance-ID-Signature`` (hex HMAC-SHA256 with the shared secret, else 403),
``X-Tenant-ID`` (the instance's project, else 404) and ``X-Forwarded-For`` (the guest's
address). Everything is read-only (``GET``/``HEAD``) but ``POST /openstack/<version>/password``,
where a guest leaves its password once for ``GET /servers/{id}/os-server-password``. Answers
are text as Nova's: listings one entry a line, directories with a trailing ``/``; ``*.json``
files are JSON. The trees themselves are built by
:mod:`pocketstack.compute.api.metadata_content`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from pocketstack.common.metadata_secret import verify
from pocketstack.compute.api import metadata_content as content
from pocketstack.compute.domain import instances
from pocketstack.compute.domain import metadata as domain

if TYPE_CHECKING:
    from pocketstack.compute.service import ComputeService

LOG = logging.getLogger(__name__)

TEXT = "text/plain; charset=UTF-8"
#: the longest password a guest may post: Nova takes 4 × 255 characters, Pocketstack keeps it
#: in the instance's 255-character ``admin_pass`` column
PASSWORD_MAX = 255
JSON = "application/json"


class Answer(Exception):
    """An HTTP answer other than 200 (plain text, as webob words them in Nova)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _not_found() -> Answer:
    return Answer(404, "404 Not Found\n\nThe resource could not be found.\n")


class MetadataApp:
    """The ASGI app mounted at ``/metadata``."""

    def __init__(self, service: ComputeService, secret: str) -> None:
        self.service = service
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("pocketstack.subpath", scope["path"])
        headers = Headers(scope=scope)
        try:
            data = await _read_body(receive) if scope["method"] == "POST" else b""
            body, media_type = await anyio.to_thread.run_sync(
                self.answer, scope["method"], path, headers, data)
            response = Response(body, 200, media_type=media_type)
        except Answer as exc:
            response = Response(exc.text, exc.status, media_type=TEXT)
        except Exception:  # a bug: logged, answered 500 as Nova does
            LOG.exception("metadata: %s %s failed", scope["method"], path)
            response = Response("500 Internal Server Error\n", 500, media_type=TEXT)
        await response(scope, receive, send)

    # -- one request, in a worker thread ----------------------------------------------------
    def answer(self, method: str, path: str, headers: Headers,
               data: bytes = b"") -> tuple[bytes, str]:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and _is_password(parts):
            self.post_password(self.facts(headers), data)
            return b"", TEXT
        if method not in ("GET", "HEAD"):
            raise Answer(405, "405 Method Not Allowed\n")
        facts = self.facts(headers)
        return self.lookup(facts, parts)

    def post_password(self, facts: content.InstanceFacts, data: bytes) -> None:
        """A guest sets its password once (409 while one is set; the owner clears it with
        ``DELETE /servers/{id}/os-server-password``)."""
        if facts.row.get("admin_pass"):
            raise Answer(409, "409 Conflict\n\nThere was a conflict when trying to complete "
                              "your request.\n")
        if len(data) > PASSWORD_MAX:
            raise Answer(400, "400 Bad Request\n\nRequest is too large.\n")
        try:
            password = data.decode()
        except UnicodeDecodeError:
            raise Answer(400, "400 Bad Request\n\nThe password is not UTF-8.\n") from None
        uuid = facts.row["uuid"]

        def write(conn: Any) -> None:
            row = domain.instance_view(conn, uuid)
            if row is None:
                raise _not_found()
            if row.get("admin_pass"):
                raise Answer(409, "409 Conflict\n")
            instances.update(conn, row, {"admin_pass": password})

        self.service.db.write(write)

    def facts(self, headers: Headers) -> content.InstanceFacts:
        instance_id = headers.get("x-instance-id")
        if not instance_id:
            raise Answer(400, "X-Instance-ID header is missing from request.")
        signature = headers.get("x-instance-id-signature") or ""
        if not verify(self.secret, instance_id, signature):
            LOG.warning("metadata: bad signature for instance %s from %s", instance_id,
                        headers.get("x-forwarded-for"))
            raise Answer(403, "Invalid proxy request signature.")
        tenant_id = headers.get("x-tenant-id")
        if not tenant_id:
            raise Answer(400, "X-Tenant-ID header is missing from request.")
        row = self.service.db.read(domain.instance_view, instance_id)
        if row is None or row["project_id"] != tenant_id:
            raise _not_found()
        facts = content.InstanceFacts(row, security_groups=list(row.get("security_groups") or []))
        network = self.service.network
        if network is not None:
            facts.ports = network.instance_ports(instance_id)
            addresses = network.instance_addresses([instance_id]).get(instance_id, {})
            facts.floating_ips = [a["addr"] for entries in addresses.values() for a in entries
                                  if a.get("OS-EXT-IPS:type") == "floating"
                                  and a.get("version", 4) == 4]
        return facts

    def lookup(self, facts: content.InstanceFacts, parts: list[str]) -> tuple[bytes, str]:
        if not parts:
            return _lines([*content.EC2_VERSIONS, "latest"])
        if parts[0] == "openstack":
            return self._openstack(facts, parts[1:])
        version = parts[0]
        if version != "latest" and version not in content.EC2_VERSIONS:
            raise _not_found()
        node: Any = content.ec2_tree(facts, version)
        for part in parts[1:]:
            if not isinstance(node, dict) or part not in node or part == "_name":
                raise _not_found()
            node = node[part]
        if isinstance(node, dict):
            return content.ec2_listing(node).encode(), TEXT
        return content.render(node, json_file=False), TEXT

    def _openstack(self, facts: content.InstanceFacts, parts: list[str]) -> tuple[bytes, str]:
        if not parts:
            return _lines([*content.OPENSTACK_VERSIONS, "latest"])
        version = parts[0]
        if version != "latest" and version not in content.OPENSTACK_VERSIONS:
            raise _not_found()
        if len(parts) == 1:
            return _lines(content.openstack_listing(facts, version))
        files = content.openstack_files(facts, version)
        if len(parts) > 2 or parts[1] not in files:
            raise _not_found()
        json_file = parts[1].endswith(".json")
        return content.render(files[parts[1]], json_file), JSON if json_file else TEXT


def _is_password(parts: list[str]) -> bool:
    """``/openstack/<version>/password`` of a version that has it (Grizzly on)."""
    return (len(parts) == 3 and parts[0] == "openstack" and parts[2] == "password"
            and (parts[1] == "latest" or parts[1] in content.OPENSTACK_VERSIONS)
            and content.has_password(parts[1]))


async def _read_body(receive: Receive) -> bytes:
    """The request body, read up to one byte past :data:`PASSWORD_MAX` (the only thing
    posted here is a password)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk[:PASSWORD_MAX + 1 - size])
        size += len(chunks[-1])
        if not message.get("more_body") or size > PASSWORD_MAX:
            break
    return b"".join(chunks)


def _lines(items: list[str]) -> tuple[bytes, str]:
    return "\n".join(items).encode(), TEXT
