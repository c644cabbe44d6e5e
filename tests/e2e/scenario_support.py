"""Support for the release scenario tests (issue 3): one lab per module, a fresh Reporter and App
per scenario, the serving invariant watched on moto's side, and checks of the "one color live,
the other at zero, terraform plan clean" state every scenario starts from and leaves behind.

moto's backends are process-global: every lab (and ``tests/e2e/conftest.py``'s ``e2e_stack``)
in one pytest session shares them, so each lab here uses its own service name (resource names in
the stack derive from it) and lives for one module only (``scope="module"``): two labs alive at
once would also share the fidelity layer's health source.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from bluegreen import commands
from bluegreen.app import App
from bluegreen.errors import BluegreenError
from bluegreen.health import Verdict
from bluegreen.journal import RunView
from bluegreen_lab.fidelity.invariants import ServingInvariant
from bluegreen_lab.lab import Lab, LabOptions
from bluegreen.model import Color, TrafficKind
from bluegreen.plan import Step
from bluegreen.report import Reporter

INITIAL_SIZE = 2


class Killed(BaseException):
    """What a SIGKILL looks like to the journal: the process stops right after a step's record,
    and nothing after that runs (``execute`` catches ``Exception`` and ``KeyboardInterrupt`` only,
    so no compensation, no finish record)."""


@dataclass
class Scenario:
    """One scenario's view of the shared lab: a fresh Reporter and App."""

    lab: Lab
    reporter: Reporter
    app: App

    def new_app(self, settings: Any = None) -> App:
        """Another process: its own App (adapters, lease object, journal) on the same lab."""
        return self.lab.app(self.reporter, settings=settings)


def start_lab(workdir: Path, options: LabOptions) -> tuple[Lab, float]:
    """A started lab with the stack applied and blue attached at INITIAL_SIZE; deploy seconds."""
    lab = Lab(workdir, options).start()
    try:
        started = time.monotonic()
        lab.deploy_initial(lab.bake("v1"), size=INITIAL_SIZE, reporter=Reporter(service=options.service))
        return lab, time.monotonic() - started
    except BaseException:
        lab.stop()
        raise


# -- observation -------------------------------------------------------------------------------


def situation(app: App) -> commands.Situation:
    return commands.observe(app)


def live_of(app: App) -> Color:
    s = commands.observe(app)
    assert s.assessment.clean, f"not one clean live color: {s.assessment.problems}"
    assert s.assessment.live is not None
    return s.assessment.live


def last_run(app: App) -> RunView:
    run = app.journal.last_run()
    assert run is not None
    return run


def healthy_serving(lab: Lab, app: App) -> int:
    """Healthy targets behind the load balancer, read on moto's side (no API call)."""
    outputs = app.stack.outputs()
    if outputs.traffic_kind is TrafficKind.ALB:
        return lab.fidelity.healthy_count(outputs.traffic_name)
    return classic_in_service(lab, outputs.traffic_name)


def classic_in_service(lab: Lab, elb_name: str) -> int:
    """Running instances registered with a classic ELB (moto reports them InService)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.elb.models import elb_backends

    with lab.fidelity.lock:
        elb = elb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].load_balancers[elb_name]
        ec2 = ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        running = 0
        for instance_id in list(elb.instance_ids):
            instance = ec2.get_instance_by_id(instance_id)
            if instance is not None and instance.state == "running":
                running += 1
        return running


@contextlib.contextmanager
def serving_invariant(lab: Lab, app: App, min_healthy: int) -> Iterator[ServingInvariant]:
    """Check after every mutating call moto serves (bluegreen's and Terraform's) that the load
    balancer keeps at least ``min_healthy`` healthy targets; raise the first violation at the end."""
    outputs = app.stack.outputs()
    if outputs.traffic_kind is TrafficKind.ALB:
        invariant = ServingInvariant(outputs.traffic_name, min_healthy, fidelity=lab.fidelity)
    else:
        invariant = ServingInvariant(
            outputs.traffic_name, min_healthy, fidelity=lab.fidelity,
            healthy_count=lambda: classic_in_service(lab, outputs.traffic_name),
        )
    invariant.check("before")  # the scenario starts from a serving state
    stop = invariant.monitor(lab.fidelity)
    try:
        yield invariant
    finally:
        stop()
    invariant.check("after")
    invariant.assert_held()


def wait_for(app: App, what: str, probe, timeout: float = 30.0) -> None:
    """The product's own wait loop with the lab's short poll: no bare sleeps in the tests."""
    app.waiter().until(what, probe, timeout=timeout)


def wait_serving(lab: Lab, app: App, count: int) -> None:
    wait_for(app, f"{count} healthy serving targets",
             lambda: Verdict(healthy_serving(lab, app) >= count, f"{healthy_serving(lab, app)} healthy"))


# -- the state between scenarios ----------------------------------------------------------------


def assert_one_live(app: App, live: Color, *, idle_at_zero: bool = True) -> commands.Situation:
    """``live`` serves alone, Terraform agrees, no run is in flight, no suspension of ours is
    left, and (``idle_at_zero``) the other color has no instances and desired capacity 0."""
    s = commands.observe(app)
    assert s.assessment.clean, s.assessment.problems
    assert s.assessment.live is live
    assert s.assessment.attached == (live,)
    assert s.tfvars.live_color is live
    assert s.outputs.live_color is live
    assert commands.in_flight(app) is None
    for color in Color:
        leftovers = {"AZRebalance", "AlarmNotification", "ScheduledActions"} & set(
            s.observed.group(color).suspended_processes)
        assert not leftovers, f"{color} still has {leftovers} suspended"
    live_group = s.observed.group(live)
    assert len(live_group.in_service) == live_group.desired_capacity >= 1
    assert not live_group.standby
    if idle_at_zero:
        idle = s.observed.group(live.other())
        assert idle.desired_capacity == 0, idle
        assert not idle.instances, idle.instances
    return s


def assert_plan_clean(app: App) -> None:
    """``terraform plan`` of the committed variables shows no changes (a real plan, ~3 s)."""
    summary = app.stack.pending_changes()
    assert summary.has_changes is False, [f"{c.action} {c.address}" for c in summary.changes]


def assert_confirmed_clean(app: App) -> None:
    """The run that just completed ended with its own ``confirm-no-changes`` step: the same
    ``terraform plan`` of the committed variables as ``assert_plan_clean``, run by the release
    itself after its last change (the steps after it only write the journal and free the lease).
    Saves a second identical plan per release, which the time budget of this file needs."""
    run = app.journal.last_run()
    assert run is not None and run.outcome == "completed", run
    assert run.completed[-1] is Step.CONFIRM, run.completed


def steps_of(run: RunView) -> list[Step]:
    return list(run.header.steps)


def recover(lab: Lab) -> None:
    """After a failed scenario: finish or undo whatever it left, so the next one starts clean."""
    reporter = Reporter(service=lab.options.service, quiet=True)
    app = lab.app(reporter)
    lab.fidelity.clear_faults()
    lab.health.clear()
    run = commands.in_flight(app)
    if run is not None:
        holder = app.lease.read()
        if holder is not None:
            app.lease.break_(holder.run_id)
        try:
            if run.completed and Step.DETACH in run.completed:
                commands.resume(lab.app(reporter))
            else:
                commands.abort(lab.app(reporter))
        except BluegreenError:
            pass
    holder = app.lease.read()
    if holder is not None:
        app.lease.break_(holder.run_id)
