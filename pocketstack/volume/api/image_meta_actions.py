"""The volume image metadata actions: ``os-set_image_metadata``, ``os-unset_image_metadata``
and ``os-show_image_metadata`` (the ``volume_image_metadata`` a volume from an image carries)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import metadata, text, volume_write
from pocketstack.volume.domain import volumes


def set_image_metadata(req: ApiRequest, arg: Any) -> Response:
    if not isinstance(arg, dict) or "metadata" not in arg:
        raise errors.bad("Malformed request body: 'metadata' is required.")
    new = metadata(arg["metadata"])

    def write(conn: Any, row: dict[str, Any]) -> dict[str, str]:
        merged = {**row["image_metadata"], **new}
        volumes.update(conn, row, {"image_metadata": merged})
        return merged

    return json_response({"metadata": volume_write(
        req, "volume_extension:volume_image_metadata:set", write)})


def unset_image_metadata(req: ApiRequest, arg: Any) -> Response:
    key = text(arg.get("key") if isinstance(arg, dict) else None, "key")
    if not key:
        raise errors.bad("Malformed request body: 'key' is required.")

    def write(conn: Any, row: dict[str, Any]) -> None:
        meta = dict(row["image_metadata"])
        if key not in meta:
            raise exceptions.NotFound(f"Glance metadata for volume {row['id']} with key "
                                      f"{key} could not be found.")
        meta.pop(key)
        volumes.update(conn, row, {"image_metadata": meta})

    volume_write(req, "volume_extension:volume_image_metadata:remove", write)
    return empty_response(200)


def show_image_metadata(req: ApiRequest, arg: Any) -> Response:
    return json_response({"metadata": volume_write(
        req, "volume_extension:volume_image_metadata:show",
        lambda conn, row: dict(row["image_metadata"]))})
