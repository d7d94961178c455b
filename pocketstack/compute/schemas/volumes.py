"""Request bodies of Nova's deprecated volume proxies (``/os-volumes``, ``/os-snapshots``),
as Nova's schemas have them."""

from __future__ import annotations

from typing import Any

from pocketstack.compute.schemas.admin import BOOL

_TEXT = {"type": ["string", "null"], "maxLength": 255}

VOLUME_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {"volume": {"type": "object", "properties": {
        "volume_type": {"type": "string"},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "snapshot_id": {"type": "string"},
        "size": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1,
                 "maximum": 0x7FFFFFFF},
        "availability_zone": {"type": "string"},
        "display_name": _TEXT,
        "display_description": _TEXT,
    }, "required": ["size"], "additionalProperties": False}},
    "required": ["volume"],
    "additionalProperties": False,
}

SNAPSHOT_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {"snapshot": {"type": "object", "properties": {
        "volume_id": {"type": "string"},
        "force": BOOL,
        "display_name": _TEXT,
        "display_description": _TEXT,
    }, "required": ["volume_id"], "additionalProperties": False}},
    "required": ["snapshot"],
    "additionalProperties": False,
}

#: ``POST /os-assisted-volume-snapshots`` (Nova's schema: only a qcow2 overlay is described)
ASSISTED_SNAPSHOT_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {"snapshot": {"type": "object", "properties": {
        "volume_id": {"type": "string", "minLength": 1},
        "create_info": {"type": "object", "properties": {
            "snapshot_id": {"type": "string", "minLength": 1},
            "type": {"type": "string", "enum": ["qcow2"]},
            "new_file": {"type": "string", "minLength": 1},
            "id": {"type": "string", "minLength": 1},
        }, "required": ["snapshot_id", "type", "new_file"], "additionalProperties": False},
    }, "required": ["volume_id", "create_info"], "additionalProperties": False}},
    "required": ["snapshot"],
    "additionalProperties": False,
}
