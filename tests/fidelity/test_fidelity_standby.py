"""EnteringStandby while targets drain (gap 3), ExitStandby re-registration, and gap 5: scale-in
never picks a Standby instance."""

from __future__ import annotations

import pytest
from fidelity_support import DELAY, Stack

from bluegreen.lab.fidelity import Fidelity, ManualClock, ScriptedHealth, healthy


@pytest.mark.xfail(strict=True, reason="moto: EnterStandby is synchronous, no EnteringStandby")
def test_gap_enter_standby_waits_for_draining(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    assert stack.lifecycle(victim) == "EnteringStandby"


@pytest.mark.xfail(strict=True, reason="moto: scale-in may terminate a Standby instance")
def test_gap_scale_in_skips_standby(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    first = stack.instances()[0]["InstanceId"]  # moto scales in in list order
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[first], ShouldDecrementDesiredCapacity=True)
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=0)
    assert stack.lifecycle(first) == "Standby"


def test_enter_standby_sits_in_entering_standby_until_drained(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=2, min_size=1)
    victim, kept = stack.ids()
    stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, MinSize=0)
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    group = stack.group_desc()
    assert group["DesiredCapacity"] == 1
    assert {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]} == {
        victim: "EnteringStandby",
        kept: "InService",
    }
    assert stack.health() == {victim: "draining", kept: "healthy"}
    clock.advance(DELAY - 0.5)
    assert stack.lifecycle(victim) == "EnteringStandby"
    clock.advance(0.5)
    assert stack.lifecycle(victim) == "Standby"
    assert stack.health() == {kept: "healthy"}
    assert stack.health(victim) == {victim: "unused"}
    assert len(stack.ids()) == 1  # nothing launched: desired was decremented


def test_enter_standby_without_decrement_launches_replacement(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=False)
    assert stack.group_desc()["DesiredCapacity"] == 2
    assert len(stack.ids("InService")) == 2 and victim not in stack.ids("InService")


def test_waits_for_the_longest_deregistration_delay(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    vpc_tg = stack.elbv2.create_target_group(Name="web-slow", Protocol="HTTP", Port=8080, VpcId=stack.vpc_id)
    slow = vpc_tg["TargetGroups"][0]["TargetGroupArn"]
    stack.elbv2.modify_target_group_attributes(
        TargetGroupArn=slow, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "120"}]
    )
    stack.create_group(desired=2)
    stack.asg.attach_load_balancer_target_groups(AutoScalingGroupName=stack.group, TargetGroupARNs=[slow])
    victim = stack.ids()[0]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    clock.advance(DELAY)
    assert stack.lifecycle(victim) == "EnteringStandby"
    assert victim not in stack.health() and stack.health(tg_arn=slow)[victim] == "draining"
    clock.advance(120 - DELAY)
    assert stack.lifecycle(victim) == "Standby"


def test_exit_standby_registers_again_through_initial(
    fid: Fidelity, clock: ManualClock, health: ScriptedHealth, stack: Stack
) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    clock.advance(DELAY)
    health.set_default(healthy(after=20))
    clock.advance(100)  # the kept instance has been registered for 130 s
    stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])
    assert stack.lifecycle(victim) == "InService"
    assert stack.group_desc()["DesiredCapacity"] == 2
    assert stack.health()[victim] == "initial"
    clock.advance(20)
    assert set(stack.health().values()) == {"healthy"}


def test_scale_in_never_picks_standby(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=3)
    first = stack.instances()[0]["InstanceId"]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[first], ShouldDecrementDesiredCapacity=True)
    clock.advance(DELAY)
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=0)
    assert stack.lifecycle(first) == "Standby"
    assert stack.ids("InService") == []
    described = stack.asg.describe_auto_scaling_instances(InstanceIds=[first])["AutoScalingInstances"][0]
    assert described["ProtectedFromScaleIn"] is False  # the shield is only for the duration of the call


def test_scale_in_skips_entering_standby(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=2)
    first = stack.instances()[0]["InstanceId"]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[first], ShouldDecrementDesiredCapacity=True)
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=0)
    assert stack.lifecycle(first) == "EnteringStandby"
