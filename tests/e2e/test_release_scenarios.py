"""Issue 3: release scenarios end to end, against moto's server with the fidelity layer and real
Terraform (embedded, AWS provider from the offline mirror), on one lab deployed once per module.

Every scenario starts from, and leaves, one clean live color (which one alternates: read it from
``commands.observe``), watches the serving invariant on moto's side (Terraform's calls included),
and checks ``terraform plan`` shows no changes afterwards.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Iterator

import pytest

from bluegreen import commands
from bluegreen.errors import (
    ExitCode,
    InputError,
    LockedError,
    RolledBackError,
    StateMismatchError,
)
from bluegreen.health import Verdict
from bluegreen_lab.fidelity import ScriptedHealth, broken, degrades
from bluegreen_lab.lab import Lab
from bluegreen.model import Color
from bluegreen.plan import COMMIT_POINT, Step
from bluegreen.report import Reporter

from bluegreen_lab.fidelity.invariants import ServingInvariant

from scenario_support import (
    Killed,
    Scenario,
    assert_one_live,
    assert_confirmed_clean,
    assert_plan_clean,
    healthy_serving,
    last_run,
    live_of,
    recover,
    serving_invariant,
    steps_of,
    wait_for,
    wait_serving,
)

pytestmark = pytest.mark.e2e

SERVICE = "web"  # the session lab's service


@pytest.fixture(scope="module")
def lab(alb_lab: Lab) -> Iterator[Lab]:
    """The session lab (tests/conftest.py) with a scripted health source for this module, so a
    scenario can make an AMI never healthy or degrade mid-window; the data plane's health comes
    back afterwards."""
    saved = (alb_lab.health, alb_lab.fidelity.health)
    scripted = ScriptedHealth(initial_seconds=0.5)
    alb_lab.health = alb_lab.fidelity.health = scripted
    try:
        yield alb_lab
    finally:
        alb_lab.health, alb_lab.fidelity.health = saved


@pytest.fixture
def scenario(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Scenario]:
    """A fresh Reporter and App on the shared lab. Every scenario checks it starts from (and
    leaves) one clean live color; after a failed one, finish or undo what it left so the next
    scenario still starts clean."""
    failed_before = request.session.testsfailed
    reporter = Reporter(service=SERVICE)
    yield Scenario(lab, reporter, lab.app(reporter))
    lab.fidelity.clear_faults()
    lab.health.clear()
    if request.session.testsfailed != failed_before:
        recover(lab)


def _release(app, ami: str, *, keep_old: bool = False, size: int | None = None, wait: bool = False):
    return commands.release(app, ami=ami, manifest=None, size=size, keep_old=keep_old, dry_run=False,
                            wait=wait)


def _size(app, color: Color) -> int:
    return commands.observe(app).observed.group(color).desired_capacity


def _assert_released(app, plan, ami: str, *, plan_check: bool = False) -> None:
    """The release completed: journal, tfvars, AWS and Terraform all say ``plan.target`` serves
    ``ami``, the old color is at zero, and terraform plan is clean (``plan_check``: run one more
    plan here; otherwise the release's own confirm-no-changes step is the evidence)."""
    run = last_run(app)
    assert run.outcome == "completed", run.finish_data
    assert run.completed == steps_of(run)
    s = assert_one_live(app, plan.target)
    assert s.tfvars.colors[plan.target].ami == ami
    assert s.tfvars.colors[plan.target].size == plan.size
    assert s.tfvars.colors[plan.live].size == 0
    new = s.observed.group(plan.target)
    assert {i.image_id for i in new.instances} == {ami}
    assert len(new.in_service) == plan.size
    if plan_check:
        assert_plan_clean(app)
    else:
        assert_confirmed_clean(app)


# -- 1. the happy path ------------------------------------------------------------------------


@pytest.mark.slow
def test_clean_release_there_and_back(scenario: Scenario) -> None:
    lab = scenario.lab
    first = live_of(scenario.app)
    for number in (1, 2):
        app = scenario.new_app()
        live = live_of(app)
        size = _size(app, live)
        ami = lab.bake(f"v-clean-{number}")
        with serving_invariant(lab, app, size) as invariant:
            plan = _release(app, ami)
        assert (plan.live, plan.target, plan.size) == (live, live.other(), size)
        assert len(invariant.log) > 10  # it saw the release's (and Terraform's) calls
        _assert_released(app, plan, ami, plan_check=True)
        assert last_run(app).kind == "release"
    assert live_of(scenario.new_app()) is first  # blue -> green -> blue (or the other way)


# -- 2. Terraform's apply fails ---------------------------------------------------------------


def test_apply_failure_rolls_back_through_terraform(scenario: Scenario) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    before = app.stack.committed_text()
    ami = lab.bake("v-apply-fails")
    # Terraform creates the idle color's launch template version, then UpdateAutoScalingGroup
    # pins it: failing that call leaves a half-applied idle color for the undo to restore.
    # ValidationError is not retried by the provider.
    lab.fidelity.inject("UpdateAutoScalingGroup", "ValidationError", times=1,
                        message="injected: the idle group's update fails")
    with serving_invariant(lab, app, _size(app, live)):
        with pytest.raises(RolledBackError) as info:
            _release(app, ami)
    assert info.value.exit_code == ExitCode.ROLLED_BACK == 10
    assert "injected: the idle group's update fails" in str(info.value)
    assert lab.fidelity.faults.pending() == 0
    run = last_run(app)
    assert run.outcome == "rolled-back"
    assert run.finish_data["failed_at"] == Step.APPLY_IDLE.value
    assert Step.APPLY_IDLE in run.compensated and Step.APPLY_IDLE not in run.completed
    assert app.stack.committed_text() == before  # byte for byte
    assert_one_live(app, live)
    assert_plan_clean(app)


# -- 3 and 4. the new color is not healthy ----------------------------------------------------


@pytest.mark.slow
def test_idle_never_healthy_rolls_back_within_grace(scenario: Scenario) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    before = app.stack.committed_text()
    bad = lab.bake("v-broken")
    lab.health.set_ami(bad, broken())
    started = time.monotonic()
    with serving_invariant(lab, app, _size(app, live)):
        with pytest.raises(RolledBackError) as info:
            _release(app, bad)
    elapsed = time.monotonic() - started
    # The health check's timers (interval × unhealthy threshold + unhealthy_grace_seconds, no
    # grace period in the lab), not the 30 s timeout.
    assert "unhealthy for" in str(info.value)
    assert "(interval 5s × threshold 2 + 2s margin)" in str(info.value)
    timeouts = lab.settings().timeouts
    assert elapsed < timeouts.targets_healthy_seconds, elapsed
    events = scenario.reporter.events
    waited_from = next(e["elapsed"] for e in events if e.get("step") == Step.WAIT_HEALTHY.value)
    failed_at = next(e["elapsed"] for e in events if e["event"] == "error")
    fails_after = lab.options.unhealthy_fails_after
    assert fails_after <= failed_at - waited_from < fails_after + 3, (waited_from, failed_at)
    run = last_run(app)
    assert run.outcome == "rolled-back"
    assert run.finish_data["failed_at"] == Step.WAIT_HEALTHY.value
    assert {Step.ATTACH, Step.APPLY_IDLE, Step.SUSPEND} <= set(run.compensated)
    assert app.stack.committed_text() == before
    assert_one_live(app, live)  # traffic on the old color, idle back at 0 through Terraform
    assert_plan_clean(app)


@pytest.mark.slow
def test_idle_degrading_in_verify_window_rolls_back(scenario: Scenario) -> None:
    lab = scenario.lab
    # A longer verify window than the lab's 2 s gives the timing room on both sides: healthy
    # from 0.5 s after registration, unhealthy from 2.5 s, window open until >= 5.5 s.
    app = scenario.new_app(lab.settings().replace("release", verify_seconds=5))
    live = live_of(app)
    before = app.stack.committed_text()
    flaky = lab.bake("v-degrades")
    lab.health.set_ami(flaky, degrades(healthy_for=2.0, after=0.5))
    with serving_invariant(lab, app, _size(app, live)):
        with pytest.raises(RolledBackError) as info:
            _release(app, flaky)
    assert "verify" in str(info.value)
    run = last_run(app)
    assert run.outcome == "rolled-back"
    assert run.finish_data["failed_at"] == Step.VERIFY.value
    assert Step.WAIT_HEALTHY in run.completed
    assert app.stack.committed_text() == before
    assert_one_live(app, live)
    assert_plan_clean(app)


# -- 5. throttling everywhere -----------------------------------------------------------------

THROTTLED = (
    "DescribeAutoScalingGroups",
    "DescribeInstances",
    "DescribeTargetHealth",
    "SuspendProcesses",
    "ResumeProcesses",
    "AttachLoadBalancerTargetGroups",
    "EnterStandby",
    "ExitStandby",
    "DetachLoadBalancerTargetGroups",
    "CreateLaunchTemplateVersion",  # Terraform's apply
    "UpdateAutoScalingGroup",  # Terraform's apply (capacity and template version)
)


@pytest.mark.slow
def test_release_completes_through_throttling(scenario: Scenario) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    ami = lab.bake("v-throttled")
    for api in THROTTLED:
        lab.fidelity.inject(api, "Throttling", times=2)
    with serving_invariant(lab, app, _size(app, live)):
        plan = _release(app, ami)
    fired = {f.api_name for f in lab.fidelity.faults.fired if f.error_code == "Throttling"}
    assert fired == set(THROTTLED), set(THROTTLED) - fired
    assert lab.fidelity.faults.pending() == 0
    _assert_released(app, plan, ami)


# -- 6. killed at a step boundary -------------------------------------------------------------


def _kill_after(app, step: Step) -> None:
    """The process dies right after ``step``'s completion record: nothing else runs, the lease
    stays held (a killed process releases nothing)."""
    original = app.journal.completed

    def completed(s: Step, **data) -> None:
        original(s, **data)
        if s is step:
            raise Killed(f"killed after {step.value}")

    def killed_release() -> bool:
        app.lease.abandon()  # a killed process releases nothing, and holds nothing any more
        return False

    app.journal.completed = completed  # type: ignore[method-assign]
    app.lease.release = killed_release  # type: ignore[method-assign]


# (step the kill follows, what the operator does next), one per phase of the release: before any
# change (suspend), after Terraform applied the idle color (apply-idle), with both colors attached
# and the old one half gone (standby: the hardest undo), at the commit point (detach: abort
# finishes the run keeping the old color warm, then switches back to it) and after Terraform
# recorded the new live color (scale-old). Killing after attach-new or wait-drained exercises the
# same undo (attach-new's, in the never-healthy scenario) or the same resume path (detach's); the
# unit tier's crash matrix tries every step. Every resume and abort runs in a new App.
# The third field marks a case slow: `make test` keeps the resume across Terraform's apply, the
# other four run in `make test-slow` (the unit tier's crash matrix tries every step in seconds).
KILLS = [
    (Step.SUSPEND, "abort", True),
    (Step.APPLY_IDLE, "resume", False),
    (Step.STANDBY, "abort", True),
    (Step.DETACH, "abort-after-commit", True),
    (Step.SCALE_OLD, "resume", True),
]


@pytest.mark.parametrize(("step", "action"), [
    pytest.param(s, a, id=f"{s.value}-{a}", marks=[pytest.mark.slow] if slow else [])
    for s, a, slow in KILLS
])
def test_killed_after_step(scenario: Scenario, step: Step, action: str) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    size = _size(app, live)
    before = app.stack.committed_text()
    ami = lab.bake(f"v-kill-{step.value}")
    with serving_invariant(lab, app, size):
        _kill_after(app, step)
        with pytest.raises(Killed):
            _release(app, ami)
        run = last_run(app)
        assert run.in_flight and run.completed[-1] is step and not run.compensated
        assert app.lease.read().run_id == run.run_id  # still held by the dead run

        operator = scenario.new_app()  # a new process
        assert commands.in_flight(operator).run_id == run.run_id
        if action == "abort":
            assert COMMIT_POINT not in run.completed
            commands.abort(operator)
            after = last_run(operator)
            assert after.outcome == "aborted"
            assert set(after.compensated) == set(after.started)
            expected_live = live
        elif action == "abort-after-commit":
            assert COMMIT_POINT in run.completed
            commands.abort(operator)
            # the run was finished keeping the old color warm, then a rollback run switched back
            after = last_run(operator)
            assert after.kind == "rollback" and after.outcome == "completed"
            expected_live = live
        else:
            commands.resume(operator)
            after = last_run(operator)
            assert after.outcome == "completed"
            assert after.completed == steps_of(after)
            expected_live = live.other()
    assert operator.lease.read() is None
    s = assert_one_live(operator, expected_live)
    if action == "abort":
        assert operator.stack.committed_text() == before
        assert_plan_clean(operator)
    elif action == "abort-after-commit":
        aborted = s.observed.group(live.other())
        assert not aborted.instances and aborted.desired_capacity == 0  # not left warm
        assert s.tfvars.colors[live].ami != ami
        assert_plan_clean(operator)
    else:
        assert s.tfvars.colors[expected_live].ami == ami
        assert len(s.observed.group(expected_live).in_service) == size
        assert_confirmed_clean(operator)


@pytest.mark.slow
def test_killed_then_resumed_with_the_lock_and_journal_in_s3(scenario: Scenario) -> None:
    """`[state] url` on the emulated S3: the lease and the per-run journal objects every runner
    sees. A run killed after its first step is found by another process, which takes the dead
    holder's lease over at once (no waiting for the TTL) and finishes the run."""
    lab = scenario.lab
    settings = lab.settings().replace("state", url=lab.state_url("scenarios-s3"))
    app = scenario.new_app(settings)
    assert app.location.kind == "s3" and app.location.lock_key == "scenarios-s3/release.lock"
    live = live_of(app)
    size = _size(app, live)
    ami = lab.bake("v-s3-state")
    with serving_invariant(lab, app, size):
        _kill_after(app, Step.SUSPEND)
        with pytest.raises(Killed):
            _release(app, ami)
        run = last_run(app)
        assert run.in_flight and run.completed == [Step.SUSPEND]
        held = app.lease.read()
        assert held.run_id == run.run_id and held.nonce == app.lease.identity.nonce

        operator = scenario.new_app(settings)  # a new process, same bucket
        assert commands.in_flight(operator).run_id == run.run_id
        commands.resume(operator)  # the dead holder's lease is taken over without waiting for the TTL
    after = last_run(operator)
    assert after.outcome == "completed"
    entry = operator.journal.runs(1)[0]
    assert (entry.run_id, entry.state, entry.kind) == (run.run_id, "completed", "release")
    keys = {o["Key"] for o in lab.client("s3").list_objects_v2(
        Bucket="bluegreen-lab-state", Prefix="scenarios-s3/")["Contents"]}
    assert f"scenarios-s3/runs/{run.run_id}.jsonl" in keys and "scenarios-s3/runs/index.json" in keys
    assert operator.lease.read() is None
    s = assert_one_live(operator, live.other())
    assert s.tfvars.colors[live.other()].ami == ami
    assert_confirmed_clean(operator)


# -- 7 and 8. refused before anything changes -------------------------------------------------


def test_second_release_while_one_runs_is_locked(scenario: Scenario) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    before, run_before = app.stack.committed_text(), app.journal.last_run()
    ami = lab.bake("v-locked")
    holder = scenario.new_app()
    holder.lease.acquire("other-run", owner="alice@ci", ttl_seconds=300)
    try:
        with serving_invariant(lab, app, _size(app, live)) as invariant:
            with pytest.raises(LockedError) as info:
                _release(app, ami)
        assert info.value.exit_code == ExitCode.LOCKED == 9
        assert "alice@ci" in str(info.value) and "other-run" in str(info.value)
        assert [call for call, _ in invariant.log] == ["before", "after"]  # no mutating call
        assert app.lease.read().run_id == "other-run"
    finally:
        holder.lease.release()
    assert app.stack.committed_text() == before
    run_after = app.journal.last_run()
    assert (run_after and run_after.run_id) == (run_before and run_before.run_id)
    assert_one_live(app, live)


def test_unknown_ami_is_an_input_error(scenario: Scenario) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    before, run_before = app.stack.committed_text(), app.journal.last_run()
    with serving_invariant(lab, app, _size(app, live)) as invariant:
        with pytest.raises(InputError) as info:
            _release(app, "ami-0123456789abcdef0")
    assert info.value.exit_code == ExitCode.INPUT == 4
    assert "not found" in str(info.value)
    assert [call for call, _ in invariant.log] == ["before", "after"]  # no mutating call at all
    assert app.stack.committed_text() == before
    run_after = app.journal.last_run()
    assert (run_after and run_after.run_id) == (run_before and run_before.run_id)
    assert app.lease.read() is None
    assert_one_live(app, live)


# -- 9. the live color was scaled by hand -----------------------------------------------------


@pytest.mark.slow
def test_hand_scaled_live_color_sets_the_new_size(scenario: Scenario) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    group = commands.observe(app).observed.group(live)
    wanted = group.desired_capacity + 1
    lab.client("autoscaling").set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=wanted)
    wait_serving(lab, app, wanted)
    ami = lab.bake("v-hand-scaled")
    with serving_invariant(lab, app, wanted):
        plan = _release(app, ami)
    assert plan.size == wanted
    _assert_released(app, plan, ami)


