"""EnteringStandby while targets drain (gap 3), ExitStandby through Pending with re-registration
(gap 3), and gap 5: scale-in never picks a Standby instance."""

from __future__ import annotations

import pytest
from fidelity_support import DELAY, Stack

from bluegreen_lab.fidelity import Fidelity, ManualClock, ScriptedHealth, healthy

PENDING = 0.5  # Fidelity.pending_seconds by default


@pytest.mark.xfail(strict=True, reason="moto: EnterStandby is synchronous, no EnteringStandby")
def test_gap_enter_standby_waits_for_draining(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    assert stack.lifecycle(victim) == "EnteringStandby"


@pytest.mark.xfail(strict=True, reason="moto: ExitStandby is synchronous, the instance is InService at once")
def test_gap_exit_standby_goes_through_pending(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])
    assert stack.lifecycle(victim) == "Pending"


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


def _standby(stack: Stack, clock: ManualClock) -> tuple[str, str]:
    """(victim, kept): the victim in Standby, drained, desired capacity decremented to 1."""
    stack.create_group(desired=2)
    victim, kept = stack.ids()
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    clock.advance(DELAY)
    assert stack.lifecycle(victim) == "Standby"
    return victim, kept


def test_exit_standby_attached_goes_pending_then_in_service_and_registered(
    fid: Fidelity, clock: ManualClock, health: ScriptedHealth, stack: Stack
) -> None:
    victim, kept = _standby(stack, clock)
    health.set_default(healthy(after=20))
    clock.advance(100)  # the kept instance has been registered for 130 s
    activity = stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])["Activities"][0]
    assert activity["StatusCode"] == "PreInService"
    group = stack.group_desc()
    assert group["DesiredCapacity"] == 2
    assert {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]} == {victim: "Pending", kept: "InService"}
    assert stack.health() == {kept: "healthy"}  # not registered while Pending
    assert stack.health(victim) == {victim: "unused"}
    clock.advance(PENDING - 0.1)
    assert stack.lifecycle(victim) == "Pending"
    clock.advance(0.1)
    assert stack.lifecycle(victim) == "InService"
    assert stack.health() == {kept: "healthy", victim: "initial"}  # registered the moment it turned InService
    clock.advance(20)
    assert stack.health() == {kept: "healthy", victim: "healthy"}
    assert stack.ids() == sorted([victim, kept])  # Pending counted in the capacity: nothing launched


def test_exit_standby_detached_goes_in_service_unregistered(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    victim, kept = _standby(stack, clock)
    stack.asg.detach_load_balancer_target_groups(AutoScalingGroupName=stack.group, TargetGroupARNs=[stack.tg_arn])
    clock.advance(DELAY)  # the kept instance has drained away
    stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])
    assert stack.lifecycle(victim) == "Pending"
    clock.advance(PENDING)
    assert stack.lifecycle(victim) == "InService"
    assert stack.health() == {}
    assert stack.health(victim, kept) == {victim: "unused", kept: "unused"}
    assert fid.targets(stack.tg_arn) == []


def test_exit_standby_registration_is_dated_when_in_service(
    fid: Fidelity, clock: ManualClock, health: ScriptedHealth, stack: Stack
) -> None:
    """Nothing ticks: whatever observes first after the Pending time (here ``fid.targets``, no API
    call) settles it, and the target has been registered since the instance turned InService."""
    victim, _kept = _standby(stack, clock)
    health.set_default(healthy(after=20))
    stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])
    clock.advance(PENDING + 19)
    (record,) = [t for t in fid.targets(stack.tg_arn) if t.instance_id == victim]
    assert (record.state, record.registered_at) == ("initial", clock() - 19)
    clock.advance(1)
    assert stack.health(victim) == {victim: "healthy"}


def test_exit_standby_read_outside_a_call_registers(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    """Reading the due state straight off moto's backend (the lab's data plane does that) settles
    it with its registration, never InService-but-unregistered."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.elbv2.models import elbv2_backends

    victim, _kept = _standby(stack, clock)
    stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])
    clock.advance(PENDING)
    group = autoscaling_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].autoscaling_groups[stack.group]
    (state,) = [s for s in group.instance_states if s.instance.id == victim]
    assert state.lifecycle_state == "InService"
    assert victim in elbv2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].target_groups[stack.tg_arn].targets


def test_exit_standby_pending_seconds_is_configurable(
    fid: Fidelity, clock: ManualClock, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim, _kept = _standby(stack, clock)
    monkeypatch.setattr(fid, "pending_seconds", 0)
    stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])
    assert stack.lifecycle(victim) == "InService"
    assert stack.health(victim) == {victim: "healthy"}
    other = stack.ids()[0] if stack.ids()[0] != victim else stack.ids()[1]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[other], ShouldDecrementDesiredCapacity=True)
    clock.advance(DELAY)
    monkeypatch.setattr(fid, "pending_seconds", 60)
    stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[other])
    clock.advance(59)
    assert stack.lifecycle(other) == "Pending"
    clock.advance(1)
    assert stack.lifecycle(other) == "InService"


def test_pending_instance_counts_in_capacity(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    """A scale-out while an instance is Pending launches only what is missing."""
    victim, _kept = _standby(stack, clock)
    stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=3)
    states = sorted(i["LifecycleState"] for i in stack.instances())
    assert states == ["InService", "InService", "Pending"]


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
