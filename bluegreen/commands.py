"""Command flows. Each reads as a script of named steps: validate input, take the lock, observe,
decide (pure), act through the executor, report. ``cli.py`` only parses flags and maps errors."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from . import health, packer, saved_plan, tfvars, watch
from .app import App
from . import weighted
from .aws.journal_store import check_run_id
from .errors import BluegreenError, ConfigError, InputError, RolledBackError, StateMismatchError, WaitError
from .gates import GateWatch, build_gate_watch, gated_probe, metric_gates_unusable
from .history import HistoryList, RunHistory, summarize
from .recovery import ActionKind, Decision, Unfixable, World, decide_abort, decide_resume
from .runstate import Event, RunData, RunHeader, RunState, RunView
from .model import Color, ColorVars, Observed, StackOutputs, TfVars
from .plan import (
    LiveAssessment,
    Mode,
    ReleasePlan,
    Step,
    SwitchIntent,
    assess_live,
    plan_switch,
    release_vars,
)
from .release import Deps, PreparedApply, Switch, reported_hook, attach, compensate, execute
from .saved_plan import SavedPlan
from .smoke import http_smoke
from .strategy import describe as describe_steps
from .weighted_release import WeightedSwitch
from .stack import Preview, ensure_writable
from .waits import WaitFailed


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
    read_vars_first(app)
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
    # Weighted mode: each color's share of traffic (percent) and its own target group's health.
    shares: dict[Color, int] | None = None
    health: dict[Color, Any] | None = None


def read_vars_first(app: App) -> TfVars:
    """The tfvars file, validated before Terraform runs: ``terraform init`` loads it too, and
    would otherwise report a broken file as a Terraform failure (exit 5) instead of exit 3."""
    vars_, _ = tfvars.read(app.settings.terraform.tfvars_path)
    return vars_


def observe(app: App) -> Situation:
    read_vars_first(app)
    tfvars, _ = app.stack.read_vars()
    outputs = app.stack.outputs()
    check_mode(app, outputs)
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
    if outputs.weighted:
        return _observe_weighted(app, outputs, tfvars, groups)
    observed = Observed(groups=groups, traffic=app.traffic.describe_traffic())
    assessment = assess_live(observed, tfvars.live_color, outputs.live_color)
    return Situation(outputs, tfvars, observed, assessment)


def _observe_weighted(app: App, outputs: StackOutputs, tfvars: TfVars, groups: dict) -> Situation:
    if app.settings.traffic.mode != "weighted":
        raise ConfigError(f"{app.settings.source or 'bluegreen.toml'}: traffic.mode is "
                          f"{app.settings.traffic.mode!r} but the stack's outputs say traffic_mode = "
                          "'weighted'; set [traffic] mode = \"weighted\"")
    assert outputs.color_target_groups is not None
    weights = app.listener.weights()
    health = {c: app.traffic_of(c).describe_traffic() for c in Color}
    assessment = weighted.assess_weighted(groups, health, weights, outputs.color_target_groups,
                                          tfvars.live_color, outputs.live_color)
    # Attach-mode readers of ``observed.traffic`` see the serving color's target group.
    shown = assessment.live or tfvars.live_color
    observed = Observed(groups=groups, traffic=health[shown])
    return Situation(outputs, tfvars, observed, assessment,
                     shares=weighted.shares(weights, outputs.color_target_groups), health=health)


def check_mode(app: App, outputs: StackOutputs) -> None:
    """``[traffic] mode = "weighted"`` needs a stack with the weighted outputs (an ALB listener)."""
    if app.settings.traffic.mode == "weighted" and not outputs.weighted:
        raise ConfigError(f"{app.settings.source or 'bluegreen.toml'}: traffic.mode = \"weighted\" needs a "
                          "stack whose outputs give traffic_mode = \"weighted\", listener_arn and "
                          "target_group_arns (an ALB; see README \"The Terraform contract\"); this stack's "
                          f"traffic_kind is {outputs.traffic_kind.value!r}")


def in_flight(app: App) -> RunView | None:
    """The last run if it is not final (whatever stopped it: a crash, a signal, a failed undo)."""
    run = app.journal.last_run()
    return run if run is not None and run.in_flight else None


def refuse_if_in_flight(app: App) -> None:
    run = in_flight(app)
    if run is not None:
        raise StateMismatchError(
            f"{run.kind} run {run.run_id} is {run.state} (at {run.at})",
            hint=run.next_command,
        )


# -- the lease ---------------------------------------------------------------------------------


@contextlib.contextmanager
def held_lease(app: App, run_id: str) -> Iterator[Any]:
    """Hold the release lease for the block. A heartbeat thread renews it every ttl/3 whatever the
    run is doing and, if it is lost, requests a stop on ``app.stop``; the yielded callable raises
    that stop (every wait calls it on each tick)."""
    ttl = app.settings.release.lock_ttl_seconds
    app.lease.acquire(run_id, ttl_seconds=ttl)
    beat = app.start_heartbeat(run_id, ttl)
    try:
        # While the lease is held a run may be changing AWS: the first signal only asks it to
        # stop at the next safe point (journaled, nothing undone); a second one stops at once.
        with app.stop.deferred():
            yield app.stop.check
    finally:
        beat.stop()  # before the release: no renewal may race it
        app.lease.release()


def caller_of(app: App) -> dict[str, str]:
    """Who AWS says runs this command (sts:GetCallerIdentity, made by the preflight anyway), for
    the journal; empty when it cannot be told: who ran a release must never stop one."""
    try:
        return dict(app.caller_identity)
    except Exception:  # noqa: BLE001 - informative only
        return {}


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


# -- switch runs (release, rollback, swap) ----------------------------------------------------


def _release_label(mode: Mode, run_id: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M")
    return f"{mode.value}-{stamp}-{run_id}"


def _restore_text(app: App, situation: Situation, plan: ReleasePlan) -> str:
    """The variables a failed run returns to: what it started from, with the live color's size
    as AWS reports it (the executor never resizes the serving color). A release that first
    clears a warm idle color returns it at zero: that step is one-way, and undoing the new AMI's
    apply to the old size would leave the new AMI's instances running under the old variables."""
    vars_, extra = app.stack.read_vars()
    live = situation.assessment.live
    if live is not None:
        actual = situation.observed.group(live).desired_capacity
        current = vars_.colors[live]
        vars_ = vars_.with_color(live, ColorVars(current.ami, actual, current.release))
    if Step.CLEAR_IDLE in plan.steps:
        idle = vars_.colors[plan.target]
        vars_ = vars_.with_color(plan.target, ColorVars(idle.ami, 0, idle.release))
    return tfvars.render(vars_, extra)


