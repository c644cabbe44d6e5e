"""The blast-radius check on a saved plan (``terraform show -json PLAN``): pure.

A release may create, update or replace only the addresses of the color it is changing. Anything
else (the live color, the load balancer, listener, target group, network) is a violation, listed
by address, because a reviewer must see exactly what would have been touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from .model import Color

# Actions a release may take on the color it changes. A plain delete is not among them: the stack
# always keeps both colors' groups, so deleting one is a mistake in the stack or the variables.
_ALLOWED_ON_TARGET = {"create", "update", "replace"}
_NO_CHANGE = {"no-op", "read"}


@dataclass(frozen=True)
class ResourceChange:
    address: str
    action: str  # create, update, delete, replace, no-op, read


@dataclass(frozen=True)
class PlanSummary:
    changes: tuple[ResourceChange, ...]  # only real changes, in the plan's order

    @property
    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] = counts.get(change.action, 0) + 1
        return counts

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class BlastRadiusVerdict:
    ok: bool
    allowed_color: Color
    violations: tuple[ResourceChange, ...]

    @property
    def reason(self) -> str:
        if self.ok:
            return f"the plan changes only {self.allowed_color} addresses"
        listed = ", ".join(f"{v.action} {v.address}" for v in self.violations)
        return f"the plan changes addresses outside {self.allowed_color}: {listed}"


def summarize(plan_json: dict[str, Any]) -> PlanSummary:
    changes = []
    for rc in plan_json.get("resource_changes") or []:
        action = _action(rc.get("change", {}).get("actions") or ["no-op"])
        if action not in _NO_CHANGE:
            changes.append(ResourceChange(address=rc.get("address", "?"), action=action))
    return PlanSummary(changes=tuple(changes))


def _action(actions: Iterable[str]) -> str:
    actions = list(actions)
    if set(actions) == {"delete", "create"}:
        return "replace"
    return actions[0] if len(actions) == 1 else "+".join(actions)


def color_prefix(color_address: str, color: Color) -> str:
    return color_address.format(color=color.value)


def belongs_to(address: str, prefix: str) -> bool:
    return address == prefix or address.startswith((prefix + ".", prefix + "["))


def check(summary: PlanSummary, allowed_color: Color, color_address: str) -> BlastRadiusVerdict:
    prefix = color_prefix(color_address, allowed_color)
    violations = tuple(
        change
        for change in summary.changes
        if not (belongs_to(change.address, prefix) and change.action in _ALLOWED_ON_TARGET)
    )
    return BlastRadiusVerdict(ok=not violations, allowed_color=allowed_color, violations=violations)
