"""Glance v2 JSON schemas: what ``GET /v2/schemas/*`` publishes and what requests validate against.

The image schema lists the base attributes; anything else is a custom property whose value must
be a string (``additionalProperties: {"type": "string"}``), as in Glance.
"""

from __future__ import annotations

import copy
from typing import Any

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing",
            "pending_delete", "deactivated")
VISIBILITIES = ("community", "public", "private", "shared")
MEMBER_STATUSES = ("pending", "accepted", "rejected")

UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")

#: attributes a client can never set (403 "Attribute 'x' is read-only.")
READ_ONLY = ("checksum", "os_hash_algo", "os_hash_value", "created_at", "updated_at", "status",
             "size", "virtual_size", "direct_url", "self", "file", "schema", "stores")
#: attributes reserved for the server (403 "Attribute 'x' is reserved.")
RESERVED = ("location", "deleted", "deleted_at", "locations")
#: the namespace Glance keeps for itself
RESERVED_PREFIX = "os_glance"
#: base attributes stored in columns (everything else is a custom property)
BASE_ATTRS = ("id", "name", "status", "visibility", "protected", "os_hidden", "tags",
              "disk_format", "container_format", "size", "virtual_size", "checksum",
              "os_hash_algo", "os_hash_value", "owner", "min_disk", "min_ram", "created_at",
              "updated_at")
#: client-writable base attributes
WRITABLE_BASE = ("id", "name", "visibility", "protected", "os_hidden", "tags", "disk_format",
                 "container_format", "owner", "min_disk", "min_ram")


def _nullable_string(max_length: int, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": ["null", "string"], "maxLength": max_length, "description": description,
            **extra}


_IMAGE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "description": "An identifier for the image",
           "pattern": UUID_PATTERN},
    "name": _nullable_string(255, "Descriptive name for the image"),
    "status": {"type": "string", "readOnly": True,
               "description": "Status of the image", "enum": list(STATUSES)},
    "visibility": {"type": "string", "description": "Scope of image accessibility",
                   "enum": list(VISIBILITIES)},
    "protected": {"type": "boolean",
                  "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean",
                  "description": "If true, image will not appear in default image list "
                                 "response."},
    "checksum": _nullable_string(32, "md5 hash of image contents.", readOnly=True),
    "os_hash_algo": _nullable_string(64, "Algorithm to calculate the os_hash_value",
                                     readOnly=True),
    "os_hash_value": _nullable_string(128, "Hexdigest of the image contents using the "
                                           "algorithm specified by the os_hash_algo",
                                      readOnly=True),
    "owner": _nullable_string(255, "Owner of the image"),
    "size": {"type": ["null", "integer"], "readOnly": True,
             "description": "Size of image file in bytes"},
    "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                     "description": "Virtual size of image in bytes"},
    "container_format": {"type": ["null", "string"], "description": "Format of the container",
                         "enum": [None, *CONTAINER_FORMATS]},
    "disk_format": {"type": ["null", "string"], "description": "Format of the disk",
                    "enum": [None, *DISK_FORMATS]},
    "created_at": {"type": "string", "readOnly": True,
                   "description": "Date and time of image registration"},
    "updated_at": {"type": "string", "readOnly": True,
                   "description": "Date and time of the last image modification"},
    "tags": {"type": "array", "description": "List of strings related to the image",
             "items": {"type": "string", "maxLength": 255}},
    "direct_url": {"type": "string", "readOnly": True,
                   "description": "URL to access the image file kept in external store"},
    "min_ram": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                "description": "Amount of ram (in MB) required to boot image."},
    "min_disk": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                 "description": "Amount of disk space (in GB) required to boot image."},
    "self": {"type": "string", "readOnly": True,
             "description": "An image self url"},
    "file": {"type": "string", "readOnly": True,
             "description": "An image file url"},
    "stores": {"type": "string", "readOnly": True,
               "description": "Store in which image data resides."},
    "schema": {"type": "string", "readOnly": True,
               "description": "An image schema url"},
    "locations": {"type": "array", "description": "A set of URLs to access the image file "
                                                  "kept in external store",
                  "items": {"type": "object"}},
    # Well-known optional properties Glance lists in its schema.
    "kernel_id": {"type": ["null", "string"], "pattern": UUID_PATTERN,
                  "description": "ID of image stored in Glance that should be used as the "
                                 "kernel when booting an AMI-style image."},
    "ramdisk_id": {"type": ["null", "string"], "pattern": UUID_PATTERN,
                   "description": "ID of image stored in Glance that should be used as the "
                                  "ramdisk when booting an AMI-style image."},
    "instance_uuid": {"type": "string",
                      "description": "Metadata which can be used to record which instance "
                                     "this image is associated with."},
    "architecture": {"type": "string", "description": "Operating system architecture"},
    "os_distro": {"type": "string", "description": "Common name of operating system "
                                                   "distribution"},
    "os_version": {"type": "string", "description": "Operating system version as specified "
                                                    "by the distributor"},
    "description": {"type": "string", "description": "A human-readable string describing "
                                                     "this image."},
}

