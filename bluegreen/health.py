"""Pure verdicts over observed state. "Not yet" is a value (``Verdict.waiting``), not an exception;
the executor decides what a wait's timeout means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .model import DRAINING, HEALTHY, IN_SERVICE, UNHEALTHY, GroupState, TrafficState


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    failed: bool = False  # definitely will not become ok: stop waiting, roll back

    @property
    def waiting(self) -> bool:
        return not self.ok and not self.failed


@dataclass(frozen=True)
class HealthVerdict(Verdict):
    healthy: int = 0
    total: int = 0
    unhealthy_ids: tuple[str, ...] = ()


def instances_ready(group: GroupState, ami: str, size: int) -> Verdict:
    """All ``size`` instances InService and launched from ``ami`` (checked on the instance's
    ImageId: the per-instance launch template version is not reliable)."""
    in_service = group.in_service
    wrong_image = [i.id for i in in_service if i.image_id is not None and i.image_id != ami]
    if wrong_image:
        return Verdict(
            False,
            f"{len(wrong_image)} InService instance(s) of {group.name} run another image than "
            f"{ami} ({', '.join(wrong_image[:3])})",
            failed=True,
        )
    unhealthy = [i.id for i in group.instances if i.health_status != "Healthy"]
    ready = len(in_service)
    reason = f"{ready}/{size} InService on {ami}"
    if unhealthy:
        reason += f", {len(unhealthy)} marked Unhealthy by Auto Scaling"
    if ready >= size and not unhealthy:
        return Verdict(True, reason)
    return Verdict(False, reason)


def targets_health(
    traffic: TrafficState, instance_ids: Iterable[str], threshold: float = 1.0
) -> HealthVerdict:
    """How the load balancer sees ``instance_ids``. ``ok`` when at least ``threshold`` of them
    are healthy (and there is at least one)."""
    ids = tuple(instance_ids)
    states = {i: traffic.health_of(i) for i in ids}
    healthy = sum(1 for s in states.values() if s == HEALTHY)
    unhealthy = tuple(sorted(i for i, s in states.items() if s == UNHEALTHY))
    total = len(ids)
    by_state: dict[str, int] = {}
    for state in states.values():
        key = state or "not registered"
        by_state[key] = by_state.get(key, 0) + 1
    detail = ", ".join(f"{n} {s}" for s, n in sorted(by_state.items()))
    # healthy / total, not healthy >= threshold * total: 0.28 * 25 is 7.000000000000001, which
    # would fail 7 healthy of 25 at a 0.28 threshold. The quotient rounds like the threshold.
    ok = total > 0 and healthy / total >= threshold
    reason = f"{healthy}/{total} healthy" + (f" ({detail})" if detail and not ok else "")
    return HealthVerdict(ok, reason, healthy=healthy, total=total, unhealthy_ids=unhealthy)


def drained(traffic: TrafficState, instance_ids: Iterable[str]) -> Verdict:
    """True when none of ``instance_ids`` is still registered or draining: in-flight requests
    to them have finished (the deregistration delay has run out)."""
    ids = tuple(instance_ids)
    remaining = [i for i in ids if traffic.health_of(i) not in (None, "unused")]
    draining = sum(1 for i in remaining if traffic.health_of(i) == DRAINING)
    if not remaining:
        return Verdict(True, f"{len(ids)} target(s) drained")
    return Verdict(
        False, f"{len(remaining)}/{len(ids)} target(s) still registered ({draining} draining)"
    )


def in_service_ids(group: GroupState) -> tuple[str, ...]:
    return tuple(i.id for i in group.instances if i.lifecycle_state == IN_SERVICE)
