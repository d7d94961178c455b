"""A server's volumes as the conductor handles them: detached (and deleted when
``delete_on_termination``) once the server is gone.

Runs in a worker thread: :class:`~pocketstack.volume.interface.VolumeAPI` blocks.
"""

from __future__ import annotations

import logging
from typing import Any

from pocketstack.common.context import RequestContext

LOG = logging.getLogger(__name__)
SERVICE_CTX = RequestContext(user_id="nova-conductor", roles=["admin"], system_scope="all")


def release(api: Any, uuid: str, bdms: list[dict[str, Any]]) -> None:
    """Detach each volume of the deleted server ``uuid``; delete those marked so."""
    if api is None:
        return
    for bdm in bdms:
        vid = str(bdm["volume_id"])
        try:
            api.detach(SERVICE_CTX, vid, uuid)
            if bdm.get("delete_on_termination"):
                api.delete_volume(SERVICE_CTX, vid)
        except Exception as exc:  # gone already, or in a state that refuses: leave it
            LOG.warning("[instance: %s] releasing volume %s: %s", uuid, vid, exc)
