"""TargetGroupTraffic / ClassicElbTraffic against moto, plus botocore Stubber answers for the
health states moto never reports (initial, unhealthy, draining: AWS-SEMANTICS.md gap 2)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from bluegreen.aws.elb import ClassicElbTraffic, TargetGroupTraffic, classic_state
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.errors import AwsError
from bluegreen.model import DRAINING, HEALTHY, INITIAL, UNHEALTHY, UNUSED, TrafficKind

REGION = "us-east-1"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield AwsClients(ClientSettings(region=REGION))


@pytest.fixture
def network(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for n, az in ((1, "a"), (2, "b"))
    ]
    ami = ec2.register_image(
        Name="web-1", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]
    instances = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId=ami, MinCount=3, MaxCount=3, SubnetId=subnets[0])["Instances"]
    ]
    return {"vpc": vpc, "subnets": subnets, "instances": instances}


def test_target_group_traffic(aws, network):
    elbv2 = aws.client("elbv2")
    elbv2.create_load_balancer(Name="web", Subnets=network["subnets"], Type="application")
    tg = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=network["vpc"])["TargetGroups"][0][
        "TargetGroupArn"
    ]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]
    )
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in network["instances"][:2]])
    elbv2.modify_target_group(TargetGroupArn=tg, HealthCheckIntervalSeconds=10, UnhealthyThresholdCount=3)

    traffic = TargetGroupTraffic.from_clients(aws, tg)
    aws.calls.clear()
    state = traffic.describe_traffic()

    assert state.kind is TrafficKind.ALB and state.name == tg
    assert state.deregistration_delay_seconds == 30
    assert {t.instance_id for t in state.targets} == set(network["instances"][:2])
    assert state.health_of(network["instances"][0]) == HEALTHY
    assert state.health_of(network["instances"][2]) is None
    # The health check's timers, which decide how long an unhealthy new target is given.
    assert (state.health_check_interval_seconds, state.unhealthy_threshold_count) == (10, 3)
    # The delay and the timers are read once per adapter: polls cost one DescribeTargetHealth each.
    traffic.describe_traffic()
    assert aws.calls["DescribeTargetHealth"] == 2
    assert aws.calls["DescribeTargetGroupAttributes"] == 1
    assert aws.calls["DescribeTargetGroups"] == 1


def test_target_group_timers_default_like_aws(aws, network):
    elbv2 = aws.client("elbv2")
    tg = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=network["vpc"])["TargetGroups"][0][
        "TargetGroupArn"
    ]
    state = TargetGroupTraffic.from_clients(aws, tg).describe_traffic()
    # AWS: HealthCheckIntervalSeconds defaults to 30 for instance targets, UnhealthyThresholdCount to 2.
    assert (state.health_check_interval_seconds, state.unhealthy_threshold_count) == (30, 2)


def test_target_group_missing_is_aws_error(aws, network):
    traffic = TargetGroupTraffic.from_clients(aws, TG_ARN)
    with pytest.raises(AwsError) as caught:
        traffic.describe_traffic()
    assert caught.value.code == "TargetGroupNotFound"
    assert str(caught.value).startswith(f"failed to read target health of {TG_ARN}: TargetGroupNotFound")


def test_target_group_states_from_real_aws_answers():
    elbv2 = boto3.client("elbv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    states = ["initial", "healthy", "unhealthy", "draining", "unused", "unhealthy.draining", "unavailable"]
    with Stubber(elbv2) as stub:
        stub.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {
                        "Target": {"Id": f"i-{n:017x}", "Port": 80},
                        "TargetHealth": {"State": state, "Reason": "Elb.InitialHealthChecking"}
                        if state == "initial"
                        else {"State": state},
                    }
                    for n, state in enumerate(states)
                ]
            },
            {"TargetGroupArn": TG_ARN},
        )
        stub.add_response("describe_target_group_attributes", {"Attributes": []}, {"TargetGroupArn": TG_ARN})
        stub.add_response(
            "describe_target_groups",
            {"TargetGroups": [{"TargetGroupArn": TG_ARN, "HealthCheckIntervalSeconds": 15,
                               "UnhealthyThresholdCount": 4}]},
            {"TargetGroupArns": [TG_ARN]},
        )
        state = TargetGroupTraffic(elbv2, TG_ARN).describe_traffic()
    assert [t.state for t in state.targets] == [INITIAL, HEALTHY, UNHEALTHY, DRAINING, UNUSED, DRAINING, UNHEALTHY]
    assert state.targets[0].reason == "Elb.InitialHealthChecking"
    assert state.deregistration_delay_seconds == 300  # AWS's default when the attribute is absent
    assert (state.health_check_interval_seconds, state.unhealthy_threshold_count) == (15, 4)


def test_classic_elb_traffic(aws, network):
    elb = aws.client("elb")
    elb.create_load_balancer(
        LoadBalancerName="web-classic",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}],
        Subnets=network["subnets"],
    )
    elb.modify_load_balancer_attributes(
        LoadBalancerName="web-classic",
        LoadBalancerAttributes={"ConnectionDraining": {"Enabled": True, "Timeout": 45}},
    )
    elb.register_instances_with_load_balancer(
        LoadBalancerName="web-classic", Instances=[{"InstanceId": i} for i in network["instances"][:2]]
    )
    elb.configure_health_check(
        LoadBalancerName="web-classic",
        HealthCheck={"Target": "HTTP:8080/health", "Interval": 10, "Timeout": 5,
                     "UnhealthyThreshold": 3, "HealthyThreshold": 2},
    )

    traffic = ClassicElbTraffic.from_clients(aws, "web-classic")
    aws.calls.clear()
    state = traffic.describe_traffic()

    assert state.kind is TrafficKind.ELB and state.name == "web-classic"
    assert state.deregistration_delay_seconds == 45
    assert (state.health_check_interval_seconds, state.unhealthy_threshold_count) == (10, 3)
    traffic.describe_traffic()
    assert aws.calls["DescribeLoadBalancers"] == 1  # the timers are read once
    assert {t.instance_id: t.state for t in state.targets} == {i: HEALTHY for i in network["instances"][:2]}


def test_classic_elb_draining_disabled_is_zero(aws, network):
    elb = aws.client("elb")
    elb.create_load_balancer(
        LoadBalancerName="web-classic",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}],
        Subnets=network["subnets"],
    )
    elb.modify_load_balancer_attributes(
        LoadBalancerName="web-classic", LoadBalancerAttributes={"ConnectionDraining": {"Enabled": False}}
    )
    assert ClassicElbTraffic.from_clients(aws, "web-classic").describe_traffic().deregistration_delay_seconds == 0


def test_classic_elb_missing_is_aws_error(aws):
    with pytest.raises(AwsError) as caught:
        ClassicElbTraffic.from_clients(aws, "nope").describe_traffic()
    assert caught.value.code == "LoadBalancerNotFound"


@pytest.mark.parametrize(
    ("state", "description", "expected"),
    [
        ("InService", "N/A", HEALTHY),
        ("OutOfService", "Instance registration is still in progress.", INITIAL),
        ("OutOfService", "Instance has not passed the configured HealthyThreshold number of health checks "
         "consecutively.", INITIAL),
        ("OutOfService", "Instance has failed at least the UnhealthyThreshold number of health checks "
         "consecutively.", UNHEALTHY),
        ("InService", "Instance deregistration currently in progress.", DRAINING),
        ("Unknown", "A transient error occurred. Please try again later.", UNUSED),
        ("Unknown", None, UNUSED),
    ],
)
def test_classic_state_mapping(state, description, expected):
    assert classic_state(state, description) == expected
