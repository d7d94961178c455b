"""JSON schemas for placement request bodies, named by method and the version they start at."""

from __future__ import annotations

import copy
from typing import Any

UUID = {"type": "string", "format": "uuid",
        "pattern": "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   "[0-9a-fA-F]{12}$"}
RC_NAME = {"type": "string", "pattern": "^[A-Z0-9_]+$", "maxLength": 255}
CUSTOM_RC = {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]+$", "maxLength": 255}
TRAIT_NAME = {"type": "string", "pattern": "^[A-Z0-9_]+$", "maxLength": 255, "minLength": 1}
GENERATION = {"type": "integer", "minimum": 0}
INT = {"type": "integer", "maximum": 2147483647}

POST_PROVIDER_V1_0: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "uuid": UUID,
    },
    "required": ["name"],
    "additionalProperties": False,
}
POST_PROVIDER_V1_14 = copy.deepcopy(POST_PROVIDER_V1_0)
POST_PROVIDER_V1_14["properties"]["parent_provider_uuid"] = {"anyOf": [UUID, {"type": "null"}]}

PUT_PROVIDER_V1_0: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}},
    "required": ["name"],
    "additionalProperties": False,
}
PUT_PROVIDER_V1_14 = copy.deepcopy(PUT_PROVIDER_V1_0)
PUT_PROVIDER_V1_14["properties"]["parent_provider_uuid"] = {"anyOf": [UUID, {"type": "null"}]}

_INVENTORY_FIELDS: dict[str, Any] = {
    "total": {**INT, "minimum": 1},
    "reserved": {**INT, "minimum": 0},
    "min_unit": {**INT, "minimum": 1},
    "max_unit": {**INT, "minimum": 1},
    "step_size": {**INT, "minimum": 1},
    "allocation_ratio": {"type": "number", "maximum": 3.40282e38, "exclusiveMinimum": True,
                         "minimum": 0},
}
INVENTORY: dict[str, Any] = {
    "type": "object", "properties": _INVENTORY_FIELDS, "required": ["total"],
    "additionalProperties": False,
}
PUT_INVENTORIES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_provider_generation": GENERATION,
        "inventories": {"type": "object", "patternProperties": {"^[A-Z0-9_]+$": INVENTORY},
                        "additionalProperties": False},
    },
    "required": ["inventories", "resource_provider_generation"],
    "additionalProperties": False,
}
POST_INVENTORY: dict[str, Any] = {
    "type": "object",
    "properties": {"resource_class": RC_NAME, "resource_provider_generation": GENERATION,
                   **_INVENTORY_FIELDS},
    "required": ["total", "resource_class", "resource_provider_generation"],
    "additionalProperties": False,
}
PUT_INVENTORY: dict[str, Any] = {
    "type": "object",
    "properties": {"resource_provider_generation": GENERATION, **_INVENTORY_FIELDS},
    "required": ["total", "resource_provider_generation"],
    "additionalProperties": False,
}

POST_RESOURCE_CLASS: dict[str, Any] = {
    "type": "object", "properties": {"name": CUSTOM_RC}, "required": ["name"],
    "additionalProperties": False,
}

PUT_TRAITS: dict[str, Any] = {
    "type": "object",
    "properties": {"traits": {"type": "array", "items": TRAIT_NAME, "uniqueItems": True},
                   "resource_provider_generation": GENERATION},
    "required": ["traits", "resource_provider_generation"],
    "additionalProperties": False,
}

PUT_AGGREGATES_V1_1: dict[str, Any] = {"type": "array", "items": UUID, "uniqueItems": True}
PUT_AGGREGATES_V1_19: dict[str, Any] = {
    "type": "object",
    "properties": {"aggregates": PUT_AGGREGATES_V1_1,
                   "resource_provider_generation": GENERATION},
    "required": ["aggregates", "resource_provider_generation"],
    "additionalProperties": False,
}

_RESOURCES: dict[str, Any] = {"type": "object", "minProperties": 1,
              "patternProperties": {"^[A-Z0-9_]+$": {**INT, "minimum": 1}},
              "additionalProperties": False}