@dataclass(frozen=True)
class SavedRef:
    """A saved plan (``release --plan FILE``) and the file it came from, for messages."""

    path: Path
    plan: SavedPlan


def run_switch(app: App, intent: SwitchIntent, target_ami: str, *, dry_run: bool = False,
               saved: SavedRef | None = None) -> ReleasePlan:
    rep = app.reporter
    if not dry_run:
        ensure_writable(app.settings.terraform.dir)
    run_id = new_run_id()
    situation = observe(app)
    if saved is not None and dry_run:
        refuse_if_stale(app, saved, situation)  # otherwise once, under the lease (below)
    plan = _mode_plan(situation, plan_switch(situation.observed, situation.assessment, intent, target_ami))
    rep.info(f"Starting {plan.mode.value} {app.settings.service.name} {plan.live} -> {plan.target}"
             f" (AMI {plan.ami}, size {plan.size}, run {run_id})")
    for note in plan.notes:
        rep.info(note)
    if saved is not None:
        rep.info(f"the saved plan {saved.path} (plan {saved.plan.intent.plan_id}, made "
                 f"{saved.plan.created_at}) is the change this release applies")
    traffic = _traffic_header(app, situation, plan)
    if traffic is not None:
        rep.info(f"weighted: steps {traffic['steps']}, bake {traffic['bake_seconds']}s")
    if dry_run:
        open_gates(app, plan, situation.outputs, dry_run=True)
        for number, step in enumerate(plan.steps, start=1):
            rep.info(f"would {number:2d}. {step.value}: {plan.reason(step)}")
        for line in app.hooks.describe() if app.hooks else ():
            rep.info(f"would run {line}")  # listed, never run
        rep.ok("DRY RUN OK")
        return plan
    # The lease first, then the in-flight check: a process that loses the race for the lease
    # must hear "locked" (exit 9), not a state mismatch caused by the winner's fresh run.
    with held_lease(app, run_id) as renew:
        refuse_if_in_flight(app)
        # Observe again under the lease: another run may have finished just before we took it.
        situation = observe(app)
        if saved is not None:
            refuse_if_stale(app, saved, situation)
        plan = _mode_plan(situation, plan_switch(situation.observed, situation.assessment, intent, target_ami))
        label = saved.plan.intent.release_label if saved is not None else _release_label(plan.mode, run_id)
        # Before the first AWS change: a refused plan (blast radius, stale) touches nothing.
        prepared = prepare_apply(app, plan, situation, run_id, label, saved)
        gates = open_gates(app, plan, situation.outputs)  # also before the first AWS change
        header = RunHeader(
            mode=plan.mode,
            live=plan.live,
            target=plan.target,
            size=plan.size,
            ami=plan.ami,
            steps=plan.steps,
            restore_text=_restore_text(app, situation, plan),
            release_label=label,
            keep_old_seconds=(app.settings.release.keep_old_seconds
                              if intent.keep_old and intent.mode is Mode.RELEASE else 0),
            saved_plan=None if saved is None else {
                "file": str(saved.path), "plan_id": saved.plan.intent.plan_id,
                "terraform_plan_sha256": saved.plan.plan_sha256},
            traffic=_traffic_header(app, situation, plan),
        )
        app.journal.begin(run_id, plan.mode.value, header, caller=caller_of(app))
        switch = _switch(app, plan, situation.outputs, run_id, header, renew, prepared=prepared, gates=gates)
        execute(switch, plan.steps)
    _summary(app, plan)
    return plan


