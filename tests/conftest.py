"""Shared fixtures: a live `pocketstack up` per session, the stock CLI, database backends."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REQUIRE_DBS = os.environ.get("POCKETSTACK_REQUIRE_DBS") == "1"
#: CI (``.ci/run``) installs every package the suite needs, so there a skip is a failure
NO_SKIPS = os.environ.get("POCKETSTACK_NO_SKIPS") == "1"

BACKENDS = {
    "postgresql": os.environ.get("POCKETSTACK_TEST_POSTGRESQL",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mysql": os.environ.get("POCKETSTACK_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/"),
}


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return str(reason).removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """With POCKETSTACK_NO_SKIPS=1 a skipped test (root, a Debian package, a database
    missing) fails, saying why it would have skipped."""
    outcome = yield
    report = outcome.get_result()
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (f"skipped, but POCKETSTACK_NO_SKIPS=1 (CI) makes every test "
                           f"mandatory: {_skip_reason(report)}")


#: modules that share the one RabbitMQ broker in a way another module could disturb (one of
#: them stops and starts the broker's app): under xdist they are one unit, run on one worker
RABBITMQ_MODULES = frozenset({
    "tests/common/test_bus_amqp.py", "tests/compute/test_group_placement.py",
    "tests/compute/test_scheduling_story.py", "tests/network/test_dataplane_roles.py",
    "tests/test_dataplane_agent_down.py", "tests/volume/test_volume_agent_process.py",
})
#: the longest modules, started first so that no worker is left alone with one at the end
LONG_FIRST = ("tests/test_libvirt_story.py", "tests/test_libvirt_live_migration.py",
              "tests/test_fuzz.py", "tests/test_dataplane_",
              "tests/image/test_guestimage.py", "tests/agents/", "tests/volume/",
              "tests/compute/test_volume_attach.py")


def _unit(nodeid: str) -> str:
    """The unit of work a test belongs to under xdist: its module (whose module-scoped cloud
    then starts once), all RabbitMQ modules together, the fuzz module once per backend."""
    module = nodeid.split("::", 1)[0]
    if module in RABBITMQ_MODULES:
        return "rabbitmq"
    backend = re.search(r"\[(sqlite|postgresql)\b", nodeid)
    if module == "tests/test_fuzz.py" and backend:
        return f"fuzz-{backend.group(1)}"  # one cloud per backend: two units
    return module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``pytest -n N --dist loadscope`` (``make test``) hands out the units of :func:`_unit`
    (pytest 9 ignores the node ids xdist's own ``loadgroup`` rewrites, so it cannot group)."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    return UnitScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest units first, so that no worker is left alone with one at the end."""
    def rank(item: pytest.Item) -> int:
        nodeid = item.nodeid
        return next((i for i, p in enumerate(LONG_FIRST) if nodeid.startswith(p)),
                    len(LONG_FIRST))
    items.sort(key=rank)  # stable: the order inside a module is kept


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's very last line: how many tests were skipped, and why (grouped)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons = Counter(_skip_reason(r) for r in skipped)
    why = "; ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    reporter.write_line(f"{len(skipped)} skipped: {why}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveCloud:
    """A running `pocketstack up` and how to talk to it."""

    url: str
    state_dir: Path
    process: subprocess.Popen[bytes]
    admin_password: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def clouds_yaml(self) -> Path:
        return self.state_dir / "clouds.yaml"

    @property
    def identity(self) -> str:
        return self.url + "/identity/v3"

    def osc(self, *args: str, cloud: str = "pocketstack-admin", check: bool = True,
            as_json: bool = True) -> Any:
        """Run the stock `openstack` CLI against this cloud."""
        cmd = [str(BIN / "openstack"), "--os-cloud", cloud, *args]
        if as_json:
            cmd += ["-f", "json"]
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml))
        for key in list(env):
            if key.startswith("OS_") and key != "OS_CLIENT_CONFIG_FILE":
                env.pop(key)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        if not check:
            return proc
        if as_json and proc.stdout.strip():
            return json.loads(proc.stdout)
        return proc.stdout

    def token(self, user: str = "admin", password: str | None = None,
              project: str | None = "admin", domain: str = "Default",
              scope: Any = None) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": user, "domain": {"name": domain},
                     "password": password or self.password(user)}}}}}
        if scope is not None:
            body["auth"]["scope"] = scope
        elif project:
            body["auth"]["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
        r = httpx.post(self.identity + "/auth/tokens", json=body, timeout=30)
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"], r.json()["token"]

    def password(self, user: str) -> str:
        creds = json.loads((self.state_dir / "credentials.json").read_text())
        return str(creds["passwords"][user])

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Auth-Token": token}, timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_cloud(state_dir: Path, extra_env: dict[str, str] | None = None,
                database_url: str | None = None, port: int | None = None,
                admin_password: str = "admin-secret") -> LiveCloud:
    port = port or free_port()
    env = dict(os.environ)
    env.update({"POCKETSTACK_PASSWORD_HASH_ROUNDS": "4", "POCKETSTACK_LOG_LEVEL": "warning",
                # the API and the model by default; tests of the kernel data plane ask for it
                "POCKETSTACK_DATAPLANE": "none", "POCKETSTACK_COMPUTE_DRIVER": "fake"})
    env.update(extra_env or {})
    cmd = [str(BIN / "pocketstack"), "up", "--state-dir", str(state_dir), "--port", str(port),
           "--admin-password", admin_password]
    if database_url:
        cmd += ["--database-url", database_url]
    log = open(state_dir.parent / f"{state_dir.name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a loaded 2-core machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pocketstack up exited {proc.returncode}: "
                               f"{(state_dir.parent / f'{state_dir.name}.log').read_text()}")
        try:
            if httpx.get(url + "/identity", timeout=1).status_code == 300:
                return LiveCloud(url, state_dir, proc, admin_password, env)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("pocketstack up did not become ready in 120 s")


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[LiveCloud]:
    state = tmp_path_factory.mktemp("cloud") / "state"
    state.mkdir()
    live = start_cloud(state, {"POCKETSTACK_LOCKOUT_FAILURE_ATTEMPTS": "3",
                               "POCKETSTACK_LOCKOUT_DURATION": "5",
                               "POCKETSTACK_UNIQUE_LAST_PASSWORD_COUNT": "2"})
    request.config.stash[SHARED_CLOUD] = SharedCloudWatch(live)
    try:
        yield live
    finally:
        del request.config.stash[SHARED_CLOUD]
        live.stop()


