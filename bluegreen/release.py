"""The executor: run a switch plan step by step, journal every step, and on failure undo the
completed steps in reverse so traffic ends where it started.

Every step re-reads AWS before acting, so running a step twice (after a crash, on ``resume``) is
safe; every undo does the same, so ``abort`` after a crash and an automatic rollback are one code
path: both replay the journal and undo what it says was started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import health
from .config import Settings
from .errors import (
    BlastRadiusError,
    BluegreenError,
    NeedsOperatorError,
    RolledBackError,
    StateMismatchError,
)
from .gates import GateWatch, gated_probe
from .health import Verdict
from .journal import Journal
from .model import (
    ENTERING_STANDBY,
    IN_SERVICE,
    PENDING,
    RELEASE_SUSPENDED_PROCESSES,
    STANDBY,
    Color,
    ColorVars,
    GroupState,
    StackOutputs,
    TrafficKind,
    TrafficState,
)
from .plan import REASONS, Mode, ReleasePlan, Step, release_vars
from .ports import AutoScaling, LoadBalancer
from .report import Reporter
from .runstate import Event, RunData, RunView
from .stack import Preview, Stack
from .stop import LeaseLost, RunStopped, StopToken
from .waits import Waiter, WaitFailed


@dataclass
class Deps:
    settings: Settings
    autoscaling: AutoScaling
    traffic: LoadBalancer
    stack: Stack
    journal: Journal
    waiter: Waiter
    reporter: Reporter
    smoke: Callable[[], Verdict] | None = None
    stop: StopToken | None = None  # a signal or a lost lease: checked at every step boundary
    # hooks.Hooks: hooks(point, facts, **extra) at the points below; raises in a gate to fail the step.
    hooks: Callable[..., None] | None = None
    # gates.GateWatch, started before the run's first change (commands.open_gates); checked
    # during the verify window, where a trip fails the window like an unhealthy target.
    gates: GateWatch | None = None


# Where the hook points stand in the step order (hooks.py explains each).
HOOKS_BEFORE = {Step.ATTACH: "pre-traffic"}
HOOKS_AFTER = {Step.ATTACH: "post-step", Step.DETACH: "post-traffic"}


@dataclass(frozen=True)
class PreparedApply:
    """The apply-idle plan, made and blast-radius checked before the run's first AWS change
    (``commands.prepare_apply``). ``reviewed``: it is the saved plan of ``release --plan``, so
    the apply step applies exactly it or nothing; otherwise the step may re-plan when the world
    moved (the live color's capacity) between the check and the apply."""

    preview: Preview
    reviewed: bool = False


class Switch:
    """One run of a plan: a release, a warm rollback or a swap."""

    def __init__(
        self,
        deps: Deps,
        plan: ReleasePlan,
        outputs: StackOutputs,
        *,
        run_id: str,
        restore_text: str,
        release_label: str,
        prior: RunData | None = None,
        prepared: PreparedApply | None = None,
    ) -> None:
        self.d = deps
        self.prepared = prepared
        self.plan = plan
        self.outputs = outputs
        self.run_id = run_id
        self.restore_text = restore_text  # the tfvars to put back if this run is undone
        self.release_label = release_label
        self.data = prior.copy() if prior is not None else RunData()
        # Gate hooks judge a color going into service; going back (a rollback run, or `abort`
        # finishing a committed run forward to switch back) must never be blocked by one.
        self.gated = plan.mode is not Mode.ROLLBACK
        self._first_unhealthy: dict[str, float] = {}

    # -- observation -------------------------------------------------------------------------

    def group(self, color: Color) -> GroupState:
        name = self.outputs.asg_names[color]
        group = self.d.autoscaling.describe_group(name)
        if group is None:
            raise StateMismatchError(
                f"Auto Scaling group {name} ({color}) named by Terraform's outputs does not exist"
            )
        return group

    def traffic(self) -> TrafficState:
        return self.d.traffic.describe_traffic()

    def attached(self, color: Color) -> bool:
        return self.group(color).attached_to(self.outputs.traffic_kind, self.outputs.traffic_name)

    # -- running -----------------------------------------------------------------------------

    def run(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if self.d.stop is not None:
                self.d.stop.check()  # a step boundary is the safest place to stop
            color = self._color_of(step)
            self._gates_before(step)
            self.d.reporter.step(step.value, REASONS[step], color=color)
            self.d.journal.started(step)
            result = getattr(self, "do_" + step.name.lower())() or {}
            self.data.merge(result)
            self.d.journal.completed(step, **result)

    def _gates_before(self, step: Step) -> None:
        """The gate hooks that stand between the previous plan step and ``step``. A gate "after X"
        runs when the step after X is about to start, not after X's record: so a `resume` (after a
        failed gate or a crash) runs it again instead of skipping it. Gates run at least once."""
        if not self.gated:
            return
        index = self.plan.steps.index(step) if step in self.plan.steps else 0
        previous = self.plan.steps[index - 1] if index > 0 else None
        if previous in HOOKS_AFTER:
            self.hook(HOOKS_AFTER[previous], after=previous.value)
        if step in HOOKS_BEFORE:
            self.hook(HOOKS_BEFORE[step], before=step.value)

    def hook(self, point: str, **extra: Any) -> None:
        if self.d.hooks is not None:
            self.d.hooks(point, self.facts(), **extra)

    def facts(self) -> dict[str, Any]:
        """The run's identity, as hooks and notifications receive it."""
        return {"run_id": self.run_id, "service": self.d.settings.service.name, "mode": self.plan.mode.value,
                "from_color": self.plan.live.value, "to_color": self.plan.target.value, "ami": self.plan.ami,
                "size": self.plan.size, "release_label": self.release_label,
                "from_group": self.outputs.asg_names[self.plan.live],
                "to_group": self.outputs.asg_names[self.plan.target]}

    def _color_of(self, step: Step) -> str | None:
        old_side = {Step.LOWER_MIN, Step.STANDBY, Step.WAIT_DRAINED, Step.DETACH, Step.EXIT_STANDBY,
                    Step.SCALE_OLD, Step.KEEP_OLD}
        if step in old_side:
            return self.plan.live.value
        if step in (Step.SUSPEND, Step.RESUME, Step.CONFIRM):
            return None
        return self.plan.target.value

    def note(self, step: Step, **data: Any) -> None:
        self.data.merge(data)
        self.d.journal.note(step, **data)

    # -- steps -------------------------------------------------------------------------------

    def do_suspend(self) -> dict[str, Any]:
        # A group may carry suspensions of its own: suspend (and later resume) only ours.
        mine: dict[str, list[str]] = {k: list(v) for k, v in self.data.suspended.items()}
        for color in Color:
            group = self.group(color)
            new = [p for p in RELEASE_SUSPENDED_PROCESSES if p not in group.suspended_processes]
            mine[color.value] = sorted(set(mine.get(color.value, [])) | set(new))
            self.note(Step.SUSPEND, suspended=mine)
            if new:
                self.d.autoscaling.suspend_processes(group.name, new)
        return {"suspended": mine}

    def do_clear_idle(self) -> None:
        target = self.plan.target
        vars_, _ = self.d.stack.read_vars()
        current = vars_.colors[target]
        cleared = vars_.with_color(target, ColorVars(current.ami, 0, current.release))
        self._change(cleared, target, "clear-idle")
        self.d.waiter.until(
            "old instances of the idle color terminated",
            lambda: Verdict(not self.group(target).instances,
                            f"{len(self.group(target).instances)} instance(s) left"),
            timeout=self.d.settings.timeouts.instances_in_service_seconds,
            color=target.value,
        )

    def do_apply_idle(self) -> None:
        target, live = self.plan.target, self.plan.live
        live_now = self.group(live).desired_capacity
        prepared = self.prepared
        if prepared is not None:
            planned_live = prepared.preview.vars.colors[live].size
            if planned_live == live_now:
                # The plan made and checked before the first AWS change (for `release --plan`,
                # the reviewed one): apply exactly it, no second plan.
                self._apply(prepared.preview, Step.APPLY_IDLE)
                return
            if prepared.reviewed:
                raise StateMismatchError(
                    f"{live}'s desired capacity moved {planned_live} -> {live_now} after the saved "
                    "plan was checked; nothing was applied",
                    hint="run `bluegreen plan --out FILE` again",
                )
        vars_, _ = self.d.stack.read_vars()
        new = release_vars(vars_, target, ColorVars(self.plan.ami, self.plan.size, self.release_label), live_now)
        self._change(new, target, "apply-idle", Step.APPLY_IDLE)

    def do_wait_instances(self) -> None:
        target = self.plan.target
        self.d.waiter.until(
            f"{target} instances",
            lambda: health.instances_ready(self.group(target), self.plan.ami, self.plan.size),
            timeout=self.d.settings.timeouts.instances_in_service_seconds,
            color=target.value,
        )

    def do_attach(self) -> None:
        self._attach(self.plan.target)

    def do_wait_healthy(self) -> None:
        target = self.plan.target
        self._first_unhealthy.clear()
        self.d.waiter.until(
            f"{target} targets healthy",
            lambda: self._health_with_grace(target),
            timeout=self.d.settings.timeouts.targets_healthy_seconds,
            color=target.value,
        )

    def do_smoke(self) -> None:
        assert self.d.smoke is not None
        verdict = self.d.smoke()
        if not verdict.ok:
            raise WaitFailed("smoke check", verdict)
        self.d.reporter.ok(f"smoke check: {verdict.reason}", color=self.plan.target.value)

    def do_verify(self) -> None:
        target = self.plan.target
        threshold = self.d.settings.release.healthy_threshold
        ids = health.in_service_ids(self.group(target))
        self.d.waiter.hold(
            f"verify {target} (>= {threshold:.0%} healthy)",
            gated_probe(lambda: health.targets_health(self.traffic(), ids, threshold),
                        self.d.gates, self.d.waiter.clock, self.d.reporter, color=target.value),
            seconds=self.d.settings.release.verify_seconds,
            color=target.value,
        )

    def do_lower_min(self) -> dict[str, Any]:
        live = self.group(self.plan.live)
        old_min = self.data.old_min if self.data.old_min is not None else live.min_size
        self.note(Step.LOWER_MIN, old_min=old_min)
        if live.min_size > 0:
            # EnterStandby may decrement desired capacity only while desired-1 >= MinSize.
            self.d.autoscaling.set_min_size(live.name, 0)
        return {"old_min": old_min}

    def do_standby(self) -> dict[str, Any]:
        live_color = self.plan.live
        # Instances on their way back from Standby (Pending: an undo that stopped half way, then
        # `resume`) can be put on Standby only once InService: wait for them, or they would stay
        # registered and the drain would never end.
        self.d.waiter.until(
            f"{live_color} instances settled",
            lambda: Verdict(not self.group(live_color).in_state(PENDING),
                            f"{len(self.group(live_color).in_state(PENDING))} instance(s) Pending"),
            timeout=self.d.settings.timeouts.instances_in_service_seconds,
            color=live_color.value,
        )
        live = self.group(live_color)
        ids = [i.id for i in live.in_service]
        known = self.data.standby_ids
        standby_ids = sorted(set(known) | set(ids))
        self.note(Step.STANDBY, standby_ids=standby_ids)
        if ids:
            self.d.autoscaling.enter_standby(live.name, ids)
        return {"standby_ids": standby_ids}

    def do_wait_drained(self) -> None:
        live_color = self.plan.live
        ids = self.data.standby_ids
        delay = self.traffic().deregistration_delay_seconds

        def probe() -> Verdict:
            group = self.group(live_color)
            not_standby = [i.id for i in group.instances if i.id in ids and i.lifecycle_state != STANDBY]
            drained = health.drained(self.traffic(), ids)
            if not drained.ok:
                return drained
            if not_standby:
                return Verdict(False, f"{len(not_standby)} instance(s) not yet in Standby")
            return drained

        self.d.waiter.until(
            f"{live_color} drained",
            # The new color serves alone while the old one drains: the gates keep watching it.
            gated_probe(probe, self.d.gates, self.d.waiter.clock, self.d.reporter,
                        color=self.plan.target.value, while_waiting=True),
            timeout=delay + self.d.settings.timeouts.drain_seconds,
            color=live_color.value,
        )

    def do_detach(self) -> None:
        self._detach(self.plan.live)

    def do_exit_standby(self) -> None:
        live_color = self.plan.live
        group = self.group(live_color)
        ids = [i.id for i in group.standby]
        if ids:
            self.d.autoscaling.exit_standby(group.name, ids)
        # ExitStandby is asynchronous: an instance reads Pending before InService. Wait for
        # InService, not merely "out of Standby": keep-old counts these instances and a warm
        # rollback needs them InService.
        back = set(self.data.standby_ids) | set(ids)

        def probe() -> Verdict:
            on_the_way = [i.id for i in self.group(live_color).instances
                          if i.id in back and i.lifecycle_state != IN_SERVICE]
            return Verdict(not on_the_way, f"{len(on_the_way)} instance(s) not yet back InService")

        self.d.waiter.until(
            f"{live_color} out of Standby (detached, no traffic)",
            probe,
            timeout=self.d.settings.timeouts.instances_in_service_seconds,
            color=live_color.value,
        )

    def do_scale_old(self) -> None:
        live, target = self.plan.live, self.plan.target
        vars_, _ = self.d.stack.read_vars()
        old = vars_.colors[live]
        new = vars_.with_color(live, ColorVars(old.ami, 0, old.release)).with_live(target)
        self._change(new, live, "scale-old")

    def do_keep_old(self) -> None:
        live, target = self.plan.live, self.plan.target
        vars_, _ = self.d.stack.read_vars()
        old = vars_.colors[live]
        # Desired capacity, not a count of InService instances: it is what Terraform compares
        # (a plan after keep-old must be clean) and ExitStandby has already raised it, while an
        # instance on its way back may still read Pending; counting those as gone would make
        # Terraform terminate the color we meant to keep.
        running = self.group(live).desired_capacity
        new = vars_.with_color(live, ColorVars(old.ami, running, old.release)).with_live(target)
        self._change(new, live, "keep-old")

    def do_resume(self) -> None:
        self._resume_ours()

    def do_confirm(self) -> None:
        summary = self.d.stack.pending_changes()
        if summary.has_changes:
            listed = ", ".join(f"{c.action} {c.address}" for c in summary.changes)
            raise StateMismatchError(
                f"after the {self.plan.mode.value}, terraform plan still shows changes: {listed}",
                hint="someone changed the stack meanwhile? review `terraform plan` before the next release",
            )
        self.d.reporter.ok("terraform plan shows no changes")

    # -- undo --------------------------------------------------------------------------------

    def undo(self, step: Step) -> None:
        handler = getattr(self, "undo_" + step.name.lower(), None)
        if handler is not None:
            self.d.reporter.step(f"undo {step.value}", "compensating", color=self._color_of(step))
            self.d.journal.undoing(step)
            handler()
        self.d.journal.compensated(step)

    def undo_suspend(self) -> None:
        self._resume_ours()

    def undo_apply_idle(self) -> None:
        if not self.data.applying:
            return  # refused before applying (e.g. the blast-radius check): nothing changed
        # Back to the variables the run started from: the idle color at its old AMI and size.
        self.d.stack.restore(self.restore_text, self.plan.target, f"{self.run_id}-undo-apply")

    def undo_attach(self) -> None:
        target = self.plan.target
        ids = [i.id for i in self.group(target).instances]
        self._detach(target)
        self.d.waiter.until(
            f"{target} drained",
            lambda: health.drained(self.traffic(), ids),
            timeout=self.traffic().deregistration_delay_seconds + self.d.settings.timeouts.drain_seconds,
            color=target.value,
        )

    def undo_lower_min(self) -> None:
        old_min = self.data.old_min
        group = self.group(self.plan.live)
        if old_min is not None and group.min_size != old_min:
            self.d.autoscaling.set_min_size(group.name, old_min)

    def undo_standby(self) -> None:
        live_color = self.plan.live
        # An instance still EnteringStandby (draining) cannot exit Standby yet: wait it out.
        self.d.waiter.until(
            f"{live_color} settled in Standby",
            lambda: Verdict(
                not self.group(live_color).in_state(ENTERING_STANDBY),
                f"{len(self.group(live_color).in_state(ENTERING_STANDBY))} instance(s) EnteringStandby",
            ),
            timeout=self.traffic().deregistration_delay_seconds + self.d.settings.timeouts.drain_seconds,
            color=live_color.value,
        )
        group = self.group(live_color)
        ids = [i.id for i in group.standby]
        if ids:
            self.d.autoscaling.exit_standby(group.name, ids)
        # The instances this run put on Standby, as journaled: after a crash right after our own
        # ExitStandby they read Pending (neither Standby nor InService), and must still be waited for.
        back = sorted(set(self.data.standby_ids) | set(ids)) or list(health.in_service_ids(group))

        def probe() -> Verdict:
            present = {i.id for i in self.group(live_color).instances}
            return health.targets_health(self.traffic(), [i for i in back if i in present], 1.0)

        self.d.waiter.until(
            f"{live_color} back in service",
            probe,
            timeout=self.d.settings.timeouts.targets_healthy_seconds,
            color=live_color.value,
        )

    def undo_detach(self) -> None:
        # A crash between the detach call and its journal record leaves the old color detached
        # while the run is not past the commit point: attach it again before its instances leave
        # Standby (the undo of standby-old, next), so they rejoin the load balancer.
        self._attach(self.plan.live)

    def undo_clear_idle(self) -> None:
        # The warm idle color is not brought back (a release replaces it anyway); but Terraform's
        # variables must say what AWS runs: the run's restore point has it at zero. A no-op plan
        # when the apply-idle undo already restored it.
        self.d.stack.restore(self.restore_text, self.plan.target, f"{self.run_id}-undo-clear-idle")

    # -- helpers -----------------------------------------------------------------------------

    def _change(self, new_vars, allowed: Color, label: str, step: Step | None = None) -> None:
        preview = self.d.stack.preview(new_vars, allowed, f"{self.run_id}-{label}")
        self._apply(preview, step)

    def _apply(self, preview: Preview, step: Step | None = None) -> None:
        allowed = preview.verdict.allowed_color.value if preview.verdict else None
        counts = ", ".join(f"{n} to {a}" for a, n in preview.summary.counts.items() if n)
        self.d.reporter.info(f"plan: {counts or 'no resource changes'}", color=allowed)
        if step is not None and preview.ok:
            # From here AWS may change: the undo must restore the variables (even after a crash).
            self.note(step, applying=True)
        self.d.stack.apply(preview)

    def _attach(self, color: Color) -> None:
        if not self.attached(color):
            attach(self.d.autoscaling, self.outputs, color)

    def _detach(self, color: Color) -> None:
        if self.attached(color):
            detach(self.d.autoscaling, self.outputs, color)

    def _resume_ours(self) -> None:
        for color_name, processes in self.data.suspended.items():
            if processes:
                self.d.autoscaling.resume_processes(self.outputs.asg_names[Color(color_name)], processes)

    def _health_with_grace(self, color: Color) -> Verdict:
        """Healthy targets, failing early once one stays unhealthy past AWS's own timers: the
        group's grace period and the health check's interval × unhealthy threshold, plus
        ``timeouts.unhealthy_grace_seconds`` (``health.HealthTimers``)."""
        group, traffic = self.group(color), self.traffic()
        now = self.d.waiter.clock.now()
        current = health.targets_health(traffic, health.in_service_ids(group), 1.0)
        self._first_unhealthy = health.track_unhealthy(self._first_unhealthy, current.unhealthy_ids, now)
        return health.new_targets_health(
            group, traffic, self._first_unhealthy, now,
            margin_seconds=self.d.settings.timeouts.unhealthy_grace_seconds,
        )


# -- the traffic layer, whichever kind the stack has ---------------------------------------------


def attach(autoscaling: AutoScaling, outputs: StackOutputs, color: Color) -> None:
    """Attach ``color``'s group to the serving target group (ALB) or classic ELB."""
    name = outputs.asg_names[color]
    if outputs.traffic_kind is TrafficKind.ALB:
        autoscaling.attach_target_group(name, outputs.traffic_name)
    else:
        autoscaling.attach_load_balancer(name, outputs.traffic_name)


def detach(autoscaling: AutoScaling, outputs: StackOutputs, color: Color) -> None:
    name = outputs.asg_names[color]
    if outputs.traffic_kind is TrafficKind.ALB:
        autoscaling.detach_target_group(name, outputs.traffic_name)
    else:
        autoscaling.detach_load_balancer(name, outputs.traffic_name)


# -- running a switch with compensation -------------------------------------------------------


def execute(switch: Switch, steps: tuple[Step, ...], *, finish: bool = True) -> None:
    """Run ``steps``. On a failure before the commit point undo everything this run started; after
    it, stop in needs-operator (the new color serves; undoing would take traffic from it). A stop
    (signal, lost lease) is journaled and re-raised: it never undoes anything. ``finish=False``
    leaves the run's final record to the caller (abort's switch back)."""
    d, plan = switch.d, switch.plan
    what = f"{plan.mode.value} {plan.live} -> {plan.target}"
    try:
        switch.hook("start")  # announced once per run (deduplicated across resume)
        switch.run(steps)
    except RunStopped as stop:
        _journal_stop(switch, stop)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure must reach compensation
        run = d.journal.last_run()
        assert run is not None
        failed_at = run.started[-1] if run.started else None
        message = _describe(exc)
        d.reporter.error(f"{what} failed at {failed_at}: {message}")
        if run.committed:
            d.journal.event(Event.NEEDS_OPERATOR, error=message, failed_at=str(failed_at))
            raise NeedsOperatorError(
                f"{what} failed at {failed_at} after {plan.target} took over traffic: {message}; "
                f"{plan.target} serves",
                hint="fix the cause, then `bluegreen resume` finishes the remaining steps or "
                "`bluegreen abort` switches back to " + str(plan.live),
            ) from exc
        d.journal.event(Event.ROLLING_BACK, error=message, failed_at=str(failed_at))
        compensate(switch, d.journal.last_run() or run)
        # An operator's `abort` request (weighted pauses) ends as asked; anything else failed.
        asked = getattr(exc, "operator_request", False)
        final = Event.ABORTED if asked else Event.ROLLED_BACK
        d.journal.event(final, error=message, failed_at=str(failed_at))
        reported_hook(switch, "on-rollback", outcome=final.value, error=message, failed_at=str(failed_at))
        if isinstance(exc, BlastRadiusError):
            raise
        raise RolledBackError(
            f"{what} failed at {failed_at}: {message}; rolled back, {plan.live} serves as before"
        ) from exc
    if finish:
        d.journal.event(Event.COMPLETED)
        reported_hook(switch, "on-complete", outcome="completed")


def reported_hook(switch: Switch, point: str, **extra: Any) -> None:
    """on-rollback / on-complete: the outcome is decided and journaled; hooks only hear of it."""
    try:
        switch.hook(point, **extra)
    except (Exception, RunStopped) as exc:  # noqa: BLE001 - a report must never change the outcome
        # A stop during an on-complete hook: the run is over; the hook was ended, the outcome stands.
        switch.d.reporter.warn(f"{point} hooks: {_describe(exc) if isinstance(exc, Exception) else exc}")


def compensate(switch: Switch, run: RunView) -> None:
    """Undo, in reverse, every step ``run`` started and has not undone yet. The caller has put the
    run in rolling-back. An undo that fails leaves the run in needs-operator, from which `abort`
    retries the undo where it stopped and `resume` goes forward again."""
    d = switch.d
    for step in reversed(run.started):
        if step in run.compensated:
            continue
        try:
            if d.stop is not None:
                d.stop.check()
            switch.undo(step)
        except RunStopped as stop:
            _journal_stop(switch, stop)
            raise
        except Exception as exc:  # noqa: BLE001
            d.journal.event(Event.NEEDS_OPERATOR, error=_describe(exc), undo_failed_at=step.value)
            raise NeedsOperatorError(
                f"undo of {step.value} failed: {_describe(exc)}; {_state_line(switch)}",
                hint="fix the cause, then `bluegreen abort` retries the undo from where it stopped "
                "(or `bluegreen resume` goes forward again)",
            ) from exc


def _journal_stop(switch: Switch, stop: RunStopped) -> None:
    """Record why the run stopped; nothing is undone. Best effort: the stop must reach the user
    even when the journal cannot be written (the lease may be lost because S3 is unreachable)."""
    event = Event.LEASE_LOST if isinstance(stop, LeaseLost) else Event.INTERRUPTED
    try:
        run = switch.d.journal.last_run()
        at = run.at if run is not None else "start"
        switch.d.reporter.error(f"{switch.plan.mode.value} stopped during {at}: {stop.message}; nothing was undone")
        switch.d.journal.event(event, error=stop.message, at=at)
    except Exception as exc:  # noqa: BLE001
        switch.d.reporter.warn(f"could not journal the stop: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (BluegreenError, WaitFailed)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _state_line(switch: Switch) -> str:
    """What AWS looks like now, in one line, for the operator who must take over."""
    try:
        parts = []
        for color in Color:
            group = switch.group(color)
            counts = ", ".join(f"{n} {s}" for s, n in sorted(group.counts_by_state().items())) or "no instances"
            parts.append(f"{color}: {counts}, {'attached' if switch.attached(color) else 'detached'}")
        return "now " + "; ".join(parts)
    except Exception as exc:  # noqa: BLE001 - the state line must never hide the real error
        return f"(could not read AWS state: {_describe(exc)})"