def prepare_apply(app: App, plan: ReleasePlan, situation: Situation, run_id: str, label: str,
                  saved: SavedRef | None) -> PreparedApply | None:
    """A release's Terraform plan and blast-radius check, made before the run's first AWS change
    (issue 10: a refused plan must touch nothing, not even the scaling processes). Returns the
    plan for the apply step to apply as it is, or ``None`` when a clear-idle apply runs first: that
    apply moves the state, so the apply step plans again (and checks again) after it."""
    if plan.mode is not Mode.RELEASE:
        return None
    if saved is not None:
        preview = app.stack.saved_preview(saved.plan.plan_bytes, saved.plan.vars_text, plan.target,
                                          f"{run_id}-apply-idle", str(saved.path))
        app.stack.require_ok(preview)
        return PreparedApply(preview, reviewed=True)
    live_desired = situation.observed.group(plan.live).desired_capacity
    new = release_vars(situation.tfvars, plan.target, ColorVars(plan.ami, plan.size, label), live_desired)
    preview = app.stack.preview(new, plan.target, f"{run_id}-apply-idle")
    app.stack.require_ok(preview)
    return None if Step.CLEAR_IDLE in plan.steps else PreparedApply(preview)


def facts_now(app: App, situation: Situation) -> saved_plan.Facts:
    """What a saved plan's freshness is judged against (reads Terraform's state, no AWS change)."""
    observed = situation.observed
    return saved_plan.Facts(
        state=app.stack.state_identity(),
        tfvars_sha256=saved_plan.sha256_text(app.stack.committed_text()),
        live=situation.assessment.live if situation.assessment.clean else None,
        problems=situation.assessment.problems,
        desired={c: observed.group(c).desired_capacity for c in Color},
        instances={c: len(observed.group(c).instances) for c in Color},
        terraform_version=app.terraform.version(),
    )


def refuse_if_stale(app: App, saved: SavedRef, situation: Situation) -> None:
    facts = facts_now(app, situation)
    reasons = saved_plan.staleness(saved.plan, facts)
    if reasons:
        raise StateMismatchError(
            f"saved plan {saved.path} is stale: " + "; ".join(reasons) + "; nothing was changed",
            hint=f"run `bluegreen plan --out {saved.path}` again",
        )
    app.reporter.info(f"saved plan {saved.path} is current: Terraform state serial {facts.state.serial}, "
                      f"tfvars unchanged, {facts.live} live at {facts.desired[facts.live]}"
                      if facts.live else f"saved plan {saved.path} is current")


def _mode_plan(situation: Situation, plan: ReleasePlan) -> ReleasePlan:
    """The weighted mode runs the same plan with its traffic steps (``weighted.weighted_steps``)."""
    if not situation.outputs.weighted:
        return plan
    return dataclasses.replace(plan, steps=weighted.weighted_steps(plan.steps))


def _traffic_header(app: App, situation: Situation, plan: ReleasePlan) -> dict[str, Any] | None:
    """The weighted strategy a run follows, journaled so `resume` continues it. A release follows
    the configured strategy (or --steps) and bake; a rollback or swap goes back in one flip."""
    if not situation.outputs.weighted:
        return None
    t = app.settings.traffic
    release = plan.mode is Mode.RELEASE
    return {"steps": describe_steps(t.weight_steps()) if release else "100",
            "bake_seconds": t.bake_seconds if release else 0,
            "approval_timeout_seconds": t.approval_timeout_seconds, "on_timeout": t.on_timeout}


def _switch(app: App, plan: ReleasePlan, outputs: StackOutputs, run_id: str, header: RunHeader,
            renew, prior: RunData | None = None, prepared: PreparedApply | None = None,
            gates: GateWatch | None = None) -> Switch:
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
        stop=app.stop,
        hooks=app.hooks,
        gates=gates,
    )
    if header.traffic is not None:
        if gates is None and plan.mode is Mode.RELEASE:
            # A resumed release: the same gates again, with a fresh baseline (the shift starts
            # them; a transition to ALARM while no process watched is judged from now on).
            gates = gate_watch(app, outputs, plan)
        return WeightedSwitch(
            deps, plan, outputs, listener=app.listener, traffic_of=app.traffic_of,
            strategy=header.traffic, gates=gates,
            gate_interval=app.settings.gates.interval if gates is not None else None,
            run_id=run_id, restore_text=header.restore_text, release_label=header.release_label,
            prior=prior, prepared=prepared,
        )
    return Switch(
        deps, plan, outputs,
        run_id=run_id,
        restore_text=header.restore_text,
        release_label=header.release_label,
        prior=prior,
        prepared=prepared,
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
            keep_old: bool, dry_run: bool, wait: bool = True,
            saved_plan_file: Path | None = None) -> ReleasePlan:
    if size is not None and not 1 <= size <= tfvars.MAX_COLOR_SIZE:
        raise InputError(f"--size {size}: must be a whole number in [1, {tfvars.MAX_COLOR_SIZE}]")
    if not dry_run:
        ensure_writable(app.settings.terraform.dir)  # before Terraform's init writes there too
    saved: SavedRef | None = None
    if saved_plan_file is not None:
        # No deferred keep-old end here: it would move the state the plan was reviewed against
        # (`plan --out` refuses while the idle color runs, so there is none to end).
        intent, saved = _saved_intent(app, saved_plan_file, ami=ami, manifest=manifest, size=size,
                                      keep_old=keep_old)
        ami = intent.ami
    else:
        ami = resolve_ami(app, ami, manifest)
        if not dry_run:
            finalize_if_due(app)
        intent = SwitchIntent(Mode.RELEASE, ami=ami, size=size, keep_old=keep_old,
                              smoke=bool(app.settings.release.smoke_url))
    assert ami is not None
    plan = run_switch(app, intent, ami, dry_run=dry_run, saved=saved)
    seconds = app.settings.release.keep_old_seconds
    if keep_old and seconds and wait and not dry_run:
        watch_kept_warm(app, plan, seconds)
    return plan


