"""ML2-style segments: validating provider attributes against the configured physical
networks and ranges, allocating tenant segmentation ids race-free, and the MTU a network gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain.common import new_id

TYPES = ("flat", "vlan", "vxlan", "gre", "geneve", "local")
TUNNELS = ("vxlan", "gre", "geneve")
MAX_ID = {"vlan": 4094, "vxlan": 2 ** 24 - 1, "geneve": 2 ** 24 - 1, "gre": 2 ** 32 - 1}
OVERHEAD = {"vxlan": 50, "gre": 42, "geneve": 58}


class NoNetworkAvailable(exceptions.ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("Unable to create the network. No tenant network is available for "
                         "allocation.", type="NoNetworkAvailable")


def _ranges(text: str) -> list[tuple[int, int]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition(":")
        out.append((int(low), int(high or low)))
    return out


@dataclass(frozen=True)
class SegmentConfig:
    physical_networks: frozenset[str]
    vlan_ranges: dict[str, list[tuple[int, int]]]
    tunnel_ranges: dict[str, list[tuple[int, int]]]
    tenant_types: tuple[str, ...]
    mtu: int

    @classmethod
    def parse(cls, physnets: str, vlan: str, vni: str, gre: str, geneve: str,
              tenant_types: str, mtu: int) -> SegmentConfig:
        vlan_ranges: dict[str, list[tuple[int, int]]] = {}
        for part in filter(None, (p.strip() for p in vlan.split(","))):
            name, _, span = part.partition(":")
            vlan_ranges.setdefault(name, []).extend(_ranges(span.replace(":", ":", 1)))
        names = {p.strip() for p in physnets.split(",") if p.strip()} | set(vlan_ranges)
        return cls(frozenset(names), vlan_ranges,
                   {"vxlan": _ranges(vni), "gre": _ranges(gre), "geneve": _ranges(geneve)},
                   tuple(p.strip() for p in tenant_types.split(",") if p.strip()), mtu)

    def mtu_of(self, network_types: list[str]) -> int:
        return min((self.mtu - OVERHEAD.get(kind, 0) for kind in network_types),
                   default=self.mtu)


def validate(config: SegmentConfig, spec: dict[str, Any]) -> dict[str, Any]:
    """Check one requested segment; returns it normalised (missing keys as None)."""
    if not isinstance(spec, dict) or set(spec) - {"provider:network_type",
                                                  "provider:physical_network",
                                                  "provider:segmentation_id"}:
        raise errors.InvalidInput(f"Invalid segment {spec!r}")
    kind = spec.get("provider:network_type")
    if spec.get("provider:physical_network") is not None and \
            not isinstance(spec["provider:physical_network"], str):
        raise errors.InvalidInput("provider:physical_network must be a string")
    physnet = spec.get("provider:physical_network")
    seg_id = spec.get("provider:segmentation_id")
    if kind not in TYPES:
        raise errors.InvalidInput(f"network_type value '{kind}' not supported")
    if seg_id is not None:
        if isinstance(seg_id, str) and seg_id.isdigit():
            seg_id = int(seg_id)
        if not isinstance(seg_id, int) or isinstance(seg_id, bool):
            raise errors.InvalidInput(f"segmentation_id '{seg_id}' is not an integer")
    if kind in ("flat", "vlan"):
        if not physnet:
            raise errors.InvalidInput(f"physical_network required for {kind} provider network")
        if physnet not in config.physical_networks:
            raise errors.InvalidInput(f"physical_network '{physnet}' unknown for {kind} "
                                      "provider network")
    elif physnet:
        raise errors.InvalidInput(f"provider:physical_network specified for {kind} network")
    if kind in ("flat", "local") and seg_id is not None:
        raise errors.InvalidInput(f"segmentation_id specified for {kind} network")
    if seg_id is not None and not 1 <= seg_id <= MAX_ID[kind]:
        raise errors.InvalidInput(f"segmentation_id out of range (1 through {MAX_ID[kind]})")
    return {"network_type": kind, "physical_network": physnet or None,
            "segmentation_id": seg_id}


def _in_use(kind: str, physnet: str | None, seg_id: int) -> exceptions.Conflict:
    if kind == "flat":
        return errors.conflict("FlatNetworkInUse", "Unable to create the flat network. "
                               f"Physical network {physnet} is in use.")
    if kind == "vlan":
        return errors.conflict("VlanIdInUse", f"Unable to create the network. The VLAN "
                               f"{seg_id} on physical network {physnet} is in use.")
    return errors.conflict("TunnelIdInUse", "Unable to create the network. The tunnel ID "
                           f"{seg_id} is in use.")


def _claim(conn: Connection, kind: str, physnet: str | None, seg_id: int,
           segment_id: str) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.segment_allocations).values(
                network_type=kind, physical_network=physnet or "", segmentation_id=seg_id,
                segment_id=segment_id))
        return True
    except IntegrityError:
        return False


def _allocate_id(conn: Connection, config: SegmentConfig, kind: str, physnet: str | None,
                 segment_id: str) -> int | None:
    ranges = config.vlan_ranges.get(physnet or "", []) if kind == "vlan" \
        else config.tunnel_ranges.get(kind, [])
    alloc = t.segment_allocations
    for low, high in ranges:
        taken = {r[0] for r in conn.execute(sa.select(alloc.c.segmentation_id).where(
            alloc.c.network_type == kind, alloc.c.physical_network == (physnet or ""),
            alloc.c.segmentation_id.between(low, high)))}
        for candidate in range(low, high + 1):
            if candidate not in taken and _claim(conn, kind, physnet, candidate, segment_id):
                return candidate
    return None


def create(conn: Connection, config: SegmentConfig, network_id: str,
           requested: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store the network's segments; with none requested, a tenant segment of the first
    tenant type that still has an id free."""
    made: list[dict[str, Any]] = []
    if not requested:
        for kind in config.tenant_types:
            segment_id = new_id()
            if kind == "local":
                made.append(_insert(conn, segment_id, network_id, 0, kind, None, None))
                return made
            vlan_physnets = list(config.vlan_ranges) if kind == "vlan" else [None]
            for physnet in vlan_physnets:
                _insert(conn, segment_id, network_id, 0, kind, physnet, None)
                seg_id = _allocate_id(conn, config, kind, physnet, segment_id)
                if seg_id is not None:
                    conn.execute(sa.update(t.segments).where(t.segments.c.id == segment_id)
                                 .values(segmentation_id=seg_id))
                    return [{"id": segment_id, "network_type": kind,
                             "physical_network": physnet, "segmentation_id": seg_id}]
                conn.execute(sa.delete(t.segments).where(t.segments.c.id == segment_id))
        raise NoNetworkAvailable()
    for index, spec in enumerate(requested):
        kind, physnet, seg_id = spec["network_type"], spec["physical_network"], \
            spec["segmentation_id"]
        segment_id = new_id()
        _insert(conn, segment_id, network_id, index, kind, physnet, seg_id)
        if kind == "flat":
            if not _claim(conn, kind, physnet, 0, segment_id):
                raise _in_use(kind, physnet, 0)
        elif kind != "local":
            if seg_id is None:
                seg_id = _allocate_id(conn, config, kind, physnet, segment_id)
                if seg_id is None:
                    raise NoNetworkAvailable()
                conn.execute(sa.update(t.segments).where(t.segments.c.id == segment_id)
                             .values(segmentation_id=seg_id))
            elif not _claim(conn, kind, physnet, seg_id, segment_id):
                raise _in_use(kind, physnet, seg_id)
        made.append({"id": segment_id, "network_type": kind, "physical_network": physnet,
                     "segmentation_id": seg_id})
    return made


def _insert(conn: Connection, segment_id: str, network_id: str, index: int, kind: str,
            physnet: str | None, seg_id: int | None) -> dict[str, Any]:
    values = {"id": segment_id, "network_id": network_id, "segment_index": index,
              "network_type": kind, "physical_network": physnet, "segmentation_id": seg_id}
    conn.execute(sa.insert(t.segments).values(**values))
    return values


def of_networks(conn: Connection, network_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in network_ids}
    for start in range(0, len(network_ids), 500):
        chunk = network_ids[start:start + 500]
        for row in conn.execute(sa.select(t.segments).where(t.segments.c.network_id.in_(chunk))
                                .order_by(t.segments.c.segment_index)).mappings():
            out[row["network_id"]].append(dict(row))
    return out


def delete_for(conn: Connection, network_id: str) -> None:
    ids = [r[0] for r in conn.execute(sa.select(t.segments.c.id)
                                      .where(t.segments.c.network_id == network_id))]
    if ids:
        conn.execute(sa.delete(t.segment_allocations)
                     .where(t.segment_allocations.c.segment_id.in_(ids)))
        conn.execute(sa.delete(t.segments).where(t.segments.c.id.in_(ids)))
