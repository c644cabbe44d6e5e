"""What `resume` and `abort` do, decided purely from the run's journal and what AWS shows now.

The decision is a list of actions, each with its reason, printed before anything is touched. Both
commands work from every state that is not final (in-flight after a crash, committed, rolling
back, interrupted, lease lost, needs operator). Every action re-reads AWS before it acts, so
running either command twice, or again after it crashed itself, is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .model import Color, GroupState, TrafficKind
from .plan import REASONS, Mode, Step
from .runstate import RunView


class ActionKind(StrEnum):
    RUN = "run"  # run a step of the run's plan (forward)
    UNDO = "undo"  # undo a step this run started
    SWITCH_BACK = "switch-back"  # a new rollback run puts the old color back (after the commit point)


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    step: Step | None
    reason: str

    def line(self) -> str:
        what = f"{self.kind.value} {self.step.value}" if self.step else self.kind.value
        return f"{what}: {self.reason}"


@dataclass(frozen=True)
class Decision:
    command: str  # resume or abort
    actions: tuple[Action, ...]

    def steps(self, kind: ActionKind) -> tuple[Step, ...]:
        return tuple(a.step for a in self.actions if a.kind is kind and a.step is not None)

    @property
    def switch_back(self) -> bool:
        return any(a.kind is ActionKind.SWITCH_BACK for a in self.actions)


@dataclass(frozen=True)
class World:
    """What AWS shows of the run's two groups (``None`` = the group does not exist)."""

    groups: dict[Color, GroupState | None]
    traffic_kind: TrafficKind
    traffic_name: str


UNDO_REASONS: dict[Step, str] = {
    Step.SUSPEND: "resume the scaling processes this run suspended",
    Step.APPLY_IDLE: "put the idle color's variables back through Terraform (old AMI and size)",
    Step.ATTACH: "detach the new color from the load balancer and let its targets drain",
    Step.LOWER_MIN: "restore the old color's MinSize",
    Step.STANDBY: "bring the old color's instances out of Standby and back into service",
    Step.DETACH: "attach the old color again (its detach may have happened just before a crash)",
    Step.CLEAR_IDLE: "make Terraform's variables say the idle color is at zero, as AWS runs it",
    # Weighted mode: the old color stayed warm at weight 0, so going back is one listener call.
    Step.SHIFT: "flip all traffic back to the old color in one listener call (weights read back)",
    Step.BAKE: "flip all traffic back to the old color in one listener call (weights read back)",
}


class Unfixable(Exception):
    """No step can fix the world (e.g. a group deleted by hand). ``str`` says what AWS looks like
    and what to do by hand."""


def decide_resume(run: RunView, world: World) -> Decision:
    _check_world(run, world, "resume")
    done = set(run.done)
    actions = []
    for step in run.header.steps:
        if step in done:
            continue
        reason = REASONS[step]
        if step in run.compensated:
            reason += " (undone by an interrupted rollback: runs again)"
        elif step in run.started:
            reason += " (started, not confirmed: runs again, it re-reads AWS first)"
        actions.append(Action(ActionKind.RUN, step, reason))
    return Decision("resume", tuple(actions))


def decide_abort(run: RunView, world: World) -> Decision:
    _check_world(run, world, "abort")
    if not run.committed:
        undo = [Action(ActionKind.UNDO, s, UNDO_REASONS.get(s, "nothing to undo (no change of its own)"))
                for s in reversed(run.started) if s not in run.compensated]
        return Decision("abort", tuple(undo))
    # Past the commit point the old color no longer serves: finish the run so Terraform's
    # variables match what serves (keeping the old color warm if it still runs), then a rollback
    # run puts the old color back with the same checks and draining as any switch.
    forward = []
    for step in run.header.steps:
        if step in run.done:
            continue
        if step is Step.SCALE_OLD:
            step = Step.KEEP_OLD
            reason = REASONS[step] + " (abort: kept warm for the switch back)"
        else:
            reason = REASONS[step]
        forward.append(Action(ActionKind.RUN, step, reason))
    old = run.header.live
    back = Action(ActionKind.SWITCH_BACK, None,
                  f"a rollback run puts {old} back in service: warm if it still runs, else a release "
                  f"of the AMI it ran before")
    return Decision("abort", tuple(forward) + (back,))


def _check_world(run: RunView, world: World, command: str) -> None:
    missing = [c for c in (run.header.live, run.header.target) if world.groups.get(c) is None]
    if missing:
        raise Unfixable(
            f"cannot {command} run {run.run_id}: the Auto Scaling group of "
            + " and ".join(str(c) for c in missing)
            + " does not exist (deleted by hand?); AWS now: " + describe_world(world)
            + "; recreate it with `terraform apply` of the committed variables, check `bluegreen status`, "
            "then `bluegreen abort` again"
        )


def describe_world(world: World) -> str:
    parts = []
    for color in Color:
        group = world.groups.get(color)
        if group is None:
            parts.append(f"{color}: no group")
            continue
        counts = ", ".join(f"{n} {s}" for s, n in sorted(group.counts_by_state().items())) or "no instances"
        attached = "attached" if group.attached_to(world.traffic_kind, world.traffic_name) else "detached"
        parts.append(f"{color}: {counts}, {attached}")
    return "; ".join(parts)


__all__ = ["Action", "ActionKind", "Decision", "Mode", "Unfixable", "World", "decide_abort",
           "decide_resume", "describe_world"]
