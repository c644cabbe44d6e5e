"""Pure verdicts over observed state. "Not yet" is a value (``Verdict.waiting``), not an exception;
the executor decides what a wait's timeout means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

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


@dataclass(frozen=True)
class HealthTimers:
    """How long a new target may read ``unhealthy`` before the release gives up on it, from AWS's
    own timers plus the user's margin.

    A target fails only when both hold:

    * its instance is at least ``grace_period_seconds`` old (the group's HealthCheckGracePeriod,
      counted from EC2's LaunchTime, as Auto Scaling counts it before it acts on a failed check);
    * it has read ``unhealthy`` for ``interval_seconds × unhealthy_threshold + margin_seconds``
      without a break: the load balancer's own window for declaring a target unhealthy, seen a
      second time by us, plus ``timeouts.unhealthy_grace_seconds`` (the margin; 0 adds nothing).

    So an unhealthy target fails at ``max(launch + grace period, first unhealthy report + interval
    × threshold + margin)``. ``timeouts.targets_healthy_seconds`` still bounds the whole wait."""

    grace_period_seconds: int
    interval_seconds: int
    unhealthy_threshold: int
    margin_seconds: float = 0.0

    @classmethod
    def of(cls, group: GroupState, traffic: TrafficState, margin_seconds: float = 0.0) -> "HealthTimers":
        return cls(
            grace_period_seconds=group.health_check_grace_period,
            interval_seconds=traffic.health_check_interval_seconds,
            unhealthy_threshold=traffic.unhealthy_threshold_count,
            margin_seconds=margin_seconds,
        )

    @property
    def failing_after(self) -> float:
        """Seconds of uninterrupted ``unhealthy`` before a target past its grace period fails."""
        return self.interval_seconds * self.unhealthy_threshold + self.margin_seconds

    def describe(self) -> str:
        """``32s (interval 10s × threshold 3 + 2s margin)``."""
        margin = f" + {self.margin_seconds:g}s margin" if self.margin_seconds else ""
        return (f"{self.failing_after:g}s (interval {self.interval_seconds}s × threshold "
                f"{self.unhealthy_threshold}{margin})")


def unhealthy_target(
    instance_id: str, *, unhealthy_for: float, age: float | None, timers: HealthTimers
) -> Verdict:
    """Whether one target that reads ``unhealthy`` has failed (``failed``) or may still recover
    (waiting). ``unhealthy_for``: seconds since we first saw it unhealthy without a break;
    ``age``: seconds since its instance launched, ``None`` when EC2 did not say (an instance EC2
    does not describe yet was just launched, so it counts as age 0: within any grace period)."""
    grace = timers.grace_period_seconds
    age_known = age if age is not None else 0.0
    within_grace = age_known < grace
    past = f"once past the group's {grace}s grace period" if grace else "(the group has no grace period)"
    if within_grace or unhealthy_for < timers.failing_after:
        # No running numbers here: the wait prints a reason each time it changes.
        why = f"within the group's {grace}s grace period" if within_grace else "may still recover"
        return Verdict(
            False,
            f"{instance_id} unhealthy, {why}: failing after {timers.describe()} {past}",
        )
    return Verdict(
        False,
        f"{instance_id} unhealthy for {unhealthy_for:.0f}s; failing after {timers.describe()} {past}",
        failed=True,
    )


def track_unhealthy(
    since: Mapping[str, float], unhealthy_ids: Iterable[str], now: float
) -> dict[str, float]:
    """When each currently unhealthy target was first seen unhealthy without a break: a target
    that reads anything else in between starts over."""
    ids = tuple(unhealthy_ids)
    return {i: since.get(i, now) for i in ids}


def new_targets_health(
    group: GroupState,
    traffic: TrafficState,
    unhealthy_since: Mapping[str, float],
    now: float,
    *,
    margin_seconds: float = 0.0,
) -> HealthVerdict:
    """The new color's InService targets, all healthy (``ok``), or ``failed`` once one of them
    stays unhealthy past AWS's own timers (``HealthTimers``); ``unhealthy_since`` comes from
    ``track_unhealthy`` on the same clock as ``now``."""
    verdict = targets_health(traffic, in_service_ids(group), 1.0)
    if verdict.ok or not verdict.unhealthy_ids:
        return verdict
    timers = HealthTimers.of(group, traffic, margin_seconds)
    judged = [
        unhealthy_target(
            i,
            unhealthy_for=now - unhealthy_since.get(i, now),
            age=group.age_of(i),
            timers=timers,
        )
        for i in verdict.unhealthy_ids
    ]
    failed = [v for v in judged if v.failed]
    first = (failed or judged)[0]
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    return HealthVerdict(
        False,
        f"{verdict.reason}: {first.reason}{more}",
        failed=bool(failed),
        healthy=verdict.healthy,
        total=verdict.total,
        unhealthy_ids=verdict.unhealthy_ids,
    )


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
