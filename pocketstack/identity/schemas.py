"""JSON schemas of Keystone v3 request bodies."""

from __future__ import annotations

from typing import Any

NAME = {"type": "string", "minLength": 1, "maxLength": 255}
ID = {"type": "string", "minLength": 1, "maxLength": 64}
DESCRIPTION = {"type": ["string", "null"]}
ENABLED = {"type": "boolean"}
TAG = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]*$"}
TAGS = {"type": "array", "items": TAG, "maxItems": 80, "uniqueItems": True}
OPTIONS = {"type": "object"}
# Keystone limits domain and project names to 64 characters (the project table's width).
RESOURCE_NAME = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"[\S]+"}


def _wrap(key: str, props: dict[str, Any], required: list[str] | None = None,
          extra: bool = True) -> dict[str, Any]:
    inner: dict[str, Any] = {"type": "object", "properties": props,
                             "additionalProperties": extra}
    if required:
        inner["required"] = required
    else:
        inner["minProperties"] = 1
    return {"type": "object", "properties": {key: inner}, "required": [key]}


DOMAIN_CREATE = _wrap("domain", {"name": RESOURCE_NAME, "description": DESCRIPTION,
                                 "enabled": ENABLED, "tags": TAGS, "options": OPTIONS,
                                 "explicit_domain_id": ID}, ["name"])
DOMAIN_UPDATE = _wrap("domain", {"name": RESOURCE_NAME, "description": DESCRIPTION,
                                 "enabled": ENABLED, "tags": TAGS, "options": OPTIONS})

PROJECT_CREATE = _wrap("project", {
    "name": RESOURCE_NAME, "description": DESCRIPTION, "enabled": ENABLED,
    "domain_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
    "parent_id": {"type": ["string", "null"]}, "is_domain": {"type": "boolean"},
    "tags": TAGS, "options": OPTIONS}, ["name"])
PROJECT_UPDATE = _wrap("project", {
    "name": RESOURCE_NAME, "description": DESCRIPTION, "enabled": ENABLED, "domain_id": ID,
    "tags": TAGS, "options": OPTIONS, "is_domain": {"type": "boolean"}})

PASSWORD = {"type": ["string", "null"], "maxLength": 4096}
USER_PROPS = {
    "name": NAME, "description": DESCRIPTION, "enabled": ENABLED, "domain_id": ID,
    "default_project_id": {"type": ["string", "null"]}, "password": PASSWORD,
    "email": {"type": ["string", "null"]},
    "options": {"type": "object", "properties": {
        "ignore_lockout_failure_attempts": {"type": "boolean"},
        "ignore_password_expiry": {"type": "boolean"},
        "ignore_change_password_upon_first_use": {"type": "boolean"},
        "lock_password": {"type": "boolean"},
        "multi_factor_auth_enabled": {"type": "boolean"},
        "multi_factor_auth_rules": {"type": "array"},
    }, "additionalProperties": False},
}
USER_CREATE = _wrap("user", USER_PROPS, ["name"])
USER_UPDATE = _wrap("user", USER_PROPS)
PASSWORD_CHANGE = _wrap("user", {"password": {"type": "string", "maxLength": 4096},
                                 "original_password": {"type": "string", "maxLength": 4096}},
                        ["password", "original_password"])

GROUP_CREATE = _wrap("group", {"name": NAME, "description": DESCRIPTION, "domain_id": ID},
                     ["name"])
GROUP_UPDATE = _wrap("group", {"name": NAME, "description": DESCRIPTION, "domain_id": ID})

ROLE_CREATE = _wrap("role", {"name": NAME, "description": DESCRIPTION, "domain_id":
                             {"type": ["string", "null"]}, "options": OPTIONS}, ["name"])
ROLE_UPDATE = _wrap("role", {"name": NAME, "description": DESCRIPTION, "options": OPTIONS,
                             "domain_id": {"type": ["string", "null"]}})

SERVICE_CREATE = _wrap("service", {"type": NAME, "name": {"type": ["string", "null"]},
                                   "description": DESCRIPTION, "enabled": ENABLED}, ["type"])
SERVICE_UPDATE = _wrap("service", {"type": NAME, "name": {"type": ["string", "null"]},
                                   "description": DESCRIPTION, "enabled": ENABLED})
