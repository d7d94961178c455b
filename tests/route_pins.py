"""Route-table pins: a service's route table must hold exactly the pinned (method, path) pairs.

Each ``tests/<service>/test_routes.py`` writes its expected table out literally, one
``METHOD /path/{template}`` per line, so a route that disappears or appears by accident fails
its test. Adding or removing a route on purpose means editing the pin in the same change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pocketstack.common.api.app import Route


def parse(pinned: str) -> list[tuple[str, str]]:
    """``METHOD /path`` lines (blank lines and ``#`` comments ignored) → (method, path) pairs."""
    pairs = []
    for line in pinned.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            method, path = line.split()
            pairs.append((method, path))
    return pairs


def assert_pinned(routes: Iterable[Route], pinned: str) -> None:
    """Fail, naming the routes, unless ``routes`` is exactly the pinned table (no duplicates)."""
    actual = [(r.method, r.path) for r in routes]
    expected = parse(pinned)
    assert not [p for p, n in Counter(expected).items() if n > 1], "the pin repeats a route"
    twice = sorted(p for p, n in Counter(actual).items() if n > 1)
    assert not twice, f"routes declared twice: {twice}"
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    assert not missing and not unexpected, (
        "route table differs from its pin:\n"
        + "".join(f"  missing:    {m} {p}\n" for m, p in missing)
        + "".join(f"  unexpected: {m} {p}\n" for m, p in unexpected))
