"""The image ``pocketstack up`` registers on first start, so a new user can boot at once.

It is what it says: ``pocketstack-empty-qcow2``, a valid qcow2 disk of 1 GiB virtual size with
no operating system in it (built in pure Python by :mod:`pocketstack.image.builder`, so no
qemu-utils are needed). A real guest image can be uploaded next to it at any time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from pocketstack.image import builder, inspect
from pocketstack.image.domain import images

if TYPE_CHECKING:
    from pocketstack.image.service import ImageService

LOG = logging.getLogger(__name__)

NAME = "pocketstack-empty-qcow2"
DESCRIPTION = ("Empty 1 GiB qcow2 disk with no operating system, registered by pocketstack "
               "on first start for smoke tests. Upload a real guest image to boot an OS.")
MARKER = "image-default.json"


def register(svc: ImageService, admin_project: str) -> str | None:
    """Register the default image once per state directory; returns its id when it did."""
    from pocketstack.identity.interface import IdentityAPI

    marker = svc.settings.state_path / MARKER
    if marker.exists():
        return None
    owner = svc.runtime.interfaces.get(IdentityAPI).project_id(admin_project)
    data = builder.empty_qcow2(builder.GiB)
    result = inspect.ImageInspector()
    result.feed(data)
    found = result.result()
    inspect.check("qcow2", found)
    image_id = images.new_id()
    location = svc.store.put(image_id, [data])
    facts = {
        "size": len(data),
        "virtual_size": found.virtual_size,
        "checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(data).hexdigest(),
    }

    def write(conn: Connection) -> dict[str, Any]:
        image = images.create(conn, {
            "id": image_id, "name": NAME, "visibility": "public", "disk_format": "qcow2",
            "container_format": "bare", "owner": owner,
        }, {"description": DESCRIPTION, "os_distro": "none"}, [], images.Quotas())
        images.activate(conn, image_id, location, facts)
        return image

    try:
        svc.db.write(write)
    except Exception:
        svc.store.delete(location)
        raise
    marker.write_text(json.dumps({"id": image_id, "name": NAME}) + "\n")
    LOG.info("registered default image %s (%s)", NAME, image_id)
    return image_id
