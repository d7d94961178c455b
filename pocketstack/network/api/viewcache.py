"""Serialised views of resources, keyed by (id, admin view, revision number).

A resource's revision moves with every change that shows in its view (row updates, fixed
IPs, security groups, tags, binding), so a cached view is exact for as long as its revision
is current; a long list serialises only what changed since it was last listed. Bounded (least
recently used out first); one per service object, shared by its request threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class ViewCache:
    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, bool], tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, object_id: str, admin: bool, revision: int) -> bytes | None:
        with self._lock:
            found = self._items.get((object_id, admin))
            if found is None or found[0] != revision:
                return None
            self._items.move_to_end((object_id, admin))
            return found[1]

    def put(self, object_id: str, admin: bool, revision: int, body: bytes) -> None:
        with self._lock:
            self._items[(object_id, admin)] = (revision, body)
            self._items.move_to_end((object_id, admin))
            while len(self._items) > self.size:
                self._items.popitem(last=False)
