"""AutoScalingAdapter against moto (in-process). Tests the adapter's logic (batching, idempotency,
mapping, error codes), not moto's lifecycle: raw moto never deregisters targets (AWS-SEMANTICS.md)."""

from __future__ import annotations

import time
from collections import Counter

import boto3
import pytest
from moto import mock_aws

from bluegreen.aws.autoscaling import AutoScalingAdapter
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.errors import AwsError, StateMismatchError
from bluegreen.model import IN_SERVICE, STANDBY, Color

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield AwsClients(ClientSettings(region=REGION))


class Stack:
    """VPC, two subnets, a launch template, an ALB with a target group, and ASGs per color."""

    def __init__(self, clients: AwsClients) -> None:
        self.ec2 = clients.client("ec2")
        self.asg = clients.client("autoscaling")
        self.elbv2 = clients.client("elbv2")
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{az}")[
                "Subnet"
            ]["SubnetId"]
            for n, az in ((1, "a"), (2, "b"))
        ]
        self.ami = self.ec2.register_image(
            Name="web-1", RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
        self.template = self.ec2.create_launch_template(
            LaunchTemplateName="web",
            LaunchTemplateData={"ImageId": self.ami, "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        lb = self.elbv2.create_load_balancer(Name="web", Subnets=self.subnets, Type="application")
        self.lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        self.tg = self.elbv2.create_target_group(
            Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]

    def group(self, color: str, size: int, *, tags: dict[str, str] | None = None, max_size: int = 100) -> str:
        name = f"web-{color}"
        all_tags = {"Service": "web", "Color": color} if tags is None else tags
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": self.template, "Version": "1"},
            MinSize=size,
            MaxSize=max_size,
            DesiredCapacity=size,
            VPCZoneIdentifier=",".join(self.subnets),
            Tags=[
                {"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": name,
                 "ResourceType": "auto-scaling-group"}
                for k, v in all_tags.items()
            ],
        )
        return name


@pytest.fixture
def stack(aws):
    return Stack(aws)


@pytest.fixture
def adapter(aws):
    return AutoScalingAdapter.from_clients(aws)


def ids_of(adapter: AutoScalingAdapter, name: str) -> list[str]:
    group = adapter.describe_group(name)
    assert group is not None
    return [i.id for i in group.instances]


def test_describe_group_maps_everything(stack, adapter):
    name = stack.group("blue", 3)
    stack.asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["AZRebalance"])
    stack.asg.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[stack.tg])

    group = adapter.describe_group(name)

    assert group is not None
    assert group.color is Color.BLUE
    assert (group.name, group.min_size, group.max_size, group.desired_capacity) == (name, 3, 100, 3)
    assert len(group.instances) == 3
    assert {i.lifecycle_state for i in group.instances} == {IN_SERVICE}
    assert {i.image_id for i in group.instances} == {stack.ami}
    assert group.launch_template_id == stack.template
    assert group.launch_template_version == "1"
    assert group.target_group_arns == (stack.tg,)
    assert group.load_balancer_names == ()
    assert group.suspended_processes == frozenset({"AZRebalance"})
    # moto answers the API's default HealthCheckGracePeriod with 300 (AWS: 0); set it to read it back.
    stack.asg.update_auto_scaling_group(AutoScalingGroupName=name, HealthCheckGracePeriod=120)
    group = adapter.describe_group(name)
    assert group is not None and group.health_check_grace_period == 120


def test_instances_carry_their_launch_time_and_the_group_its_observation_time(stack, adapter):
    name = stack.group("blue", 2)
    before = time.time()
    group = adapter.describe_group(name)
    assert group is not None and group.observed_at is not None
    assert before <= group.observed_at <= time.time()
    reservations = stack.ec2.describe_instances(InstanceIds=[i.id for i in group.instances])["Reservations"]
    launched = {i["InstanceId"]: i["LaunchTime"].timestamp() for r in reservations for i in r["Instances"]}
    assert {i.id: i.launch_time for i in group.instances} == launched
    for instance in group.instances:
        age = group.age_of(instance.id)
        assert age is not None and 0 <= age < 120, age
    assert group.age_of("i-not-in-this-group") is None


