"""Glance policy rule names and defaults (Glance's secure-RBAC defaults, project scope).

Targets carry ``project_id`` (the image owner), ``member_id`` (the caller's project when it is a
member of the image) and ``visibility``. Visibility itself (who may even see an image) is
enforced by the domain layer, which answers 404 for images the caller may not see, as Glance
does; the rules below decide what a caller who can see an image may do with it.
"""

from __future__ import annotations

from pocketstack.common.policy import Rule

ADMIN = "role:admin"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_READER = "role:reader and project_id:%(project_id)s"
ADMIN_OR_MEMBER = f"{ADMIN} or ({PROJECT_MEMBER})"
ADMIN_OR_READER = f"{ADMIN} or ({PROJECT_READER})"
_SEES = ("project_id:%(project_id)s or project_id:%(member_id)s or "
         "'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s")
READ_IMAGE = f"{ADMIN} or (role:reader and ({_SEES}))"
DOWNLOAD_IMAGE = f"{ADMIN} or (role:member and ({_SEES}))"
READ_MEMBER = f"{ADMIN} or (role:reader and (project_id:%(project_id)s or "\
    "project_id:%(member_id)s))"
MODIFY_MEMBER = f"{ADMIN} or (role:member and project_id:%(member_id)s)"


def _r(name: str, check: str, doc: str) -> Rule:
    return Rule(name, check, doc)


RULES: list[Rule] = [
    _r("add_image", ADMIN_OR_MEMBER, "Create an image (owned by the target project)."),
    _r("get_image", READ_IMAGE, "Show an image."),
    _r("get_images", ADMIN_OR_READER, "List images."),
    _r("modify_image", ADMIN_OR_MEMBER, "Update an image, its tags and properties."),
    _r("delete_image", ADMIN_OR_MEMBER, "Delete an image."),
    _r("publicize_image", ADMIN, "Make an image public."),
    _r("communitize_image", ADMIN_OR_MEMBER, "Make an image community-visible."),
    _r("upload_image", ADMIN_OR_MEMBER, "Upload or stage image data."),
    _r("download_image", DOWNLOAD_IMAGE, "Download image data."),
    _r("cache_list", ADMIN, "List the images cached and queued on the API node."),
    _r("cache_image", ADMIN, "Queue an image for caching."),
    _r("cache_delete", ADMIN, "Delete an image from the cache or queue, or clear them."),
    _r("import_image", ADMIN_OR_MEMBER, "Import staged data into an image."),
    _r("deactivate", ADMIN_OR_MEMBER, "Deactivate an image."),
    _r("reactivate", ADMIN_OR_MEMBER, "Reactivate an image."),
    _r("set_image_owner", ADMIN, "Give an image to another project."),
    _r("get_image_tasks", READ_IMAGE, "List the import tasks of an image."),
    _r("add_member", ADMIN_OR_MEMBER, "Share an image with a project."),
    _r("delete_member", ADMIN_OR_MEMBER, "Stop sharing an image with a project."),
    _r("get_member", READ_MEMBER, "Show an image membership."),
    _r("get_members", READ_MEMBER, "List image memberships."),
    _r("modify_member", MODIFY_MEMBER, "Accept or reject an image shared with the project."),
    _r("tasks_api_access", ADMIN, "Use the /v2/tasks API at all."),
    _r("get_task", "", "Show a task."),
    _r("get_tasks", "", "List tasks."),
    _r("add_task", "", "Create a task."),
    # metadata definitions: anyone may read (private namespaces stay their owner's), admins
    # write
    *(_r(n, "", "Read metadata definitions.") for n in (
        "get_metadef_namespace", "get_metadef_namespaces", "get_metadef_object",
        "get_metadef_objects", "get_metadef_property", "get_metadef_properties",
        "get_metadef_tag", "get_metadef_tags", "list_metadef_resource_types",
        "get_metadef_resource_type")),
    *(_r(n, ADMIN, "Change metadata definitions.") for n in (
        "add_metadef_namespace", "modify_metadef_namespace", "delete_metadef_namespace",
        "add_metadef_object", "modify_metadef_object", "delete_metadef_object",
        "add_metadef_property", "modify_metadef_property", "remove_metadef_property",
        "add_metadef_tag", "add_metadef_tags", "modify_metadef_tag", "delete_metadef_tag",
        "delete_metadef_tags", "add_metadef_resource_type_association",
        "remove_metadef_resource_type_association")),
]
