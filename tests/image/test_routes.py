"""Pins Glance v2's route table (``pocketstack/image/routes.py``): every (method, path)
template, one per line; a route added or lost by accident fails here."""

from __future__ import annotations

from pocketstack.image import routes
from tests.route_pins import assert_pinned

ROUTES = """
GET    /
GET    /v2
GET    /v2/images
POST   /v2/images
GET    /v2/images/{image_id}
PATCH  /v2/images/{image_id}
DELETE /v2/images/{image_id}
POST   /v2/images/{image_id}/actions/deactivate
POST   /v2/images/{image_id}/actions/reactivate
PUT    /v2/images/{image_id}/tags/{tag}
DELETE /v2/images/{image_id}/tags/{tag}
PUT    /v2/images/{image_id}/file
GET    /v2/images/{image_id}/file
PUT    /v2/images/{image_id}/stage
POST   /v2/images/{image_id}/import
GET    /v2/images/{image_id}/tasks
GET    /v2/images/{image_id}/members
POST   /v2/images/{image_id}/members
GET    /v2/images/{image_id}/members/{member_id}
PUT    /v2/images/{image_id}/members/{member_id}
DELETE /v2/images/{image_id}/members/{member_id}
GET    /v2/cache
DELETE /v2/cache
PUT    /v2/cache/{image_id}
DELETE /v2/cache/{image_id}
GET    /v2/schemas/{name}
GET    /v2/info/import
GET    /v2/info/stores
GET    /v2/info/usage
GET    /v2/tasks
POST   /v2/tasks
GET    /v2/tasks/{task_id}
GET    /v2/metadefs/resource_types
GET    /v2/metadefs/namespaces
POST   /v2/metadefs/namespaces
GET    /v2/metadefs/namespaces/{namespace}
PUT    /v2/metadefs/namespaces/{namespace}
DELETE /v2/metadefs/namespaces/{namespace}
GET    /v2/metadefs/namespaces/{namespace}/resource_types
POST   /v2/metadefs/namespaces/{namespace}/resource_types
DELETE /v2/metadefs/namespaces/{namespace}/resource_types/{resource_type}
GET    /v2/metadefs/namespaces/{namespace}/objects
POST   /v2/metadefs/namespaces/{namespace}/objects
DELETE /v2/metadefs/namespaces/{namespace}/objects
GET    /v2/metadefs/namespaces/{namespace}/objects/{object_name}
PUT    /v2/metadefs/namespaces/{namespace}/objects/{object_name}
DELETE /v2/metadefs/namespaces/{namespace}/objects/{object_name}
GET    /v2/metadefs/namespaces/{namespace}/properties
POST   /v2/metadefs/namespaces/{namespace}/properties
DELETE /v2/metadefs/namespaces/{namespace}/properties
GET    /v2/metadefs/namespaces/{namespace}/properties/{property_name}
PUT    /v2/metadefs/namespaces/{namespace}/properties/{property_name}
DELETE /v2/metadefs/namespaces/{namespace}/properties/{property_name}
GET    /v2/metadefs/namespaces/{namespace}/tags
POST   /v2/metadefs/namespaces/{namespace}/tags
DELETE /v2/metadefs/namespaces/{namespace}/tags
GET    /v2/metadefs/namespaces/{namespace}/tags/{tag_name}
POST   /v2/metadefs/namespaces/{namespace}/tags/{tag_name}
PUT    /v2/metadefs/namespaces/{namespace}/tags/{tag_name}
DELETE /v2/metadefs/namespaces/{namespace}/tags/{tag_name}
GET    /v2/schemas/metadefs/{name}
"""


def test_route_table_is_pinned() -> None:
    assert_pinned(routes.ROUTES, ROUTES)