# -- 11. keep the old color warm, roll back to it ----------------------------------------------


@pytest.mark.slow
def test_keep_old_then_warm_rollback(scenario: Scenario) -> None:
    lab = scenario.lab
    app = scenario.new_app(lab.settings().replace("release", keep_old_seconds=600))
    live = live_of(app)
    size = _size(app, live)
    before = app.stack.committed_text()
    ami = lab.bake("v-keep-old")
    # On AWS the instances leaving Standby read Pending for a while: the kept color's size must
    # not be counted from InService instances at that moment.
    with serving_invariant(lab, app, size):
        plan = _release(app, ami, keep_old=True)
    run = last_run(app)
    assert run.outcome == "completed"
    assert Step.KEEP_OLD in steps_of(run) and Step.SCALE_OLD not in steps_of(run)
    s = assert_one_live(app, plan.target, idle_at_zero=False)
    old = s.observed.group(live)
    assert len(old.in_service) == old.desired_capacity == size  # running, detached
    assert s.tfvars.colors[live].size == size
    assert_confirmed_clean(app)

    with serving_invariant(lab, app, size):
        back = commands.rollback(app, dry_run=False)
    run = last_run(app)
    assert run.kind == "rollback" and run.outcome == "completed"
    assert Step.APPLY_IDLE not in steps_of(run) and Step.CLEAR_IDLE not in steps_of(run)  # warm
    assert (back.live, back.target) == (plan.target, live)
    s = assert_one_live(app, live)  # the rollback scaled the bad release to zero itself
    assert s.tfvars.colors[plan.target].size == 0
    assert s.tfvars.colors[live].ami == json.loads(before)["colors"][live.value]["ami"]
    assert_confirmed_clean(app)
    # The rollback scaled the other color to zero already: finalize has nothing to do. (Its
    # real path, a kept color scaled to zero through Terraform, runs in test_release_elb.py.)
    assert commands.finalize(app) is False


