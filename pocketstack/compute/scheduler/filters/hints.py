"""Filters driven by the boot request's scheduler hints: ``same_host`` and ``different_host``
(server uuids, Nova's SameHostFilter and DifferentHostFilter) and ``query`` (a JSON
expression over the host's state, Nova's JsonFilter).

The conductor resolves the servers a hint names to the hosts they run on when it builds the
request spec (``RequestSpec.same_host`` / ``different_host``); the filters only compare.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

from pocketstack.compute.scheduler.model import HostState, RequestSpec


class SameHostFilter:
    """Only hosts that run at least one of the servers named by ``same_host``."""

    name = "SameHostFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        if spec.same_host is None:
            return None
        if host.host in spec.same_host:
            return None
        where = ", ".join(sorted(set(spec.same_host))) or "no host"
        return f"same_host hint: none of the servers named runs here (they run on {where})"


class DifferentHostFilter:
    """No host that runs any of the servers named by ``different_host``."""

    name = "DifferentHostFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        here = spec.different_host.count(host.host)
        if here:
            return f"different_host hint: {here} of the servers named run here"
        return None


def _variables(host: HostState) -> dict[str, Any]:
    """What a ``$name`` in a query may name (Nova's HostState attributes we know)."""
    def cap(rc: str) -> int:
        return int(host.resources.get(rc, {}).get("capacity", 0))

    def used(rc: str) -> int:
        return int(host.resources.get(rc, {}).get("used", 0))

    return {
        "host": host.host, "nodename": host.hypervisor_hostname,
        "hypervisor_hostname": host.hypervisor_hostname,
        "hypervisor_type": host.hypervisor_type, "availability_zone": host.availability_zone,
        "free_ram_mb": host.free("MEMORY_MB"), "free_disk_mb": host.free("DISK_GB") * 1024,
        "total_usable_ram_mb": cap("MEMORY_MB"), "total_usable_disk_gb": cap("DISK_GB"),
        "vcpus_total": cap("VCPU"), "vcpus_used": used("VCPU"),
    }


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[list[Any]], bool]:
    def run(args: list[Any]) -> bool:
        if len(args) < 2:
            return False
        try:
            return all(op(args[0], other) for other in args[1:])
        except TypeError:  # comparing a number with a string: not a match
            return False
    return run


_COMMANDS: dict[str, Callable[[list[Any]], Any]] = {
    "=": _compare(operator.eq), "<": _compare(operator.lt), ">": _compare(operator.gt),
    "<=": _compare(operator.le), ">=": _compare(operator.ge),
    "in": lambda args: len(args) >= 2 and args[0] in args[1:],
    "not": lambda args: [not a for a in args],
    "or": lambda args: any(args), "and": lambda args: all(args),
}


class QueryError(ValueError):
    """A query hint that is not a valid expression."""


def evaluate(query: Any, variables: dict[str, Any]) -> Any:
    """Nova's JsonFilter language: ``[cmd, arg...]`` with nested lists and ``$variables``
    (an unknown variable is dropped from its command's arguments, as Nova does)."""
    if not query:
        return True
    if not isinstance(query, list) or not isinstance(query[0], str) or \
            query[0] not in _COMMANDS:
        raise QueryError(f"unknown command in {json.dumps(query)[:80]}")
    args: list[Any] = []
    for arg in query[1:]:
        if isinstance(arg, list):
            arg = evaluate(arg, variables)
        elif isinstance(arg, str) and arg.startswith("$"):
            arg = variables.get(arg[1:])
        if arg is not None:
            args.append(arg)
    return _COMMANDS[query[0]](args)


class JsonFilter:
    """Hosts for which the ``query`` hint (a JSON expression) holds."""

    name = "JsonFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        query = spec.query
        if query is None or query == "":
            return None
        try:
            if isinstance(query, str):
                query = json.loads(query)
            result = evaluate(query, _variables(host))
        except (ValueError, RecursionError) as exc:
            return f"query hint: not a valid query ({exc})"
        if isinstance(result, list):
            result = any(result)
        return None if result else "query hint: the host does not match the query"
