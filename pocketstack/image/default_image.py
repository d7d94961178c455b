"""The image ``pocketstack up`` registers on first start, so a new user can boot at once.

By default it is what it says: ``pocketstack-empty-qcow2``, a valid qcow2 disk of 1 GiB virtual
size with no operating system in it (built in pure Python by :mod:`pocketstack.image.builder`,
so no qemu-utils are needed). With ``image_default_guest`` (``pocketstack up --guest-image``) it
is instead the bootable guest of :mod:`pocketstack.image.guestimage` (``pocketstack-guest``),
built from Debian packages (cached) at that first start; a cloud that already registered the
stub registers the guest next to it on its next start with the option. A real guest image can
be uploaded next to either at any time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from pocketstack.image import builder, guestimage, inspect
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
    marker = svc.settings.state_path / MARKER
    guest = svc.options.image_default_guest
    if marker.exists():
        if not guest or json.loads(marker.read_text()).get("name") == guestimage.NAME:
            return None
    if guest:
        return _register_guest(svc, admin_project, marker)
    data = builder.empty_qcow2(builder.GiB)
    return _register(svc, admin_project, marker, NAME, [data],
                     {"description": DESCRIPTION, "os_distro": "none"})


def _register_guest(svc: ImageService, admin_project: str, marker: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="guest-", dir=svc.settings.state_path) as tmp:
        built = guestimage.build_guest_image(Path(tmp) / "guest.qcow2")
        LOG.info("built guest image in %.1f s (%d bytes, kernel %s)", built.seconds,
                 built.size, built.kernel_version)
        return _register(svc, admin_project, marker, guestimage.NAME, _chunks(built.path),
                         dict(guestimage.PROPERTIES))


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _register(svc: ImageService, admin_project: str, marker: Path, name: str,
              chunks: Iterable[bytes], properties: dict[str, str]) -> str:
    from pocketstack.identity.interface import IdentityAPI

    owner = svc.runtime.interfaces.get(IdentityAPI).project_id(admin_project)
    result = inspect.ImageInspector()
    md5 = hashlib.md5(usedforsecurity=False)
    sha512 = hashlib.sha512()
    size = 0

    def seen(data: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal size
        for chunk in data:
            result.feed(chunk)
            md5.update(chunk)
            sha512.update(chunk)
            size += len(chunk)
            yield chunk

    image_id = images.new_id()
    location = svc.store.put(image_id, seen(chunks))
    try:
        found = result.result()
        inspect.check("qcow2", found)
    except Exception:
        svc.store.delete(location)
        raise
    facts = {
        "size": size,
        "virtual_size": found.virtual_size,
        "checksum": md5.hexdigest(),
        "os_hash_algo": "sha512",
        "os_hash_value": sha512.hexdigest(),
    }

    def write(conn: Connection) -> dict[str, Any]:
        image = images.create(conn, {
            "id": image_id, "name": name, "visibility": "public", "disk_format": "qcow2",
            "container_format": "bare", "owner": owner,
        }, properties, [], images.Quotas())
        images.activate(conn, image_id, location, facts)
        return image

    try:
        svc.db.write(write)
    except Exception:
        svc.store.delete(location)
        raise
    marker.write_text(json.dumps({"id": image_id, "name": name}) + "\n")
    LOG.info("registered default image %s (%s)", name, image_id)
    return image_id
