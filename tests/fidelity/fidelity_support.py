"""Helpers shared by the fidelity tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})
AMIS = ("ami-03cf127a", "ami-12c6146b")
DELAY = 30  # the test target group's deregistration_delay.timeout_seconds


@dataclass
class Stack:
    ec2: Any
    asg: Any
    elbv2: Any
    vpc_id: str
    subnet_id: str
    tg_arn: str
    lt_id: str
    ami: str
    ami2: str
    group: str = "web-blue"

    def instances(self, group: str | None = None) -> list[dict[str, Any]]:
        name = group or self.group
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]

    def ids(self, state: str | None = "InService", group: str | None = None) -> list[str]:
        return sorted(i["InstanceId"] for i in self.instances(group) if state is None or i["LifecycleState"] == state)

    def lifecycle(self, instance_id: str) -> str:
        found = self.asg.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
        return found[0]["LifecycleState"] if found else "gone"

    def group_desc(self, group: str | None = None) -> dict[str, Any]:
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group or self.group])["AutoScalingGroups"][0]

    def health(self, *instance_ids: str, tg_arn: str | None = None) -> dict[str, str]:
        kwargs: dict[str, Any] = {"TargetGroupArn": tg_arn or self.tg_arn}
        if instance_ids:
            kwargs["Targets"] = [{"Id": i} for i in instance_ids]
        return {
            d["Target"]["Id"]: d["TargetHealth"]["State"]
            for d in self.elbv2.describe_target_health(**kwargs)["TargetHealthDescriptions"]
        }

    def create_group(
        self, name: str | None = None, *, desired: int = 2, min_size: int = 0, max_size: int = 6,
        version: str = "1", target_groups: bool = True,
    ) -> str:
        name = name or self.group
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=desired,
            VPCZoneIdentifier=self.subnet_id,
            LaunchTemplate={"LaunchTemplateId": self.lt_id, "Version": version},
            TargetGroupARNs=[self.tg_arn] if target_groups else [],
        )
        return name


def user_data(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def make_clients() -> tuple[Any, Any, Any]:
    """(ec2, autoscaling, elbv2). Creating clients costs ~0.25 s each, so tests share them: moto's
    stub is installed in botocore for every client and only switched on inside ``mock_aws``."""
    return tuple(boto3.client(name, region_name=REGION) for name in ("ec2", "autoscaling", "elbv2"))  # type: ignore[return-value]


def make_stack(clients: tuple[Any, Any, Any] | None = None, *, delay: int = DELAY) -> Stack:
    ec2, asg, elbv2 = clients or make_clients()
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnet_id = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"][0]["SubnetId"]
    # two of moto's built-in AMIs, named rather than listed (DescribeImages of all is slow)
    ami, ami2 = (i["ImageId"] for i in ec2.describe_images(ImageIds=list(AMIS))["Images"])
    lb = elbv2.create_load_balancer(Name="web", Subnets=[subnet_id])["LoadBalancers"][0]["LoadBalancerArn"]
    tg_arn = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}]
    )
    elbv2.modify_target_group_attributes(
        TargetGroupArn=tg_arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}]
    )
    lt_id = ec2.create_launch_template(
        LaunchTemplateName="web-blue",
        LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro", "UserData": user_data("#!/bin/sh\necho v1")},
    )["LaunchTemplate"]["LaunchTemplateId"]
    return Stack(ec2, asg, elbv2, vpc_id, subnet_id, tg_arn, lt_id, ami, ami2)
