"""The federation mapping rule engine: validate a mapping's rules and turn an assertion (the
claims of an identity provider) into a local user, groups and projects, as Keystone's
``RuleProcessor`` does.

A rule applies when every one of its ``remote`` requirements holds: the attribute ``type``
is present (an empty value counts as absent), ``any_one_of`` / ``not_any_of`` hold, and
``whitelist`` / ``blacklist`` filter the values kept for direct mapping; with ``"regex": true``
the listed values are regular expressions searched in each asserted value. Each requirement
without ``any_one_of`` / ``not_any_of`` yields one direct-mapping value, ``{0}``, ``{1}``, …
in ``local`` (a single value maps as itself, several as the text of the list). Every rule
that applies contributes its ``local`` entries; the first ``user`` wins.

Pure functions: no SQL here (name → id resolution happens in ``federation``).
"""

from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pocketstack.common import exceptions
from pocketstack.common.api.validation import validate

EPHEMERAL = "ephemeral"
LOCAL = "local"
SCHEMA_VERSIONS = ("1.0", "2.0", "3.0")
DEFAULT_SCHEMA_VERSION = "1.0"

_DOMAIN = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
    "additionalProperties": False,
}
_ROLES = {
    "type": "array",
    "items": {"type": "object", "required": ["name"],
              "properties": {"name": {"type": "string"}}, "additionalProperties": False},
}


def _projects(with_domain: bool) -> dict[str, Any]:
    props: dict[str, Any] = {"name": {"type": "string"}, "roles": _ROLES}
    if with_domain:
        props["domain"] = _DOMAIN
    return {"type": "array", "items": {"type": "object", "required": ["name", "roles"],
                                       "properties": props, "additionalProperties": False}}


def _remote(extra: str | None) -> dict[str, Any]:
    props: dict[str, Any] = {"type": {"type": "string"}}
    required = ["type"]
    if extra:
        props[extra] = {"type": "array"}
        props["regex"] = {"type": "boolean"}
        required.append(extra)
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": False}


def rules_schema(version: str) -> dict[str, Any]:
    """The JSON schema of a mapping body (``rules`` and ``schema_version``)."""
    local_props: dict[str, Any] = {
        "user": {
            "type": "object",
            "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "email": {"type": "string"}, "domain": _DOMAIN,
                "type": {"type": "string", "enum": [EPHEMERAL, LOCAL]},
            },
            "additionalProperties": False,
        },
        "projects": _projects(version != "1.0"),
        "group": {
            "type": "object",
            "oneOf": [
                {"type": "object", "properties": {"id": {"type": "string"}},
                 "required": ["id"], "additionalProperties": False},
                {"type": "object", "properties": {"name": {"type": "string"},
                                                  "domain": _DOMAIN},
                 "required": ["name", "domain"], "additionalProperties": False},
            ],
        },
        "groups": {"type": "string"},
        "group_ids": {"type": "string"},
        "domain": _DOMAIN,
    }
    if version == "3.0":
        local_props["projects_json"] = {"type": "string"}
    return {
        "type": "object",
        "required": ["rules"],
        "properties": {
            "rules": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["local", "remote"],
                    "additionalProperties": False,
                    "properties": {
                        "local": {"type": "array", "items": {
                            "type": "object", "properties": local_props,
                            "additionalProperties": False}},
                        "remote": {"type": "array", "minItems": 1, "items": {
                            "type": "object",
                            "oneOf": [_remote(None), _remote("any_one_of"),
                                      _remote("not_any_of"), _remote("blacklist"),
                                      _remote("whitelist")]}},
                    },
                },
            },
            "schema_version": {"type": "string"},
        },
    }


