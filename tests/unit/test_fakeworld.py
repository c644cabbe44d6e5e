"""The fakes behind the crash-point matrix behave as AWS-SEMANTICS.md says AWS does (so a green
matrix means something): asynchronous standby and draining, MinSize and MaxSize checks, 20 ids per
call, Launch blocking ExitStandby, scale-in sparing Standby, Terraform refreshing drift and
refusing a stale plan, the invariant checker, and a crashed process doing nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen.errors import AwsError, TerraformError
from bluegreen.model import DRAINING, ENTERING_STANDBY, HEALTHY, INITIAL, IN_SERVICE, PENDING, STANDBY, Color, ColorVars
from fakeworld import AMI_V2, TG_ARN, Crash, FakeWorld, Trap


@pytest.fixture
def world(tmp_path: Path) -> FakeWorld:
    return FakeWorld(tmp_path, size=2, deregistration_delay=30, health_seconds=30, exit_standby_seconds=10)


def ids(world: FakeWorld, color: Color) -> list[str]:
    return list(world.group(color).instances)


def test_bootstrapped_world_serves_blue(world: FakeWorld) -> None:
    assert world.shape(Color.BLUE)["healthy"] == 2 and world.shape(Color.BLUE)["attached"]
    assert world.shape(Color.GREEN)["lifecycle"] == [] and world.drift() == []


def test_enter_standby_needs_min_lowered_then_drains_before_standby(world: FakeWorld) -> None:
    app = world.app()
    blue = world.asg_name(Color.BLUE)
    with pytest.raises(AwsError) as refused:
        app.autoscaling.enter_standby(blue, ids(world, Color.BLUE))
    assert refused.value.code == "ValidationError" and "MinSize" in str(refused.value)
    world.violations.clear()  # green is not serving: the checker rightly complained
    app.autoscaling.set_min_size(blue, 0)
    app.autoscaling.enter_standby(blue, ids(world, Color.BLUE)[:1])
    first = ids(world, Color.BLUE)[0]
    assert world.instances[first].lifecycle == ENTERING_STANDBY
    assert world.targets[first].state == DRAINING and world.group(Color.BLUE).desired == 1
    world.advance(29)
    assert world.instances[first].lifecycle == ENTERING_STANDBY
    world.advance(1)
    assert world.instances[first].lifecycle == STANDBY and first not in world.targets


def test_standby_calls_carry_at_most_20_ids(tmp_path: Path) -> None:
    world = FakeWorld(tmp_path, size=25, max_size=30)
    app = world.app()
    blue = world.asg_name(Color.BLUE)
    app.autoscaling.set_min_size(blue, 0)
    app.autoscaling.enter_standby(blue, ids(world, Color.BLUE))
    calls = [c.args["n"] for c in world.calls if c.op == "EnterStandby"]
    assert calls == [20, 5]


def test_exit_standby_refused_while_launch_suspended_and_increments_desired(world: FakeWorld) -> None:
    app = world.app()
    blue = world.asg_name(Color.BLUE)
    one = ids(world, Color.BLUE)[:1]
    app.autoscaling.set_min_size(blue, 0)
    app.autoscaling.enter_standby(blue, one)
    world.advance(30)
    app.autoscaling.suspend_processes(blue, ["Launch"])
    with pytest.raises(AwsError, match="Launch"):
        app.autoscaling.exit_standby(blue, one)
    app.autoscaling.resume_processes(blue, ["Launch"])
    app.autoscaling.exit_standby(blue, one)
    assert world.group(Color.BLUE).desired == 2 and world.instances[one[0]].lifecycle == PENDING
    world.advance(10)
    assert world.instances[one[0]].lifecycle == IN_SERVICE and world.targets[one[0]].state == INITIAL
    world.advance(30)
    assert world.targets[one[0]].state == HEALTHY


def test_attach_registers_initial_then_healthy_detach_drains(world: FakeWorld) -> None:
    app = world.app()
    green = world.asg_name(Color.GREEN)
    app.autoscaling.set_capacity(green, min_size=0, desired=2, max_size=10)
    world.advance(40)
    app.autoscaling.attach_target_group(green, TG_ARN)
    assert {world.targets[i].state for i in ids(world, Color.GREEN)} == {INITIAL}
    world.advance(30)
    assert world.shape(Color.GREEN)["healthy"] == 2
    app.autoscaling.detach_target_group(green, TG_ARN)
    assert {world.targets[i].state for i in ids(world, Color.GREEN)} == {DRAINING}
    world.advance(30)
    assert not any(i in world.targets for i in ids(world, Color.GREEN))
    assert world.violations == []


def test_scale_in_spares_standby_instances(world: FakeWorld) -> None:
    app = world.app()
    blue = world.asg_name(Color.BLUE)
    app.autoscaling.attach_target_group(world.asg_name(Color.GREEN), TG_ARN)  # irrelevant: no instances
    app.autoscaling.set_min_size(blue, 0)
    standby = ids(world, Color.BLUE)[0]
    world.violations.clear()
    app.autoscaling.enter_standby(blue, [standby])
    world.advance(30)
    app.autoscaling.set_capacity(blue, min_size=0, desired=0, max_size=10)
    world.settle()
    assert ids(world, Color.BLUE) == [standby] and world.instances[standby].lifecycle == STANDBY


def test_terraform_plan_refreshes_drift_and_refuses_a_stale_plan(world: FakeWorld) -> None:
    app = world.app()
    vars_ = world.committed_vars()
    app.autoscaling.set_min_size(world.asg_name(Color.BLUE), 0)  # drift: the stack says MinSize 2
    preview = app.stack.preview(vars_, Color.GREEN, "drift")
    assert [c.address for c in preview.summary.changes] == ["module.blue.aws_autoscaling_group.this"]
    assert not preview.ok  # the blast radius: the live color would change
    app.autoscaling.set_min_size(world.asg_name(Color.BLUE), 2)
    stale = app.stack.preview(vars_.with_color(Color.GREEN, ColorVars(AMI_V2, 1, "x")), Color.GREEN, "stale")
    app.stack.change(vars_.with_color(Color.GREEN, ColorVars(AMI_V2, 0, "y")), Color.GREEN, "other")  # state moves on
    with pytest.raises(TerraformError, match="stale"):
        app.stack.apply(stale)


def test_invariant_catches_detaching_the_only_serving_color(world: FakeWorld) -> None:
    app = world.app()
    app.autoscaling.detach_target_group(world.asg_name(Color.BLUE), TG_ARN)
    assert any("DetachLoadBalancerTargetGroups on serving blue" in v for v in world.violations)
    world.advance(30)
    app.autoscaling.describe_group(world.asg_name(Color.BLUE))
    app.clock.sleep(1)
    assert any("no color attached with a healthy InService target" in v for v in world.violations)


def test_a_crashed_process_does_nothing_more(world: FakeWorld) -> None:
    app = world.app()
    app.lease.acquire("run-1", ttl_seconds=900)
    world.traps.append(Trap(lambda c: c.op == "SuspendProcesses", when="after"))
    with pytest.raises(Crash):
        app.autoscaling.suspend_processes(world.asg_name(Color.BLUE), ["AZRebalance"])
    assert "AZRebalance" in world.group(Color.BLUE).suspended  # the call itself happened
    with pytest.raises(Crash):
        app.lease.release()  # a SIGKILLed process runs no finally block
    with pytest.raises(Crash):
        app.autoscaling.describe_group(world.asg_name(Color.BLUE))
    holder = world.app().lease.read()
    assert holder is not None and holder.run_id == "run-1" and holder.owner == "ci@runner-1"
