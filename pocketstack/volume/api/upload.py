"""``os-volume_upload_image``: a new image in the image service with the volume's data."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest
from pocketstack.volume import errors


def upload_to_image(req: ApiRequest, arg: Any) -> Response:
    raise errors.bad("os-volume_upload_image is not available yet.")