@pytest.mark.slow
def test_keep_old_window_watched_in_the_foreground_then_scaled_to_zero(scenario: Scenario) -> None:
    lab = scenario.lab
    app = scenario.new_app(lab.settings().replace("release", keep_old_seconds=3))
    live = live_of(app)
    size = _size(app, live)
    ami = lab.bake("v-keep-old-watched")
    started = time.monotonic()
    with serving_invariant(lab, app, size):
        plan = _release(app, ami, keep_old=True, wait=True)
    assert time.monotonic() - started >= 3  # it held the window
    s = assert_one_live(app, plan.target)  # idle at zero: the window ended through Terraform
    assert s.tfvars.colors[live].size == 0
    assert "keep-old window of 3s is over" in " ".join(e.get("message", "") for e in app.reporter.events)
    assert_plan_clean(app)


class _WindowWatcher(Reporter):
    """A Reporter that calls ``on_window()`` when the foreground keep-old window starts (the
    release completed and the watch begins), so a scenario can break the new color exactly then."""

    def __init__(self, service: str, on_window) -> None:
        super().__init__(service=service)
        self.on_window = on_window

    def event(self, kind: str, **fields) -> None:
        super().event(kind, **fields)
        if kind == "info" and " warm for " in fields.get("message", "") and "while watching" in fields["message"]:
            self.on_window()


