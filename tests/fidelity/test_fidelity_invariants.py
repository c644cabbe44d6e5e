"""ServingInvariant: the serving target group keeps enough healthy targets after every mutating call."""

from __future__ import annotations

import pytest
from fidelity_support import DELAY, Stack

from bluegreen_lab.fidelity import Fidelity, ManualClock, ScriptedHealth, healthy
from bluegreen_lab.fidelity.invariants import ServingInvariant, is_mutating


def test_is_mutating() -> None:
    assert is_mutating("EnterStandby") and is_mutating("SetDesiredCapacity")
    assert not any(map(is_mutating, ("DescribeTargetHealth", "GetConsoleOutput", "ListTagsForResource")))


def test_release_that_keeps_capacity_passes(fid: Fidelity, clock: ManualClock, health: ScriptedHealth, stack: Stack) -> None:
    stack.create_group("web-blue", desired=2)
    stack.create_group("web-green", desired=0, target_groups=False)
    health.set_default(healthy(after=10))
    clock.advance(10)
    invariant = ServingInvariant(stack.tg_arn, min_healthy=2)
    stop = invariant.watch(stack.asg)
    try:
        stack.asg.set_desired_capacity(AutoScalingGroupName="web-green", DesiredCapacity=2)
        stack.asg.attach_load_balancer_target_groups(AutoScalingGroupName="web-green", TargetGroupARNs=[stack.tg_arn])
        stack.asg.describe_auto_scaling_groups()  # not checked
        clock.advance(10)  # green passes its checks
        blue = stack.ids(group="web-blue")
        stack.asg.enter_standby(AutoScalingGroupName="web-blue", InstanceIds=blue, ShouldDecrementDesiredCapacity=True)
    finally:
        stop()
    assert invariant.log == [
        ("autoscaling:SetDesiredCapacity", 2),
        ("autoscaling:AttachLoadBalancerTargetGroups", 2),  # green still initial
        ("autoscaling:EnterStandby", 2),
    ]
    stack.asg.set_desired_capacity(AutoScalingGroupName="web-green", DesiredCapacity=0)  # unwatched now
    assert len(invariant.log) == 3


def test_violation_names_the_call(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=2)
    invariant = ServingInvariant(stack.tg_arn, min_healthy=2)
    invariant.watch(stack.asg)
    try:
        with pytest.raises(AssertionError, match=r"after autoscaling:EnterStandby: .* has 1 healthy target\(s\), needs at least 2"):
            stack.asg.enter_standby(
                AutoScalingGroupName=stack.group, InstanceIds=stack.ids()[:1], ShouldDecrementDesiredCapacity=True
            )
    finally:
        stack.asg.meta.events.unregister("after-call", unique_id=f"bluegreen-serving-invariant-{id(invariant)}")
    assert invariant.log == [("autoscaling:EnterStandby", 1)]
    assert invariant.violations


def test_server_side_monitor_records_every_mutating_call(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=2)
    invariant = ServingInvariant(stack.tg_arn, min_healthy=2)
    stop = invariant.monitor(fid)
    try:
        stack.asg.describe_auto_scaling_groups()
        stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=3)
        invariant.assert_held()
        stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=1)
    finally:
        stop()
    assert invariant.log == [("SetDesiredCapacity", 3), ("SetDesiredCapacity", 1)]
    with pytest.raises(AssertionError, match="after SetDesiredCapacity"):
        invariant.assert_held()
    clock.advance(DELAY)
