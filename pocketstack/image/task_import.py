"""The legacy ``import`` task (``POST /v2/tasks``): register an image and fill it with data
downloaded from an http(s) URL.

``POST /v2/tasks`` records a queued image and a pending task in one transaction and starts
:func:`run` in a thread of its own. The download goes through the same pipeline as an upload
(hashes, format inspection, quotas, the store). On success the image is active and the task's
result names it; on failure the task says why and the image is deleted, as Glance does. Tasks a
restart cut short are run again when the service starts.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pocketstack.common import exceptions
from pocketstack.image.domain import images, tasks
from pocketstack.image.domain.data import UploadPipeline

if TYPE_CHECKING:
    from pocketstack.image.service import ImageService

LOG = logging.getLogger(__name__)
CHUNK = 1 << 20
TIMEOUT = 60.0


def check_source(url: Any, allowed_ports: str) -> str:
    """The ``import_from`` URL if it passes the import filter (http/https, allowed port)."""
    if not isinstance(url, str) or not url:
        raise exceptions.BadRequest("Input does not contain 'import_from' field")
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = -1
    ports = {int(p) for p in allowed_ports.split(",") if p.strip()}
    if parts.scheme not in ("http", "https") or not parts.hostname or (
            ports and port not in ports):
        raise exceptions.BadRequest(
            f"URI for legacy import task does not pass filtering: {url}")
    return url


def start(svc: ImageService, task_id: str) -> None:
    threading.Thread(target=run, args=(svc, task_id), name=f"image-import-{task_id[:8]}",
                     daemon=True).start()


def run(svc: ImageService, task_id: str) -> None:
    """Download, store and activate; any failure fails the task and removes the image."""
    if not svc.db.write(tasks.mark_processing, task_id):
        return
    task = svc.db.read(tasks.get, task_id, None, True)
    image_id = task["image_id"]
    try:
        grant = svc.db.write(images.begin_upload, image_id, False,
                             svc.quotas_for_image(image_id))
    except exceptions.PocketstackError as exc:
        _fail(svc, task_id, image_id, f"Image {image_id} cannot take data: {exc.message}")
        return
    pipeline: UploadPipeline | None = None
    location: str | None = None
    try:
        pipeline = UploadPipeline(grant, svc.store.writer(image_id, False),
                                  svc.options.image_require_format_match)
        _download(task["input"]["import_from"], svc.settings.image_import_allowed_ports,
                  pipeline)
        location, facts = pipeline.commit()
        svc.db.write(_finish, grant, location, facts, svc.quotas_for(grant.owner), task_id)
    except Exception as exc:  # noqa: BLE001 - any failure is the task's failure
        message = exc.message if isinstance(exc, exceptions.PocketstackError) else (
            f"{type(exc).__name__}: {exc}")
        if pipeline is not None and location is None:
            pipeline.abort()
        if location is not None:
            svc.store.delete(location)
        svc.db.write(images.abort_upload, grant)
        _fail(svc, task_id, image_id, message)


class _FilteredRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL the import filter allows too."""

    def __init__(self, allowed_ports: str) -> None:
        self.allowed_ports = allowed_ports

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:
        try:
            check_source(newurl, self.allowed_ports)
        except exceptions.BadRequest:
            raise exceptions.BadRequest(f"Redirect to disallowed URL: {newurl}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, allowed_ports: str, pipeline: UploadPipeline) -> None:
    opener = urllib.request.build_opener(_FilteredRedirects(allowed_ports))
    try:
        with opener.open(url, timeout=TIMEOUT) as response:
            while chunk := response.read(CHUNK):
                pipeline.feed(chunk)
    except urllib.error.HTTPError as exc:
        raise exceptions.BadRequest(f"{url} answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise exceptions.BadRequest(f"{url} could not be read: {exc.reason}") from None


def _finish(conn: Any, grant: images.UploadGrant, location: str, facts: dict[str, Any],
            quotas: images.Quotas, task_id: str) -> None:
    images.finish_upload(conn, grant, location, facts, quotas, False)
    tasks.finish(conn, task_id, True, result={"image_id": grant.image_id})


def _fail(svc: ImageService, task_id: str, image_id: str, message: str) -> None:
    LOG.info("import task %s failed: %s", task_id, message)

    def write(conn: Any) -> list[str]:
        tasks.finish(conn, task_id, False, message=message)
        try:
            return images.delete(conn, image_id)
        except (exceptions.NotFound, exceptions.Forbidden):
            return []  # already gone, or protected: it stays queued

    for location in svc.db.write(write):
        svc.store.delete(location)


def resume(svc: ImageService) -> int:
    """Run again the import tasks a restart interrupted; returns how many."""
    pending = svc.db.read(tasks.unfinished_imports)
    for task_id in pending:
        start(svc, task_id)
    return len(pending)
