"""Request schemas of the flavor, keypair, admin, quota and server-group APIs."""

from __future__ import annotations

from typing import Any

from pocketstack.compute.domain import quotas
from pocketstack.compute.schemas.names import NAME, description


def wrap(key: str, inner: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {key: inner}, "required": [key],
            "additionalProperties": False}


def obj(props: dict[str, Any], required: list[str] | None = None,
        extra: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "additionalProperties": extra}
    if required:
        out["required"] = required
    return out


BOOL = {"type": ["boolean", "string"],
        "enum": [True, False, "True", "False", "true", "false", "1", "0", "yes", "no",
                 "on", "off", "TRUE", "FALSE"]}
NONNEG_INT = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 0,
              "maximum": 0x7FFFFFFF}
POS_INT = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1,
           "maximum": 0x7FFFFFFF}
DESCRIPTION = description(65535)

# -- flavors ---------------------------------------------------------------------------------
FLAVOR_ID = {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
             "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"}


def flavor_create(with_description: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": NAME, "id": FLAVOR_ID, "ram": POS_INT, "vcpus": POS_INT, "disk": NONNEG_INT,
        "OS-FLV-EXT-DATA:ephemeral": NONNEG_INT,
        "swap": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0,
                 "maximum": 0x7FFFFFFF},
        "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                        "minimum": 0, "exclusiveMinimum": True, "maximum": 3.40282e+38},
        "os-flavor-access:is_public": BOOL,
    }
    if with_description:
        props["description"] = DESCRIPTION
    return wrap("flavor", obj(props, ["name", "ram", "vcpus", "disk"]))


FLAVOR_UPDATE = wrap("flavor", obj({"description": DESCRIPTION}, ["description"]))

EXTRA_SPEC_KEY = {"type": "string", "minLength": 1, "maxLength": 255,
                  "pattern": r"^[a-zA-Z0-9-_:. ]{1,255}$"}
EXTRA_SPEC_VALUE = {"type": ["string", "number", "boolean"], "minLength": 0,
                    "maxLength": 255}
EXTRA_SPECS = {
    "type": "object",
    "properties": {"extra_specs": {
        "type": "object",
        "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}$": EXTRA_SPEC_VALUE},
        "additionalProperties": False}},
    "required": ["extra_specs"],
    "additionalProperties": False,
}
EXTRA_SPEC_ONE = {
    "type": "object",
    "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}$": EXTRA_SPEC_VALUE},
    "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
}

TENANT = {"type": "string", "minLength": 1, "maxLength": 255}
FLAVOR_ACTION = {
    "type": "object",
    "properties": {
        "addTenantAccess": obj({"tenant": TENANT}, ["tenant"]),
        "removeTenantAccess": obj({"tenant": TENANT}, ["tenant"]),
    },
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
}

# -- keypairs --------------------------------------------------------------------------------
KEYPAIR_NAME = {"type": "string", "minLength": 1, "maxLength": 255,
                "pattern": r"^[a-zA-Z0-9 _-]+$"}
KEYPAIR_NAME_292 = {"type": "string", "minLength": 1, "maxLength": 255,
                    "pattern": r"^[a-zA-Z0-9 _@.-]+$"}


def keypair_create(version_at_least: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"name": KEYPAIR_NAME, "public_key": {"type": "string"}}
    required = ["name"]
    if version_at_least("2.2"):
        props["type"] = {"type": "string", "enum": ["ssh", "x509"]}
    if version_at_least("2.10"):
        props["user_id"] = {"type": "string"}
    if version_at_least("2.92"):
        props["name"] = KEYPAIR_NAME_292
        required.append("public_key")
    return wrap("keypair", obj(props, required))


