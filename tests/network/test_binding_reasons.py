"""Which host's L2 agent can bind which segment, and why not (against a real SQLite
database): an agent that reports ``network_types`` serves only those (the Linux data plane's
refuses vlan, with the kernel's reason), one that does not serves flat and vlan on its
mappings; a silent agent binds nothing; the reasons name the cause."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pocketstack.common import migrate
from pocketstack.common.db import Database
from pocketstack.network import tables as t
from pocketstack.network.domain import agents


def _segment(kind: str, physnet: str | None, seg_id: int | None) -> dict[str, Any]:
    return {"network_type": kind, "physical_network": physnet, "segmentation_id": seg_id}


VLAN, FLAT = _segment("vlan", "public", 100), _segment("flat", "public", None)
VXLAN, GRE = _segment("vxlan", None, 7), _segment("gre", None, 7)
OTHER_NET = _segment("flat", "elsewhere", None)
WHY = "the kernel has no 802.1Q VLAN support (VLAN_8021Q)"


def test_binding_and_its_reasons(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'net.db'}")
    migrate.upgrade(db)
    mappings = {"public": "ph-public"}
    db.write(agents.report, "Linux bridge agent", "neutron-linuxbridge-agent", "N/A", "linux",
             None, {"bridge_mappings": mappings, "tunnel_types": ["vxlan"],
                    "network_types": ["flat", "vxlan"], "vlan_supported": False,
                    "vlan_unsupported_reason": WHY})
    db.write(agents.report, "Linux bridge agent", "neutron-linuxbridge-agent", "N/A", "model",
             None, {"bridge_mappings": mappings, "tunnel_types": ["vxlan"]})
    db.write(agents.report, "Linux bridge agent", "neutron-linuxbridge-agent", "N/A", "silent",
             None, {"bridge_mappings": mappings, "tunnel_types": ["vxlan"]})
    db.write(lambda c: c.execute(sa.update(t.agents).where(t.agents.c.host == "silent")
                                 .values(heartbeat_timestamp=dt.datetime(2000, 1, 1))))

    def serves(host: str, *segs: dict[str, Any]) -> object:
        found = db.read(agents.l2_agent_serving, host, list(segs), 75)
        return None if found is None else found[1]["network_type"]

    def why(host: str, *segs: dict[str, Any]) -> str:
        return str(db.read(agents.binding_failure, host, list(segs), 75))

    assert serves("linux", VLAN) is None
    assert why("linux", VLAN) == f"vlan not supported by the host's L2 agent ({WHY})"
    assert serves("linux", VLAN, VXLAN) == "vxlan"  # the first segment it can bind
    assert serves("linux", FLAT) == "flat" and serves("model", VLAN) == "vlan"
    assert serves("linux", GRE) is None and "gre not supported" in why("linux", GRE)
    assert serves("model", OTHER_NET) is None
    assert "physical network elsewhere is not mapped" in why("model", OTHER_NET)
    assert serves("silent", FLAT) is None
    assert why("silent", FLAT) == "the Linux bridge agent on silent is not alive"
    assert why("nowhere", FLAT) == "no L2 agent on host nowhere"
