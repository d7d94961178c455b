"""JSON schemas of the metadata definition API: what requests are validated against, and the
``/v2/schemas/metadefs/*`` documents clients read (built from the same definitions)."""

from __future__ import annotations

from typing import Any

NAME80 = {"type": "string", "minLength": 1, "maxLength": 80}
PROPERTY: dict[str, Any] = {
    "type": "object", "required": ["title", "type"],
    "properties": {
        "name": {"type": "string", "maxLength": 80},
        "title": {"type": "string"}, "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": ["string", "null"], "enum": ["array", "boolean", "integer", "number",
                                                      "object", "string", None]},
        "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "minimum": {"type": "number"}, "maximum": {"type": "number"},
        "maxLength": {"type": "integer", "minimum": 0},
        "minLength": {"type": "integer", "minimum": 0},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"}, "readonly": {"type": "boolean"},
        "confidential": {"type": "boolean"}, "default": {},
        "items": {"type": "object", "properties": {
            "type": {"type": "string", "enum": ["array", "boolean", "integer", "number",
                                               "object", "string", "null"]},
            "enum": {"type": "array"}}},
        "uniqueItems": {"type": "boolean"},
        "minItems": {"type": "integer", "minimum": 0},
        "maxItems": {"type": "integer", "minimum": 0},
        "additionalItems": {"type": "boolean"},
    },
}
PROPERTIES = {"type": "object", "additionalProperties": PROPERTY}
ASSOCIATION = {"type": "object", "required": ["name"], "properties": {
    "name": NAME80, "prefix": {"type": "string", "maxLength": 80},
    "properties_target": {"type": "string", "maxLength": 80}}}
OBJECT = {"type": "object", "required": ["name"], "properties": {
    "name": NAME80, "description": {"type": "string"},
    "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    "properties": PROPERTIES}}
TAG = {"type": "object", "required": ["name"], "properties": {"name": NAME80}}
NAMESPACE_SCHEMA = {"type": "object", "required": ["namespace"], "properties": {
    "namespace": NAME80, "display_name": {"type": "string", "maxLength": 80},
    "description": {"type": "string", "maxLength": 500},
    "visibility": {"type": "string", "enum": ["public", "private"]},
    "protected": {"type": "boolean"}, "owner": {"type": "string", "maxLength": 255},
    "resource_type_associations": {"type": "array", "items": ASSOCIATION},
    "properties": PROPERTIES, "objects": {"type": "array", "items": OBJECT},
    "tags": {"type": "array", "items": TAG}}}
TAGS = {"type": "object", "required": ["tags"], "properties": {
    "tags": {"type": "array", "items": TAG}}}
READ_ONLY = ("self", "schema", "created_at", "updated_at")
_TIMES = {"created_at": {"type": "string", "readOnly": True, "format": "date-time"},
          "updated_at": {"type": "string", "readOnly": True, "format": "date-time"}}
_LINKS = {"self": {"type": "string"}, "schema": {"type": "string"}}


def _document(name: str, schema: dict[str, Any], links: bool = True) -> dict[str, Any]:
    properties = {**schema["properties"], **_TIMES, **(_LINKS if links else {})}
    doc: dict[str, Any] = {"name": name, "properties": properties,
                           "additionalProperties": False}
    if schema.get("required"):
        doc["required"] = list(schema["required"])
    return doc


def _collection(name: str, key: str, item: dict[str, Any], paged: bool = False
                ) -> dict[str, Any]:
    properties: dict[str, Any] = {key: {"type": "array", "items": item}}
    if paged:
        properties.update({"first": {"type": "string"}, "next": {"type": "string"},
                           "schema": {"type": "string"}})
    return {"name": name, "properties": properties,
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}] if paged else []}


def _property_document() -> dict[str, Any]:
    doc = _document("property", PROPERTY, links=False)
    doc["required"] = ["name", "title", "type"]
    return doc


def namespace_doc() -> dict[str, Any]:
    return _document("namespace", NAMESPACE_SCHEMA)


SCHEMAS = {
    "namespace": namespace_doc,
    "namespaces": lambda: _collection("namespaces", "namespaces", namespace_doc(), True),
    "resource_type": lambda: _document("resource_type_association", ASSOCIATION, False),
    "resource_types": lambda: _collection(
        "resource_type_associations", "resource_type_associations",
        _document("resource_type_association", ASSOCIATION, False)),
    "object": lambda: _document("object", OBJECT),
    "objects": lambda: _collection("objects", "objects", _document("object", OBJECT), True),
    "property": _property_document,
    "properties": lambda: {"name": "properties", "properties": {
        "properties": {"type": "object", "additionalProperties": _property_document()}},
        "links": []},
    "tag": lambda: _document("tag", TAG, False),
    "tags": lambda: _collection("tags", "tags", _document("tag", TAG, False)),
}