@pytest.mark.slow
def test_keep_old_window_flips_back_when_the_new_color_fails(scenario: Scenario) -> None:
    lab = scenario.lab
    ami = lab.bake("v-keep-old-fails")
    # Healthy through the whole release (wait-healthy, verify window, drain, keep-old-warm,
    # confirm), then every check fails from the moment the kept window starts. Not a timer since
    # registration: how long the release takes after attach depends on the lab's drain and on
    # Terraform, and a color that fails before the release completed is another scenario.
    invariant = ServingInvariant(scenario.app.stack.outputs().traffic_name, 0, fidelity=lab.fidelity)
    broke_at: list[int] = []
    broke_time: list[float] = []

    def break_new_color() -> None:
        broke_at.append(len(invariant.log))
        broke_time.append(time.monotonic())
        lab.health.set_ami(ami, "unhealthy")

    app = lab.app(_WindowWatcher(SERVICE, break_new_color), settings=lab.settings().replace("release", keep_old_seconds=60))
    live = live_of(app)
    size = _size(app, live)
    stop = invariant.monitor(lab.fidelity)
    try:
        with pytest.raises(RolledBackError) as info:
            _release(app, ami, keep_old=True, wait=True)
    finally:
        stop()
    assert "failed during the keep-old window" in str(info.value)
    assert info.value.exit_code == ExitCode.ROLLED_BACK
    # Counted from the window's start (not the release's, whose length is the machine's): the
    # flip back came long before the 60 s window ended.
    assert time.monotonic() - broke_time[0] < 45
    (broke,) = broke_at
    # The release served at full size throughout, up to the start of the window.
    release_log, flip_log = invariant.log[:broke], invariant.log[broke:]
    assert release_log and min(healthy for _, healthy in release_log) >= size, release_log
    # The flip back never made it worse: the warm color is attached and healthy before the first
    # call that takes a bad target out, and from then on serves at full size.
    calls = [call for call, _ in flip_log]
    first_out = calls.index("EnterStandby")
    assert "AttachLoadBalancerTargetGroups" in calls[:first_out]
    assert min(healthy for _, healthy in flip_log[first_out:]) >= size, flip_log
    run = last_run(app)
    assert run.kind == "rollback" and run.outcome == "completed"
    s = assert_one_live(app, live)
    assert s.tfvars.colors[live].ami != ami


