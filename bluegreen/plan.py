"""Pure decisions: which color is live, and the steps of a release, rollback or swap.

Nothing here performs I/O. Each decision returns values with a human reason, so the executor can
print why it does what it does, and the tests can assert decisions without AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .errors import StateMismatchError
from .model import HEALTHY, Color, ColorVars, Observed, TfVars


@dataclass(frozen=True)
class LiveAssessment:
    """Which color serves, judged from what the load balancer reports, and how that compares
    with what Terraform believes."""

    live: Color | None  # the one color that serves, when there is exactly one
    attached: tuple[Color, ...]
    serving: tuple[Color, ...]  # attached with at least one healthy InService target
    problems: tuple[str, ...] = ()
    # The one attached color when it serves nothing (no healthy InService target) and Terraform
    # still calls it live: a release that went bad after it completed. `rollback` may leave it
    # for a warm other color (``plan_switch``); nothing else may.
    down: Color | None = None

    @property
    def clean(self) -> bool:
        return self.live is not None and not self.problems


def assess_live(
    observed: Observed, tfvars_live: Color | None, outputs_live: Color | None = None
) -> LiveAssessment:
    attached = tuple(c for c in Color if observed.attached(c))
    serving = tuple(c for c in attached if _healthy_in_service(observed, c) > 0)
    problems: list[str] = []
    # Order matters: report the traffic layer's own inconsistency before comparing with
    # Terraform, because a disagreement with Terraform means nothing while the LB is unclear.
    if len(attached) == 2:
        problems.append(
            "both colors are attached to the load balancer (a release or swap was interrupted?)"
        )
    elif not attached:
        problems.append("no color is attached to the load balancer")
    elif not serving:
        problems.append(f"{attached[0]} is attached but has no healthy InService target")
    live = serving[0] if len(attached) == 1 and len(serving) == 1 else None
    if live is not None and tfvars_live is not None and tfvars_live != live:
        problems.append(f"the tfvars say live_color = {tfvars_live} but {live} serves")
    if live is not None and outputs_live is not None and outputs_live != live:
        problems.append(f"Terraform's output live_color = {outputs_live} but {live} serves")
    down = None
    if len(attached) == 1 and not serving and tfvars_live in (None, attached[0]) \
            and outputs_live in (None, attached[0]):
        down = attached[0]
    return LiveAssessment(live=live, attached=attached, serving=serving, problems=tuple(problems),
                          down=down)


def _healthy_in_service(observed: Observed, color: Color) -> int:
    group = observed.group(color)
    return sum(1 for i in group.in_service if observed.traffic.health_of(i.id) == HEALTHY)


class Step(StrEnum):
    """Release steps, in the order a release runs them. Values are journal records: stable."""

    SUSPEND = "suspend-processes"
    CLEAR_IDLE = "scale-idle-to-zero"
    APPLY_IDLE = "apply-idle"
    WAIT_INSTANCES = "wait-instances"
    ATTACH = "attach-new"
    WAIT_HEALTHY = "wait-healthy"
    SMOKE = "smoke-check"
    VERIFY = "verify-window"
    LOWER_MIN = "lower-old-min"
    STANDBY = "standby-old"
    WAIT_DRAINED = "wait-drained"
    DETACH = "detach-old"
    EXIT_STANDBY = "exit-standby-old"
    SHIFT = "shift-traffic"  # weighted mode: the strategy's weight steps and pauses
    BAKE = "bake"  # weighted mode: 100 % on the new color, the old one warm at weight 0
    SCALE_OLD = "scale-old-to-zero"
    KEEP_OLD = "keep-old-warm"
    RESUME = "resume-processes"
    CONFIRM = "confirm-no-changes"


# Once the old color is detached the new one serves alone: from here on a failure is finished
# forward (`bluegreen resume`), never rolled back by re-attaching a color that is scaling away.
COMMIT_POINT = Step.DETACH
# The weighted mode keeps the old color warm at weight 0 until the bake ends, so until then any
# failure flips the weights back (one listener call): its commit point is the end of the bake.
WEIGHTED_COMMIT_POINT = Step.BAKE


def commit_point(steps: tuple[Step, ...]) -> Step:
    """The step whose completion commits a run of ``steps`` (attach or weighted mode)."""
    return WEIGHTED_COMMIT_POINT if Step.SHIFT in steps else COMMIT_POINT


REASONS: dict[Step, str] = {
    Step.SUSPEND: "suspend AZRebalance, AlarmNotification and ScheduledActions on both colors "
    "so nothing launches or terminates behind our back",
    Step.CLEAR_IDLE: "the idle color still runs instances from an earlier release; scale it to "
    "zero first so the new AMI is the only one it launches",
    Step.APPLY_IDLE: "render the idle color's variables, plan, check the blast radius and apply "
    "that saved plan",
    Step.WAIT_INSTANCES: "wait until every new instance is InService on the new AMI",
    Step.ATTACH: "attach the new color to the serving load balancer",
    Step.WAIT_HEALTHY: "wait until the load balancer sees every new target healthy",
    Step.SMOKE: "send a smoke request through the load balancer",
    Step.VERIFY: "watch the new color's health for the verify window",
    Step.LOWER_MIN: "lower the old color's MinSize so Standby can decrement desired capacity",
    Step.STANDBY: "put the old color's instances on Standby: they leave the load balancer "
    "through draining, in-flight requests finish",
    Step.WAIT_DRAINED: "wait until the old targets have drained",
    Step.DETACH: "detach the old color from the load balancer",
    Step.EXIT_STANDBY: "bring the old instances out of Standby (detached: they get no traffic) so "
    "Terraform's capacity matches AWS",
    Step.SHIFT: "move traffic to the new color step by step through the listener's target group "
    "weights (read back after each change), holding each step's pause while the gates watch",
    Step.BAKE: "bake: the new color takes all traffic while the old one stays warm at weight 0 and "
    "the gates keep watching; a trip flips all traffic back in one call",
    Step.SCALE_OLD: "scale the old color to zero through Terraform and record the new live color",
    Step.KEEP_OLD: "keep the old color running, detached, for an instant rollback; record the "
    "new live color through Terraform",
    Step.RESUME: "resume exactly the processes this release suspended",
    Step.CONFIRM: "terraform plan must show no changes",
}


class Mode(StrEnum):
    RELEASE = "release"  # new AMI onto the idle color through Terraform, old color to zero
    ROLLBACK = "rollback"  # back to the previous color while it is still running (warm)
    SWAP = "swap"  # switch between two running colors; the old one stays running, detached


@dataclass(frozen=True)
class SwitchIntent:
    mode: Mode
    ami: str | None = None  # RELEASE only; the other modes keep the target's AMI
    size: int | None = None  # RELEASE: None follows the live color's actual desired capacity
    keep_old: bool = False
    smoke: bool = False


@dataclass(frozen=True)
class ReleasePlan:
    mode: Mode
    live: Color
    target: Color
    size: int
    ami: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())

    def reason(self, step: Step) -> str:
        return REASONS[step]


def plan_switch(
    observed: Observed, assessment: LiveAssessment, intent: SwitchIntent, target_ami: str
) -> ReleasePlan:
    """The steps that move traffic from the live color to the other one, or
    ``StateMismatchError`` saying why not. ``target_ami`` is the AMI the target color will run:
    the new one for a release, the one it already runs for a rollback or swap.

    One unclean state is accepted, by a rollback only: the live color is attached but serves
    nothing (``assessment.down``) while the other color is warm (``warm_rescue``). The plan is then
    an ordinary warm rollback away from the color that serves nothing: the warm color is attached
    and must be healthy before the bad one drains and detaches, so it never makes things worse."""
    notes: list[str] = []
    if assessment.clean:
        live = assessment.live
    elif intent.mode is Mode.ROLLBACK and assessment.down is not None:
        live = assessment.down
        notes.append(warm_rescue(observed, assessment.down, target_ami))
    else:
        hint = "run `bluegreen status`; if a release was interrupted, `bluegreen resume` or `bluegreen abort` finishes it"
        if assessment.down is not None:
            hint = (f"`bluegreen rollback` brings back {assessment.down.other()} if it still runs; "
                    "otherwise fix the serving color and run `bluegreen status`")
        raise StateMismatchError(
            "refusing to " + intent.mode.value + ": " + "; ".join(assessment.problems), hint=hint
        )
    assert live is not None
    target = live.other()
    live_group = observed.group(live)
    target_group = observed.group(target)
    if intent.mode is Mode.RELEASE:
        size = intent.size if intent.size is not None else live_group.desired_capacity
        if size < 1:
            raise StateMismatchError(
                f"the live color {live} has desired capacity {size}; pass --size to choose the "
                "new color's size"
            )
        if intent.size is None:
            notes.append(f"size {size} follows {live}'s actual desired capacity")
    else:
        size = len(target_group.in_service)
        if size < 1:
            what = "roll back to" if intent.mode is Mode.ROLLBACK else "swap to"
            raise StateMismatchError(
                f"cannot {what} {target}: it has no InService instances",
                hint="`bluegreen rollback` releases the previous AMI again when the old color "
                "was already scaled to zero"
                if intent.mode is Mode.ROLLBACK
                else "scale it up first, or use `bluegreen release`",
            )

    steps: list[Step] = [Step.SUSPEND]
    if intent.mode is Mode.RELEASE:
        if target_group.instances or target_group.desired_capacity:
            steps.append(Step.CLEAR_IDLE)
        steps.append(Step.APPLY_IDLE)
    steps += [Step.WAIT_INSTANCES, Step.ATTACH, Step.WAIT_HEALTHY]
    if intent.smoke:
        steps.append(Step.SMOKE)
    keep_old = intent.keep_old or intent.mode is Mode.SWAP
    steps += [
        Step.VERIFY,
        Step.LOWER_MIN,
        Step.STANDBY,
        Step.WAIT_DRAINED,
        Step.DETACH,
        Step.EXIT_STANDBY,
        Step.KEEP_OLD if keep_old else Step.SCALE_OLD,
        Step.RESUME,
        Step.CONFIRM,
    ]
    return ReleasePlan(
        mode=intent.mode,
        live=live,
        target=target,
        size=size,
        ami=target_ami,
        steps=tuple(steps),
        notes=tuple(notes),
    )


def warm_rescue(observed: Observed, down: Color, target_ami: str) -> str:
    """Whether a rollback may leave ``down`` (attached, serving nothing) for the other color:
    only when that color is warm: InService instances (detached: ``down`` is the one attached
    color), all on ``target_ami`` (the AMI Terraform records for it). Returns the reason to print,
    or raises ``StateMismatchError`` saying what is missing. No Terraform before the switch, so
    this is the fast way back."""
    warm = down.other()
    group = observed.group(warm)
    problem = None
    wrong = sorted(i.id for i in group.in_service if i.image_id is not None and i.image_id != target_ami)
    if not group.in_service:
        problem = f"{warm} has no InService instances to roll back to"
    elif wrong:
        problem = (f"{len(wrong)} InService instance(s) of {warm} run another image than {target_ami}, "
                   f"the AMI the tfvars record for it ({', '.join(wrong[:3])})")
    if problem is not None:
        raise StateMismatchError(
            f"cannot roll back: {down} is attached but has no healthy InService target, and {problem}",
            hint=f"bring {warm} up on {target_ami} (its size in the tfvars, then terraform apply) and "
            f"run `bluegreen rollback` again, or fix {down}",
        )
    return (f"{down} is attached but serves nothing; {warm} is warm ({len(group.in_service)} InService "
            f"on {target_ami}): {warm} is attached and must be healthy before {down} leaves")


def remaining_steps(plan_steps: tuple[Step, ...], completed: set[Step]) -> tuple[Step, ...]:
    """For ``resume``: the steps not yet completed, in order. A step that started but did not
    complete runs again: every step re-reads AWS first, so running it twice is safe."""
    return tuple(step for step in plan_steps if step not in completed)


def committed(completed: set[Step], steps: tuple[Step, ...] = ()) -> bool:
    return commit_point(steps) in completed


def release_vars(current: TfVars, target: Color, new: ColorVars, live_desired: int) -> TfVars:
    """The variables a release applies: ``new`` on the target color, and the live color at the
    capacity AWS reports, so the plan never resizes the serving color (someone may have scaled
    it by hand under load). Shared by ``plan``, the check before the first AWS change and the
    apply step, so all three plan the same change."""
    result = current.with_color(target, new)
    live = target.other()
    kept = result.colors[live]
    if kept.size != live_desired:
        result = result.with_color(live, ColorVars(kept.ami, live_desired, kept.release))
    return result
