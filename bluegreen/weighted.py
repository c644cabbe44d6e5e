"""The weighted traffic mode's pure decisions: which color serves (from the listener's weights),
the steps of a weighted run, and the hold loop of each pause and of the bake.

Each color has its own target group, attached to its group by Terraform; the listener forwards to
both with weights. bluegreen moves traffic only by changing those weights, one ModifyListener call
at a time, and reads them back after each change. Nothing here performs I/O: the hold loop gets its
clock, gates and the journal's requests as callables, so unit tests drive it with a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import BluegreenError, ExitCode
from .model import HEALTHY, Color, GroupState, TrafficState
from .plan import LiveAssessment, Step
from .strategy import WeightStep, weights_for

# -- live color from the weights ------------------------------------------------------------------


def shares(weights: dict[str, int], target_groups: dict[Color, str]) -> dict[Color, int]:
    """Each color's share of traffic in percent (0 when its target group is not forwarded to);
    the ALB's weights are relative, so they are normalised by their sum."""
    total = sum(max(weights.get(arn, 0), 0) for arn in target_groups.values())
    if total <= 0:
        return {c: 0 for c in Color}
    return {c: round(100 * max(weights.get(arn, 0), 0) / total) for c, arn in target_groups.items()}


def assess_weighted(groups: dict[Color, GroupState], health: dict[Color, TrafficState],
                    weights: dict[str, int], target_groups: dict[Color, str],
                    tfvars_live: Color | None, outputs_live: Color | None = None) -> LiveAssessment:
    """The live color is the one that takes 100 % of the weight and has at least one healthy
    InService target in its own target group. "Attached" means "has weight" here."""
    share = shares(weights, target_groups)
    weighted = tuple(c for c in Color if share[c] > 0)
    serving = tuple(c for c in weighted if _healthy(groups[c], health[c]) > 0)
    problems: list[str] = []
    if len(weighted) == 2:
        problems.append(f"traffic is split: blue {share[Color.BLUE]} %, green {share[Color.GREEN]} % "
                        "(a weighted release was interrupted?)")
    elif not weighted:
        problems.append("the listener forwards to neither color's target group")
    elif not serving:
        problems.append(f"{weighted[0]} takes all traffic but has no healthy InService target")
    extra = sorted(set(weights) - set(target_groups.values()))
    if extra:
        problems.append(f"the listener also forwards to {', '.join(extra)}, no color's target group")
    live = serving[0] if len(weighted) == 1 and len(serving) == 1 and not extra else None
    if live is not None and tfvars_live is not None and tfvars_live != live:
        problems.append(f"the tfvars say live_color = {tfvars_live} but {live} serves")
    if live is not None and outputs_live is not None and outputs_live != live:
        problems.append(f"Terraform's output live_color = {outputs_live} but {live} serves")
    down = weighted[0] if len(weighted) == 1 and not serving and tfvars_live in (None, weighted[0]) else None
    return LiveAssessment(live=live, attached=weighted, serving=serving, problems=tuple(problems), down=down)


def _healthy(group: GroupState, traffic: TrafficState) -> int:
    return sum(1 for i in group.in_service if traffic.health_of(i.id) == HEALTHY)


# -- the steps of a weighted run ------------------------------------------------------------------

# The attach mode's traffic steps, replaced in the weighted mode by the weight shift and the bake:
# no attach (Terraform attached each group to its own target group), no Standby or detach (a
# color at weight 0 gets no new requests; in-flight ones finish, as ALB does for any weight change).
_ATTACH_ONLY = {Step.ATTACH, Step.SMOKE, Step.VERIFY, Step.LOWER_MIN, Step.STANDBY, Step.WAIT_DRAINED, Step.DETACH,
                Step.EXIT_STANDBY}


