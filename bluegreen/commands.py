"""Command flows. Each reads as a script of named steps: validate input, take the lock, observe,
decide (pure), act through the executor, report. ``cli.py`` only parses flags and maps errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from . import health, packer, tfvars
from .app import App
from .errors import InputError, StateMismatchError
from .journal import RunView
from .model import Color, ColorVars, Observed, StackOutputs, TfVars
from .plan import (
    LiveAssessment,
    Mode,
    ReleasePlan,
    Step,
    SwitchIntent,
    assess_live,
    committed,
    plan_switch,
    remaining_steps,
)
from .release import Deps, Switch, attach, compensate, execute
from .smoke import http_smoke
from .stack import Preview


# -- inputs ------------------------------------------------------------------------------------


def resolve_ami(app: App, ami: str | None, manifest: Path | None) -> str:
    """The AMI from --ami or the Packer manifest, checked to exist in the region."""
    if (ami is None) == (manifest is None):
        raise InputError("pass exactly one of --ami AMI or --packer-manifest FILE")
    region = app.settings.service.region
    if manifest is not None:
        ami = packer.ami_from_manifest(manifest, region)
    assert ami is not None
    if not packer.is_ami_id(ami):
        raise InputError(f"--ami {ami!r} is not an AMI id (ami- followed by 8 or 17 hex digits)")
    # Local inputs before any AWS call: a bad tfvars file or a missing or too old Terraform
    # fails fast, offline, with nothing touched.
    app.stack.read_vars()
    app.stack.terraform.ensure_ready()
    if not app.images.exists(ami):
        raise InputError(
            f"AMI {ami} not found in region {region}; check the id, the region, or that the "
            "bake finished and the image is shared with this account"
        )
    return ami


# -- observation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    outputs: StackOutputs
    tfvars: TfVars
    observed: Observed
    assessment: LiveAssessment


def observe(app: App) -> Situation:
    tfvars, _ = app.stack.read_vars()
    outputs = app.stack.outputs()
    groups = {}
    for color in Color:
        name = outputs.asg_names[color]
        group = app.autoscaling.describe_group(name)
        if group is None:
            raise StateMismatchError(
                f"Auto Scaling group {name} ({color}) named by Terraform's outputs does not exist; "
                "apply the stack first"
            )
        groups[color] = group
    observed = Observed(groups=groups, traffic=app.traffic.describe_traffic())
    assessment = assess_live(observed, tfvars.live_color, outputs.live_color)
    return Situation(outputs, tfvars, observed, assessment)


def in_flight(app: App) -> RunView | None:
    run = app.journal.last_run()
    return run if run is not None and run.in_flight else None


def refuse_if_in_flight(app: App) -> None:
    run = in_flight(app)
    if run is not None:
        at = run.started[-1].value if run.started else "start"
        raise StateMismatchError(
            f"{run.kind} run {run.run_id} is still in flight (stopped at {at})",
            hint="`bluegreen resume` continues it, `bluegreen abort` undoes it",
        )


# -- the lease ---------------------------------------------------------------------------------


@contextlib.contextmanager
def held_lease(app: App, run_id: str) -> Iterator[Any]:
    """Hold the release lease for the block, renewing it from every wait's tick."""
    ttl = app.settings.release.lock_ttl_seconds
    app.lease.acquire(run_id, ttl_seconds=ttl)
    last = [app.clock.now()]

    def renew() -> None:
        if app.clock.now() - last[0] >= ttl / 3:
            app.lease.renew(ttl)
            last[0] = app.clock.now()

    try:
        yield renew
    finally:
        app.lease.release()


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


# -- switch runs (release, rollback, swap) ----------------------------------------------------


