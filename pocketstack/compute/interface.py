"""What other services (and operator tools) may ask of compute."""

from __future__ import annotations

from typing import Protocol


class ServerLookup(Protocol):
    def find_servers(self, name_or_id: str) -> list[tuple[str, str, str | None]]:
        """Live servers whose uuid or name is ``name_or_id``: ``[(uuid, name, host)]``."""
        ...
