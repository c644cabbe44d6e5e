"""Gap 4: Auto Scaling request validation."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError
from fidelity_support import Stack

from bluegreen_lab.fidelity import Fidelity


def rejected(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


def enter(stack: Stack, ids: list[str], decrement: bool = True) -> Callable[[], Any]:
    return lambda: stack.asg.enter_standby(
        AutoScalingGroupName=stack.group, InstanceIds=ids, ShouldDecrementDesiredCapacity=decrement
    )


def fake_ids(n: int) -> list[str]:
    return [f"i-{k:017x}" for k in range(n)]


# -- gaps ----------------------------------------------------------------------------------


@pytest.mark.xfail(strict=True, reason="moto accepts desired > max on CreateAutoScalingGroup")
def test_gap_create_desired_above_max(unpatched: None, stack: Stack) -> None:
    rejected(lambda: stack.create_group(desired=3, min_size=0, max_size=2))


@pytest.mark.xfail(strict=True, reason="moto accepts min > max on UpdateAutoScalingGroup")
def test_gap_update_min_above_max(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=1, max_size=2)
    rejected(lambda: stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, MinSize=3))


@pytest.mark.xfail(strict=True, reason="moto accepts SetDesiredCapacity above MaxSize")
def test_gap_set_desired_above_max(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=1, max_size=2)
    rejected(lambda: stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=3))


@pytest.mark.xfail(strict=True, reason="moto accepts more than 20 instance ids")
def test_gap_twenty_one_ids(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=1)
    rejected(enter(stack, fake_ids(21)))


@pytest.mark.xfail(strict=True, reason="moto lets EnterStandby decrement desired below MinSize")
def test_gap_enter_standby_below_min(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2, min_size=2)
    rejected(enter(stack, stack.ids()[:1]))


@pytest.mark.xfail(strict=True, reason="moto lets ExitStandby raise desired above MaxSize")
def test_gap_exit_standby_above_max(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=2, max_size=2)
    victim = stack.ids()[0]
    enter(stack, [victim])()
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=2)
    rejected(lambda: stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim]))


# -- corrected -----------------------------------------------------------------------------


def test_create_bounds(fid: Fidelity, stack: Stack) -> None:
    message = rejected(lambda: stack.create_group(desired=3, min_size=0, max_size=2))
    assert message == "Desired capacity:3 must be between the specified min size:0 and max size:2"
    message = rejected(lambda: stack.create_group(desired=0, min_size=1, max_size=2))
    assert message == "Desired capacity:0 must be between the specified min size:1 and max size:2"
    assert "min bound, 3" in rejected(lambda: stack.create_group(desired=3, min_size=3, max_size=2))
    stack.create_group(desired=0, min_size=0, max_size=0)  # scale to zero is fine


def test_update_bounds_merge_with_current(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=1, min_size=1, max_size=2)
    rejected(lambda: stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, MinSize=3))
    rejected(lambda: stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, DesiredCapacity=0))
    stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, MinSize=0, DesiredCapacity=0)
    stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, MinSize=2)  # AWS raises desired to 2
    assert stack.group_desc()["DesiredCapacity"] == 2


def test_set_desired_capacity_bounds(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=1, min_size=1, max_size=2)
    assert rejected(lambda: stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=3)) == (
        "New SetDesiredCapacity value 3 is above max value 2 for the AutoScalingGroup."
    )
    assert rejected(lambda: stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=0)) == (
        "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup."
    )
    stack.asg.delete_auto_scaling_group(AutoScalingGroupName=stack.group, ForceDelete=True)  # internal scale to 0


@pytest.mark.parametrize("operation", ["enter_standby", "exit_standby", "detach_instances", "attach_instances"])
def test_at_most_twenty_instance_ids(fid: Fidelity, stack: Stack, operation: str) -> None:
    stack.create_group(desired=1)
    kwargs: dict[str, Any] = {"AutoScalingGroupName": stack.group, "InstanceIds": fake_ids(21)}
    if operation in ("enter_standby", "detach_instances"):
        kwargs["ShouldDecrementDesiredCapacity"] = True
    message = rejected(lambda: getattr(stack.asg, operation)(**kwargs))
    assert "Member must have length less than or equal to 20" in message


def test_enter_standby_below_min_rejected_until_min_lowered(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=2, min_size=2)
    victim = stack.ids()[0]
    assert "min size 2" in rejected(enter(stack, [victim]))
    assert stack.lifecycle(victim) == "InService"
    enter(stack, [victim], decrement=False)()  # without decrement it is allowed (a replacement launches)
    stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, MinSize=1)
    enter(stack, [stack.ids()[0]])()


def test_enter_standby_needs_in_service(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    enter(stack, [victim])()
    assert "not in InService" in rejected(enter(stack, [victim]))  # EnteringStandby
    assert "not part of" in rejected(enter(stack, ["i-00000000000000000"]))


def test_exit_standby_above_max_and_needs_standby(fid: Fidelity, clock: Any, stack: Stack) -> None:
    stack.create_group(desired=2, max_size=2)
    victim = stack.ids()[0]
    enter(stack, [victim])()
    exit_ = lambda: stack.asg.exit_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim])  # noqa: E731
    assert "not in Standby" in rejected(exit_)  # still EnteringStandby: poll first
    clock.advance(300)
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=2)
    assert "max size 2" in rejected(exit_)
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=1)
    exit_()
    assert stack.group_desc()["DesiredCapacity"] == 2


def test_attach_unknown_target_group_rejected_without_corrupting(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=1)
    bogus = stack.tg_arn.replace("targetgroup/web/", "targetgroup/nope/")
    rejected(
        lambda: stack.asg.attach_load_balancer_target_groups(AutoScalingGroupName=stack.group, TargetGroupARNs=[bogus])
    )
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=2)
    assert len(stack.ids()) == 2


@pytest.mark.xfail(strict=True, reason="moto: a failed attach of an unknown target group corrupts the group")
def test_gap_attach_unknown_target_group_corrupts_group(unpatched: None, stack: Stack) -> None:
    stack.create_group(desired=1)
    bogus = stack.tg_arn.replace("targetgroup/web/", "targetgroup/nope/")
    with pytest.raises(ClientError):
        stack.asg.attach_load_balancer_target_groups(AutoScalingGroupName=stack.group, TargetGroupARNs=[bogus])
    stack.asg.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=2)


# -- listener weights (the weighted traffic mode) ---------------------------------------------


def _listener_with_two_groups(stack: Stack) -> tuple[str, str]:
    green = stack.elbv2.create_target_group(Name="web-green", Protocol="HTTP", Port=80, VpcId=stack.vpc_id)[
        "TargetGroups"][0]["TargetGroupArn"]
    listener = stack.elbv2.describe_listeners(
        LoadBalancerArn=stack.elbv2.describe_load_balancers(Names=["web"])["LoadBalancers"][0]["LoadBalancerArn"]
    )["Listeners"][0]["ListenerArn"]
    return listener, green


def _set_weights(stack: Stack, listener: str, groups: list[tuple[str, int]]) -> Callable[[], Any]:
    return lambda: stack.elbv2.modify_listener(ListenerArn=listener, DefaultActions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": arn, "Weight": w} for arn, w in groups]}}])


def test_listener_weights_are_served_and_validated(fid: Fidelity, stack: Stack) -> None:
    listener, green = _listener_with_two_groups(stack)
    _set_weights(stack, listener, [(stack.tg_arn, 90), (green, 10)])()
    action = stack.elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
    assert {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]} == {
        stack.tg_arn: 90, green: 10}
    assert "less than or equal to 999" in rejected(_set_weights(stack, listener, [(stack.tg_arn, 1000), (green, 0)]))
    assert "greater than or equal to 0" in rejected(_set_weights(stack, listener, [(stack.tg_arn, -1), (green, 0)]))
    six = [(stack.tg_arn, 1)] * 6
    assert "length less than or equal to 5" in rejected(_set_weights(stack, listener, six))


@pytest.mark.xfail(strict=True, reason="moto accepts a listener weight above 999")
def test_gap_listener_weight_above_999(unpatched: None, stack: Stack) -> None:
    listener, green = _listener_with_two_groups(stack)
    rejected(_set_weights(stack, listener, [(stack.tg_arn, 1000), (green, 0)]))
