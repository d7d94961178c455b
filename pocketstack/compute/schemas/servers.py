"""JSON schemas of server requests (create, update, actions)."""

from __future__ import annotations

from typing import Any

from pocketstack.compute.schemas.names import NAME, description

METADATA = {"type": "object", "patternProperties": {
    "^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False}
REF = {"type": "string", "minLength": 1, "maxLength": 255}
UUID = {"type": "string", "pattern": "^[0-9a-fA-F-]{32,36}$"}

BDM = {"type": "object", "properties": {
    "uuid": {"type": ["string", "null"]}, "boot_index": {"type": ["integer", "string", "null"]},
    "source_type": {"type": "string", "enum": ["image", "volume", "snapshot", "blank"]},
    "destination_type": {"type": "string", "enum": ["local", "volume"]},
    "delete_on_termination": {"type": ["boolean", "string"]},
    "volume_size": {"type": ["integer", "string", "null"]},
    "device_name": {"type": ["string", "null"]}, "tag": {"type": "string"},
    "guest_format": {"type": ["string", "null"]}, "disk_bus": {"type": ["string", "null"]},
    "device_type": {"type": ["string", "null"]}, "volume_type": {"type": ["string", "null"]},
}}

NETWORKS = {"oneOf": [
    {"type": "string", "enum": ["auto", "none"]},
    {"type": "array", "items": {"type": "object", "properties": {
        "uuid": {"type": "string"}, "port": {"type": ["string", "null"]},
        "fixed_ip": {"type": "string"}, "tag": {"type": "string"}},
        "additionalProperties": False}},
]}

# Nova's scheduler hints: known keys are checked, any other key is kept (as Nova)
HINTS: dict[str, Any] = {"type": "object", "properties": {
    "group": {"oneOf": [UUID, {"type": "array", "items": UUID}]},
    "same_host": {"oneOf": [UUID, {"type": "array", "items": UUID}]},
    "different_host": {"oneOf": [UUID, {"type": "array", "items": UUID}]},
    "query": {"type": ["string", "object", "array"]},
}, "additionalProperties": True}

CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": NAME,
                "imageRef": {"type": "string", "maxLength": 255},
                "flavorRef": REF,
                "adminPass": {"type": "string"},
                "metadata": METADATA,
                "networks": NETWORKS,
                "min_count": {"type": ["integer", "string"], "minimum": 1},
                "max_count": {"type": ["integer", "string"], "minimum": 1},
                "return_reservation_id": {"type": ["boolean", "string"]},
                "key_name": {"type": "string", "minLength": 1, "maxLength": 255},
                "user_data": {"type": "string", "maxLength": 65535},
                "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
                "block_device_mapping_v2": {"type": "array", "items": BDM},
                "block_device_mapping": {"type": "array"},
                "security_groups": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}}}},
                "description": description(255),
                "accessIPv4": {"type": "string", "format": "ipv4"},
                "accessIPv6": {"type": "string", "format": "ipv6"},
                "config_drive": {"type": ["boolean", "string"]},
                "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 1,
                                                     "maxLength": 60}, "maxItems": 50},
                "hostname": {"type": "string", "minLength": 1, "maxLength": 255},
                "host": {"type": "string"},
                "hypervisor_hostname": {"type": "string"},
                "trusted_image_certificates": {"type": ["array", "null"]},
            },
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
        },
        "os:scheduler_hints": HINTS,
        "OS-SCH-HNT:scheduler_hints": HINTS,
    },
    "required": ["server"],
    "additionalProperties": False,
}

UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {"server": {"type": "object", "properties": {
        "name": NAME, "description": description(255),
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "hostname": {"type": "string", "minLength": 1, "maxLength": 255},
    }, "additionalProperties": False}},
    "required": ["server"],
    "additionalProperties": False,
}

REBOOT = {"type": "object", "properties": {"type": {"type": "string",
                                                    "enum": ["SOFT", "HARD", "soft", "hard"]}},
          "required": ["type"]}
DISK_CONFIG = {"type": "string", "enum": ["AUTO", "MANUAL"]}
RESIZE = {"type": "object", "properties": {"flavorRef": REF, "OS-DCF:diskConfig": DISK_CONFIG},
          "required": ["flavorRef"], "additionalProperties": False}
REBUILD = {"type": "object", "properties": {
    "imageRef": {"type": "string"}, "name": NAME, "adminPass": {"type": "string"},
    "metadata": METADATA, "preserve_ephemeral": {"type": "boolean"},
    "description": description(255), "key_name": {"type": ["string", "null"]},
    "user_data": {"type": ["string", "null"]}, "hostname": {"type": "string"},
    "OS-DCF:diskConfig": DISK_CONFIG, "accessIPv4": {"type": "string"},
    "accessIPv6": {"type": "string"}, "trusted_image_certificates": {"type": ["array", "null"]},
}, "required": ["imageRef"], "additionalProperties": False}
CONSOLE_OUTPUT = {"type": ["object", "null"], "properties": {
    "length": {"type": ["integer", "string", "null"]}}}
LOCK = {"type": ["object", "null"], "properties": {
    "locked_reason": {"type": "string", "maxLength": 255}}, "additionalProperties": False}
MIGRATE = {"type": ["object", "null"], "properties": {"host": {"type": ["string", "null"]}},
           "additionalProperties": False}

INTERFACE_ATTACH: dict[str, Any] = {
    "type": "object",
    "properties": {"interfaceAttachment": {"type": "object", "properties": {
        "net_id": {"type": "string", "format": "uuid"},
        "port_id": {"type": "string", "format": "uuid"},
        "fixed_ips": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "properties": {"ip_address": {"type": "string"}},
            "required": ["ip_address"], "additionalProperties": False}},
        "tag": {"type": "string", "maxLength": 60}},
        "additionalProperties": False}},
    "additionalProperties": False,
}

FLOATING_IP_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {"pool": {"type": ["string", "null"]}},
    "additionalProperties": False,
}

SECURITY_GROUP: dict[str, Any] = {
    "type": "object",
    "properties": {"security_group": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": "string", "maxLength": 255}},
        "required": ["name", "description"], "additionalProperties": False}},
    "required": ["security_group"], "additionalProperties": False,
}

SECURITY_GROUP_RULE: dict[str, Any] = {
    "type": "object",
    "properties": {"security_group_rule": {"type": "object", "properties": {
        "parent_group_id": {"type": ["string", "integer"]},
        "ip_protocol": {"type": ["string", "null"]},
        "from_port": {"type": ["string", "integer", "null"]},
        "to_port": {"type": ["string", "integer", "null"]},
        "cidr": {"type": ["string", "null"]},
        "group_id": {"type": ["string", "null"]}},
        "required": ["parent_group_id"], "additionalProperties": False}},
    "required": ["security_group_rule"], "additionalProperties": False,
}

VOLUME_ATTACH: dict[str, Any] = {
    "type": "object",
    "properties": {"volumeAttachment": {"type": "object", "properties": {
        "volumeId": {"type": "string", "format": "uuid"},
        "device": {"type": ["string", "null"],
                   "pattern": "^(/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"},
        "tag": {"type": "string", "maxLength": 60},
        "delete_on_termination": {"type": "boolean"}},
        "required": ["volumeId"], "additionalProperties": False}},
    "required": ["volumeAttachment"],
    "additionalProperties": False,
}
