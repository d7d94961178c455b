"""Policy enforcement in OpenStack's rule language, with OpenStack's default personas.

Each service declares its rule defaults (``policies.py`` in the service package) as
:class:`Rule`. Operators override any rule with a ``policy.yaml`` (or JSON) in OpenStack's rule
syntax (``--policy-file``). Rules are parsed and evaluated by oslo.policy's own parser and
checks (``role:``, ``rule:``, ``field:%(target)s``, ``@``, ``!``, ``and``/``or``/``not``), so
an operator's file means what it means in OpenStack; the rest of oslo.policy (its Enforcer,
oslo.config, HTTP checks) is not loaded — it cost a quarter of a second at every start.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext


@dataclass(frozen=True)
class Rule:
    """A named rule and its default check string."""

    name: str
    check_str: str
    description: str = ""


# Persona building blocks shared by every service's defaults.
BASE_RULES = [
    Rule("admin_required", "role:admin", "Cloud administrator."),
    Rule("context_is_admin", "role:admin", "Cloud administrator."),
    Rule("service_role", "role:service", "Service-to-service calls."),
    Rule("system_reader", "role:reader and system_scope:all",
         "Reader on the whole deployment."),
    Rule("system_admin", "role:admin and system_scope:all",
         "Administrator on the whole deployment."),
    Rule("project_reader", "role:reader and project_id:%(project_id)s",
         "Reader of the target's project."),
    Rule("project_member", "role:member and project_id:%(project_id)s",
         "Member of the target's project."),
    Rule("project_manager", "role:manager and project_id:%(project_id)s",
         "Manager of the target's project."),
    Rule("owner", "user_id:%(user_id)s", "The user the target belongs to."),
]


class PolicyFileError(ValueError):
    """The operator's policy file cannot be read."""


def _load_overrides(path: str) -> dict[str, str]:
    import yaml  # JSON is YAML too

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"policy file {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise PolicyFileError(f"policy file {path}: expected a mapping of rule names to "
                              "check strings")
    return {str(k): v for k, v in data.items()}


class PolicyEngine:
    """Checks a context against named rules; raises :class:`PolicyForbidden` on refusal."""

    def __init__(
        self,
        defaults: Iterable[Rule],
        policy_file: str | None = None,
        message: str = "You are not authorized to perform the requested action: {rule}.",
    ) -> None:
        from oslo_policy import _parser

        checks: dict[str, str] = {}
        for rule in list(BASE_RULES) + list(defaults):
            checks.setdefault(rule.name, rule.check_str)
        if policy_file:
            checks.update(_load_overrides(policy_file))
        self._checks = checks
        # oslo.policy's checks look rules up as ``enforcer.rules[name]`` (``rule:`` checks).
        self.rules_parsed = {name: _parser.parse_rule(check) for name, check in checks.items()}
        self._message = message
        # Rules are fixed for the life of the engine, so a decision depends only on
        # (rule, target, creds): memoise it (oslo.policy spends ~100 µs per check).
        self._decisions: OrderedDict[tuple[Any, ...], bool] = OrderedDict()
        self._lock = threading.Lock()

    def _evaluate(self, rule: str, target: dict[str, Any], creds: dict[str, Any]) -> bool:
        from oslo_policy import _checks

        return bool(_checks._check(self.rules_parsed[rule], target, creds,
                                   _Rules(self),  # type: ignore[arg-type]
                                   current_rule=rule))

    def allowed(self, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None) -> bool:
        # oslo.policy renders a missing value as the string "None", which would match another
        # missing value: drop them so an absent attribute never matches anything.
        creds = {k: v for k, v in ctx.policy_creds().items() if v is not None}
        # The target is always explicit: a handler names the project/user a resource belongs to.
        full_target = {k: v for k, v in (target or {}).items() if v is not None}
        key = (rule, _freeze(full_target), _freeze(creds))
        with self._lock:
            decided = self._decisions.get(key)
        if decided is None:
            decided = self._evaluate(rule, full_target, creds)
            with self._lock:
                self._decisions[key] = decided
                if len(self._decisions) > 8192:
                    self._decisions.popitem(last=False)
        return decided

    def enforce(self, ctx: RequestContext, rule: str, target: dict[str, Any] | None = None) -> None:
        if not self.allowed(ctx, rule, target):
            raise exceptions.PolicyForbidden(self._message.format(rule=rule))

    @property
    def rules(self) -> dict[str, str]:
        return dict(self._checks)


class _Rules:
    """What oslo.policy's ``rule:`` check expects of an enforcer: ``rules[name]``."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.rules = engine.rules_parsed


def _freeze(data: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in data.items()))