# -- services --------------------------------------------------------------------------------
SERVICE_UPDATE_253 = obj({
    "status": {"type": "string", "enum": ["enabled", "disabled"]},
    "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
    "forced_down": {"type": "boolean"},
}, extra=False)
SERVICE_UPDATE_253["minProperties"] = 1
SERVICE_LEGACY = obj({
    "host": {"type": "string", "minLength": 1, "maxLength": 255},
    "binary": {"type": "string", "minLength": 1, "maxLength": 255},
    "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
    "forced_down": {"type": "boolean"},
}, ["host", "binary"])

# -- aggregates ------------------------------------------------------------------------------
AZ_NAME = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
           "pattern": r"^(?! )[^\x00-\x1f\x7f:]*(?<! )$"}
AGGREGATE_CREATE = wrap("aggregate", obj({"name": NAME, "availability_zone": AZ_NAME},
                                         ["name"]))
AGGREGATE_UPDATE = wrap("aggregate", dict(obj({"name": NAME, "availability_zone": AZ_NAME}),
                                          minProperties=1))
HOST = {"type": "string", "minLength": 1, "maxLength": 255}
METADATA_VALUES = {
    "type": "object",
    "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}$": {
        "type": ["string", "null"], "maxLength": 255}},
    "additionalProperties": False,
}
AGGREGATE_ACTION = {
    "type": "object",
    "properties": {
        "add_host": obj({"host": HOST}, ["host"]),
        "remove_host": obj({"host": HOST}, ["host"]),
        "set_metadata": obj({"metadata": METADATA_VALUES}, ["metadata"]),
    },
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
}

# -- quotas ----------------------------------------------------------------------------------
QUOTA_VALUE = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1,
               "maximum": 0x7FFFFFFF}


def quota_update(resources: list[str]) -> dict[str, Any]:
    props: dict[str, Any] = {name: QUOTA_VALUE for name in resources}
    props["force"] = BOOL
    return wrap("quota_set", obj(props))


def quota_class_update(resources: list[str]) -> dict[str, Any]:
    return wrap("quota_class_set", obj({name: QUOTA_VALUE for name in resources}))


# -- server groups ---------------------------------------------------------------------------
SERVER_GROUP_CREATE = wrap("server_group", obj({
    "name": NAME,
    "policies": {"type": "array", "minItems": 1, "maxItems": 1, "uniqueItems": True,
                 "items": {"type": "string", "enum": ["affinity", "anti-affinity"]}},
}, ["name", "policies"]))
SERVER_GROUP_CREATE_215 = wrap("server_group", obj({
    "name": NAME,
    "policies": {"type": "array", "minItems": 1, "maxItems": 1, "uniqueItems": True,
                 "items": {"type": "string", "enum": list(
                     ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"))}},
}, ["name", "policies"]))
SERVER_GROUP_CREATE_264 = wrap("server_group", obj({
    "name": NAME,
    "policy": {"type": "string", "enum": ["affinity", "anti-affinity", "soft-affinity",
                                          "soft-anti-affinity"]},
    "rules": obj({"max_server_per_host": {"type": ["integer", "string"],
                                          "pattern": "^[0-9]+$", "minimum": 1}}),
}, ["name", "policy"]))

# -- server metadata and tags ----------------------------------------------------------------
META_KEY = r"^[^\x00-\x1f\x7f]{1,255}$"
METADATA = {"type": "object",
            "patternProperties": {META_KEY: {"type": "string", "maxLength": 255}},
            "additionalProperties": False}
SERVER_METADATA = {"type": "object", "properties": {"metadata": METADATA},
                   "required": ["metadata"], "additionalProperties": False}
SERVER_META_ONE = {"type": "object", "properties": {"meta": dict(
    METADATA, minProperties=1, maxProperties=1)}, "required": ["meta"],
    "additionalProperties": False}
TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": r"^[^,/]*$"}
TAGS = {"type": "object", "properties": {"tags": {
    "type": "array", "items": TAG, "maxItems": 50}}, "required": ["tags"],
    "additionalProperties": False}

ALL_QUOTA_RESOURCES = list(quotas.DEFAULTS)