INTERFACE = {"type": "string", "enum": ["public", "internal", "admin"]}
URL = {"type": "string", "minLength": 1, "maxLength": 225,
       "pattern": "^[a-zA-Z0-9+.-]+:.+"}
ENDPOINT_CREATE = _wrap("endpoint", {"service_id": ID, "interface": INTERFACE, "url": URL,
                                     "region_id": {"type": ["string", "null"]},
                                     "region": {"type": ["string", "null"]},
                                     "enabled": ENABLED},
                        ["service_id", "interface", "url"])
ENDPOINT_UPDATE = _wrap("endpoint", {"service_id": ID, "interface": INTERFACE, "url": URL,
                                     "region_id": {"type": ["string", "null"]},
                                     "region": {"type": ["string", "null"]},
                                     "enabled": ENABLED})
REGION_CREATE = {"type": "object", "properties": {"region": {
    "type": "object", "properties": {"id": {"type": "string", "minLength": 1,
                                            "maxLength": 255},
                                     "description": DESCRIPTION,
                                     "parent_region_id": {"type": ["string", "null"]}}}},
    "required": ["region"]}
REGION_UPDATE = _wrap("region", {"description": DESCRIPTION,
                                 "parent_region_id": {"type": ["string", "null"]}})

ROLE_REF = {"type": "object", "properties": {"id": ID, "name": NAME,
                                             "domain_id": {"type": ["string", "null"]}},
            "minProperties": 1}
ACCESS_RULE = {"type": "object", "properties": {
    "id": ID,
    "service": {"type": "string", "minLength": 1, "maxLength": 64},
    "path": {"type": "string", "minLength": 1, "maxLength": 225, "pattern": "^/"},
    "method": {"type": "string", "enum": ["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]},
}, "additionalProperties": False, "minProperties": 1}
APP_CRED_CREATE = _wrap("application_credential", {
    "name": NAME, "description": DESCRIPTION,
    "secret": {"type": ["string", "null"], "minLength": 1},
    "expires_at": {"type": ["string", "null"]},
    "roles": {"type": "array", "items": ROLE_REF},
    "unrestricted": {"type": ["boolean", "null"]},
    "access_rules": {"type": "array", "items": ACCESS_RULE},
}, ["name"], extra=False)

CREDENTIAL_CREATE = _wrap("credential", {"type": NAME, "blob": {"type": "string"},
                                         "user_id": ID, "project_id": {"type": ["string",
                                                                                "null"]}},
                          ["type", "blob", "user_id"])
CREDENTIAL_UPDATE = _wrap("credential", {"type": NAME, "blob": {"type": "string"},
                                         "user_id": ID, "project_id": {"type": ["string",
                                                                                "null"]}})

_SCOPE = {
    "oneOf": [
        {"type": "string", "enum": ["unscoped"]},
        {"type": "object", "properties": {
            "project": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "domain": {"type": "object"}}},
            "domain": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}}},
            "system": {"type": "object"},
            "OS-TRUST:trust": {"type": "object"},
        }},
    ]
}

AUTH = {
    "type": "object",
    "properties": {
        "auth": {
            "type": "object",
            "properties": {
                "identity": {
                    "type": "object",
                    "properties": {
                        "methods": {"type": "array", "items": {"type": "string"},
                                    "minItems": 1},
                        "password": {"type": "object", "properties": {
                            "user": {"type": "object", "properties": {
                                "id": {"type": "string"}, "name": {"type": "string"},
                                "password": {"type": "string"},
                                "domain": {"type": "object"}}}},
                            "required": ["user"]},
                        "token": {"type": "object", "properties": {
                            "id": {"type": "string"}}, "required": ["id"]},
                        "application_credential": {"type": "object", "properties": {
                            "id": {"type": "string"}, "name": {"type": "string"},
                            "secret": {"type": "string"}, "user": {"type": "object"}},
                            "required": ["secret"]},
                    },
                    "required": ["methods"],
                },
                "scope": _SCOPE,
            },
            "required": ["identity"],
        }
    },
    "required": ["auth"],
}

CONSUMER_CREATE = {"type": "object", "properties": {"consumer": {
    "type": "object", "properties": {"description": DESCRIPTION}}}, "required": ["consumer"]}
