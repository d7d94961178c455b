"""Image data: upload (``PUT /file``), download with ranges (``GET /file``), stage and
glance-direct import, and the image's import tasks.

Uploads stream: chunks go from the socket to a worker thread that counts, hashes, inspects and
writes them, a batch at a time, so memory stays bounded whatever the image size. A failed upload
(client gone, short body, quota, format mismatch, unsafe image) aborts the store write and puts
the image back to ``queued``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from starlette.responses import Response, StreamingResponse

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.image import schemas
from pocketstack.image.api.common import enforce, svc, task_view
from pocketstack.image.api.schemas import IMPORT_METHODS
from pocketstack.image.domain import images, imports, tasks
from pocketstack.image.domain.data import UploadPipeline
from pocketstack.image.service import ImageService

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

LOG = logging.getLogger(__name__)

#: bytes gathered from the socket before a worker-thread hop
BATCH = 1 << 20
UPLOAD_TYPES = ("application/octet-stream",)


# -- upload and stage --------------------------------------------------------------------------
def _content_length(req: ApiRequest) -> int | None:
    raw = req.headers.get("content-length")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.BadRequest("Invalid Content-Length header.") from None
    if value < 0:
        raise exceptions.BadRequest("Invalid Content-Length header.")
    return value


def _begin(req: ApiRequest, service: ImageService, image_id: str, stage: bool,
           length: int | None) -> images.UploadGrant:
    quotas = service.quotas_for_image(image_id)

    def write(conn: Connection) -> images.UploadGrant:
        image = images.get_visible(conn, req.ctx, image_id)
        enforce(req, "upload_image", images.policy_target(image, req.ctx))
        grant = images.begin_upload(conn, image_id, stage, quotas)
        if length is not None and 0 <= grant.max_bytes < length:
            raise exceptions.PayloadTooLarge(grant.limit_reason)
        return grant

    return service.db.write(write)  # type: ignore[no-any-return]


async def _pump(req: ApiRequest, pipeline: UploadPipeline, length: int | None) -> None:
    assert req.receive is not None
    batch: list[bytes] = []
    pending = 0
    while True:
        message = await req.receive()
        if message["type"] == "http.disconnect":
            raise exceptions.BadRequest("The client disconnected before the upload finished; "
                                        "the partial data was discarded.")
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        if chunk:
            batch.append(chunk)
            pending += len(chunk)
        if pending >= BATCH or (not more and batch):
            await anyio.to_thread.run_sync(pipeline.feed_batch, batch)
            batch, pending = [], 0
        if not more:
            break
    if length is not None and pipeline.size != length:
        raise exceptions.BadRequest(f"Upload truncated: got {pipeline.size} of {length} "
                                    "bytes; the partial data was discarded.")


async def _receive_data(req: ApiRequest, stage: bool) -> Response:
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in UPLOAD_TYPES:
        raise exceptions.UnsupportedMediaType(
            f"Unsupported Content-Type {content_type or '(none)'!r}; image data must be sent "
            "as application/octet-stream.")
    service = svc(req)
    image_id = req.path_params["image_id"]
    length = _content_length(req)
    grant = await anyio.to_thread.run_sync(_begin, req, service, image_id, stage, length)
    pipeline: UploadPipeline | None = None
    location: str | None = None
    try:
        writer = await anyio.to_thread.run_sync(service.store.writer, image_id, stage)
        pipeline = UploadPipeline(grant, writer, service.options.image_require_format_match)
        await _pump(req, pipeline, length)
        if stage:
            facts = await anyio.to_thread.run_sync(_stage_facts, pipeline)
            location = await anyio.to_thread.run_sync(pipeline.writer.commit)
        else:
            location, facts = await anyio.to_thread.run_sync(pipeline.commit)
        await anyio.to_thread.run_sync(
            service.db.write, images.finish_upload, grant, location, facts,
            service.quotas_for(grant.owner),
            stage)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_roll_back, service, grant, pipeline, location)
        raise
    return empty_response()


def _stage_facts(pipeline: UploadPipeline) -> dict[str, Any]:
    """Facts of staged data; a format problem is recorded and fails the import later."""
    try:
        return pipeline.facts()
    except exceptions.BadRequest as exc:
        facts = pipeline.facts(enforce=False)
        facts["format_error"] = exc.message
        return facts


def _roll_back(service: ImageService, grant: images.UploadGrant,
               pipeline: UploadPipeline | None, location: str | None) -> None:
    try:
        if pipeline is not None:
            pipeline.abort()
        if location is not None:
            service.store.delete(location)
    finally:
        service.db.write(images.abort_upload, grant)


async def upload_file(req: ApiRequest) -> Response:
    return await _receive_data(req, stage=False)


async def stage_file(req: ApiRequest) -> Response:
    return await _receive_data(req, stage=True)


# -- download ----------------------------------------------------------------------------------
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """(start, end inclusive) of a single byte range; 416 when unsatisfiable."""

    def unsatisfiable() -> exceptions.RangeNotSatisfiable:
        exc = exceptions.RangeNotSatisfiable(f"Requested range {header!r} not satisfiable.")
        exc.headers["Content-Range"] = f"bytes */{size}"
        return exc

    m = _RANGE.match(header.strip().replace(" ", ""))
    if m is None or (not m.group(1) and not m.group(2)):
        raise unsatisfiable()
    first, last = m.group(1), m.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise unsatisfiable()
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise unsatisfiable()
    return start, min(end, size - 1)


def download_file(req: ApiRequest) -> Response:
    service = svc(req)
    image_id = req.path_params["image_id"]

    def read(conn: Connection) -> dict[str, Any]:
        image = images.get_visible(conn, req.ctx, image_id)
        enforce(req, "download_image", images.policy_target(image, req.ctx))
        return image

    image = service.db.read(read)
    if image["status"] == "deactivated" and not req.ctx.is_admin:
        raise exceptions.Forbidden("The requested image has been deactivated. Image data "
                                   "download is forbidden.")
    if not image["location"] or image["status"] not in ("active", "deactivated"):
        return empty_response(204)
    cached = service.cache.size(image_id) if service.cache is not None else None
    size = cached if cached is not None else service.store.size(image["location"])

    def data(offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if cached is not None and service.cache is not None:  # served by the node's cache
            served = service.cache.read(image_id, offset, length)
            if served is not None:
                return served
        return service.store.get(image["location"], offset, length)

    headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
    range_header = req.headers.get("range")
    if range_header:
        start, end = _parse_range(range_header, size)
        length = end - start + 1
        body: Iterator[bytes] = data(start, length)
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(length)
        return StreamingResponse(body, status_code=206, headers=headers)
    if image["checksum"]:
        headers["Content-MD5"] = image["checksum"]
    headers["Content-Length"] = str(size)
    return StreamingResponse(data(), status_code=200, headers=headers)


# -- glance-direct import ----------------------------------------------------------------------
def import_image(req: ApiRequest) -> Response:
    service = svc(req)
    image_id = req.path_params["image_id"]
    body = validate(schemas.IMPORT_REQUEST, req.json())
    method = body["method"]["name"]
    if method not in IMPORT_METHODS:
        raise exceptions.BadRequest(f"Import method {method} is not valid; this cloud "
                                    f"supports {', '.join(IMPORT_METHODS)}.")
    stores = body.get("stores")
    if stores and any(s != service.store.name for s in stores):
        raise exceptions.BadRequest(f"Unknown store(s) {stores}; this cloud has one store.")

    def start(conn: Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        image = images.get_visible(conn, req.ctx, image_id)
        enforce(req, "import_image", images.policy_target(image, req.ctx))
        return imports.start(conn, image, method, service.store.name, req.ctx.user_id,
                             req.request_id)

    image, task = service.db.write(start)
    staged = image["staged"]
    if staged.get("format_error"):
        _fail_import(service, image, task, staged["format_error"])
        return json_response({}, status=202)
    try:
        location = service.store.promote(staged["location"], image_id)
    except Exception as exc:  # the store failed: the import task fails, the image stays
        LOG.exception("import of %s failed", image_id)
        _fail_import(service, image, task, f"Store failure: {exc}")
        return json_response({}, status=202)

    try:
        service.db.write(imports.finish, image_id, task["id"], location, staged)
    except exceptions.NotFound:
        service.store.delete(location)
    return json_response({}, status=202)


def _fail_import(service: ImageService, image: dict[str, Any], task: dict[str, Any],
                 message: str) -> None:
    service.store.delete(image["staged"]["location"])

    service.db.write(imports.fail, image["id"], task["id"], service.store.name, message)


def list_tasks(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]

    def read(conn: Connection) -> list[dict[str, Any]]:
        image = images.get_visible(conn, req.ctx, image_id)
        enforce(req, "get_image_tasks", images.policy_target(image, req.ctx))
        return tasks.list_for_image(conn, image_id)

    found = svc(req).db.read(read)
    return json_response({"tasks": [task_view(t) for t in found]})
