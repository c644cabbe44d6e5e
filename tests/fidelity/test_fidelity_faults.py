"""Fault injection at moto's response layer: in-process (mock_aws) and over HTTP (ThreadedMotoServer)."""

from __future__ import annotations

import urllib.request
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from fidelity_support import NO_RETRY, REGION, Stack
from moto.server import ThreadedMotoServer

from bluegreen_lab.fidelity import Fidelity

RETRYING = Config(retries={"mode": "standard", "max_attempts": 8})


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_throttling_is_a_retryable_400(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=2)
    victim = stack.ids()[0]
    no_retry = boto3.client("autoscaling", region_name=REGION, config=NO_RETRY)
    fid.inject("EnterStandby", "Throttling", times=1)
    call = lambda: no_retry.enter_standby(  # noqa: E731
        AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True
    )
    assert error_of(call) == ("Throttling", 400)
    assert stack.lifecycle(victim) == "InService"  # the failed call did nothing

    retrying = boto3.client("autoscaling", region_name=REGION, config=RETRYING)
    fid.inject("EnterStandby", "Throttling", times=2)
    response = retrying.enter_standby(
        AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True
    )
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert fid.faults.pending() == 0
    assert [f.api_name for f in fid.faults.fired] == ["EnterStandby"] * 3


def test_other_apis_and_codes(fid: Fidelity, stack: Stack) -> None:
    stack.create_group(desired=1)
    elbv2 = boto3.client("elbv2", region_name=REGION, config=NO_RETRY)
    ec2 = boto3.client("ec2", region_name=REGION, config=NO_RETRY)
    autoscaling = boto3.client("autoscaling", region_name=REGION, config=NO_RETRY)
    fid.inject("DescribeTargetHealth", times=1)
    fid.inject("DescribeInstances", "RequestLimitExceeded")
    fid.inject("AttachLoadBalancerTargetGroups", "ResourceContention")
    fid.inject("SetDesiredCapacity", "ValidationError", message="nope")
    assert error_of(lambda: elbv2.describe_target_health(TargetGroupArn=stack.tg_arn)) == ("Throttling", 400)
    assert error_of(ec2.describe_instances) == ("RequestLimitExceeded", 503)  # EC2's own error format
    assert error_of(
        lambda: autoscaling.attach_load_balancer_target_groups(
            AutoScalingGroupName=stack.group, TargetGroupARNs=[stack.tg_arn]
        )
    ) == ("ResourceContention", 500)
    with pytest.raises(ClientError, match="nope"):
        autoscaling.set_desired_capacity(AutoScalingGroupName=stack.group, DesiredCapacity=1)
    assert elbv2.describe_target_health(TargetGroupArn=stack.tg_arn)["TargetHealthDescriptions"]  # next call fine


def test_clear_faults(fid: Fidelity, stack: Stack) -> None:
    fid.inject("DescribeAutoScalingGroups", times=5)
    assert fid.faults.pending("DescribeAutoScalingGroups") == 5
    fid.clear_faults()
    stack.asg.describe_auto_scaling_groups()


@pytest.fixture
def server(fid: Fidelity) -> Iterator[str]:
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    url = f"http://{host}:{port}"
    reset = lambda: urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))  # noqa: E731
    reset()
    try:
        yield url
    finally:
        reset()
        moto_server.stop()


def test_faults_and_fidelity_over_http(fid: Fidelity, clock: Any, server: str) -> None:
    """What Terraform sees: the same patched backends behind a ThreadedMotoServer."""
    kwargs = dict(
        region_name=REGION, endpoint_url=server, aws_access_key_id="testing", aws_secret_access_key="testing",
        config=NO_RETRY,
    )
    ec2, asg, elbv2 = (boto3.client(n, **kwargs) for n in ("ec2", "autoscaling", "elbv2"))  # type: ignore[arg-type]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    tg = elbv2.create_target_group(Name="http-web", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    lt = ec2.create_launch_template(
        LaunchTemplateName="http-web", LaunchTemplateData={"ImageId": "ami-03cf127a", "UserData": "ZWNobyAx"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    version = ec2.create_launch_template_version(
        LaunchTemplateId=lt, LaunchTemplateData={"ImageId": "ami-12c6146b", "UserData": "ZWNobyAy"}
    )["LaunchTemplateVersion"]["VersionNumber"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="http-web", MinSize=0, MaxSize=2, DesiredCapacity=0, AvailabilityZones=[f"{REGION}a"],
        LaunchTemplate={"LaunchTemplateId": lt, "Version": str(version)}, TargetGroupARNs=[tg],
    )
    fid.inject("SetDesiredCapacity", "Throttling")
    assert error_of(lambda: asg.set_desired_capacity(AutoScalingGroupName="http-web", DesiredCapacity=2)) == (
        "Throttling",
        400,
    )
    asg.set_desired_capacity(AutoScalingGroupName="http-web", DesiredCapacity=2)  # gap 6 would be a 500 here
    (victim, _) = sorted(i["InstanceId"] for i in asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"])
    asg.enter_standby(AutoScalingGroupName="http-web", InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    assert {t.instance_id: t.state for t in fid.targets(tg)}[victim] == "draining"
    clock.advance(300)
    states = asg.describe_auto_scaling_instances(InstanceIds=[victim])["AutoScalingInstances"]
    assert states[0]["LifecycleState"] == "Standby"