# -- status: drift ----------------------------------------------------------------------------


def test_status_reports_a_hand_set_capacity_with_its_fix(scenario: Scenario) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    idle = live.other()
    name = app.stack.outputs().asg_names[idle]
    asg = lab.client("autoscaling")
    code, doc = _status_json(lab)
    assert (code, doc["clean"], doc["drift"]) == (0, True, []), doc  # min/max match the state
    asg.update_auto_scaling_group(AutoScalingGroupName=name, DesiredCapacity=1)
    try:
        code, doc = _status_json(lab)
        assert code == ExitCode.STATE_MISMATCH, doc
        assert doc["live"] == live.value and doc["problems"] == []
        (drift,) = doc["drift"]
        assert (drift["kind"], drift["color"]) == ("capacity", idle.value)
        assert drift["what"].startswith(f"{idle} desired capacity is 1, Terraform's configuration says 0")
        assert drift["fix"].startswith("`terraform -chdir=") and drift["fix"].endswith(" apply` sets it back to 0")
    finally:
        asg.update_auto_scaling_group(AutoScalingGroupName=name, DesiredCapacity=0)
    wait_for(app, f"{idle} back at zero",
             lambda: Verdict(not commands.observe(app).observed.group(idle).instances, "instances left"))
    assert_one_live(app, live)
