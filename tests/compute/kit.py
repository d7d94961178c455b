"""In-process harness for compute API tests: a migrated SQLite database, the Nova app
behind Starlette's TestClient, and callers chosen per request by test headers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from pocketstack.common import migrate
from pocketstack.common.api.app import ApiRequest
from pocketstack.common.bus import InProcessBus
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.service import Authentication, Runtime
from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import utcnow
from pocketstack.compute.service import ComputeService
from pocketstack.config import Settings

BASE = "http://testserver/compute/v2.1"


def new_db(tmp: Path) -> Database:
    db = Database(f"sqlite:///{tmp / 'compute.db'}")
    migrate.upgrade(db)
    return db


def _authenticate(req: ApiRequest) -> RequestContext:
    h = req.headers
    roles = [r for r in h.get("x-test-roles", "member,reader").split(",") if r]
    return RequestContext(user_id=h.get("x-test-user", "u-demo"),
                          project_id=h.get("x-test-project", "p-demo"), roles=roles)


class Caller:
    """A TestClient speaking as one user of one project with a default microversion."""

    def __init__(self, client: TestClient, user: str, project: str, roles: str,
                 version: str | None = None) -> None:
        self.client = client
        self.headers = {"X-Test-User": user, "X-Test-Project": project, "X-Test-Roles": roles}
        self.user_id = user
        self.project_id = project
        self.version = version

    def at(self, version: str | None) -> Caller:
        return Caller(self.client, self.headers["X-Test-User"], self.project_id,
                      self.headers["X-Test-Roles"], version)

    def request(self, method: str, path: str, version: str | None = None,
                **kw: Any) -> Any:
        headers = dict(self.headers)
        v = version or self.version
        if v:
            headers["X-OpenStack-Nova-API-Version"] = v
        headers.update(kw.pop("headers", {}))
        return self.client.request(method, "/compute/v2.1" + path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


class _HeaderAuth:
    def authenticate_request(self, req: ApiRequest) -> RequestContext:
        return _authenticate(req)


class Harness:
    def __init__(self, tmp: Path, **settings: Any) -> None:
        self.db = new_db(tmp)
        self.settings = Settings(**settings)
        runtime = Runtime(settings=self.settings, db=self.db, bus=InProcessBus(), state=tmp)
        runtime.interfaces.register(Authentication, _HeaderAuth())
        self.compute = ComputeService(runtime)
        inner = self.compute.app()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                scope = dict(scope)
                scope["pocketstack.subpath"] = scope["path"][len("/compute/v2.1"):] or "/"
                scope["pocketstack.base_url"] = BASE
            await inner(scope, receive, send)

        self.client = TestClient(app, raise_server_exceptions=False)
        self.admin = Caller(self.client, "u-admin", "p-admin", "admin,member,reader")
        self.demo = Caller(self.client, "u-demo", "p-demo", "member,reader")
        self.alt = Caller(self.client, "u-alt", "p-alt", "member,reader")
        self.reader = Caller(self.client, "u-read", "p-demo", "reader")

    def close(self) -> None:
        self.client.close()
        self.db.dispose()

    # -- fixtures in the database ------------------------------------------------------------
    def add_instance(self, project_id: str = "p-demo", user_id: str = "u-demo",
                     vcpus: int = 1, ram: int = 512, disk: int = 1, host: str | None = None,
                     **values: Any) -> str:
        uid = str(uuid.uuid4())
        now = utcnow()
        row: dict[str, Any] = dict(
            uuid=uid, display_name=values.pop("name", "vm"), project_id=project_id,
            user_id=user_id, flavor={"id": "1", "name": "m1.tiny", "vcpus": vcpus, "ram": ram,
                                     "disk": disk, "ephemeral": 0, "swap": 0,
                                     "extra_specs": {}},
            vm_state="active", power_state=1, host=host, node=host, reservation_id="r-1",
            metadata={}, tags=[], security_groups=[], networks=[], addresses={},
            block_devices=[], scheduler_hints={}, created_at=now, launched_at=now,
            deleted=False, generation=0)
        row.update(values)

        def insert(conn: Any) -> None:
            conn.execute(sa.insert(t.instances).values(**row))

        self.db.write(insert)
        return uid
