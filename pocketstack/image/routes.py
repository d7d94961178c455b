"""The whole Glance v2 surface, one line per route."""

from __future__ import annotations

from pocketstack.common.api.app import Route
from pocketstack.image.api import (
    cache,
    data,
    images,
    members,
    metadef_items,
    metadefs,
    schemas,
    tasks,
    versions,
)


def _metadefs() -> list[Route]:
    ns = "/v2/metadefs/namespaces/{namespace}"
    m = metadefs
    i = metadef_items
    return [
        Route("GET", ns, m.show_namespace),
        Route("PUT", ns, m.update_namespace),
        Route("DELETE", ns, m.delete_namespace),
        Route("GET", f"{ns}/resource_types", m.list_associations),
        Route("POST", f"{ns}/resource_types", m.create_association),
        Route("DELETE", f"{ns}/resource_types/{{resource_type}}", m.delete_association),
        Route("GET", f"{ns}/objects", i.list_objects),
        Route("POST", f"{ns}/objects", i.create_object),
        Route("DELETE", f"{ns}/objects", m.delete_objects),
        Route("GET", f"{ns}/objects/{{object_name}}", i.show_object),
        Route("PUT", f"{ns}/objects/{{object_name}}", i.update_object),
        Route("DELETE", f"{ns}/objects/{{object_name}}", i.delete_object),
        Route("GET", f"{ns}/properties", i.list_properties),
        Route("POST", f"{ns}/properties", i.create_property),
        Route("DELETE", f"{ns}/properties", m.delete_properties),
        Route("GET", f"{ns}/properties/{{property_name}}", i.show_property),
        Route("PUT", f"{ns}/properties/{{property_name}}", i.update_property),
        Route("DELETE", f"{ns}/properties/{{property_name}}", i.delete_property),
        Route("GET", f"{ns}/tags", i.list_tags),
        Route("POST", f"{ns}/tags", i.create_tags),
        Route("DELETE", f"{ns}/tags", m.delete_tags),
        Route("GET", f"{ns}/tags/{{tag_name}}", i.show_tag),
        Route("POST", f"{ns}/tags/{{tag_name}}", i.create_tag),
        Route("PUT", f"{ns}/tags/{{tag_name}}", i.update_tag),
        Route("DELETE", f"{ns}/tags/{{tag_name}}", i.delete_tag),
    ]


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
    # the API node's image cache
    Route("GET", "/v2/cache", cache.state),
    Route("DELETE", "/v2/cache", cache.clear),
    Route("PUT", "/v2/cache/{image_id}", cache.queue),
    Route("DELETE", "/v2/cache/{image_id}", cache.delete_entry),
    # tasks
    Route("GET", "/v2/tasks", tasks.list_tasks),
    Route("POST", "/v2/tasks", tasks.create_task),
    Route("GET", "/v2/tasks/{task_id}", tasks.show_task),
    # metadata definitions
    Route("GET", "/v2/metadefs/resource_types", metadefs.list_resource_types),
    Route("GET", "/v2/metadefs/namespaces", metadefs.list_namespaces),
    Route("POST", "/v2/metadefs/namespaces", metadefs.create_namespace),
    *_metadefs(),
    # schemas and discovery
    Route("GET", "/v2/schemas/{name}", schemas.show_schema),
    Route("GET", "/v2/schemas/metadefs/{name}", schemas.show_metadef_schema),
    Route("GET", "/v2/info/import", schemas.info_import),
    Route("GET", "/v2/info/stores", schemas.info_stores),
    Route("GET", "/v2/info/usage", schemas.info_usage),
]