def test_describe_missing_group_is_none(adapter, stack):
    assert adapter.describe_group("nope") is None


def test_color_tag_is_required_and_checked(stack, adapter):
    stack.group("blue", 1, tags={"Service": "web"})
    with pytest.raises(StateMismatchError, match="web-blue has no Color tag"):
        adapter.describe_group("web-blue")
    stack.group("green", 1, tags={"Color": "purple"})
    with pytest.raises(StateMismatchError, match="Color='purple'"):
        adapter.describe_group("web-green")


def test_image_ids_in_batches_of_200_and_missing_instances_tolerated(stack, adapter):
    name = stack.group("green", 205, max_size=300)
    adapter.calls.clear()
    group = adapter.describe_group(name)
    assert group is not None and len(group.instances) == 205
    assert all(i.image_id == stack.ami for i in group.instances)
    assert adapter.calls["DescribeInstances"] == 2
    # An instance EC2 no longer reports must not fail the whole describe.
    images = adapter._image_ids(["i-00000000000000000", group.instances[0].id])
    assert images == {group.instances[0].id: stack.ami}


def test_set_min_size_and_capacity(stack, adapter):
    name = stack.group("blue", 2)
    adapter.set_min_size(name, 0)
    assert adapter.describe_group(name).min_size == 0
    adapter.set_capacity(name, min_size=1, desired=4, max_size=5)
    group = adapter.describe_group(name)
    assert (group.min_size, group.desired_capacity, group.max_size) == (1, 4, 5)
    assert len(group.instances) == 4


def test_enter_standby_chunks_of_20_and_decrements(stack, adapter):
    name = stack.group("blue", 45)
    adapter.set_min_size(name, 0)
    ids = ids_of(adapter, name)
    adapter.calls.clear()

    adapter.enter_standby(name, ids)

    assert adapter.calls["EnterStandby"] == 3  # 20 + 20 + 5
    assert adapter.calls["DescribeAutoScalingGroups"] == 1  # the fresh read that makes it idempotent
    group = adapter.describe_group(name)
    assert len(group.standby) == 45
    assert group.desired_capacity == 0  # ShouldDecrementDesiredCapacity=True


def test_enter_standby_is_idempotent(stack, adapter):
    name = stack.group("blue", 5)
    adapter.set_min_size(name, 0)
    ids = ids_of(adapter, name)
    adapter.enter_standby(name, ids[:2])
    adapter.calls.clear()

    adapter.enter_standby(name, ids + ids[:1])  # already-standby and duplicate ids

    assert adapter.calls["EnterStandby"] == 1
    group = adapter.describe_group(name)
    assert len(group.standby) == 5 and group.desired_capacity == 0
    adapter.calls.clear()
    adapter.enter_standby(name, ids)
    assert adapter.calls["EnterStandby"] == 0
    adapter.enter_standby(name, [])
    assert adapter.calls["DescribeAutoScalingGroups"] == 1  # the empty call costs nothing


def test_exit_standby_chunks_and_skips_in_service(stack, adapter):
    name = stack.group("green", 45)
    adapter.set_min_size(name, 0)
    ids = ids_of(adapter, name)
    adapter.enter_standby(name, ids[:41])
    adapter.calls.clear()

    adapter.exit_standby(name, ids)  # 41 in standby, 4 in service already

    assert adapter.calls["ExitStandby"] == 3  # 20 + 20 + 1
    group = adapter.describe_group(name)
    assert len(group.in_service) == 45 and not group.standby
    assert group.desired_capacity == 45
    adapter.calls.clear()
    adapter.exit_standby(name, ids)
    assert adapter.calls["ExitStandby"] == 0


def test_standby_on_missing_group_is_aws_error(adapter, stack):
    with pytest.raises(AwsError, match="Auto Scaling group nope does not exist") as caught:
        adapter.enter_standby("nope", ["i-0123456789abcdef0"])
    assert caught.value.code == "ValidationError"