# -- 12. the release goes bad after it completed: roll back to the warm color -------------------


@pytest.mark.slow
def test_release_gone_bad_after_completion_rolls_back_to_the_warm_color(scenario: Scenario) -> None:
    """Issue 7: with --keep-old, the new color fails every check after the release completed.
    `rollback` must work exactly then: attach the warm old color, wait until it is healthy, and
    only then take the bad one out (never make it worse), with no Terraform before the switch."""
    lab = scenario.lab
    app = scenario.new_app(lab.settings().replace("release", keep_old_seconds=600))
    live = live_of(app)
    size = _size(app, live)
    before = app.stack.committed_text()
    ami = lab.bake("v-goes-bad")
    with serving_invariant(lab, app, size):
        plan = _release(app, ami, keep_old=True)
    assert last_run(app).outcome == "completed"
    bad, warm = plan.target, live

    lab.health.set_ami(ami, "unhealthy")  # every check of the new color fails from now on
    wait_for(app, f"{bad} serving nothing", lambda: Verdict(healthy_serving(lab, app) == 0,
                                                             f"{healthy_serving(lab, app)} healthy"))
    s = commands.observe(app)
    assert s.assessment.down is bad and s.assessment.live is None
    # Everything else still refuses (exit 7), and says what works.
    with pytest.raises(StateMismatchError) as info:
        commands.swap(app, dry_run=False)
    assert info.value.exit_code == ExitCode.STATE_MISMATCH
    assert f"`bluegreen rollback` brings back {warm}" in info.value.hint

    invariant = ServingInvariant(app.stack.outputs().traffic_name, 0, fidelity=lab.fidelity)
    stop = invariant.monitor(lab.fidelity)
    try:
        back = commands.rollback(app, dry_run=False)
    finally:
        stop()
    assert (back.live, back.target) == (bad, warm)
    run = last_run(app)
    assert run.kind == "rollback" and run.outcome == "completed", run.finish_data
    assert Step.APPLY_IDLE not in steps_of(run) and Step.CLEAR_IDLE not in steps_of(run)  # warm
    calls = [call for call, _ in invariant.log]
    first_out = calls.index("EnterStandby")  # the first call that takes a bad target out
    assert "AttachLoadBalancerTargetGroups" in calls[:first_out]
    # From the first step that touches the bad color, the warm one serves at full size.
    assert min(healthy for _, healthy in invariant.log[first_out:]) >= size, invariant.log
    s = assert_one_live(app, warm)  # the bad color scaled to zero through Terraform
    assert s.tfvars.colors[bad].size == 0
    assert s.tfvars.colors[warm].ami == json.loads(before)["colors"][warm.value]["ami"]
    assert_confirmed_clean(app)


