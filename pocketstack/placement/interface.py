"""What other services may ask of placement (implemented by
:class:`pocketstack.placement.client.PlacementClient`, in-process, no HTTP): compute reports
its hosts' inventories and claims resources for its instances.

Errors are the common ones: a claim that does not fit raises a ``Conflict`` naming the provider
and resource class; a min/max/step violation a ``BadRequest``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class PlacementAPI(Protocol):
    def joining(self, conn: Connection) -> AbstractContextManager[None]:
        """Inside the block, this thread's placement writes join ``conn``'s transaction (a
        connection to the same database): a claim commits or rolls back with the caller's
        own writes."""
        ...

    # -- providers (compute hosts report themselves) ------------------------------------------
    def ensure_provider(self, uuid: str, name: str, parent_uuid: str | None = None) -> None: ...

    def delete_provider(self, uuid: str) -> None: ...

    def set_inventory(self, uuid: str, inventories_: dict[str, dict[str, Any]]) -> None: ...

    def set_traits(self, uuid: str, traits_: list[str]) -> None: ...

    def set_aggregates(self, uuid: str, aggregates_: list[str]) -> None: ...

    # -- reads ----------------------------------------------------------------------------------
    def allocation_candidates(self, resources: dict[str, int],
                              required_traits: Sequence[str] = (),
                              forbidden_traits: Sequence[str] = (),
                              member_of: Sequence[Sequence[str]] = (),
                              limit: int | None = None) -> list[Any]: ...

    def provider_summaries(self, uuids: list[str] | None = None
                           ) -> dict[str, dict[str, dict[str, int]]]:
        """{provider uuid: {resource class: {"capacity", "used"}}}."""
        ...

    def get_allocations(self, consumer_uuid: str) -> dict[str, dict[str, int]]: ...

    def usages(self, project_id: str, user_id: str | None = None) -> dict[str, int]: ...

    # -- claims ---------------------------------------------------------------------------------
    def claim(self, consumer_uuid: str, allocations_: dict[str, dict[str, int]],
              project_id: str, user_id: str) -> None:
        """Atomically replace the consumer's allocations ({provider uuid: {rc: amount}})."""
        ...

    def delete_allocations(self, consumer_uuid: str) -> None: ...