def _release_label(mode: Mode, run_id: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M")
    return f"{mode.value}-{stamp}-{run_id}"


def _restore_text(app: App, situation: Situation) -> str:
    """The variables a failed run returns to: what it started from, with the live color's size
    as AWS reports it (the executor never resizes the serving color)."""
    vars_, extra = app.stack.read_vars()
    live = situation.assessment.live
    if live is not None:
        actual = situation.observed.group(live).desired_capacity
        current = vars_.colors[live]
        vars_ = vars_.with_color(live, ColorVars(current.ami, actual, current.release))
    return tfvars.render(vars_, extra)


def run_switch(app: App, intent: SwitchIntent, target_ami: str, *, dry_run: bool = False) -> ReleasePlan:
    rep = app.reporter
    run_id = new_run_id()
    situation = observe(app)
    plan = plan_switch(situation.observed, situation.assessment, intent, target_ami)
    rep.info(f"Starting {plan.mode.value} {app.settings.service.name} {plan.live} -> {plan.target}"
             f" (AMI {plan.ami}, size {plan.size}, run {run_id})")
    for note in plan.notes:
        rep.info(note)
    if dry_run:
        for number, step in enumerate(plan.steps, start=1):
            rep.info(f"would {number:2d}. {step.value}: {plan.reason(step)}")
        rep.ok("DRY RUN OK")
        return plan
    refuse_if_in_flight(app)
    with held_lease(app, run_id) as renew:
        # Observe again under the lease: another run may have finished just before we took it.
        situation = observe(app)
        plan = plan_switch(situation.observed, situation.assessment, intent, target_ami)
        header = {
            "mode": plan.mode.value,
            "live": plan.live.value,
            "target": plan.target.value,
            "size": plan.size,
            "ami": plan.ami,
            "steps": [s.value for s in plan.steps],
            "restore_text": _restore_text(app, situation),
            "release_label": _release_label(plan.mode, run_id),
            "keep_old_seconds": app.settings.release.keep_old_seconds if intent.keep_old else 0,
        }
        app.journal.begin(run_id, plan.mode.value, header)
        switch = _switch(app, plan, situation.outputs, run_id, header, renew)
        execute(switch, plan.steps)
    _summary(app, plan)
    return plan


def _switch(app: App, plan: ReleasePlan, outputs: StackOutputs, run_id: str, header: dict,
            renew, prior=None) -> Switch:
    smoke_url = app.settings.release.smoke_url
    deps = Deps(
        settings=app.settings,
        autoscaling=app.autoscaling,
        traffic=app.traffic,
        stack=app.stack,
        journal=app.journal,
        waiter=app.waiter(on_tick=renew),
        reporter=app.reporter,
        smoke=(lambda: http_smoke(smoke_url)) if smoke_url else None,
    )
    return Switch(
        deps, plan, outputs,
        run_id=run_id,
        restore_text=header["restore_text"],
        release_label=header["release_label"],
        prior=prior,
    )


def _plan_from_header(header: dict) -> ReleasePlan:
    return ReleasePlan(
        mode=Mode(header["mode"]),
        live=Color(header["live"]),
        target=Color(header["target"]),
        size=int(header["size"]),
        ami=header["ami"],
        steps=tuple(Step(s) for s in header["steps"]),
    )


def _summary(app: App, plan: ReleasePlan) -> None:
    rep = app.reporter
    steps = [e for e in rep.events if e["event"] == "step"]
    timings = []
    for current, following in zip(steps, steps[1:] + [{"elapsed": rep.elapsed()}]):
        timings.append((current["step"], following["elapsed"] - current["elapsed"]))
    rep.event("summary", mode=plan.mode.value, live=plan.target.value, previous=plan.live.value,
              ami=plan.ami, size=plan.size, phases={name: round(t, 2) for name, t in timings})
    slowest = ", ".join(f"{name} {t:.1f}s" for name, t in sorted(timings, key=lambda x: -x[1])[:4])
    rep.ok(f"Completed: {plan.target} serves {plan.ami} x{plan.size} "
           f"({rep.elapsed():.1f}s; slowest phases: {slowest})", color=plan.target.value)


def release(app: App, *, ami: str | None, manifest: Path | None, size: int | None,
            keep_old: bool, dry_run: bool) -> ReleasePlan:
    ami = resolve_ami(app, ami, manifest)
    if size is not None and size < 1:
        raise InputError(f"--size {size}: must be at least 1")
    intent = SwitchIntent(Mode.RELEASE, ami=ami, size=size, keep_old=keep_old,
                          smoke=bool(app.settings.release.smoke_url))
    return run_switch(app, intent, ami, dry_run=dry_run)


def swap(app: App, *, dry_run: bool) -> ReleasePlan:
    situation = observe(app)
    live = situation.assessment.live
    if live is None:
        plan_switch(situation.observed, situation.assessment, SwitchIntent(Mode.SWAP), "")  # raises
    target_ami = situation.tfvars.colors[live.other()].ami
    intent = SwitchIntent(Mode.SWAP, smoke=bool(app.settings.release.smoke_url))
    return run_switch(app, intent, target_ami, dry_run=dry_run)


def rollback(app: App, *, dry_run: bool) -> ReleasePlan:
    """Back to the previous color: in seconds while it still runs (no Terraform on the critical
    path), otherwise a release of its AMI, which Terraform still records."""
    situation = observe(app)
    # The live color, or the one that serves nothing after a release went bad: a rollback is
    # exactly what brings the warm other color back then (plan.warm_rescue decides if it may).
    live = situation.assessment.live or situation.assessment.down
    if live is None:
        plan_switch(situation.observed, situation.assessment, SwitchIntent(Mode.ROLLBACK), "")  # raises
    previous = live.other()
    previous_ami = situation.tfvars.colors[previous].ami
    warm = bool(situation.observed.group(previous).in_service)
    if warm or situation.assessment.live is None:  # the second: plan_switch says why it cannot
        if warm:
            app.reporter.info(f"{previous} is still running: warm rollback, no Terraform before the switch")
        intent = SwitchIntent(Mode.ROLLBACK, smoke=bool(app.settings.release.smoke_url))
        return run_switch(app, intent, previous_ami, dry_run=dry_run)
    app.reporter.info(f"{previous} was scaled to zero: releasing its AMI {previous_ami} again")
    return release(app, ami=previous_ami, manifest=None, size=None, keep_old=False, dry_run=dry_run)


def resume(app: App) -> None:
    run = in_flight(app)
    if run is None:
        raise StateMismatchError("no run is in flight; nothing to resume", hint="`bluegreen status` shows the state")
    if run.compensated:
        raise StateMismatchError(
            f"run {run.run_id} was partly undone already", hint="`bluegreen abort` finishes the undo"
        )
    plan = _plan_from_header(run.header)
    outputs = app.stack.outputs()
    with held_lease(app, run.run_id) as renew:
        app.journal.adopt(run)
        switch = _switch(app, plan, outputs, run.run_id, run.header, renew, prior=run.data)
        remaining = remaining_steps(plan.steps, set(run.completed))
        app.reporter.info(
            f"Resuming {plan.mode.value} {plan.live} -> {plan.target} (run {run.run_id}) at "
            f"{remaining[0].value if remaining else 'the end'}"
        )
        execute(switch, remaining)
    _summary(app, plan)


def abort(app: App) -> None:
    run = in_flight(app)
    if run is None:
        raise StateMismatchError("no run is in flight; nothing to abort", hint="`bluegreen rollback` returns to the previous color")
    plan = _plan_from_header(run.header)
    if committed(set(run.completed)):
        raise StateMismatchError(
            f"run {run.run_id} is past the point of no return: {plan.target} already serves alone",
            hint="`bluegreen resume` finishes it; then `bluegreen rollback` if you want the old color back",
        )
    outputs = app.stack.outputs()
    with held_lease(app, run.run_id) as renew:
        app.journal.adopt(run)
        switch = _switch(app, plan, outputs, run.run_id, run.header, renew, prior=run.data)
        app.reporter.info(f"Aborting {plan.mode.value} {plan.live} -> {plan.target} (run {run.run_id})")
        compensate(switch, run)
        app.journal.finish("aborted")
    app.reporter.ok(f"Aborted: {plan.live} serves as before")


def finalize(app: App) -> bool:
    """Scale a color kept warm by ``--keep-old`` to zero through Terraform."""
    refuse_if_in_flight(app)
    situation = observe(app)
    live = situation.assessment.live
    if live is None:
        raise StateMismatchError("cannot finalize: " + "; ".join(situation.assessment.problems))
    idle = live.other()
    group = situation.observed.group(idle)
    if not group.instances and group.desired_capacity == 0:
        app.reporter.info(f"{idle} is already at zero; nothing to finalize")
        return False
    run_id = new_run_id()
    with held_lease(app, run_id):
        vars_, _ = app.stack.read_vars()
        current = vars_.colors[idle]
        app.stack.change(vars_.with_color(idle, ColorVars(current.ami, 0, current.release)), idle, f"{run_id}-finalize")
    app.reporter.ok(f"{idle} scaled to zero through Terraform", color=idle.value)
    return True


def unlock(app: App, run_id: str) -> None:
    broken = app.lease.break_(run_id)
    if broken is None:
        app.reporter.info("no release lock was held")
    else:
        app.reporter.ok(f"broke the release lock of run {broken.run_id} held by {broken.owner} since {broken.started_at}")


# -- plan --------------------------------------------------------------------------------------


def plan(app: App, *, ami: str | None, manifest: Path | None, size: int | None) -> tuple[Preview, Color, Color]:
    ami = resolve_ami(app, ami, manifest)
    situation = observe(app)
    if not situation.assessment.clean:
        raise StateMismatchError(
            "cannot plan a release: " + "; ".join(situation.assessment.problems),
            hint="run `bluegreen status`",
        )
    live = situation.assessment.live
    assert live is not None
    idle = live.other()
    actual_live = situation.observed.group(live).desired_capacity
    size = size if size is not None else actual_live
    if size < 1:
        raise InputError(f"size {size}: must be at least 1 (pass --size)")
    vars_ = situation.tfvars.with_color(idle, ColorVars(ami, size, "planned"))
    current = vars_.colors[live]
    vars_ = vars_.with_color(live, ColorVars(current.ami, actual_live, current.release))
    preview = app.stack.preview(vars_, idle, "plan")
    return preview, live, idle


# -- bootstrap ---------------------------------------------------------------------------------


def bootstrap(app: App) -> None:
    """The first deployment: nothing is attached yet, so attach the color the tfvars call live
    and wait until the load balancer sees it healthy."""
    situation = observe(app)
    if situation.assessment.attached:
        raise StateMismatchError(
            "cannot bootstrap: " + ", ".join(c.value for c in situation.assessment.attached)
            + " already attached to the load balancer",
            hint="bootstrap is for a new stack; use `bluegreen status`",
        )
    live = situation.tfvars.live_color
    group = situation.observed.group(live)
    outputs = situation.outputs
    rep = app.reporter
    rep.info(f"Starting bootstrap {app.settings.service.name}: attach {live}", color=live.value)
    waiter = app.waiter()
    waiter.until(
        f"{live} instances",
        lambda: health.instances_ready(
            app.autoscaling.describe_group(group.name), situation.tfvars.colors[live].ami,
            situation.tfvars.colors[live].size),
        timeout=app.settings.timeouts.instances_in_service_seconds,
        color=live.value,
    )
    attach(app.autoscaling, outputs, live)
    waiter.until(
        f"{live} targets healthy",
        lambda: health.targets_health(
            app.traffic.describe_traffic(),
            health.in_service_ids(app.autoscaling.describe_group(group.name)), 1.0),
        timeout=app.settings.timeouts.targets_healthy_seconds,
        color=live.value,
    )
    rep.ok(f"Completed: {live} serves", color=live.value)
