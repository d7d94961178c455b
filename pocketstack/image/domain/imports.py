"""glance-direct imports: the image and task records behind ``POST /v2/images/{id}/import``.

:func:`start` moves a staged image (``uploading``) to ``importing`` and opens its task;
:func:`finish` makes it ``active`` with the promoted data; :func:`fail` returns it to
``queued`` without its staged data and fails the task. Moving the bytes is the store's job.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.image.domain import images, tasks
from pocketstack.image.domain.common import utcnow


def start(conn: Connection, image: dict[str, Any], method: str, store_name: str,
          user_id: str | None, request_id: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Open an import of a staged image (409 unless it is staged); returns (image, task)."""
    image_id = image["id"]
    if image["status"] != "uploading" or not image["staged"]:
        raise exceptions.Conflict(f"Image {image_id} needs to be staged before "
                                  f"'{method}' method can be used (status "
                                  f"{image['status']}).")
    task = tasks.create(conn, image_id, image["owner"], user_id, request_id,
                        {"image_id": image_id, "import_req": {"method": {"name": method}},
                         "backend": [store_name]})
    images.update(conn, image_id, image["generation"], {"status": "importing"}, {
        "os_glance_import_task": task["id"], "os_glance_importing_to_stores": "",
        "os_glance_failed_import": "",
    })
    return images.get(conn, image_id), task


def finish(conn: Connection, image_id: str, task_id: str, location: str,
           staged: dict[str, Any]) -> None:
    """The staged data now lives at ``location``: the image becomes active, the task succeeds.

    NotFound when the image was deleted meanwhile (the caller drops the data).
    """
    current = images.get(conn, image_id)
    images.update(conn, image_id, current["generation"], {
        "status": "active", "location": location, "staged": None,
        "size": staged["size"], "virtual_size": staged["virtual_size"],
        "checksum": staged["checksum"], "os_hash_algo": staged["os_hash_algo"],
        "os_hash_value": staged["os_hash_value"],
    })
    tasks.finish(conn, task_id, True, result={"image_id": image_id})


def fail(conn: Connection, image_id: str, task_id: str, store_name: str, message: str) -> None:
    """The import failed: back to queued without staged data, the failure recorded on the image
    and the task. Nothing to do when the image was deleted meanwhile."""
    try:
        current = images.get(conn, image_id)
    except exceptions.NotFound:
        return
    images.update(conn, image_id, current["generation"],
                  {"status": "queued", "staged": None, "updated_at": utcnow()},
                  {"os_glance_failed_import": store_name,
                   "os_glance_importing_to_stores": ""})
    tasks.finish(conn, task_id, False, message=message)
