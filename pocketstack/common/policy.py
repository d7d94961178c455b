"""Policy enforcement on oslo.policy, with OpenStack's default personas.

Each service registers its rule defaults (``policies.py`` in the service package). Operators
override any rule with a ``policy.yaml`` in OpenStack's rule syntax (``--policy-file``). The
enforcer gets its own ``ConfigOpts`` — no global configuration object is touched.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext

# Persona building blocks shared by every service's defaults.
BASE_RULES = [
    oslo_policy.RuleDefault("admin_required", "role:admin", "Cloud administrator."),
    oslo_policy.RuleDefault("context_is_admin", "role:admin", "Cloud administrator."),
    oslo_policy.RuleDefault("service_role", "role:service", "Service-to-service calls."),
    oslo_policy.RuleDefault("system_reader", "role:reader and system_scope:all",
                            "Reader on the whole deployment."),
    oslo_policy.RuleDefault("system_admin", "role:admin and system_scope:all",
                            "Administrator on the whole deployment."),
    oslo_policy.RuleDefault("project_reader", "role:reader and project_id:%(project_id)s",
                            "Reader of the target's project."),
    oslo_policy.RuleDefault("project_member", "role:member and project_id:%(project_id)s",
                            "Member of the target's project."),
    oslo_policy.RuleDefault("project_manager", "role:manager and project_id:%(project_id)s",
                            "Manager of the target's project."),
    oslo_policy.RuleDefault("owner", "user_id:%(user_id)s", "The user the target belongs to."),
]


class PolicyEngine:
    """Checks a context against named rules; raises :class:`PolicyForbidden` on refusal."""

    def __init__(
        self,
        defaults: Iterable[oslo_policy.RuleDefault],
        policy_file: str | None = None,
        message: str = "You are not authorized to perform the requested action: {rule}.",
    ) -> None:
        conf = cfg.ConfigOpts()
        conf([], project="pocketstack", default_config_files=[], default_config_dirs=[])
        self._enforcer = oslo_policy.Enforcer(
            conf,
            policy_file=policy_file or "pocketstack-no-policy-file.yaml",
            use_conf=True,
        )
        names = set()
        for rule in list(BASE_RULES) + list(defaults):
            if rule.name in names:
                continue
            names.add(rule.name)
            self._enforcer.register_default(rule)
        self._enforcer.load_rules()
        # Rules are read once at start; stop oslo.policy from re-checking the file per call.
        self._enforcer.use_conf = False
        self._message = message
        # Rules are fixed for the life of the engine, so a decision depends only on
        # (rule, target, creds): memoise it (oslo.policy spends ~100 µs per check).
        self._decisions: OrderedDict[tuple[Any, ...], bool] = OrderedDict()
        self._lock = threading.Lock()

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
            decided = bool(self._enforcer.enforce(rule, full_target, creds))
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
        return {name: str(rule) for name, rule in self._enforcer.rules.items()}


def _freeze(data: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in data.items()))
