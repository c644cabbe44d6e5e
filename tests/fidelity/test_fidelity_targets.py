"""Gaps 1-3: target groups follow the Auto Scaling lifecycle, with time (initial, draining)."""

from __future__ import annotations

import pytest
from fidelity_support import DELAY, Stack

from bluegreen_lab.fidelity import Fidelity, ManualClock, ScriptedHealth, TargetRecord, healthy

# -- gaps in unpatched moto (strict xfail: an upgrade that closes one fails here) ---------------


@pytest.mark.xfail(strict=True, reason="moto: a new target is healthy at once, never initial")
def test_gap_new_target_starts_initial(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=1)
    assert set(stack.health().values()) == {"initial"}


@pytest.mark.xfail(strict=True, reason="moto: a Standby instance stays registered and healthy")
def test_gap_standby_instance_is_deregistered(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    assert stack.health(victim)[victim] in ("draining", "unused")


@pytest.mark.xfail(strict=True, reason="moto: a detached instance stays registered")
def test_gap_detached_instance_is_deregistered(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    stack.asg.detach_instances(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    assert stack.health(victim)[victim] in ("draining", "unused")


@pytest.mark.xfail(strict=True, reason="moto: instances terminated by scale-in stay registered and healthy")
def test_gap_scale_in_deregisters(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=0)
    assert "healthy" not in stack.health().values()


@pytest.mark.xfail(strict=True, reason="moto: DeleteAutoScalingGroup leaves targets registered")
def test_gap_delete_group_deregisters(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    stack.asg.delete_auto_scaling_group(AutoScalingGroupName=stack.group, ForceDelete=True)
    assert "healthy" not in stack.health().values()


@pytest.mark.xfail(strict=True, reason="moto: DetachLoadBalancerTargetGroups deregisters with no draining")
def test_gap_detach_target_group_drains(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2)
    ids = stack.ids()
    stack.asg.detach_load_balancer_target_groups(AutoScalingGroupName=stack.group, TargetGroupARNs=[stack.tg_arn])
    assert set(stack.health(*ids).values()) == {"draining"}


@pytest.mark.xfail(strict=True, reason="moto: DeregisterTargets removes the target at once (no draining)")
def test_gap_deregister_targets_drains(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=1, target_groups=False)
    (instance,) = stack.ids()
    stack.elbv2.register_targets(TargetGroupArn=stack.tg_arn, Targets=[{"Id": instance}])
    stack.elbv2.deregister_targets(TargetGroupArn=stack.tg_arn, Targets=[{"Id": instance}])
    assert stack.health(instance)[instance] == "draining"


@pytest.mark.xfail(strict=True, reason="moto: a failing health check is never reported")
def test_gap_unhealthy_is_reported(unpatched: None, stack: Stack) -> None:
    health = ScriptedHealth()
    stack.create_group(desired=1)
    health.set_ami(stack.ami, "unhealthy")  # has no effect without the fidelity layer
    assert set(stack.health().values()) == {"unhealthy"}


# -- the corrected behaviour -------------------------------------------------------------------


def test_new_targets_start_initial_then_follow_health(
    fid: Fidelity, clock: ManualClock, health: ScriptedHealth, stack: Stack
) -> None:
    health.set_default(healthy(after=10))
    stack.create_group(desired=2)
    ids = stack.ids()
    described = stack.elbv2.describe_target_health(TargetGroupArn=stack.tg_arn)["TargetHealthDescriptions"]
    assert {d["Target"]["Id"] for d in described} == set(ids)
    assert {d["TargetHealth"]["State"] for d in described} == {"initial"}
    assert {d["TargetHealth"]["Reason"] for d in described} == {"Elb.InitialHealthChecking"}
    clock.advance(9.9)
    assert set(stack.health().values()) == {"initial"}
    clock.advance(0.1)
    assert set(stack.health().values()) == {"healthy"}
    health.set_instance(ids[0], "unhealthy")
    described = stack.elbv2.describe_target_health(TargetGroupArn=stack.tg_arn, Targets=[{"Id": ids[0]}])
    assert described["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "unhealthy"
    assert described["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"] == "Target.FailedHealthChecks"


def test_scale_in_drains_then_forgets(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=2)
    before = stack.ids()
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=1)
    (kept,) = stack.ids()
    (gone,) = set(before) - {kept}
    assert stack.health() == {kept: "healthy", gone: "draining"}
    record = {t.instance_id: t for t in fid.targets(stack.tg_arn)}[gone]
    assert record.draining_until == clock() + DELAY and record.reason == "Target.DeregistrationInProgress"
    clock.advance(DELAY - 1)
    assert stack.health()[gone] == "draining"
    clock.advance(1)
    assert stack.health() == {kept: "healthy"}  # omitted without Targets
    assert stack.health(gone) == {gone: "unused"}  # Target.NotRegistered with Targets
    reason = stack.elbv2.describe_target_health(TargetGroupArn=stack.tg_arn, Targets=[{"Id": gone}])
    assert reason["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"] == "Target.NotRegistered"


def test_scale_to_zero_drains_everything(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=3)
    ids = stack.ids()
    stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, MinSize=0, DesiredCapacity=0)
    assert stack.health() == {i: "draining" for i in ids}
    clock.advance(DELAY)
    assert stack.health() == {}


def test_detach_instances_drains(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim, kept = stack.ids()
    stack.asg.detach_instances(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    assert stack.ids() == [kept]
    assert stack.health() == {victim: "draining", kept: "healthy"}
    clock.advance(DELAY)
    assert stack.health() == {kept: "healthy"}


def test_detach_instances_without_decrement_registers_replacement(
    fid: Fidelity, clock: ManualClock, health: ScriptedHealth, stack: Stack
) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    clock.advance(10)
    health.set_default(healthy(after=5))  # read lazily: the kept instance has been registered 10 s
    stack.asg.detach_instances(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=False)
    states = stack.health()
    assert states[victim] == "draining"
    assert sorted(states.values()) == ["draining", "healthy", "initial"]


def test_delete_group_drains_and_terminates_standby(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=3)
    ids = stack.ids()
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[ids[0]], ShouldDecrementDesiredCapacity=True)
    stack.asg.delete_auto_scaling_group(AutoScalingGroupName=stack.group, ForceDelete=True)
    assert stack.health() == {i: "draining" for i in ids}
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in stack.ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    assert set(states.values()) == {"terminated"}
    clock.advance(DELAY)
    assert stack.health() == {}


def test_detach_target_group_drains_and_attach_registers_in_service_only(
    fid: Fidelity, clock: ManualClock, stack: Stack
) -> None:
    stack.create_group(desired=3)
    ids = stack.ids()
    stack.asg.detach_load_balancer_target_groups(AutoScalingGroupName=stack.group, TargetGroupARNs=[stack.tg_arn])
    assert stack.health() == {i: "draining" for i in ids}
    clock.advance(DELAY)
    assert stack.health() == {}
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[ids[0]], ShouldDecrementDesiredCapacity=True)
    assert stack.lifecycle(ids[0]) == "Standby"  # nothing to drain: Standby at once
    stack.asg.attach_load_balancer_target_groups(AutoScalingGroupName=stack.group, TargetGroupARNs=[stack.tg_arn])
    assert stack.health() == {ids[1]: "healthy", ids[2]: "healthy"}


def test_ec2_terminate_drains_and_replacement_registers(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim, kept = stack.ids()
    stack.ec2.terminate_instances(InstanceIds=[victim])
    replacement = set(stack.ids()) - {kept}
    assert len(replacement) == 1
    assert stack.health() == {victim: "draining", kept: "healthy", replacement.pop(): "healthy"}
    clock.advance(DELAY)
    assert victim not in stack.health()


def test_manual_register_and_deregister(fid: Fidelity, clock: ManualClock, health: ScriptedHealth, stack: Stack) -> None:
    health.set_default(healthy(after=3))
    stack.create_group(desired=1, target_groups=False)
    (instance,) = stack.ids()
    stack.elbv2.register_targets(TargetGroupArn=stack.tg_arn, Targets=[{"Id": instance}])
    assert stack.health() == {instance: "initial"}
    clock.advance(3)
    stack.elbv2.deregister_targets(TargetGroupArn=stack.tg_arn, Targets=[{"Id": instance}])
    assert stack.health() == {instance: "draining"}
    clock.advance(1)
    stack.elbv2.register_targets(TargetGroupArn=stack.tg_arn, Targets=[{"Id": instance}])  # re-register mid-drain
    assert stack.health() == {instance: "initial"}
    clock.advance(3)
    assert stack.health() == {instance: "healthy"}


def test_deregistration_delay_zero_is_immediate(fid: Fidelity, stack: Stack) -> None:
    stack.elbv2.modify_target_group_attributes(
        TargetGroupArn=stack.tg_arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}]
    )
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    assert stack.lifecycle(victim) == "Standby"
    assert victim not in stack.health()


def test_registry_is_readable_data(fid: Fidelity, clock: ManualClock, stack: Stack) -> None:
    stack.create_group(desired=2)
    ids = stack.ids()
    records = fid.targets(stack.tg_arn)
    assert records == [TargetRecord(i, "healthy", clock(), None, 80) for i in sorted(ids, key=[r.instance_id for r in records].index)]
    assert fid.snapshot() == {stack.tg_arn: records}
    assert fid.healthy_count(stack.tg_arn) == 2
    with pytest.raises(KeyError):
        fid.targets(stack.tg_arn + "-nope")


def test_install_after_registration_adopts_targets(clock: ManualClock, health: ScriptedHealth, stack: Stack) -> None:
    from bluegreen_lab import fidelity

    previous = fidelity.current()
    with fidelity.suspended():
        stack.create_group(desired=2)
    handle = fidelity.install(health, clock=clock)
    try:
        ids = stack.ids()
        assert stack.health() == {i: "healthy" for i in ids}
        stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=1)
        assert sorted(stack.health().values()) == ["draining", "healthy"]
        assert all(r.registered_at == float("-inf") for r in handle.targets(stack.tg_arn))
    finally:
        if previous is None:
            fidelity.uninstall()
