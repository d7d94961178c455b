"""What the live data-plane tests share: a cloud with the kernel data plane under a private name
prefix (removed, and checked gone, when the test ends), a private RabbitMQ vhost, polling,
running a command inside a namespace, and reading a server's address as the CLI prints it."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.kernel import run
from tests.conftest import BIN, REQUIRE_DBS, LiveCloud, start_cloud

#: what a `namespace` guest runs (init, SSH server) and what the tests reach it with
GUEST_TOOLS = ("busybox", "dropbear", "ssh", "ssh-keygen", "ping")


def until(what: str, check: Any, timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something true; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def ns(netns: str, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` inside the network namespace ``netns``."""
    return subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True, text=True,
                          timeout=timeout, check=False)


def address(server: dict[str, Any], network: str) -> str:
    """A server's IPv4 address on ``network``, from ``server show``'s JSON or text form."""
    addresses = server["addresses"]
    if isinstance(addresses, dict):
        return str(next(a for a in addresses[network] if "." in a))
    for part in str(addresses).split(";"):
        name, _, ips = part.strip().partition("=")
        if name == network:
            return next(ip.strip() for ip in ips.split(",") if "." in ip)
    raise AssertionError(f"no address on {network}: {addresses}")


def skip_without_guest_tools(tools: tuple[str, ...] = GUEST_TOOLS) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"namespace guests need {', '.join(missing)}")


@contextmanager
def dataplane_cloud(state: Path, env: dict[str, str]) -> Iterator[LiveCloud]:
    """``pocketstack up`` with the kernel data plane under a fresh prefix (``cloud.env['PREFIX']``);
    afterwards ``pocketstack clean`` runs and no namespace of that prefix may be left."""
    state.mkdir(parents=True, exist_ok=True)
    prefix = "pt" + secrets.token_hex(2)
    live = start_cloud(state, {"POCKETSTACK_DATAPLANE": "linux", **env,
                               "POCKETSTACK_KERNEL_PREFIX": prefix})
    live.env["PREFIX"] = prefix
    try:
        yield live
    finally:
        live.stop()
        subprocess.run([str(BIN / "pocketstack"), "clean", "--state-dir", str(state)],
                       env=live.env, capture_output=True, timeout=60, check=False)
        leftovers = [n for n in run.netns_list() if n.startswith(prefix + "-")]
        assert not leftovers, f"namespaces left behind: {leftovers}"


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A private RabbitMQ vhost (so a test's queues never meet another cloud's), as a URL."""
    ctl = shutil.which("rabbitmqctl")
    vhost = f"pstest-{uuid.uuid4().hex[:8]}"
    ok = ctl is not None and subprocess.run(
        [ctl, "add_vhost", vhost], capture_output=True, timeout=60).returncode == 0
    if not ok:
        if REQUIRE_DBS:
            pytest.fail("RabbitMQ is required (POCKETSTACK_REQUIRE_DBS=1) but unreachable")
        pytest.skip("RabbitMQ not reachable on loopback: this test needs a broker")
    assert ctl is not None
    subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True, timeout=60)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)