# -- gates ([gates], bluegreen/gates.py) ----------------------------------------------------------


def gate_watch(app: App, outputs: StackOutputs, plan: ReleasePlan) -> GateWatch | None:
    """The configured gates over CloudWatch, or ``None`` when there are none. In the attach mode
    both colors share one target group: its metrics judge the new color while it serves (the
    watch never reads metrics from before it started) and there is no old one to compare with.
    In the weighted mode each color has its own: the new color's judges, the old one's is the
    baseline that ``old_margin`` compares with."""
    settings = app.settings.gates
    if not settings.enabled:
        return None
    source = str(app.settings.source or "bluegreen.toml")
    new_tg, old_tg = outputs.target_group_arn, None
    if outputs.weighted and outputs.color_target_groups:
        new_tg, old_tg = outputs.color_target_groups[plan.target], outputs.color_target_groups[plan.live]
    problem = metric_gates_unusable(settings, new_tg)
    if problem is not None:
        raise ConfigError(f"{source}: {problem}")
    return build_gate_watch(settings, app.cloudwatch, new_tg, old_tg, source=source)


def open_gates(app: App, plan: ReleasePlan, outputs: StackOutputs, *, dry_run: bool = False) -> GateWatch | None:
    """Start the gates before the run's first AWS change: an alarm that does not exist is a
    config error (exit 3) and one already in ALARM blocks the release (exit 10, nothing changed)
    unless ``block_on_existing_alarm = false``. A rollback run is never gated: nothing may block
    going back. With ``dry_run`` only says what it found."""
    if plan.mode is Mode.ROLLBACK:
        return None
    watch = gate_watch(app, outputs, plan)
    if watch is None:
        return None
    if not dry_run:
        app.gate_watch = watch
    verdict = watch.start(app.clock.now())
    if verdict is None:
        return watch
    if not verdict.tripped:
        app.reporter.info(f"gates: {verdict.reason}")
        return watch
    if dry_run:
        app.reporter.warn(f"would block: {verdict}")
        return watch
    app.reporter.error(f"{verdict}")
    raise RolledBackError(
        f"{plan.mode.value} {plan.live} -> {plan.target} blocked before any change by {verdict}; "
        f"nothing was changed, {plan.live} serves as before",
        hint="find out why the alarm fires first, or set [gates] block_on_existing_alarm = false",
    )


# -- the keep-old window -----------------------------------------------------------------------


def watch_kept_warm(app: App, plan: ReleasePlan, seconds: int) -> None:
    """Hold the old color warm for the window while watching the new one; flip back at once if
    it fails; at the end scale the old color to zero through Terraform. A stop (Ctrl-C, CI
    cancel) leaves it warm: the next release, rollback or swap after the deadline scales it."""
    new, old = plan.target, plan.live
    threshold = app.settings.release.healthy_threshold
    app.reporter.info(f"keeping {old} warm for {seconds}s while watching {new}; if {new} fails, traffic "
                      f"flips back to {old} at once", color=old.value)
    outputs = app.stack.outputs()
    try:
        with held_lease(app, new_run_id()) as renew:
            ids = health.in_service_ids(app.autoscaling.describe_group(outputs.asg_names[new]))
            # The release's own gates, same baseline: a transition to ALARM since the release
            # began trips here, whether it happened in a step no gate watched or during the window.
            gates = app.gate_watch
            app.waiter(on_tick=renew).hold(
                f"watch {new} while {old} is kept warm (>= {threshold:.0%} healthy)",
                gated_probe(lambda: health.targets_health(app.traffic.describe_traffic(), ids, threshold),
                            gates, app.clock, app.reporter, color=new.value),
                seconds=seconds,
                color=new.value,
            )
    except WaitFailed as failure:
        app.reporter.error(f"{new} failed during the keep-old window: {failure}; flipping back to {old}")
        rollback(app, dry_run=False, enforce_deadline=False)
        raise RolledBackError(
            f"{new} failed during the keep-old window ({failure}); rolled back, {old} serves"
        ) from None
    app.reporter.info(f"the keep-old window of {seconds}s is over", color=old.value)
    finalize(app)


