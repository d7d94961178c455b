"""Domain-specific configuration: per-domain overrides of the identity/LDAP options.

Only the options keystone lets a domain override are accepted (anything else is a 403, as in
keystone); ``ldap.password`` is sensitive: stored, never shown.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.identity import tables as t

# Keystone's defaults for the options a domain may override (its whitelist).
DEFAULTS: dict[str, dict[str, Any]] = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com",
        "query_scope": "one", "page_size": 0, "alias_dereferencing": "default",
        "debug_level": None, "chase_referrals": None, "user_tree_dn": None,
        "user_filter": None, "user_objectclass": "inetOrgPerson", "user_id_attribute": "cn",
        "user_name_attribute": "sn", "user_mail_attribute": "mail",
        "user_description_attribute": "description", "user_pass_attribute": "userPassword",
        "user_enabled_attribute": "enabled", "user_enabled_invert": False,
        "user_enabled_mask": 0, "user_enabled_default": "True",
        "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None, "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None, "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [], "group_tree_dn": None, "group_filter": None,
        "group_objectclass": "groupOfNames", "group_id_attribute": "cn",
        "group_name_attribute": "ou", "group_members_are_ids": False,
        "group_member_attribute": "member", "group_desc_attribute": "description",
        "group_attribute_ignore": [], "group_additional_attribute_mapping": [],
        "tls_cacertfile": None, "tls_cacertdir": None, "use_tls": False,
        "tls_req_cert": "demand", "use_pool": True, "pool_size": 10, "pool_retry_max": 3,
        "pool_retry_delay": 0.1, "pool_connection_timeout": -1,
        "pool_connection_lifetime": 600, "use_auth_pool": True, "auth_pool_size": 100,
        "auth_pool_connection_lifetime": 60,
    },
}
SENSITIVE: dict[str, tuple[str, ...]] = {"identity": (), "ldap": ("password",)}
Config = dict[str, dict[str, Any]]


def _invalid(reason: str) -> exceptions.Forbidden:
    return exceptions.Forbidden(f"Invalid domain specific configuration: {reason}.")


def _not_found(domain_id: str, group: str | None, option: str | None) -> exceptions.NotFound:
    what = (f"option {option} in group {group}" if option
            else f"group {group}" if group else "any options")
    return exceptions.NotFound(
        f"Could not find {what} in domain configuration for domain {domain_id}.")


def check_group_option(group: str | None, option: str | None) -> None:
    if group is None:
        return
    if group not in DEFAULTS and group not in SENSITIVE:
        raise _invalid(f"Group {group} is not supported for domain specific configurations")
    if option is not None and option not in DEFAULTS.get(group, {}) \
            and option not in SENSITIVE.get(group, ()):
        raise _invalid(f"Option {option} in group {group} is not supported for domain "
                       "specific configurations")


def _check_config(config: Any) -> None:
    if not isinstance(config, dict) or not config:
        raise _invalid("No options specified")
    for group, options in config.items():
        if not isinstance(options, dict) or not options:
            raise _invalid(f"The value of group {group} specified in the config should be a "
                           "dictionary of options")
        for option in options:
            check_group_option(group, option)


def _rows(conn: Connection, domain_id: str, group: str | None = None,
          option: str | None = None, sensitive: bool | None = False) -> list[dict[str, Any]]:
    c = t.domain_configs.c
    q = sa.select(t.domain_configs).where(c.domain_id == domain_id).order_by(
        c.group_name, c.option_name)
    if group is not None:
        q = q.where(c.group_name == group)
    if option is not None:
        q = q.where(c.option_name == option)
    if sensitive is not None:
        q = q.where(c.sensitive.is_(sensitive))
    return [dict(r) for r in conn.execute(q).mappings()]


def _to_config(rows: list[dict[str, Any]]) -> Config:
    out: Config = {}
    for r in rows:
        out.setdefault(r["group_name"], {})[r["option_name"]] = r["value"]
    return out


def get(conn: Connection, domain_id: str, group: str | None = None,
        option: str | None = None) -> dict[str, Any]:
    """The stored (non-sensitive) config, or one group, or ``{option: value}``."""
    check_group_option(group, option)
    rows = _rows(conn, domain_id, group, option)
    if not rows:
        raise _not_found(domain_id, group, option)
    if option is not None:
        return {option: rows[0]["value"]}
    return _to_config(rows)


def has_any(conn: Connection, domain_id: str) -> bool:
    return bool(_rows(conn, domain_id, sensitive=None))


def _upsert(conn: Connection, domain_id: str, config: Config) -> None:
    c = t.domain_configs.c
    for group, options in config.items():
        for option, value in options.items():
            current = conn.execute(sa.select(c.generation).where(
                c.domain_id == domain_id, c.group_name == group,
                c.option_name == option)).scalar()
            if current is None:
                conn.execute(sa.insert(t.domain_configs).values(
                    domain_id=domain_id, group_name=group, option_name=option, value=value,
                    sensitive=option in SENSITIVE.get(group, ()), generation=0))
                continue
            result = conn.execute(sa.update(t.domain_configs).where(
                c.domain_id == domain_id, c.group_name == group, c.option_name == option,
                c.generation == current).values(value=value, generation=current + 1))
            if result.rowcount != 1:
                raise exceptions.ConcurrentUpdate(
                    f"domain config {domain_id} was changed by another request; retry.")


def replace(conn: Connection, domain_id: str, config: Any) -> Config:
    """``PUT``: the given config replaces whatever the domain had."""
    _check_config(config)
    conn.execute(sa.delete(t.domain_configs).where(t.domain_configs.c.domain_id == domain_id))
    _upsert(conn, domain_id, config)
    return _to_config(_rows(conn, domain_id))


def update(conn: Connection, domain_id: str, config: Any, group: str | None = None,
           option: str | None = None) -> Config:
    """``PATCH``: merge into the config; a group/option in the URL must already exist and be
    the only thing in the body."""
    if group is not None and option is not None:
        if not isinstance(config, dict):
            raise _invalid("No options specified")
        config = {group: config}
    _check_config(config)
    check_group_option(group, option)
    if group is not None:
        if len(config) != 1 or group not in config:
            raise _invalid(f"Trying to update group {group}, so that, and only that, group "
                           "must be specified in the config")
        if option is not None and (len(config[group]) != 1 or option not in config[group]):
            raise _invalid(f"Trying to update option {option} in group {group}, so that, and "
                           "only that, option must be specified  in the config")
        if not _rows(conn, domain_id, group, option, sensitive=None):
            raise _not_found(domain_id, group, option)
    _upsert(conn, domain_id, config)
    return _to_config(_rows(conn, domain_id))


def delete(conn: Connection, domain_id: str, group: str | None = None,
           option: str | None = None) -> None:
    check_group_option(group, option)
    if group is not None and not _rows(conn, domain_id, group, option, sensitive=None):
        raise _not_found(domain_id, group, option)
    c = t.domain_configs.c
    q = sa.delete(t.domain_configs).where(c.domain_id == domain_id)
    if group is not None:
        q = q.where(c.group_name == group)
    if option is not None:
        q = q.where(c.option_name == option)
    conn.execute(q)


def default(group: str | None = None, option: str | None = None) -> dict[str, Any]:
    check_group_option(group, option)
    if group is None:
        return {g: dict(opts) for g, opts in DEFAULTS.items()}
    if option is None:
        return {group: dict(DEFAULTS[group])}
    if option not in DEFAULTS[group]:
        raise _invalid(f"Reading the default for option {option} in group {group} is not "
                       "supported")
    return {option: DEFAULTS[group][option]}
