"""The ``metadata`` subresource of volumes and snapshots: one set of handlers, told by a
:class:`Owner` which resource it belongs to (its path parameter, domain functions and policy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import ctx, metadata, svc


@dataclass(frozen=True)
class Owner:
    label: str  # "Volume", "Snapshot": in messages
    id_param: str  # the path parameter naming it
    get: Callable[..., dict[str, Any]]  # domain get(conn, id, project_id, is_admin)
    set_metadata: Callable[..., dict[str, str]]  # (conn, row, items, replace=)
    delete_metadata: Callable[..., Any]  # (conn, row, key)
    write_rule: str  # policy for changes
    read_rule: str | None = None  # policy for reading the whole set, if any
    too_many_apart: bool = False  # "too many items" told apart from a key mismatch

    def _row(self, req: ApiRequest, conn: Any) -> dict[str, Any]:
        c = ctx(req)
        return self.get(conn, req.path_params[self.id_param], c.project_id, c.is_admin)

    def _writable(self, req: ApiRequest, conn: Any) -> dict[str, Any]:
        row = self._row(req, conn)
        svc(req).enforce(ctx(req), self.write_rule, {"project_id": row["project_id"]})
        return row

    def show(self, req: ApiRequest) -> Response:
        row = svc(req).db.read(lambda conn: self._row(req, conn))
        if self.read_rule is not None:
            svc(req).enforce(ctx(req), self.read_rule, {"project_id": row["project_id"]})
        return json_response({"metadata": dict(row["metadata"])})

    def write(self, req: ApiRequest, replace: bool) -> Response:
        data = req.json()
        if not isinstance(data, dict) or "metadata" not in data:
            raise errors.bad("Malformed request body: 'metadata' is required.")
        new = metadata(data["metadata"])
        return json_response({"metadata": svc(req).db.write(
            lambda conn: self.set_metadata(conn, self._writable(req, conn), new,
                                           replace=replace))})

    def show_item(self, req: ApiRequest) -> Response:
        row = svc(req).db.read(lambda conn: self._row(req, conn))
        key = req.path_params["key"]
        if key not in row["metadata"]:
            raise exceptions.NotFound(
                f"{self.label} {row['id']} has no metadata with key {key}.")
        return json_response({"meta": {key: row["metadata"][key]}})

    def update_item(self, req: ApiRequest) -> Response:
        key = req.path_params["key"]
        data = req.json()
        item = metadata(data.get("meta") if isinstance(data, dict) else None, "meta")
        if self.too_many_apart and len(item) != 1:
            raise errors.bad("Request body contains too many items.")
        if len(item) != 1 or key not in item:
            raise errors.bad("Request body and URI mismatch")
        svc(req).db.write(lambda conn: self.set_metadata(
            conn, self._writable(req, conn), item, replace=False))
        return json_response({"meta": item})

    def delete_item(self, req: ApiRequest) -> Response:
        svc(req).db.write(lambda conn: self.delete_metadata(
            conn, self._writable(req, conn), req.path_params["key"]))
        return empty_response(200)
