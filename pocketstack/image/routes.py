"""The whole Glance v2 surface, one line per route."""

from __future__ import annotations

from pocketstack.common.api.app import Route
from pocketstack.image.api import data, images, members, schemas, versions

ROUTES: list[Route] = [
    Route("GET", "/", versions.list_versions, public=True),
    Route("GET", "/v2", versions.list_versions, public=True),
    # images
    Route("GET", "/v2/images", images.list_images),
    Route("POST", "/v2/images", images.create_image),
    Route("GET", "/v2/images/{image_id}", images.show_image),
    Route("PATCH", "/v2/images/{image_id}", images.update_image),
    Route("DELETE", "/v2/images/{image_id}", images.delete_image),
    Route("POST", "/v2/images/{image_id}/actions/deactivate", images.deactivate),
    Route("POST", "/v2/images/{image_id}/actions/reactivate", images.reactivate),
    Route("PUT", "/v2/images/{image_id}/tags/{tag}", images.add_tag),
    Route("DELETE", "/v2/images/{image_id}/tags/{tag}", images.delete_tag),
    # data
    Route("PUT", "/v2/images/{image_id}/file", data.upload_file, stream=True),
    Route("GET", "/v2/images/{image_id}/file", data.download_file),
    Route("PUT", "/v2/images/{image_id}/stage", data.stage_file, stream=True),
    Route("POST", "/v2/images/{image_id}/import", data.import_image),
    Route("GET", "/v2/images/{image_id}/tasks", data.list_tasks),
    # members
    Route("GET", "/v2/images/{image_id}/members", members.list_members),
    Route("POST", "/v2/images/{image_id}/members", members.create_member),
    Route("GET", "/v2/images/{image_id}/members/{member_id}", members.show_member),
    Route("PUT", "/v2/images/{image_id}/members/{member_id}", members.update_member),
    Route("DELETE", "/v2/images/{image_id}/members/{member_id}", members.delete_member),
    # schemas and discovery
    Route("GET", "/v2/schemas/{name}", schemas.show_schema),
    Route("GET", "/v2/info/import", schemas.info_import),
    Route("GET", "/v2/info/stores", schemas.info_stores),
    Route("GET", "/v2/info/usage", schemas.info_usage),
]