PUT_ALLOCATIONS_V1_0: dict[str, Any] = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "resource_provider": {"type": "object", "properties": {"uuid": UUID},
                                          "required": ["uuid"],
                                          "additionalProperties": False},
                    "resources": _RESOURCES,
                },
                "required": ["resource_provider", "resources"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["allocations"],
    "additionalProperties": False,
}
PUT_ALLOCATIONS_V1_8 = copy.deepcopy(PUT_ALLOCATIONS_V1_0)
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
PUT_ALLOCATIONS_V1_8["properties"]["project_id"] = _ID
PUT_ALLOCATIONS_V1_8["properties"]["user_id"] = _ID
PUT_ALLOCATIONS_V1_8["required"] += ["project_id", "user_id"]

_ALLOC_DICT = {
    "type": "object", "minProperties": 1,
    "patternProperties": {"^[0-9a-fA-F-]{32,36}$": {
        "type": "object",
        "properties": {"resources": _RESOURCES, "generation": {}},
        "required": ["resources"],
        "additionalProperties": False,
    }},
    "additionalProperties": False,
}
PUT_ALLOCATIONS_V1_12: dict[str, Any] = {
    "type": "object",
    "properties": {
        "allocations": _ALLOC_DICT,
        "project_id": PUT_ALLOCATIONS_V1_8["properties"]["project_id"],
        "user_id": PUT_ALLOCATIONS_V1_8["properties"]["user_id"],
    },
    "required": ["allocations", "project_id", "user_id"],
    "additionalProperties": False,
}
PUT_ALLOCATIONS_V1_28 = copy.deepcopy(PUT_ALLOCATIONS_V1_12)
PUT_ALLOCATIONS_V1_28["properties"]["allocations"]["minProperties"] = 0
PUT_ALLOCATIONS_V1_28["properties"]["consumer_generation"] = {
    "anyOf": [GENERATION, {"type": "null"}]}
PUT_ALLOCATIONS_V1_28["required"].append("consumer_generation")
PUT_ALLOCATIONS_V1_38 = copy.deepcopy(PUT_ALLOCATIONS_V1_28)
PUT_ALLOCATIONS_V1_38["properties"]["consumer_type"] = {
    "type": "string", "pattern": "^[A-Z0-9_]+$", "minLength": 1, "maxLength": 255}
PUT_ALLOCATIONS_V1_38["required"].append("consumer_type")


def post_allocations(single: dict[str, Any]) -> dict[str, Any]:
    """POST /allocations: {consumer uuid: <a PUT body>}."""
    return {
        "type": "object", "minProperties": 1,
        "patternProperties": {"^[0-9a-fA-F-]{32,36}$": single},
        "additionalProperties": False,
    }


POST_ALLOCATIONS_V1_13 = post_allocations(PUT_ALLOCATIONS_V1_12)
POST_ALLOCATIONS_V1_28 = post_allocations(PUT_ALLOCATIONS_V1_28)
POST_ALLOCATIONS_V1_38 = post_allocations(PUT_ALLOCATIONS_V1_38)

POST_RESHAPER_V1_30: dict[str, Any] = {
    "type": "object",
    "properties": {
        "inventories": {
            "type": "object",
            "patternProperties": {"^[0-9a-fA-F-]{32,36}$": {
                "type": "object",
                "properties": {
                    "resource_provider_generation": GENERATION,
                    "inventories": PUT_INVENTORIES["properties"]["inventories"],
                },
                "required": ["resource_provider_generation", "inventories"],
                "additionalProperties": False,
            }},
            "additionalProperties": False,
        },
        "allocations": post_allocations(PUT_ALLOCATIONS_V1_28),
    },
    "required": ["inventories", "allocations"],
    "additionalProperties": False,
}
POST_RESHAPER_V1_30["properties"]["allocations"]["minProperties"] = 0
POST_RESHAPER_V1_38 = copy.deepcopy(POST_RESHAPER_V1_30)
POST_RESHAPER_V1_38["properties"]["allocations"] = post_allocations(PUT_ALLOCATIONS_V1_38)
POST_RESHAPER_V1_38["properties"]["allocations"]["minProperties"] = 0