def own_cloud(tmp_path_factory: pytest.TempPathFactory, name: str = "own",
              extra_env: dict[str, str] | None = None) -> Iterator[LiveCloud]:
    """A module's own cloud (for a module-scoped ``cloud`` fixture): for modules that change
    what every other module relies on in the session cloud (demo's one network, ...)."""
    state = tmp_path_factory.mktemp(name) / "state"
    state.mkdir()
    live = start_cloud(state, extra_env)
    try:
        yield live
    finally:
        live.stop()


class SharedCloudWatch:
    """What every module must leave as it found it in the session cloud: the networks the
    ``demo`` project sees (``--nic auto`` and every server created without ``--nic`` rely on
    demo seeing exactly one)."""

    def __init__(self, live: LiveCloud) -> None:
        self.live = live
        self.token = ""
        self.baseline = self.demo_networks()

    def demo_networks(self) -> dict[str, str]:
        for _ in range(2):
            if not self.token:
                self.token, _ = self.live.token("demo", project="demo")
            r = httpx.get(self.live.url + "/networking/v2.0/networks",
                          headers={"X-Auth-Token": self.token}, timeout=30)
            if r.status_code == 401:
                self.token = ""
                continue
            assert r.status_code == 200, r.text
            return {n["id"]: n["name"] for n in r.json()["networks"]}
        raise AssertionError("the demo user's token was refused twice")


SHARED_CLOUD = pytest.StashKey[SharedCloudWatch]()


@pytest.fixture(scope="module", autouse=True)
def _leaves_the_shared_cloud_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the module that leaves the session cloud's demo project another network (or
    takes its network away): later modules on the same xdist worker would break."""
    yield
    watch = request.config.stash.get(SHARED_CLOUD, None)
    if watch is None:
        return
    now = watch.demo_networks()
    if now != watch.baseline:
        added = {k: v for k, v in now.items() if k not in watch.baseline}
        gone = {k: v for k, v in watch.baseline.items() if k not in now}
        watch.baseline = now  # report once, in the module that did it
        pytest.fail(f"{request.module.__name__} changed the networks the shared cloud's demo "
                    f"project sees: added {added}, removed {gone}")


@pytest.fixture(scope="session")
def admin(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token()
    with cloud.client(token) as client:
        yield client


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- database backends ------------------------------------------------------------------------
def _server_url(kind: str) -> str | None:
    url = BACKENDS[kind]
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return url
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        if REQUIRE_DBS:
            pytest.fail(f"{kind} is required (POCKETSTACK_REQUIRE_DBS=1) but unreachable: {exc}")
        return None


def fresh_database(kind: str) -> tuple[str, Any]:
    """Create an empty database on the local server; returns (url, dropper)."""
    if kind == "sqlite":
        raise ValueError("use a file path for sqlite")
    server = _server_url(kind)
    if server is None:
        pytest.skip(f"{kind} server not reachable on loopback; skipping its backend tests")
    name = f"pocketstack_test_{uuid.uuid4().hex[:8]}"
    admin_engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        if kind == "mysql":
            conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        else:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    base = server.rsplit("/", 1)[0]
    url = f"{base}/{name}" + ("?charset=utf8mb4" if kind == "mysql" else "")

    def drop() -> None:
        with admin_engine.connect() as conn:
            if kind == "postgresql":
                conn.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}'"))
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin_engine.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind (PostgreSQL/MariaDB skipped when unreachable)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url, drop = fresh_database(request.param)
    try:
        yield url
    finally:
        drop()
