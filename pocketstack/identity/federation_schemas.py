"""JSON schemas of the OS-FEDERATION request bodies (mapping rules have their own, in
``domain.mapping_rules``)."""

from __future__ import annotations

from typing import Any

from pocketstack.identity.schemas import DESCRIPTION, URL

ENABLED = {"type": "boolean"}
REMOTE_IDS = {"type": ["array", "null"], "items": {"type": "string", "minLength": 1,
                                                   "maxLength": 255},
              "uniqueItems": True}
TTL = {"type": ["integer", "null"], "minimum": 0, "maximum": 2147483647}
_IDP = {"enabled": ENABLED, "description": DESCRIPTION, "authorization_ttl": TTL,
        "remote_ids": REMOTE_IDS}


def _body(key: str, props: dict[str, Any], required: list[str] | None = None,
          min_props: bool = False) -> dict[str, Any]:
    inner: dict[str, Any] = {"type": "object", "properties": props,
                             "additionalProperties": False}
    if required:
        inner["required"] = required
    if min_props:
        inner["minProperties"] = 1
    return {"type": "object", "properties": {key: inner}, "required": [key],
            "additionalProperties": False}


IDP_CREATE = _body("identity_provider", {
    **_IDP, "domain_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 64}})
IDP_UPDATE = _body("identity_provider", _IDP, min_props=True)
MAPPING_ID = {"type": "string", "minLength": 1, "maxLength": 64}
REMOTE_ID_ATTRIBUTE = {"type": "string", "maxLength": 64}
PROTOCOL_CREATE = _body("protocol", {
    "mapping_id": MAPPING_ID,
    "remote_id_attribute": {"type": ["string", "null"], "maxLength": 64}}, ["mapping_id"])
PROTOCOL_UPDATE = _body("protocol", {"mapping_id": MAPPING_ID,
                                     "remote_id_attribute": REMOTE_ID_ATTRIBUTE},
                        ["mapping_id"])
MAPPING = {"type": "object", "properties": {"mapping": {"type": "object"}},
           "required": ["mapping"], "additionalProperties": False}
_SP = {"auth_url": URL, "sp_url": URL, "description": DESCRIPTION, "enabled": ENABLED,
       "relay_state_prefix": {"type": ["string", "null"], "maxLength": 256}}
SP_CREATE = _body("service_provider", _SP, ["auth_url", "sp_url"])
SP_UPDATE = _body("service_provider", _SP, min_props=True)