def validate_mapping(body: Any) -> dict[str, Any]:
    """Check a mapping (``{"rules": [...], "schema_version": ...}``); returns it normalised
    with its schema version set."""
    if not isinstance(body, dict):
        raise exceptions.ValidationError("Invalid input for field 'mapping': not an object.")
    version = body.get("schema_version") or DEFAULT_SCHEMA_VERSION
    body = {**body, "schema_version": version}  # null or absent: the default, as Keystone
    if version not in SCHEMA_VERSIONS:
        raise exceptions.ValidationError(
            f"Invalid input for field 'schema_version': {version!r} is not one of "
            f"{list(SCHEMA_VERSIONS)}.")
    validate(rules_schema(version), body)
    for rule in body["rules"]:
        for req in rule["remote"]:
            if req.get("regex"):
                for key in ("any_one_of", "not_any_of", "whitelist", "blacklist"):
                    for pattern in req.get(key, []):
                        try:
                            re.compile(str(pattern))
                        except re.error as exc:
                            raise exceptions.ValidationError(
                                f"Invalid regular expression {pattern!r} in mapping: "
                                f"{exc}.") from None
    return {"rules": body["rules"], "schema_version": version}


@dataclass
class Mapped:
    """What a mapping made of an assertion; group names are resolved by the caller."""

    user: dict[str, Any]
    group_ids: list[str] = field(default_factory=list)
    group_names: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)
    schema_version: str = DEFAULT_SCHEMA_VERSION

    @property
    def ephemeral(self) -> bool:
        return self.user.get("type") == EPHEMERAL


class _Direct:
    """The values each requirement contributed, for ``str.format``'s ``{0}``, ``{1}``…"""

    def __init__(self) -> None:
        self.values: list[list[str]] = []

    def __getitem__(self, idx: int) -> Any:
        value = self.values[idx]
        return value[0] if len(value) == 1 else value

    def __len__(self) -> int:
        return len(self.values)


def _matches(patterns: list[Any], values: list[str], regex: bool) -> list[str]:
    if regex:
        return [v for v in values if any(re.search(str(p), v) for p in patterns)]
    wanted = {str(p) for p in patterns}
    return [v for v in values if v in wanted]


def _requirements(remote: list[dict[str, Any]],
                  assertion: dict[str, list[str]]) -> _Direct | None:
    direct = _Direct()
    for req in remote:
        values = assertion.get(req["type"])
        if not values:
            return None
        regex = bool(req.get("regex", False))
        if "any_one_of" in req:
            if not _matches(req["any_one_of"], values, regex):
                return None
            continue
        if "not_any_of" in req:
            if _matches(req["not_any_of"], values, regex):
                return None
            continue
        if "blacklist" in req:
            hit = set(_matches(req["blacklist"], values, regex))
            values = [v for v in dict.fromkeys(values) if v not in hit]
        elif "whitelist" in req:
            values = list(dict.fromkeys(_matches(req["whitelist"], values, regex)))
        direct.values.append(values)
    return direct


def _substitute(value: Any, direct: _Direct, mapping_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, direct, mapping_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, direct, mapping_id) for v in value]
    if isinstance(value, str):
        try:
            return value.format(*[direct[i] for i in range(len(direct))])
        except (IndexError, KeyError, ValueError):
            raise exceptions.Forbidden(
                f"Local section in mapping {mapping_id} refers to a remote match that "
                f"doesn't exist (e.g. {{0}} in a local section).") from None
    return value


def _as_list(text: str) -> list[Any]:
    """A substituted value that may be the text of a Python list (``"['a', 'b']"``)."""
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return [text]
    return parsed if isinstance(parsed, list) else [text]


def _groups(local: dict[str, Any]) -> list[dict[str, Any]]:
    names = _as_list(local["groups"])
    domain = local.get("domain")
    out = []
    for name in names:
        if isinstance(name, str) and name.startswith("JSON:"):
            try:
                name = json.loads(name[5:])
            except ValueError:
                raise exceptions.ValidationError(
                    f"Invalid group in mapping: {name!r}.") from None
        if isinstance(name, dict):
            if "domain" not in name or "name" not in name:
                raise exceptions.ValidationError(
                    f"Invalid rule: {local}. Both 'groups' and 'domain' keywords must be "
                    "specified.")
            out.append(name)
            continue
        if not domain:
            raise exceptions.ValidationError(
                f"Invalid rule: {local}. Both 'groups' and 'domain' keywords must be "
                "specified.")
        out.append({"name": str(name), "domain": domain})
    return out


