"""Image-test fixtures: clients per persona on the shared live cloud, sample disk images,
and a second cloud with small quotas."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pocketstack.image.builder import empty_qcow2
from tests.conftest import LiveCloud, start_cloud, unique


@dataclass
class Persona:
    client: httpx.Client
    project_id: str
    user_id: str


def _persona(cloud: LiveCloud, user: str, project: str, password: str | None = None
             ) -> Persona:
    token, body = cloud.token(user, password, project=project)
    return Persona(cloud.client(token), body["project"]["id"], body["user"]["id"])


@pytest.fixture(scope="session")
def img_admin(cloud: LiveCloud) -> Persona:
    return _persona(cloud, "admin", "admin")


@pytest.fixture(scope="session")
def img_demo(cloud: LiveCloud) -> Persona:
    return _persona(cloud, "demo", "demo")


@pytest.fixture(scope="session")
def img_alt(cloud: LiveCloud) -> Persona:
    return _persona(cloud, "alt_demo", "alt_demo")


@pytest.fixture(scope="session")
def img_reader(cloud: LiveCloud, img_admin: Persona) -> Persona:
    """A user with only the reader role on the demo project."""
    admin = img_admin.client
    name = unique("img-reader")
    user = admin.post("/identity/v3/users", json={"user": {
        "name": name, "password": "reader-pw-1"}}).json()["user"]
    project = admin.get("/identity/v3/projects?name=demo").json()["projects"][0]
    role = admin.get("/identity/v3/roles?name=reader").json()["roles"][0]
    r = admin.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
    assert r.status_code == 204, r.text
    return _persona(cloud, name, "demo", "reader-pw-1")


@pytest.fixture(scope="session")
def qcow2_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid qcow2 (64 MiB virtual), the same on every machine (test_image_store
    checks the writer against qemu-img where it is installed)."""
    path = tmp_path_factory.mktemp("img") / "disk.qcow2"
    path.write_bytes(empty_qcow2(64 << 20))
    return path


@pytest.fixture(scope="session")
def quota_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    """A second cloud whose projects may own 3 images and 1 MiB of image data."""
    state = tmp_path_factory.mktemp("quota-cloud") / "state"
    state.mkdir()
    live = start_cloud(state, {"POCKETSTACK_IMAGE_QUOTA_COUNT": "3",
                               "POCKETSTACK_IMAGE_QUOTA_SIZE": str(1 << 20),
                               "POCKETSTACK_IMAGE_DEFAULT": "0"})
    try:
        yield live
    finally:
        live.stop()


def new_image(client: httpx.Client, **values: Any) -> dict[str, Any]:
    body = {"name": unique("img"), "disk_format": "raw", "container_format": "bare"}
    body.update(values)
    r = client.post("/image/v2/images", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def upload(client: httpx.Client, image_id: str, data: bytes,
           content_type: str = "application/octet-stream") -> httpx.Response:
    return client.put(f"/image/v2/images/{image_id}/file", content=data,
                      headers={"Content-Type": content_type})


def store_files(cloud: LiveCloud) -> set[str]:
    """Every file in the image store, staging included (for 'nothing left behind')."""
    root = cloud.state_dir / "images"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