def finalize_if_due(app: App) -> bool:
    """The deferred end of a keep-old window: scale the kept color to zero before anything else,
    once its deadline has passed. ``True`` if it did."""
    last = app.journal.last_run()
    until = last.warm_until if last is not None else None
    if until is None or dt.datetime.now(dt.timezone.utc) < until:
        return False
    situation = observe(app)
    live = situation.assessment.live
    if live is None or not situation.observed.group(live.other()).instances:
        return False
    app.reporter.info(f"the keep-old window of run {last.run_id} ended at {until.isoformat(timespec='seconds')}: "
                      f"scaling {live.other()} to zero first", color=live.other().value)
    return finalize(app)


def _saved_intent(app: App, path: Path, *, ami: str | None, manifest: Path | None, size: int | None,
                  keep_old: bool) -> tuple[SwitchIntent, "SavedRef"]:
    """``release --plan FILE``: the AMI, size and Terraform plan all come from the file."""
    given = [flag for flag, value in (("--ami", ami), ("--packer-manifest", manifest), ("--size", size))
             if value is not None]
    if given:
        raise InputError(f"--plan {path} already fixes the AMI and size; drop {', '.join(given)}")
    saved = saved_plan.load(path)
    service = app.settings.service.name
    if saved.service != service:
        raise InputError(f"{path}: saved plan is for service {saved.service!r}, not {service!r}",
                         hint="pass the plan made with this bluegreen.toml")
    # Local inputs before any AWS call, as resolve_ami does.
    app.stack.read_vars()
    app.stack.terraform.ensure_ready()
    ami = saved.intent.ami
    if not app.images.exists(ami):
        raise InputError(f"{path}: AMI {ami} of the saved plan no longer exists in region "
                         f"{app.settings.service.region}", hint="bake again and plan again")
    intent = SwitchIntent(Mode.RELEASE, ami=ami, size=saved.intent.size, keep_old=keep_old,
                          smoke=bool(app.settings.release.smoke_url))
    return intent, SavedRef(path, saved)


def swap(app: App, *, dry_run: bool) -> ReleasePlan:
    if not dry_run:
        finalize_if_due(app)
    situation = observe(app)
    live = situation.assessment.live
    if live is None:
        plan_switch(situation.observed, situation.assessment, SwitchIntent(Mode.SWAP), "")  # raises
    target_ami = situation.tfvars.colors[live.other()].ami
    intent = SwitchIntent(Mode.SWAP, smoke=bool(app.settings.release.smoke_url))
    return run_switch(app, intent, target_ami, dry_run=dry_run)


def rollback(app: App, *, dry_run: bool, enforce_deadline: bool = True,
             keep_current: bool = False) -> ReleasePlan:
    """Back to the previous color: in seconds while it still runs (no Terraform on the critical
    path), otherwise a release of its AMI, which Terraform still records. After a keep-old
    window has ended the old color is scaled to zero first: the window is the promise."""
    if enforce_deadline and not dry_run:
        finalize_if_due(app)
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
        intent = SwitchIntent(Mode.ROLLBACK, smoke=bool(app.settings.release.smoke_url),
                              keep_old=keep_current)
        return run_switch(app, intent, previous_ami, dry_run=dry_run)
    app.reporter.info(f"{previous} was scaled to zero: releasing its AMI {previous_ami} again")
    return release(app, ami=previous_ami, manifest=None, size=None, keep_old=keep_current,
                   dry_run=dry_run, wait=False)


def _stalled_run(app: App, command: str) -> RunView:
    run = in_flight(app)
    if run is None:
        last = app.journal.last_run()
        said = f"the last run {last.run_id} is {last.state}" if last else "no run is recorded"
        hint = ("`bluegreen status` shows the state" if command == "resume"
                else "`bluegreen rollback` returns to the previous color")
        raise StateMismatchError(f"nothing to {command}: {said}", hint=hint)
    return run


def _world(app: App, run: RunView, outputs: StackOutputs) -> World:
    return World(
        groups={c: app.autoscaling.describe_group(outputs.asg_names[c]) for c in Color},
        traffic_kind=outputs.traffic_kind,
        traffic_name=outputs.traffic_name,
    )


def _decide(app: App, run: RunView, outputs: StackOutputs, command: str) -> Decision:
    """The pure decision, printed before anything is touched."""
    decide = decide_resume if command == "resume" else decide_abort
    try:
        decision = decide(run, _world(app, run, outputs))
    except Unfixable as exc:
        raise StateMismatchError(str(exc)) from None
    rep = app.reporter
    rep.info(f"{command} {run.kind} run {run.run_id} ({run.header.live} -> {run.header.target}), "
             f"{run.state} at {run.at}" + (f": {run.error}" if run.error else ""))
    for number, action in enumerate(decision.actions, start=1):
        rep.info(f"  {number}. {action.line()}")
    if not decision.actions:
        rep.info("  nothing left to do but record the outcome")
    return decision


