"""``/v2/cache``: Glance's cache management API for the API node's image cache (listed,
queued, deleted, cleared), admin-only by default. Without ``image_cache`` every call is 404,
as Glance answers where no cache is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.image.api.common import enforce, svc
from pocketstack.image.domain import images

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pocketstack.image.cache import ImageCache

TARGETS = ("", "cache", "queue")


def _cache(req: ApiRequest, rule: str, target: dict[str, Any] | None = None) -> ImageCache:
    enforce(req, rule, target or {})
    cache = svc(req).cache
    if cache is None:
        raise exceptions.NotFound("Caching via API is not supported at this site.")
    return cache


def _image(req: ApiRequest) -> dict[str, Any] | None:
    image_id = req.path_params["image_id"]

    def read(conn: Connection) -> dict[str, Any] | None:
        try:
            return images.get_visible(conn, req.ctx, image_id)
        except exceptions.NotFound:
            return None

    return svc(req).db.read(read)  # type: ignore[no-any-return]


def _target(req: ApiRequest, image: dict[str, Any] | None) -> dict[str, Any]:
    return images.policy_target(image, req.ctx) if image is not None else {}


def state(req: ApiRequest) -> Response:
    cache = _cache(req, "cache_list")
    return json_response({"cached_images": cache.cached_images(),
                          "queued_images": cache.queued_images()})


def queue(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]
    image = _image(req)
    if image is None:
        raise exceptions.NotFound(f"Image {image_id} not found.")
    cache = _cache(req, "cache_image", _target(req, image))
    if image["status"] != "active":
        raise exceptions.BadRequest("Only images with status active can be targeted for "
                                    "queueing")
    if cache.queue(image_id):
        prefetcher = svc(req).prefetcher
        if prefetcher is not None:
            prefetcher.wake.set()
    return empty_response(202)


def delete_entry(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]
    image = _image(req)
    cache = svc(req).cache
    if image is None and (cache is None or not (cache.is_cached(image_id)
                                                or cache.is_queued(image_id))):
        raise exceptions.NotFound(f"Image {image_id} not found.")
    cache = _cache(req, "cache_delete", _target(req, image))
    cache.delete(image_id)
    return empty_response(204)


def clear(req: ApiRequest) -> Response:
    cache = _cache(req, "cache_delete")
    target = req.headers.get("x-image-cache-clear-target", "").lower()
    if target not in TARGETS:
        raise exceptions.BadRequest("If provided 'x-image-cache-clear-target' must be "
                                    "'cache', 'queue' or empty string.")
    if target in ("", "cache"):
        cache.clear_cache()
    if target in ("", "queue"):
        cache.clear_queue()
    return empty_response(204)
