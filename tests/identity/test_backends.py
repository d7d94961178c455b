"""The whole identity service on PostgreSQL and MariaDB, driven over HTTP and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveCloud, fresh_database, start_cloud


@pytest.fixture(scope="module", params=["postgresql", "mysql"])
def backend_cloud(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    url, drop = fresh_database(request.param)
    state = tmp_path_factory.mktemp(request.param) / "state"
    state.mkdir()
    live = start_cloud(state, database_url=url)
    try:
        yield live
    finally:
        live.stop()
        drop()


def test_cli_on_backend(backend_cloud: LiveCloud) -> None:
    assert backend_cloud.osc("token", "issue")["id"]
    assert {"admin", "demo", "alt_demo"} <= {p["Name"]
                                            for p in backend_cloud.osc("project", "list")}
    rows = backend_cloud.osc("role", "assignment", "list", "--names")
    assert any(r["User"] == "demo@Default" and r["Role"] == "member" for r in rows)


def test_concurrent_creates_on_backend(backend_cloud: LiveCloud) -> None:
    token, _ = backend_cloud.token()

    def create(_: int) -> int:
        with backend_cloud.client(token) as c:
            return c.post("/identity/v3/projects",
                          json={"project": {"name": "hammered"}}).status_code

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(create, range(20)))
    assert codes.count(201) == 1 and codes.count(409) == 19, codes


def test_second_api_process_on_backend(backend_cloud: LiveCloud, tmp_path: Path) -> None:
    """A second API process on the same database and keys (scaled out): it validates the
    first one's tokens, and a revocation on one is honoured at once by the other, even for a
    token the other has already validated (and cached)."""
    url = backend_cloud.process.args[-1]  # type: ignore[index]
    state = tmp_path / "second"
    state.mkdir()
    import shutil

    shutil.copytree(backend_cloud.state_dir / "fernet-keys", state / "fernet-keys")
    shutil.copy(backend_cloud.state_dir / "credentials.json", state / "credentials.json")
    second = start_cloud(state, database_url=url)
    try:
        token, _ = backend_cloud.token()
        victim, _ = backend_cloud.token("demo", project="demo")
        h = {"X-Auth-Token": token, "X-Subject-Token": victim}
        assert httpx.get(second.identity + "/auth/tokens", headers=h).status_code == 200
        assert httpx.delete(backend_cloud.identity + "/auth/tokens", headers=h).status_code \
            == 204
        assert httpx.get(second.identity + "/auth/tokens", headers=h).status_code == 404
        assert httpx.get(second.identity + "/auth/projects",
                         headers={"X-Auth-Token": victim}).status_code == 401
    finally:
        second.stop()
