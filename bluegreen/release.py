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
    ReleaseInterrupted,
    RolledBackError,
    StateMismatchError,
)
from .health import Verdict
from .journal import Journal, RunView
from .model import (
    ENTERING_STANDBY,
    IN_SERVICE,
    RELEASE_SUSPENDED_PROCESSES,
    STANDBY,
    Color,
    ColorVars,
    GroupState,
    StackOutputs,
    TrafficKind,
    TrafficState,
)
from .plan import COMMIT_POINT, REASONS, ReleasePlan, Step
from .ports import AutoScaling, LoadBalancer
from .report import Reporter
from .stack import Stack
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
        prior: dict[Step, dict[str, Any]] | None = None,
    ) -> None:
        self.d = deps
        self.plan = plan
        self.outputs = outputs
        self.run_id = run_id
        self.restore_text = restore_text  # the tfvars to put back if this run is undone
        self.release_label = release_label
        self.data: dict[Step, dict[str, Any]] = {k: dict(v) for k, v in (prior or {}).items()}
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
            color = self._color_of(step)
            self.d.reporter.step(step.value, REASONS[step], color=color)
            self.d.journal.started(step)
            result = getattr(self, "do_" + step.name.lower())() or {}
            self.data.setdefault(step, {}).update(result)
            self.d.journal.completed(step, **result)

    def _color_of(self, step: Step) -> str | None:
        old_side = {Step.LOWER_MIN, Step.STANDBY, Step.WAIT_DRAINED, Step.DETACH, Step.EXIT_STANDBY,
                    Step.SCALE_OLD, Step.KEEP_OLD}
        if step in old_side:
            return self.plan.live.value
        if step in (Step.SUSPEND, Step.RESUME, Step.CONFIRM):
            return None
        return self.plan.target.value

    def note(self, step: Step, **data: Any) -> None:
        self.data.setdefault(step, {}).update(data)
        self.d.journal.note(step, **data)

    # -- steps -------------------------------------------------------------------------------

    def do_suspend(self) -> dict[str, Any]:
        # A group may carry suspensions of its own: suspend (and later resume) only ours.
        mine: dict[str, list[str]] = dict(self.data.get(Step.SUSPEND, {}).get("suspended", {}))
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
        vars_, _ = self.d.stack.read_vars()
        new = vars_.with_color(target, ColorVars(self.plan.ami, self.plan.size, self.release_label))
        # Size follows reality: the live color keeps the capacity AWS reports, so the plan never
        # resizes the serving color (someone may have scaled it by hand under load).
        live_now = self.group(live).desired_capacity
        if new.colors[live].size != live_now:
            current = new.colors[live]
            new = new.with_color(live, ColorVars(current.ami, live_now, current.release))
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
            lambda: health.targets_health(self.traffic(), ids, threshold),
            seconds=self.d.settings.release.verify_seconds,
            color=target.value,
        )

    def do_lower_min(self) -> dict[str, Any]:
        live = self.group(self.plan.live)
        old_min = self.data.get(Step.LOWER_MIN, {}).get("old_min", live.min_size)
        self.note(Step.LOWER_MIN, old_min=old_min)
        if live.min_size > 0:
            # EnterStandby may decrement desired capacity only while desired-1 >= MinSize.
            self.d.autoscaling.set_min_size(live.name, 0)
        return {"old_min": old_min}

    def do_standby(self) -> dict[str, Any]:
        live = self.group(self.plan.live)
        ids = [i.id for i in live.in_service]
        known = self.data.get(Step.STANDBY, {}).get("standby_ids", [])
        standby_ids = sorted(set(known) | set(ids))
        self.note(Step.STANDBY, standby_ids=standby_ids)
        if ids:
            self.d.autoscaling.enter_standby(live.name, ids)
        return {"standby_ids": standby_ids}

    def do_wait_drained(self) -> None:
        live_color = self.plan.live
        ids = self.data.get(Step.STANDBY, {}).get("standby_ids", [])
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
            probe,
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
        back = set(self.data.get(Step.STANDBY, {}).get("standby_ids", [])) | set(ids)

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
            handler()
        self.d.journal.compensated(step)

    def undo_suspend(self) -> None:
        self._resume_ours()

    def undo_apply_idle(self) -> None:
        if not self.data.get(Step.APPLY_IDLE, {}).get("applying"):
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
        old_min = self.data.get(Step.LOWER_MIN, {}).get("old_min")
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
        back = ids or list(health.in_service_ids(group))
        self.d.waiter.until(
            f"{live_color} back in service",
            lambda: health.targets_health(self.traffic(), back, 1.0),
            timeout=self.d.settings.timeouts.targets_healthy_seconds,
            color=live_color.value,
        )

    # -- helpers -----------------------------------------------------------------------------

    def _change(self, new_vars, allowed: Color, label: str, step: Step | None = None) -> None:
        preview = self.d.stack.preview(new_vars, allowed, f"{self.run_id}-{label}")
        counts = ", ".join(f"{n} to {a}" for a, n in preview.summary.counts.items() if n)
        self.d.reporter.info(f"plan: {counts or 'no resource changes'}", color=allowed.value)
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
        suspended = self.data.get(Step.SUSPEND, {}).get("suspended", {})
        for color_name, processes in suspended.items():
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


def execute(switch: Switch, steps: tuple[Step, ...]) -> None:
    """Run ``steps``; on failure before the commit point undo everything this run started."""
    d, plan = switch.d, switch.plan
    what = f"{plan.mode.value} {plan.live} -> {plan.target}"
    try:
        switch.run(steps)
    except KeyboardInterrupt:
        run = d.journal.last_run()
        at = run.started[-1].value if run and run.started else "start"
        d.reporter.error(f"interrupted during {at}")
        raise ReleaseInterrupted(
            f"{what} interrupted during {at}; nothing was undone",
            hint="`bluegreen resume` continues it, `bluegreen abort` undoes it",
        ) from None
    except Exception as exc:  # noqa: BLE001 - every failure must reach compensation
        run = d.journal.last_run()
        assert run is not None
        failed_at = run.started[-1] if run.started else None
        message = _describe(exc)
        d.reporter.error(f"{what} failed at {failed_at}: {message}")
        if COMMIT_POINT in run.completed:
            d.journal.finish("needs-operator", error=message)
            raise NeedsOperatorError(
                f"{what} failed at {failed_at} after {plan.target} took over traffic: {message}; "
                f"{plan.target} serves",
                hint="`bluegreen resume` finishes the remaining steps",
            ) from exc
        compensate(switch, run)
        d.journal.finish("rolled-back", error=message, failed_at=str(failed_at))
        if isinstance(exc, BlastRadiusError):
            raise
        raise RolledBackError(
            f"{what} failed at {failed_at}: {message}; rolled back, {plan.live} serves as before"
        ) from exc
    d.journal.finish("completed")


def compensate(switch: Switch, run: RunView) -> None:
    """Undo, in reverse, every step ``run`` started and has not undone yet."""
    d = switch.d
    switch.data.update({k: dict(v) for k, v in run.data.items() if k not in switch.data})
    for step in reversed(run.started):
        if step in run.compensated:
            continue
        try:
            switch.undo(step)
        except Exception as exc:  # noqa: BLE001
            d.journal.finish("needs-operator", error=_describe(exc), undo_failed_at=step.value)
            raise NeedsOperatorError(
                f"undo of {step.value} failed: {_describe(exc)}; {_state_line(switch)}",
                hint="fix the cause, then `bluegreen abort` retries the undo from where it stopped",
            ) from exc


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
