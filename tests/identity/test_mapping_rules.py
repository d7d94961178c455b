"""The federation mapping rule engine on its own: Keystone's rule semantics, case by case (the
live login through it is in test_federation.py)."""

from __future__ import annotations

from typing import Any

import pytest

from pocketstack.common import exceptions
from pocketstack.identity.domain.mapping_rules import evaluate, validate_mapping

ASSERTION = {"UserName": "testacct", "Email": "testacct@example.com",
             "orgPersonType": "Contractor;Tester", "Groups": "g1;g2;admins"}


def _map(rules: list[dict[str, Any]], assertion: dict[str, Any] | None = None,
         version: str = "1.0") -> Any:
    mapping = validate_mapping({"rules": rules, "schema_version": version})
    return evaluate({"id": "m", **mapping}, ASSERTION if assertion is None else assertion)


def test_direct_mapping_and_user_defaults() -> None:
    out = _map([{"local": [{"user": {"name": "{0}", "email": "{1}"}}],
                 "remote": [{"type": "UserName"}, {"type": "Email"}]}])
    assert out.user == {"name": "testacct", "email": "testacct@example.com",
                        "type": "ephemeral"}
    assert out.ephemeral


def test_any_one_of_and_not_any_of() -> None:
    rule = {"local": [{"user": {"name": "{0}"}}],
            "remote": [{"type": "UserName"},
                       {"type": "orgPersonType", "any_one_of": ["Tester"]}]}
    assert _map([rule]).user["name"] == "testacct"
    rule["remote"][1] = {"type": "orgPersonType", "any_one_of": ["Employee"]}
    with pytest.raises(exceptions.Unauthorized, match="Could not map"):
        _map([rule])
    rule["remote"][1] = {"type": "orgPersonType", "not_any_of": ["Tester"]}
    with pytest.raises(exceptions.Unauthorized):
        _map([rule])
    rule["remote"][1] = {"type": "orgPersonType", "not_any_of": ["Employee"]}
    assert _map([rule]).user["name"] == "testacct"


def test_regex() -> None:
    rule = {"local": [{"user": {"name": "{0}"}}],
            "remote": [{"type": "UserName"},
                       {"type": "orgPersonType", "any_one_of": ["^Contr.*$"], "regex": True}]}
    assert _map([rule]).user["name"] == "testacct"
    rule["remote"][1]["any_one_of"] = ["^ontr"]
    with pytest.raises(exceptions.Unauthorized):
        _map([rule])


def test_whitelist_blacklist_groups_by_name_and_domain() -> None:
    white = _map([{"local": [{"user": {"name": "{0}"}},
                             {"groups": "{1}", "domain": {"name": "corp"}}],
                   "remote": [{"type": "UserName"},
                              {"type": "Groups", "whitelist": ["g1", "admins", "other"]}]}])
    assert sorted(g["name"] for g in white.group_names) == ["admins", "g1"]
    assert all(g["domain"] == {"name": "corp"} for g in white.group_names)
    black = _map([{"local": [{"groups": "{0}", "domain": {"id": "d1"}}],
                   "remote": [{"type": "Groups", "blacklist": ["admins"]}]}])
    assert sorted(g["name"] for g in black.group_names) == ["g1", "g2"]
    # a single value maps as itself
    one = _map([{"local": [{"groups": "{0}", "domain": {"id": "d1"}}],
                 "remote": [{"type": "Groups", "whitelist": ["g2"]}]}])
    assert one.group_names == [{"name": "g2", "domain": {"id": "d1"}}]


def test_group_by_id_and_by_name_and_group_ids() -> None:
    out = _map([{"local": [{"user": {"name": "{0}"}}, {"group": {"id": "gid-1"}},
                           {"group": {"name": "ops", "domain": {"name": "corp"}}},
                           {"group_ids": "{1}"}],
                 "remote": [{"type": "UserName"},
                            {"type": "Groups", "whitelist": ["g1", "g2"]}]}])
    assert out.group_ids == ["gid-1", "g1", "g2"]
    assert out.group_names == [{"name": "ops", "domain": {"name": "corp"}}]


def test_groups_without_domain_refused() -> None:
    with pytest.raises(exceptions.ValidationError, match="'groups' and 'domain'"):
        _map([{"local": [{"groups": "{0}"}], "remote": [{"type": "Groups"}]}])


def test_local_user_first_user_wins_and_projects() -> None:
    out = _map([
        {"local": [{"user": {"name": "{0}", "type": "local",
                             "domain": {"name": "Default"}}}],
         "remote": [{"type": "UserName"}]},
        {"local": [{"user": {"name": "ignored"}}], "remote": [{"type": "Email"}]},
    ])
    assert out.user == {"name": "testacct", "type": "local", "domain": {"name": "Default"}}
    assert not out.ephemeral
    out = _map([{"local": [{"user": {"name": "{0}"}, "domain": {"name": "corp"},
                            "projects": [{"name": "p-{0}", "roles": [{"name": "member"}]}]}],
                 "remote": [{"type": "UserName"}]}], version="2.0")
    assert out.projects == [{"name": "p-testacct", "roles": [{"name": "member"}],
                             "domain": {"name": "corp"}}]
    assert out.user["domain"] == {"name": "corp"}


def test_missing_or_empty_attribute_does_not_match() -> None:
    rule = {"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "Missing"}]}
    with pytest.raises(exceptions.Unauthorized):
        _map([rule])
    with pytest.raises(exceptions.Unauthorized):
        _map([{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "Empty"}]}],
             {"Empty": []})


def test_bad_reference_refused() -> None:
    with pytest.raises(exceptions.Forbidden, match="doesn't exist"):
        _map([{"local": [{"user": {"name": "{3}"}}], "remote": [{"type": "UserName"}]}])


@pytest.mark.parametrize("body", [
    {"rules": []},
    {"rules": [{"local": [], "remote": []}]},
    {"rules": [{"local": [{"user": {"name": "x", "type": "admin"}}],
                "remote": [{"type": "a"}]}]},
    {"rules": [{"local": [{"bogus": 1}], "remote": [{"type": "a"}]}]},
    {"rules": [{"local": [], "remote": [{"type": "a", "any_one_of": ["x"],
                                         "not_any_of": ["y"]}]}]},
    {"rules": [{"local": [], "remote": [{"type": "a", "any_one_of": "x"}]}]},
    {"rules": [{"local": [], "remote": [{"type": "a"}]}], "schema_version": "9.9"},
    {"rules": [{"local": [{"group": {"name": "g"}}], "remote": [{"type": "a"}]}]},
    {"rules": [{"local": [], "remote": [{"type": "a", "regex": True,
                                         "whitelist": ["[unclosed"]}]}]},
])
def test_invalid_mappings_refused(body: dict[str, Any]) -> None:
    with pytest.raises(exceptions.ValidationError):
        validate_mapping(body)
