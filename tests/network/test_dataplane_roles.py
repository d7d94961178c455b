"""The network service's roles follow the ``dataplane`` setting: the ``network.rpc`` endpoint
and one set of network agents per compute host with the Linux data plane (the first host the
network node), the in-process heartbeats without it. Building the agents touches no kernel,
so this runs anywhere (``run.missing`` is stubbed for ``auto``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pocketstack.agents.kernel import run
from pocketstack.agents.network.l2 import L2Part
from pocketstack.agents.network.runner import NetworkAgent
from pocketstack.config import load_settings
from pocketstack.network.roles import AgentHeartbeats
from pocketstack.network.rpc import AgentRPC
from pocketstack.network.service import NetworkService
from pocketstack.network.settings import NetworkSettings


def roles(tmp_path: Path, **overrides: Any) -> list[Any]:
    settings = load_settings(None, environ={}, sections=[NetworkSettings], overrides={
        "state_dir": str(tmp_path), "compute_hosts": 3, **overrides})
    runtime = SimpleNamespace(db=None, settings=settings, bus=object(), state=tmp_path)
    return NetworkService(runtime).roles()  # type: ignore[arg-type]


def test_no_dataplane_keeps_the_heartbeats(tmp_path: Path) -> None:
    made = roles(tmp_path, dataplane="none")
    assert [type(r) for r in made] == [AgentHeartbeats]


@pytest.mark.parametrize("mode", ["linux", "auto"])
def test_dataplane_runs_the_rpc_and_one_agent_per_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setattr(run, "missing", lambda: None)
    made = roles(tmp_path, dataplane=mode, kernel_prefix="pzz1",
                 network_physical_networks="public,physnet9")
    assert isinstance(made[0], AgentRPC)  # first: the agents call it as they start
    agents = made[1:]
    assert all(isinstance(a, NetworkAgent) for a in agents)
    assert [a.ctx.host for a in agents] == ["compute1", "compute2", "compute3"]
    assert [a.ctx.underlay_ip for a in agents] == ["10.254.0.2", "10.254.0.3", "10.254.0.4"]
    first = agents[0].ctx
    assert first.underlay_prefixlen == 24 and first.names.prefix == "pzz1"
    assert first.physical_networks == ("physnet9", "public")
    assert first.physnet_gateways == {"public": "172.24.4.1/24"}
    assert first.metadata_secret and first.metadata_secret == agents[2].ctx.metadata_secret
    assert (tmp_path / "metadata_secret").read_text().strip() == first.metadata_secret
    assert all(isinstance(a.parts[0], L2Part) for a in agents)
    assert [r.name for r in made[1:]] == [f"network-agent:compute{i}" for i in (1, 2, 3)]


def test_auto_without_the_kernel_tools_is_no_dataplane(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "missing", lambda: "no root here")
    assert [type(r) for r in roles(tmp_path, dataplane="auto")] == [AgentHeartbeats]
    with pytest.raises(ValueError, match="no root here"):
        roles(tmp_path, dataplane="linux")


def test_the_linux_dataplane_is_linux_bridges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "missing", lambda: None)
    made = roles(tmp_path, dataplane="auto", network_mechanism="openvswitch")
    assert [type(r) for r in made] == [AgentHeartbeats]
    with pytest.raises(ValueError, match="linuxbridge"):
        roles(tmp_path, dataplane="linux", network_mechanism="openvswitch")


def test_command_line_of_the_network_agent_and_up() -> None:
    from pocketstack import cli

    args = cli._parser().parse_args(["agent", "network", "--host", "compute2", "--host-index",
                                     "2", "--transport-url", "amqp://u:p@h:5672/",
                                     "--network-node"])
    assert (args.agent_kind, args.host, args.host_index, args.network_node) == \
        ("network", "compute2", 2, True)
    assert cli._settings(cli._parser().parse_args(["up", "--dataplane", "auto"])).dataplane \
        == "auto"
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["up", "--dataplane", "ovs"])