def _projects_json(value: str, direct: _Direct, mapping_id: str) -> list[dict[str, Any]]:
    match = re.fullmatch(r"\{?(\d+)\}?", value)
    if not match:
        raise exceptions.ValidationError(
            f"The rule [{value}] for key [projects_json] does not match the expected pattern.")
    try:
        raw = direct[int(match.group(1))]
    except IndexError:
        raise exceptions.Forbidden(
            f"Local section in mapping {mapping_id} refers to a remote match that "
            "doesn't exist.") from None
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise exceptions.ValidationError("projects_json is not valid JSON.") from None
    return list(validate(_projects(True), parsed))


def evaluate(mapping: dict[str, Any], assertion: dict[str, Any]) -> Mapped:
    """Apply ``mapping`` (with ``id``, ``rules``, ``schema_version``) to ``assertion``: a dict
    of attribute → string (``;`` separates several values) or list of strings."""
    mapping_id = str(mapping.get("id", ""))
    version = mapping.get("schema_version") or DEFAULT_SCHEMA_VERSION
    values: dict[str, list[str]] = {}
    for key, value in assertion.items():
        if isinstance(value, str):
            values[key] = value.split(";")
        elif isinstance(value, list):
            values[key] = [str(v) for v in value]
    locals_: list[dict[str, Any]] = []
    for rule in mapping["rules"]:
        direct = _requirements(rule["remote"], values)
        if direct is None:
            continue
        for local in rule["local"]:
            if not len(direct):
                locals_.append(copy.deepcopy(local))
                continue
            item = {}
            for key, val in local.items():
                if key == "projects_json" or (key == "projects" and isinstance(val, str)
                                              and version == "3.0"):
                    item[key] = _projects_json(val, direct, mapping_id)
                else:
                    item[key] = _substitute(val, direct, mapping_id)
            locals_.append(item)
    if not locals_:
        raise exceptions.Unauthorized(
            "Could not map any federated user properties to identity values. Check debug "
            "logs or the mapping used for additional details.")
    user: dict[str, Any] = {}
    group_ids: list[str] = []
    group_names: list[dict[str, Any]] = []
    projects: list[dict[str, Any]] = []
    default_domain: Any = None
    for local in locals_:
        if "user" in local and not user:
            user = dict(local["user"])
        if "group" in local:
            group = local["group"]
            if "id" in group:
                group_ids.append(group["id"])
            elif "name" in group:
                group_names.append(group)
        if "groups" in local:
            group_names.extend(_groups(local))
        if "group_ids" in local:
            group_ids.extend(str(g) for g in _as_list(local["group_ids"]))
        if "projects" in local or "projects_json" in local:
            found = list(local.get("projects") or [])
            if isinstance(found, list):
                found = [p for p in found if isinstance(p, dict)]
            projects = found + list(local.get("projects_json") or [])
            if version != "1.0":
                for project in projects:
                    if not project.get("domain") and local.get("domain"):
                        project["domain"] = local["domain"]
        default_domain = local.get("domain", default_domain)
    user.setdefault("type", EPHEMERAL)
    if version != "1.0" and not user.get("domain") and default_domain:
        user["domain"] = default_domain
    unique_names = list({(g["name"], json.dumps(g["domain"], sort_keys=True)): g
                         for g in group_names}.values())
    return Mapped(user=user, group_ids=list(dict.fromkeys(group_ids)),
                  group_names=unique_names, projects=projects, schema_version=version)
