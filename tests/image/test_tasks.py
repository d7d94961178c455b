"""The legacy ``import`` task (/v2/tasks): an image downloaded from a URL, failures that leave
nothing behind, the import filter, task listing, and the stock CLI."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pocketstack.image.builder import empty_qcow2
from tests.conftest import LiveCloud, start_cloud, unique
from tests.image.conftest import Persona

QCOW2 = empty_qcow2(16 << 20)
RELEASED = threading.Event()  # lets /stall.qcow2 answer in full


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    """A tiny web server: /disk.qcow2 is a qcow2, /raw.bin is not, anything else is a 404."""
    files = {"/disk.qcow2": QCOW2, "/raw.bin": b"\0" * 4096, "/stall.qcow2": QCOW2}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "ftp://example.invalid/disk.qcow2")
                self.end_headers()
                return
            data = files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.path == "/stall.qcow2" and not RELEASED.is_set():
                self.wfile.write(data[:65536])  # half an image, then nothing until released
                self.wfile.flush()
                RELEASED.wait(60)
                return
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def any_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    """A cloud whose import filter allows any port (the default allows only 80 and 443)."""
    state: Path = tmp_path_factory.mktemp("tasks") / "state"
    state.mkdir()
    live = start_cloud(state, {"POCKETSTACK_IMAGE_IMPORT_ALLOWED_PORTS": ""})
    try:
        yield live
    finally:
        live.stop()


def _task(url: str, disk_format: str = "qcow2", **props: str) -> dict[str, Any]:
    return {"type": "import", "input": {
        "import_from": url, "import_from_format": disk_format,
        "image_properties": {"name": unique("task-img"), "disk_format": disk_format,
                             "container_format": "bare", **props}}}


def _wait(client: httpx.Client, task_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task = client.get(f"/image/v2/tasks/{task_id}").json()
        if task["status"] in ("success", "failure") or time.monotonic() > deadline:
            return task  # type: ignore[no-any-return]
        time.sleep(0.1)


def test_import_task_downloads_an_image(any_port: LiveCloud, web: str) -> None:
    token, body = any_port.token()
    with any_port.client(token) as admin:
        r = admin.post("/image/v2/tasks", json=_task(f"{web}/disk.qcow2", os_distro="none"))
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["type"] == "import" and created["status"] in ("pending", "processing")
        assert created["owner"] == body["project"]["id"]
        assert created["self"] == f"/v2/tasks/{created['id']}"
        assert r.headers["Location"].endswith(f"/v2/tasks/{created['id']}")
        assert created["input"]["import_from"] == f"{web}/disk.qcow2"
        done = _wait(admin, created["id"])
        assert done["status"] == "success", done
        assert done["result"] == {"image_id": done["image_id"]} and done["expires_at"]
        image = admin.get(f"/image/v2/images/{done['image_id']}").json()
        assert image["status"] == "active" and image["disk_format"] == "qcow2"
        assert image["checksum"] == hashlib.md5(QCOW2, usedforsecurity=False).hexdigest()
        assert image["size"] == len(QCOW2) and image["virtual_size"] == 16 << 20
        assert image["os_distro"] == "none"
        data = admin.get(f"/image/v2/images/{done['image_id']}/file").content
        assert data == QCOW2
        # listing: stubs without input or result; filters
        listed = admin.get("/image/v2/tasks", params={"status": "success"}).json()
        assert created["id"] in {t["id"] for t in listed["tasks"]}
        assert "input" not in listed["tasks"][0] and listed["schema"] == "/v2/schemas/tasks"
        failed = admin.get("/image/v2/tasks", params={"status": "failure"}).json()["tasks"]
        assert created["id"] not in {t["id"] for t in failed}
        # the stock CLI
        shown = any_port.osc("image", "task", "show", created["id"])
        assert shown["status"] == "success"
        assert created["id"] in {t["ID"] for t in any_port.osc("image", "task", "list")}


@pytest.mark.parametrize(("path", "disk_format", "why"), [
    ("/missing.qcow2", "qcow2", "answered HTTP 404"),
    ("/raw.bin", "qcow2", "does not match disk_format"),
    ("/redirect", "qcow2", "Redirect to disallowed URL: ftp://example.invalid/disk.qcow2"),
])
def test_failed_import_leaves_nothing(any_port: LiveCloud, web: str, path: str,
                                      disk_format: str, why: str) -> None:
    token, _ = any_port.token()
    with any_port.client(token) as admin:
        r = admin.post("/image/v2/tasks", json=_task(web + path, disk_format))
        assert r.status_code == 201, r.text
        done = _wait(admin, r.json()["id"])
        assert done["status"] == "failure" and why in done["message"], done
        assert admin.get(f"/image/v2/images/{done['image_id']}").status_code == 404
    assert not any(done["image_id"] in str(f) for f in (any_port.state_dir / "images").rglob("*")
                   if f.is_file())


def test_bad_tasks(cloud: LiveCloud, img_admin: Persona, img_demo: Persona) -> None:
    admin = img_admin.client
    good = _task("https://example.invalid/disk.qcow2")
    for body in ({"input": good["input"]}, {"type": "import"}, {**good, "type": "copy"},
                 {**good, "extra": 1}, {"type": "import", "input": "x"},
                 {"type": "import", "input": {"image_properties": {}}},
                 {"type": "import", "input": {"import_from": "https://example.invalid/x"}},
                 _task("file:///etc/passwd"), _task("ftp://example.invalid/x"),
                 _task("http://127.0.0.1:9/x"),  # the default filter allows ports 80 and 443
                 {"type": "import", "input": {**good["input"], "image_properties": {
                     "name": "x", "disk_format": "qcow2"}}}):
        r = admin.post("/image/v2/tasks", json=body)
        assert r.status_code == 400, (body, r.text)
    r = admin.post("/image/v2/tasks", json=_task("http://127.0.0.1:9/x"))
    assert "does not pass filtering" in r.json()["message"]
    # only admins may use tasks at all
    assert img_demo.client.post("/image/v2/tasks", json=good).status_code == 403
    assert img_demo.client.get("/image/v2/tasks").status_code == 403
    assert admin.get("/image/v2/tasks/00000000-0000-0000-0000-000000000000").status_code == 404
    assert admin.get("/image/v2/tasks", params={"status": "done"}).status_code == 400
    assert admin.get("/image/v2/tasks", params={"sort_dir": "up"}).status_code == 400
    assert admin.get("/image/v2/tasks", params={"marker": "nope"}).status_code == 400


def test_interrupted_import_runs_again_after_a_restart(
        tmp_path_factory: pytest.TempPathFactory, web: str) -> None:
    state: Path = tmp_path_factory.mktemp("restart") / "state"
    state.mkdir()
    env = {"POCKETSTACK_IMAGE_IMPORT_ALLOWED_PORTS": ""}
    first = start_cloud(state, env)
    try:
        token, _ = first.token()
        with first.client(token) as admin:
            task = admin.post("/image/v2/tasks", json=_task(f"{web}/stall.qcow2")).json()
            deadline = time.monotonic() + 10
            while admin.get(f"/image/v2/tasks/{task['id']}").json()["status"] != "processing":
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        first.stop()  # the download is cut short
    RELEASED.set()
    second = start_cloud(state, env)
    try:
        token, _ = second.token()
        with second.client(token) as admin:
            done = _wait(admin, task["id"])
            assert done["status"] == "success", done
            image = admin.get(f"/image/v2/images/{done['image_id']}").json()
            assert image["status"] == "active" and image["size"] == len(QCOW2)
    finally:
        second.stop()