def weighted_steps(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """An attach-mode plan's steps as a weighted run: wait until the new target group is healthy
    at weight 0 (the pre-traffic test), then shift and bake before the old color goes."""
    result: list[Step] = []
    for step in steps:
        if step in _ATTACH_ONLY:
            continue
        if step in (Step.SCALE_OLD, Step.KEEP_OLD):
            result += [Step.SHIFT, Step.BAKE]
        result.append(step)
    return tuple(result)


def target_weights(target_groups: dict[Color, str], old: Color, percent: int) -> dict[str, int]:
    """The listener weights giving the new color ``percent`` (they sum to 100)."""
    old_weight, new_weight = weights_for(percent)
    return {target_groups[old]: old_weight, target_groups[old.other()]: new_weight}


def weights_match(actual: dict[str, int], wanted: dict[str, int]) -> bool:
    """The read-back: every wanted target group at its weight, nothing else forwarded to (a
    target group at weight 0 may be reported or omitted)."""
    for arn in set(actual) | set(wanted):
        if actual.get(arn, 0) != wanted.get(arn, 0):
            return False
    return True


# -- the hold loop ---------------------------------------------------------------------------------


class GateWatchLike(Protocol):
    """``bluegreen.gates.GateWatch`` (the gates' own module): verdicts have ``tripped``,
    ``gate`` and ``reason``."""

    @property
    def started(self) -> bool: ...

    def start(self, now: float) -> Any: ...

    def check(self, now: float) -> Any: ...


class HoldFailed(BluegreenError):
    """A pause or the bake ended the run: a gate tripped, `bluegreen abort` asked, or an approval
    pause timed out with on_timeout = "abort". The executor flips traffic back (exit 10)."""

    exit_code = ExitCode.ROLLED_BACK


class AbortRequested(HoldFailed):
    """`bluegreen abort` from another process asked the driving process to flip back: the run
    ends ``aborted`` (what the operator asked for), not ``rolled-back`` (what a failure causes).
    The executor reads ``operator_request`` rather than this class, which lives with the weighted mode."""

    operator_request = True


def gate_failure(verdict: Any, where: str) -> HoldFailed:
    return HoldFailed(f"gate {verdict.gate} tripped during {where}: {verdict.reason}")


@dataclass(frozen=True)
class HoldResult:
    how: str  # "elapsed", "promoted", "timeout-promote", "no-pause"
    seconds: float


def hold(*, what: str, step: WeightStep | None, seconds: float | None, index: int,
         clock: Any, interval: float, gates: GateWatchLike | None,
         requests: Callable[[], list[dict[str, Any]]],
         approval_timeout: float, on_timeout: str,
         tick: Callable[[], None] = lambda: None,
         on_pause: Callable[[], None] = lambda: None) -> HoldResult:
    """Hold for ``seconds`` (``None``: an approval pause) while the gates are checked every
    ``interval``. Ends early on a promote request (an approval pause: one naming this step; a
    timed pause: one naming this step or an earlier one, since promote skips the remaining timed
    pauses). Raises ``HoldFailed`` on a tripped gate, an abort request, or an approval timeout
    with on_timeout = "abort". ``tick`` runs each interval (the stop check, the lease)."""
    start = clock.now()
    approval = seconds is None
    if approval:
        on_pause()
    limit = approval_timeout if approval else float(seconds or 0)
    if not approval and limit <= 0 and gates is None:
        return HoldResult("no-pause", 0.0)
    while True:
        tick()
        now = clock.now()
        for request in requests():
            action, at = request.get("action"), request.get("at_step")
            by = request.get("by") or "another process"
            if action == "abort":
                raise AbortRequested(f"aborted by `bluegreen abort` ({by}) during {what}")
            if action == "promote" and isinstance(at, int) and (at == index or (not approval and at <= index)):
                return HoldResult("promoted", now - start)
        if gates is not None:
            verdict = gates.check(now)
            if verdict is not None and verdict.tripped:
                raise gate_failure(verdict, what)
        if now - start >= limit:
            if not approval:
                return HoldResult("elapsed", now - start)
            if on_timeout == "promote":
                return HoldResult("timeout-promote", now - start)
            raise HoldFailed(f"approval pause of {what} timed out after {limit:g}s with no "
                             "`bluegreen promote` (traffic.on_timeout = \"abort\")")
        clock.sleep(min(interval, max(limit - (now - start), 0.0)) or interval)