def test_update_missing_group_keeps_the_aws_code(adapter, stack):
    with pytest.raises(AwsError) as caught:
        adapter.set_min_size("nope", 0)
    assert caught.value.code == "ValidationError"
    assert str(caught.value).startswith("failed to set MinSize of nope to 0: ValidationError")


def test_suspend_and_resume_only_named_processes(stack, adapter):
    name = stack.group("blue", 1)
    stack.asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["HealthCheck"])  # the group's own
    adapter.suspend_processes(name, ["AZRebalance", "AlarmNotification", "AZRebalance"])
    assert adapter.describe_group(name).suspended_processes == {"HealthCheck", "AZRebalance", "AlarmNotification"}

    adapter.resume_processes(name, ["AZRebalance", "AlarmNotification"])
    assert adapter.describe_group(name).suspended_processes == {"HealthCheck"}

    adapter.calls.clear()
    adapter.suspend_processes(name, [])  # empty would mean "all processes" to AWS
    adapter.resume_processes(name, [])
    assert adapter.calls["SuspendProcesses"] == adapter.calls["ResumeProcesses"] == 0
    assert adapter.describe_group(name).suspended_processes == {"HealthCheck"}


def test_attach_and_detach_target_group(stack, adapter):
    name = stack.group("blue", 2)
    adapter.attach_target_group(name, stack.tg)
    adapter.attach_target_group(name, stack.tg)  # additive: no error, no duplicate
    assert adapter.describe_group(name).target_group_arns == (stack.tg,)

    adapter.detach_target_group(name, stack.tg)
    assert adapter.describe_group(name).target_group_arns == ()
    adapter.calls.clear()
    adapter.detach_target_group(name, stack.tg)  # already detached: no call
    assert adapter.calls["DetachLoadBalancerTargetGroups"] == 0


def test_attach_and_detach_classic_load_balancer(stack, adapter, aws):
    elb = aws.client("elb")
    elb.create_load_balancer(
        LoadBalancerName="web-classic",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}],
        Subnets=stack.subnets,
    )
    name = stack.group("green", 2)
    adapter.attach_load_balancer(name, "web-classic")
    group = adapter.describe_group(name)
    assert group.load_balancer_names == ("web-classic",)
    registered = elb.describe_load_balancers(LoadBalancerNames=["web-classic"])["LoadBalancerDescriptions"][0]
    assert {i["InstanceId"] for i in registered["Instances"]} == {i.id for i in group.instances}

    adapter.detach_load_balancer(name, "web-classic")
    assert adapter.describe_group(name).load_balancer_names == ()
    adapter.calls.clear()
    adapter.detach_load_balancer(name, "web-classic")
    assert adapter.calls["DetachLoadBalancers"] == 0


def test_calls_are_shared_across_clients_and_counted_once(aws, stack):
    first = AutoScalingAdapter.from_clients(aws)
    second = AutoScalingAdapter.from_clients(aws)  # same clients, same counter: no double count
    assert first.calls is second.calls is aws.calls
    aws.calls.clear()
    first.describe_group("nope")
    assert aws.calls == Counter({"DescribeAutoScalingGroups": 1})


def test_adapter_over_plain_boto3_clients(aws, stack):
    name = stack.group("blue", 1)
    plain = AutoScalingAdapter(boto3.client("autoscaling", region_name=REGION), boto3.client("ec2", region_name=REGION))
    assert plain.describe_group(name).color is Color.BLUE
    assert plain.calls == Counter({"DescribeAutoScalingGroups": 1, "DescribeInstances": 1})


def test_standby_state_names(stack, adapter):
    name = stack.group("blue", 2)
    adapter.set_min_size(name, 0)
    first = ids_of(adapter, name)[0]
    adapter.enter_standby(name, [first])
    group = adapter.describe_group(name)
    assert [i.lifecycle_state for i in group.instances if i.id == first] == [STANDBY]
    assert group.counts_by_state() == {STANDBY: 1, IN_SERVICE: 1}
