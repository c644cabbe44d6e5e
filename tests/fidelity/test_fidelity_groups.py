"""HealthCheckGracePeriod: 0 (given, or by default) reads back 0, as on AWS."""

from __future__ import annotations

import pytest

from bluegreen_lab.fidelity import Fidelity

from fidelity_support import Stack


def grace_of(stack: Stack, **extra) -> int:
    stack.asg.create_auto_scaling_group(
        AutoScalingGroupName=stack.group, MinSize=0, MaxSize=2, DesiredCapacity=0,
        VPCZoneIdentifier=stack.subnet_id,
        LaunchTemplate={"LaunchTemplateId": stack.lt_id, "Version": "1"}, **extra,
    )
    return stack.group_desc()["HealthCheckGracePeriod"]


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="moto 5.2.5 stores `grace or 300`")
def test_gap_zero_grace_period_reads_back_300(unpatched: None, stack: Stack) -> None:
    assert grace_of(stack, HealthCheckGracePeriod=0) == 0


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="moto 5.2.5 defaults to 300, AWS to 0")
def test_gap_default_grace_period_is_300(unpatched: None, stack: Stack) -> None:
    assert grace_of(stack) == 0


def test_zero_grace_period_reads_back_zero(fid: Fidelity, stack: Stack) -> None:
    assert grace_of(stack, HealthCheckGracePeriod=0) == 0


def test_default_grace_period_is_zero(fid: Fidelity, stack: Stack) -> None:
    assert grace_of(stack) == 0


def test_other_grace_periods_are_kept(fid: Fidelity, stack: Stack) -> None:
    assert grace_of(stack, HealthCheckGracePeriod=45) == 45
    stack.asg.update_auto_scaling_group(AutoScalingGroupName=stack.group, HealthCheckGracePeriod=0)
    assert stack.group_desc()["HealthCheckGracePeriod"] == 0  # UpdateAutoScalingGroup was right already
