"""Cinder's expected failures, as domain exceptions the API kit renders with Cinder's body
(``{"badRequest": {"message", "code"}}``, ``itemNotFound``, ``overLimit``, …)."""

from __future__ import annotations

from pocketstack.common import exceptions


class InvalidInput(exceptions.BadRequest):
    pass


class VolumeNotFound(exceptions.NotFound):
    def __init__(self, volume_id: str) -> None:
        super().__init__(f"Volume {volume_id} could not be found.")


class SnapshotNotFound(exceptions.NotFound):
    def __init__(self, snapshot_id: str) -> None:
        super().__init__(f"Snapshot {snapshot_id} could not be found.")


class TypeNotFound(exceptions.NotFound):
    def __init__(self, type_id: str) -> None:
        super().__init__(f"Volume type {type_id} could not be found.")


class InvalidState(exceptions.BadRequest):
    """Cinder's ``InvalidVolume``/``InvalidSnapshot``: the resource's status forbids it."""


class Busy(exceptions.Conflict):
    """Cinder answers 409 for some state refusals (e.g. deleting an in-use volume? no: 400)."""


class OverQuota(exceptions.PocketstackError):
    """Cinder's ``VolumeLimitExceeded``/``VolumeSizeExceedsAvailableQuota``: 413 overLimit."""

    status = 413
    title = "Request Entity Too Large"


def bad(message: str) -> InvalidInput:
    return InvalidInput(f"Invalid input received: {message}")