def resume(app: App) -> None:
    """Continue a stalled run forward from its journal and what AWS shows now."""
    run = _stalled_run(app, "resume")
    # The remaining steps rewrite the tfvars: a broken or unwritable file must stop us here.
    read_vars_first(app)
    ensure_writable(app.settings.terraform.dir)
    outputs = app.stack.outputs()
    with held_lease(app, run.run_id) as renew:
        run = _stalled_run(app, "resume")  # again under the lease: the holder may have finished it
        decision = _decide(app, run, outputs, "resume")
        app.journal.adopt(run)
        app.journal.event(Event.RESUMED, by="resume", caller=caller_of(app).get("arn"))
        plan = run.header.plan()
        switch = _switch(app, plan, outputs, run.run_id, run.header, renew, prior=run.data)
        execute(switch, decision.steps(ActionKind.RUN))
    _summary(app, plan)


def _driven(app: App, run: RunView) -> str | None:
    """Who drives ``run`` now (a live holder of its lease), or ``None`` when nobody does."""
    from .aws.lease import Identity, may_take_over, utcnow

    holder = app.lease.read()
    if holder is None or holder.run_id != run.run_id:
        return None
    if may_take_over(holder, run.run_id, utcnow(), Identity.current()):
        return None
    return f"{holder.owner} ({holder.where})" if holder.where else holder.owner


def _await_driver(app: App, run: RunView, action: str, done: Any) -> RunView:
    """Wait until the driving process has acted on our request (``done(run)``), bounded by a
    few of its poll intervals; the request stays in the journal either way."""
    waiter = app.waiter()
    bound = 3 * app.settings.timeouts.poll_seconds + 30
    try:
        waiter.until(f"{action} taken by the driving process",
                      lambda: health.Verdict(done(app.journal.run(run.run_id)), "not yet"), timeout=bound)
    except WaitError as exc:
        raise StateMismatchError(
            f"{action} of run {run.run_id} is recorded but the driving process did not act on it within "
            f"{bound:g}s", hint="check `bluegreen status`; the request stays in the journal") from exc
    return app.journal.run(run.run_id) or run


def promote(app: App) -> None:
    """Weighted mode: end the approval pause a run waits at and skip its remaining timed pauses.
    Delivered through the journal (a record the driving process polls); when no process drives
    the run any more (it was killed while it waited), the run is resumed here and goes on."""
    from .aws.lease import default_owner

    run = _stalled_run(app, "promote")
    if run.header.traffic is None:
        raise StateMismatchError(f"nothing to promote: run {run.run_id} is an attach-mode {run.kind} "
                                 "with no pauses", hint=run.next_command)
    if Step.SHIFT in run.done:
        raise StateMismatchError(f"nothing to promote: run {run.run_id} has moved all traffic already "
                                 "(it is baking or finishing)", hint=run.next_command)
    at = run.data.paused_at if run.data.paused_at is not None else (run.data.shift_index or 0)
    app.journal.request(run.run_id, "promote", at_step=at, by=default_owner())
    driver = _driven(app, run)
    what = f"the pause at step {at + 1}" if run.state is RunState.PAUSED else "the remaining timed pauses"
    if driver is None:
        app.reporter.info(f"promote: no process drives run {run.run_id}; resuming it here")
        resume(app)
        return
    app.reporter.info(f"promote of {what} sent to run {run.run_id}, driven by {driver}")
    _await_driver(app, run, "promote",
                  lambda r: r is None or r.state is not RunState.PAUSED or r.data.paused_at != at
                  or run.state is not RunState.PAUSED)
    app.reporter.ok(f"promoted: run {run.run_id} goes on")


def abort(app: App) -> None:
    """Put traffic back on the color that served before the run: undo its steps before the
    commit point; after it, finish the run keeping the old color warm, then switch back to it.
    A weighted run that a live process drives (paused, shifting or baking) is asked through the
    journal: that process flips all traffic back in one call and finishes the run."""
    from .aws.lease import default_owner

    run = _stalled_run(app, "abort")
    # Only where the driving process polls for requests (the shift's pauses and the bake);
    # elsewhere the lease refuses as for any run (exit 9).
    if (run.header.traffic is not None and not run.committed and run.at in (Step.SHIFT.value, Step.BAKE.value)
            and _driven(app, run) is not None):
        app.journal.request(run.run_id, "abort", at_step=run.data.shift_index or 0, by=default_owner())
        app.reporter.info(f"abort sent to run {run.run_id}, driven by {_driven(app, run)}")
        final = _await_driver(app, run, "abort", lambda r: r is None or r.state.final)
        app.reporter.ok(f"Aborted: run {run.run_id} is {final.state}; {run.header.live} serves as before")
        return
    ensure_writable(app.settings.terraform.dir)
    outputs = app.stack.outputs()
    with held_lease(app, run.run_id) as renew:
        run = _stalled_run(app, "abort")
        decision = _decide(app, run, outputs, "abort")
        app.journal.adopt(run)
        plan = run.header.plan()
        switch = _switch(app, plan, outputs, run.run_id, run.header, renew, prior=run.data)
        if not decision.switch_back:
            if run.state is not RunState.ROLLING_BACK:
                app.journal.event(Event.ROLLING_BACK, by="abort")
            compensate(switch, app.journal.last_run() or run)
            app.journal.event(Event.ABORTED, by="abort")
            reported_hook(switch, "on-rollback", outcome="aborted", error=run.error)
            app.reporter.ok(f"Aborted: {plan.live} serves as before")
            return
        app.journal.event(Event.RESUMED, by="abort", caller=caller_of(app).get("arn"))
        switch.gated = False  # going back: no gate hook may block it
        execute(switch, decision.steps(ActionKind.RUN), finish=False)
        app.journal.event(Event.ABORTED, by="abort", switch_back=True)
    app.reporter.info(f"run {run.run_id} finished with {plan.live} kept warm; switching back to it")
    # A released color was idle before the run: the rollback scales it to zero. A rollback or swap
    # switched to a color that was already running: it keeps running, as before the run.
    rollback(app, dry_run=False, enforce_deadline=False, keep_current=plan.mode is not Mode.RELEASE)
    reported_hook(switch, "on-rollback", outcome="aborted", error=run.error)
    app.reporter.ok(f"Aborted: {plan.live} serves as before")