# -- status: both colors attached -------------------------------------------------------------


def test_status_reports_both_attached(scenario: Scenario) -> None:
    lab, app = scenario.lab, scenario.app
    live = live_of(app)
    outputs = app.stack.outputs()
    asg = lab.client("autoscaling")
    with serving_invariant(lab, app, _size(app, live)):
        _both_attached_then_detach(lab, app, asg, live, outputs)
    assert_one_live(app, live)


def _status_json(lab) -> tuple[int, dict]:
    """``bluegreen status --json`` through the CLI: its exit code and document."""
    from typer.testing import CliRunner

    from bluegreen.cli import app as cli

    handler = signal.getsignal(signal.SIGTERM)
    try:
        result = CliRunner().invoke(cli, ["status", "--config", str(lab.config_path), "--json"])
    finally:
        signal.signal(signal.SIGTERM, handler)
    return result.exit_code, json.loads(result.stdout)


def _both_attached_then_detach(lab, app, asg, live, outputs) -> None:
    idle = live.other()
    asg.attach_load_balancer_target_groups(
        AutoScalingGroupName=outputs.asg_names[idle], TargetGroupARNs=[outputs.traffic_name])
    try:
        s = commands.observe(app)
        assert s.assessment.attached == tuple(Color)
        assert s.assessment.live is None and not s.assessment.clean
        assert "both colors are attached" in s.assessment.problems[0]

        code, doc = _status_json(lab)
        assert code == ExitCode.STATE_MISMATCH == 7, doc
        assert doc["clean"] is False and doc["live"] is None
        assert doc["colors"][idle.value]["attached"] is True
        assert "both colors are attached" in doc["problems"][0]
        # The stray color is the idle one (no instances, nothing healthy), and the fix is the one
        # hand step that detaches exactly it.
        stray = doc["drift"][0]
        assert (stray["kind"], stray["color"]) == ("stray", idle.value), doc["drift"]
        assert stray["fix"].startswith(
            "`aws autoscaling detach-load-balancer-target-groups --auto-scaling-group-name "
            f"{outputs.asg_names[idle]} --target-group-arns {outputs.traffic_name} --region us-east-1`")

        with pytest.raises(StateMismatchError) as info:
            _release(app, lab.bake("v-refused"))
        assert "both colors are attached" in str(info.value)
    finally:
        asg.detach_load_balancer_target_groups(
            AutoScalingGroupName=outputs.asg_names[idle], TargetGroupARNs=[outputs.traffic_name])