CONSUMER_UPDATE = _wrap("consumer", {"description": DESCRIPTION})
CONSUMER_UPDATE["properties"]["consumer"]["not"] = {"required": ["secret"]}

POLICY_CREATE = _wrap("policy", {"type": {"type": "string", "minLength": 1, "maxLength": 255},
                                 "blob": {"type": "string"}}, ["type", "blob"])
POLICY_UPDATE = _wrap("policy", {"type": {"type": "string", "minLength": 1, "maxLength": 255},
                                 "blob": {"type": "string"}})

ENDPOINT_GROUP_FILTERS = {"type": "object", "properties": {
    "interface": INTERFACE, "service_id": {"type": "string"}, "region_id": {"type": "string"},
}, "additionalProperties": False}  # {} is accepted, as Keystone: it picks every endpoint
ENDPOINT_GROUP_CREATE = _wrap("endpoint_group", {
    "name": NAME, "description": DESCRIPTION, "filters": ENDPOINT_GROUP_FILTERS},
    ["name", "filters"], extra=False)
ENDPOINT_GROUP_UPDATE = _wrap("endpoint_group", {
    "name": NAME, "description": DESCRIPTION, "filters": ENDPOINT_GROUP_FILTERS}, extra=False)

TRUST_CREATE = _wrap("trust", {
    "trustor_user_id": ID, "trustee_user_id": ID, "impersonation": {"type": "boolean"},
    "project_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
    "roles": {"type": "array", "items": ROLE_REF},
    "expires_at": {"type": ["string", "null"]},
    "remaining_uses": {"type": ["integer", "null"], "minimum": 1},
    "allow_redelegation": {"type": ["boolean", "null"]},
    "redelegation_count": {"type": ["integer", "null"], "minimum": 0},
}, ["trustor_user_id", "trustee_user_id", "impersonation"])

# -- unified limits -----------------------------------------------------------------------------
LIMIT_VALUE = {"type": "integer", "minimum": -1, "maximum": 0x7FFFFFFF}
LIMIT_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
LIMIT_ID = {"type": "string", "minLength": 1, "maxLength": 64}
REGION_REF = {"type": "string", "minLength": 1, "maxLength": 255}
_REGISTERED_PROPS = {"service_id": LIMIT_ID, "region_id": REGION_REF,
                     "resource_name": LIMIT_NAME, "default_limit": LIMIT_VALUE,
                     "description": DESCRIPTION}
REGISTERED_LIMITS_CREATE = {
    "type": "object", "required": ["registered_limits"], "additionalProperties": False,
    "properties": {"registered_limits": {"type": "array", "minItems": 1, "items": {
        "type": "object", "properties": _REGISTERED_PROPS, "additionalProperties": False,
        "required": ["service_id", "resource_name", "default_limit"]}}}}
REGISTERED_LIMIT_UPDATE = {
    "type": "object", "required": ["registered_limit"], "additionalProperties": False,
    "properties": {"registered_limit": {
        "type": "object", "additionalProperties": False,
        "properties": {**_REGISTERED_PROPS, "id": LIMIT_ID}}}}
LIMITS_CREATE = {
    "type": "object", "required": ["limits"], "additionalProperties": False,
    "properties": {"limits": {"type": "array", "minItems": 1, "items": {
        "type": "object", "additionalProperties": False,
        "properties": {"service_id": LIMIT_ID, "region_id": REGION_REF,
                       "resource_name": LIMIT_NAME, "resource_limit": LIMIT_VALUE,
                       "description": DESCRIPTION,
                       "project_id": {"type": ["string", "null"], "minLength": 1,
                                      "maxLength": 64},
                       "domain_id": {"type": ["string", "null"], "minLength": 1,
                                     "maxLength": 64}},
        "required": ["service_id", "resource_name", "resource_limit"],
        # exactly one owner: a project or a domain
        "oneOf": [{"required": ["project_id"]}, {"required": ["domain_id"]}]}}}}
LIMIT_UPDATE = {
    "type": "object", "required": ["limit"], "additionalProperties": False,
    "properties": {"limit": {
        "type": "object", "additionalProperties": False,
        "properties": {"resource_limit": LIMIT_VALUE, "description": DESCRIPTION,
                       "id": LIMIT_ID}}}}