def finalize(app: App) -> bool:
    """Scale a color kept warm by ``--keep-old`` to zero through Terraform."""
    ensure_writable(app.settings.terraform.dir)
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


def plan(app: App, *, ami: str | None, manifest: Path | None, size: int | None,
         out: Path | None = None) -> tuple[Preview, Color, Color]:
    """The Terraform plan of a release onto the idle color. With ``out``, also save it (plan
    file, intent, and the state/tfvars/colors it was made against) for ``release --plan``."""
    ensure_writable(app.settings.terraform.dir)  # the plan is made from a scratch copy there
    if out is not None:
        # An older plan must not outlive a failed or refused one: `make release` would apply it.
        try:
            out.unlink(missing_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot replace it: {exc.strerror or exc}") from None
    ami = resolve_ami(app, ami, manifest)
    if out is not None:
        refuse_if_in_flight(app)
    situation = observe(app)
    if not situation.assessment.clean:
        raise StateMismatchError(
            "cannot plan a release: " + "; ".join(situation.assessment.problems),
            hint="run `bluegreen status`",
        )
    live = situation.assessment.live
    assert live is not None
    idle = live.other()
    idle_group = situation.observed.group(idle)
    if out is not None and (idle_group.instances or idle_group.desired_capacity):
        raise StateMismatchError(
            f"cannot save a plan: the idle color {idle} still runs {len(idle_group.instances)} "
            f"instance(s) (desired {idle_group.desired_capacity}), so a release would first scale it "
            "to zero with an apply of its own and this plan could not be the one applied",
            hint=f"`bluegreen finalize` scales {idle} to zero; then plan again",
        )
    actual_live = situation.observed.group(live).desired_capacity
    size = size if size is not None else actual_live
    if not 1 <= size <= tfvars.MAX_COLOR_SIZE:
        raise InputError(f"size {size}: must be a whole number in [1, {tfvars.MAX_COLOR_SIZE}] (pass --size)")
    # The release label the release will record: the saved plan carries it, so the reviewed
    # variables are byte for byte the ones committed after the apply.
    plan_id = new_run_id()
    label = _release_label(Mode.RELEASE, plan_id)
    # The basis is read before planning: if anything moves while Terraform plans, the saved plan
    # is stale from the start and `release --plan` refuses it (never the other way round).
    basis = None
    if out is not None:
        basis = saved_plan.Basis(
            state=app.stack.state_identity(),
            tfvars_sha256=saved_plan.sha256_text(app.stack.committed_text()),
            live_desired=actual_live,
            terraform_version=app.terraform.version(),
        )
    vars_ = release_vars(situation.tfvars, idle, ColorVars(ami, size, label), actual_live)
    preview = app.stack.preview(vars_, idle, "plan")
    if out is not None and preview.ok:
        assert basis is not None
        saved = SavedPlan(
            service=app.settings.service.name,
            created_at=saved_plan.now_utc(),
            intent=saved_plan.Intent(ami=ami, size=size, live=live, target=idle,
                                     release_label=label, plan_id=plan_id),
            basis=basis,
            vars_text=preview.text,
            summary=preview.summary,
            plan_bytes=preview.plan_file.read_bytes(),
        )
        saved_plan.save(out, saved)
        app.reporter.ok(f"saved plan {out} (plan {plan_id}); `bluegreen release --plan {out}` "
                        "applies exactly this change")
    elif out is not None:
        app.reporter.warn(f"nothing saved to {out}: the plan fails the blast-radius check")
    return preview, live, idle


# -- bootstrap ---------------------------------------------------------------------------------


def _bootstrap_weighted(app: App, situation: Situation) -> None:
    """Weighted mode: Terraform attached each group to its own target group and created the
    listener with all weight on the tfvars' live color; wait until that color serves."""
    live = situation.tfvars.live_color
    if situation.shares is not None and situation.shares[live] != 100:
        raise StateMismatchError(
            f"cannot bootstrap: the listener gives {live} {situation.shares[live]} % of the traffic, not 100 %",
            hint="bootstrap is for a new stack; use `bluegreen status`")
    name = situation.outputs.asg_names[live]
    vars_ = situation.tfvars.colors[live]
    app.reporter.info(f"Starting bootstrap {app.settings.service.name}: {live} (weighted)", color=live.value)
    waiter = app.waiter()
    waiter.until(f"{live} instances",
                 lambda: health.instances_ready(app.autoscaling.describe_group(name), vars_.ami, vars_.size),
                 timeout=app.settings.timeouts.instances_in_service_seconds, color=live.value)
    waiter.until(f"{live} targets healthy",
                 lambda: health.targets_health(app.traffic_of(live).describe_traffic(),
                                               health.in_service_ids(app.autoscaling.describe_group(name)), 1.0),
                 timeout=app.settings.timeouts.targets_healthy_seconds, color=live.value)
    app.reporter.ok(f"Completed: {live} serves", color=live.value)


def bootstrap(app: App) -> None:
    """The first deployment: nothing is attached yet, so attach the color the tfvars call live
    and wait until the load balancer sees it healthy."""
    situation = observe(app)
    if situation.outputs.weighted:
        _bootstrap_weighted(app, situation)
        return
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
    try:
        waiter.until(
            f"{live} instances",
            lambda: health.instances_ready(
                app.autoscaling.describe_group(group.name), situation.tfvars.colors[live].ami,
                situation.tfvars.colors[live].size),
            timeout=app.settings.timeouts.instances_in_service_seconds,
            color=live.value,
        )
    except WaitError as exc:
        # Exit 7 (WaitError): nothing was attached, so nothing needs undoing.
        exc.hint = (f"nothing was attached; make {group.name} run what the tfvars say "
                    f"(colors.{live}), then run `bluegreen bootstrap` again")
        raise
    attach(app.autoscaling, outputs, live)
    try:
        waiter.until(
            f"{live} targets healthy",
            lambda: health.targets_health(
                app.traffic.describe_traffic(),
                health.in_service_ids(app.autoscaling.describe_group(group.name)), 1.0),
            timeout=app.settings.timeouts.targets_healthy_seconds,
            color=live.value,
        )
    except WaitError as exc:
        exc.hint = (f"{live} stays attached to the load balancer; `bluegreen status` shows when its "
                    "targets turn healthy")
        raise
    rep.ok(f"Completed: {live} serves", color=live.value)


# -- history and the live view (read-only: no lease, no journal writes) ---------------------------


def history_list(app: App, limit: int | None) -> HistoryList:
    """The newest ``limit`` runs the journal keeps, each summarized from its own records."""
    runs: list[RunHistory] = []
    unreadable: list[tuple[str, str]] = []
    for entry in app.journal.runs(limit):
        try:
            summary = summarize(app.journal.records(entry.run_id), owner=entry.owner)
        except BluegreenError as exc:  # one torn object must not hide the other runs
            unreadable.append((entry.run_id, str(exc)))
            continue
        if summary is None:
            unreadable.append((entry.run_id, "its journal has no begin record"))
            continue
        runs.append(summary)
    return HistoryList(tuple(runs), tuple(unreadable))


def run_history(app: App, run_id: str) -> RunHistory:
    """One run's history; exit 3 (ConfigError) naming where the journal lives when it is unknown."""
    unknown = ConfigError(
        f"run {run_id!r} is not in the release journal at {app.location.describe()}",
        hint="`bluegreen history` lists the runs it keeps",
    )
    try:
        check_run_id(run_id)
    except InputError:
        raise unknown from None
    summary = summarize(app.journal.records(run_id),
                        owner=next((e.owner for e in app.journal.runs() if e.run_id == run_id), ""))
    if summary is None:
        raise unknown
    return summary


def watch_reader(app: App, run_id: str | None) -> Callable[[], watch.Snapshot]:
    """One poll of ``status --watch``: the run's records, both groups and the traffic layer. The
    stack's outputs are read once (a Terraform call); AWS failures are shown, not fatal."""
    outputs = app.stack.outputs()
    service = app.settings.service.name

    def world() -> Observed:
        groups = {}
        for color in Color:
            group = app.autoscaling.describe_group(outputs.asg_names[color])
            if group is None:
                raise StateMismatchError(f"Auto Scaling group {outputs.asg_names[color]} ({color}) does not exist")
            groups[color] = group
        return Observed(groups=groups, traffic=app.traffic.describe_traffic())

    def read() -> watch.Snapshot:
        now = dt.datetime.now(dt.timezone.utc)
        run = summarize(app.journal.records(run_id)) if run_id else None
        try:
            return watch.Snapshot(service, now, run, world())
        except BluegreenError as exc:
            return watch.Snapshot(service, now, run, None, world_error=str(exc))

    return read