IMAGE_LINKS = [
    {"rel": "self", "href": "{self}"},
    {"rel": "enclosure", "href": "{file}"},
    {"rel": "describedby", "href": "{schema}"},
]


def image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "properties": copy.deepcopy(_IMAGE_PROPERTIES),
        "additionalProperties": {"type": "string"},
        "links": copy.deepcopy(IMAGE_LINKS),
    }


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "created_at": {"type": "string", "description": "Date and time of image member "
                                                            "creation"},
            "image_id": {"type": "string", "pattern": UUID_PATTERN,
                         "description": "An identifier for the image"},
            "member_id": {"type": "string", "description": "An identifier for the image "
                                                           "member (tenantId)"},
            "status": {"type": "string", "enum": list(MEMBER_STATUSES),
                       "description": "The status of this image member"},
            "updated_at": {"type": "string", "description": "Date and time of last "
                                                            "modification of image member"},
            "schema": {"type": "string", "readOnly": True},
        },
    }


def members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }


def task_schema() -> dict[str, Any]:
    return {
        "name": "task",
        "properties": {
            "id": {"type": "string", "pattern": UUID_PATTERN},
            "type": {"type": "string", "enum": ["import", "api_image_import"]},
            "status": {"type": "string",
                       "enum": ["pending", "processing", "success", "failure"]},
            "input": {"type": ["null", "object"]},
            "result": {"type": ["null", "object"]},
            "owner": {"type": "string"},
            "message": {"type": "string"},
            "image_id": {"type": "string"},
            "request_id": {"type": "string"},
            "user_id": {"type": "string"},
            "expires_at": {"type": ["null", "string"]},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "self": {"type": "string"},
            "schema": {"type": "string"},
        },
    }


def tasks_schema() -> dict[str, Any]:
    return {
        "name": "tasks",
        "properties": {"tasks": {"type": "array", "items": task_schema()},
                       "schema": {"type": "string"}, "first": {"type": "string"},
                       "next": {"type": "string"}},
    }


SCHEMAS = {
    "image": image_schema,
    "images": images_schema,
    "member": member_schema,
    "members": members_schema,
    "task": task_schema,
    "tasks": tasks_schema,
}

#: what an image must satisfy after create or update (writable attributes only)
IMAGE_VALUES: dict[str, Any] = {
    "type": "object",
    "properties": {k: v for k, v in _IMAGE_PROPERTIES.items()
                   if k not in READ_ONLY and k != "locations"},
    "additionalProperties": {"type": "string", "maxLength": 65535},
    "patternProperties": {"^.{256,}$": {"not": {}}},
}

MEMBER_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {"member": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["member"],
}

MEMBER_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": list(MEMBER_STATUSES)}},
    "required": ["status"],
}

IMPORT_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "uri": {"type": "string"}},
            "required": ["name"],
        },
        "stores": {"type": "array", "items": {"type": "string"}},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
    "required": ["method"],
}
