"""``ports.AutoScaling`` over boto3: EC2 Auto Scaling plus EC2 DescribeInstances for image ids.

Written for real AWS (see AWS-SEMANTICS.md). Every call is wrapped by ``aws_call`` and counted in
:attr:`AutoScalingAdapter.calls` by operation name, which the benchmark reads.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any, Iterable, Sequence

from ..errors import AwsError, StateMismatchError
from ..model import (
    ENTERING_STANDBY,
    IN_SERVICE,
    PENDING,
    STANDBY,
    Color,
    GroupState,
    Instance,
)
from .session import AwsClients, aws_call, chunks, count_calls

# AWS accepts at most 20 instance ids per EnterStandby / ExitStandby call.
STANDBY_BATCH = 20
# DescribeInstances filter values are limited to 200 per filter.
DESCRIBE_INSTANCES_BATCH = 200
COLOR_TAG = "Color"

# Pending:Wait / Pending:Proceed and friends: an instance on its way in from ExitStandby.
_ON_THE_WAY_IN = (PENDING, "Pending:Wait", "Pending:Proceed", IN_SERVICE)
_ON_THE_WAY_TO_STANDBY = (ENTERING_STANDBY, STANDBY)


class AutoScalingAdapter:
    """``ports.AutoScaling`` for real AWS (or anything that speaks its API)."""

    def __init__(self, autoscaling: Any, ec2: Any, *, calls: Counter[str] | None = None) -> None:
        self._asg = autoscaling
        self._ec2 = ec2
        self.calls: Counter[str] = calls if calls is not None else Counter()
        # An instance's ImageId never changes: look each one up once, not on every poll (at 500
        # instances, re-describing them all made DescribeInstances 68% of a release's own time).
        self._image_of: dict[str, str] = {}
        # LaunchTime too (an Auto Scaling instance is never stopped and started, which would reset it).
        self._launched_at: dict[str, float] = {}
        count_calls(autoscaling, self.calls)
        count_calls(ec2, self.calls)

    @classmethod
    def from_clients(cls, clients: AwsClients) -> "AutoScalingAdapter":
        return cls(clients.client("autoscaling"), clients.client("ec2"), calls=clients.calls)

    # -- reads ------------------------------------------------------------------------------

    def describe_group(self, name: str) -> GroupState | None:
        raw = self._describe_raw(name)
        if raw is None:
            return None
        images = self._image_ids([i["InstanceId"] for i in raw.get("Instances", [])])
        return _group_state(raw, images, self._launched_at, observed_at=time.time())

    def _describe_raw(self, name: str) -> dict[str, Any] | None:
        paginator = self._asg.get_paginator("describe_auto_scaling_groups")
        with aws_call(f"describe Auto Scaling group {name}"):
            for page in paginator.paginate(AutoScalingGroupNames=[name]):
                for group in page.get("AutoScalingGroups", []):
                    if group.get("AutoScalingGroupName") == name:
                        return group
        return None

    def _require_raw(self, name: str) -> dict[str, Any]:
        raw = self._describe_raw(name)
        if raw is None:
            raise AwsError(f"Auto Scaling group {name} does not exist", code="ValidationError")
        return raw

    def _lifecycle_states(self, name: str) -> dict[str, str]:
        raw = self._require_raw(name)
        return {i["InstanceId"]: i["LifecycleState"] for i in raw.get("Instances", [])}

    def _image_ids(self, instance_ids: Sequence[str]) -> dict[str, str]:
        """ImageId per instance. A filter rather than ``InstanceIds=``: an id EC2 no longer knows
        (terminated a while ago, or not yet visible: EC2 is eventually consistent) is simply
        absent instead of failing the whole call with InvalidInstanceID.NotFound."""
        unknown = [i for i in instance_ids if i not in self._image_of]
        paginator = self._ec2.get_paginator("describe_instances")
        for batch in chunks(unknown, DESCRIBE_INSTANCES_BATCH):
            with aws_call(f"describe EC2 instances {batch[0]}..{batch[-1]}"):
                for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": batch}]):
                    for reservation in page.get("Reservations", []):
                        for instance in reservation.get("Instances", []):
                            if instance.get("ImageId"):
                                self._image_of[instance["InstanceId"]] = instance["ImageId"]
                            launched = instance.get("LaunchTime")
                            if isinstance(launched, datetime):
                                self._launched_at[instance["InstanceId"]] = launched.timestamp()
        return {i: self._image_of[i] for i in instance_ids if i in self._image_of}

    # -- capacity ---------------------------------------------------------------------------

    def set_min_size(self, name: str, min_size: int) -> None:
        with aws_call(f"set MinSize of {name} to {min_size}"):
            self._asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=min_size)

    def set_capacity(self, name: str, *, min_size: int, desired: int, max_size: int) -> None:
        with aws_call(f"set capacity of {name} to min {min_size} / desired {desired} / max {max_size}"):
            self._asg.update_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=min_size, DesiredCapacity=desired, MaxSize=max_size
            )

    # -- standby ----------------------------------------------------------------------------

    def enter_standby(self, name: str, instance_ids: Sequence[str]) -> None:
        """EnterStandby with ShouldDecrementDesiredCapacity=True, 20 ids per call.

        Idempotent: ids already in EnteringStandby/Standby (per a fresh describe) are skipped,
        since AWS answers a plain ValidationError for them. The caller lowers MinSize first: AWS
        refuses to decrement desired capacity below it.
        """
        if not instance_ids:
            return
        states = self._lifecycle_states(name)
        todo = [i for i in _unique(instance_ids) if states.get(i) not in _ON_THE_WAY_TO_STANDBY]
        for batch in chunks(todo, STANDBY_BATCH):
            with aws_call(f"move {len(batch)} instance(s) of {name} to standby ({batch[0]}..)"):
                self._asg.enter_standby(
                    AutoScalingGroupName=name, InstanceIds=batch, ShouldDecrementDesiredCapacity=True
                )

    def exit_standby(self, name: str, instance_ids: Sequence[str]) -> None:
        """ExitStandby, 20 ids per call; AWS increments desired capacity by one per instance.

        Idempotent: ids already Pending/InService (per a fresh describe) are skipped. AWS refuses
        ExitStandby while the Launch process is suspended or above MaxSize.
        """
        if not instance_ids:
            return
        states = self._lifecycle_states(name)
        todo = [i for i in _unique(instance_ids) if states.get(i) not in _ON_THE_WAY_IN]
        for batch in chunks(todo, STANDBY_BATCH):
            with aws_call(f"move {len(batch)} instance(s) of {name} out of standby ({batch[0]}..)"):
                self._asg.exit_standby(AutoScalingGroupName=name, InstanceIds=batch)

    # -- processes --------------------------------------------------------------------------

    def suspend_processes(self, name: str, processes: Iterable[str]) -> None:
        names = _unique(processes)
        # An empty ScalingProcesses list means *every* process to AWS, Launch included.
        if not names:
            return
        with aws_call(f"suspend {', '.join(names)} on {name}"):
            self._asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=names)

    def resume_processes(self, name: str, processes: Iterable[str]) -> None:
        names = _unique(processes)
        # Same trap as suspend: an empty list would resume the group's own suspensions too.
        if not names:
            return
        with aws_call(f"resume {', '.join(names)} on {name}"):
            self._asg.resume_processes(AutoScalingGroupName=name, ScalingProcesses=names)

    # -- traffic attachment -----------------------------------------------------------------

    def attach_target_group(self, name: str, target_group_arn: str) -> None:
        # Additive on AWS: attaching an attached target group is a no-op, so no describe first.
        with aws_call(f"attach {name} to {target_group_arn}"):
            self._asg.attach_load_balancer_target_groups(
                AutoScalingGroupName=name, TargetGroupARNs=[target_group_arn]
            )

    def detach_target_group(self, name: str, target_group_arn: str) -> None:
        if target_group_arn not in self._require_raw(name).get("TargetGroupARNs", []):
            return
        with aws_call(f"detach {name} from {target_group_arn}"):
            self._asg.detach_load_balancer_target_groups(
                AutoScalingGroupName=name, TargetGroupARNs=[target_group_arn]
            )

    def attach_load_balancer(self, name: str, elb_name: str) -> None:
        with aws_call(f"attach {name} to classic load balancer {elb_name}"):
            self._asg.attach_load_balancers(AutoScalingGroupName=name, LoadBalancerNames=[elb_name])

    def detach_load_balancer(self, name: str, elb_name: str) -> None:
        if elb_name not in self._require_raw(name).get("LoadBalancerNames", []):
            return
        with aws_call(f"detach {name} from classic load balancer {elb_name}"):
            self._asg.detach_load_balancers(AutoScalingGroupName=name, LoadBalancerNames=[elb_name])


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _color_of(raw: dict[str, Any]) -> Color:
    name = raw["AutoScalingGroupName"]
    tags = {t.get("Key"): t.get("Value") for t in raw.get("Tags", [])}
    value = tags.get(COLOR_TAG)
    if value is None:
        raise StateMismatchError(
            f"Auto Scaling group {name} has no {COLOR_TAG} tag",
            hint="tag it Color=blue or Color=green in the Terraform stack",
        )
    try:
        return Color.parse(value.strip().lower())
    except ValueError:
        raise StateMismatchError(
            f"Auto Scaling group {name} has tag {COLOR_TAG}={value!r}",
            hint="expected 'blue' or 'green'; fix the tag in the Terraform stack",
        ) from None


def _launch_template(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    spec = raw.get("LaunchTemplate")
    if spec is None:
        policy = raw.get("MixedInstancesPolicy") or {}
        spec = (policy.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
    if not spec:
        return None, None
    return spec.get("LaunchTemplateId"), spec.get("Version")


def _group_state(
    raw: dict[str, Any],
    images: dict[str, str],
    launched_at: dict[str, float] | None = None,
    *,
    observed_at: float | None = None,
) -> GroupState:
    target_groups = list(raw.get("TargetGroupARNs", []))
    load_balancers = list(raw.get("LoadBalancerNames", []))
    # Traffic sources attached with AttachTrafficSources; elbv2 = target group, elb = classic.
    for source in raw.get("TrafficSources", []) or []:
        kind, identifier = source.get("Type"), source.get("Identifier")
        if kind == "elbv2" and identifier:
            target_groups.append(identifier)
        elif kind == "elb" and identifier:
            load_balancers.append(identifier)
    template_id, template_version = _launch_template(raw)
    return GroupState(
        color=_color_of(raw),
        name=raw["AutoScalingGroupName"],
        min_size=raw["MinSize"],
        max_size=raw["MaxSize"],
        desired_capacity=raw["DesiredCapacity"],
        instances=tuple(
            Instance(
                id=i["InstanceId"],
                lifecycle_state=i["LifecycleState"],
                health_status=i.get("HealthStatus", "Healthy"),
                image_id=images.get(i["InstanceId"]),
                launch_time=(launched_at or {}).get(i["InstanceId"]),
            )
            for i in raw.get("Instances", [])
        ),
        launch_template_id=template_id,
        launch_template_version=template_version,
        target_group_arns=tuple(_unique(target_groups)),
        load_balancer_names=tuple(_unique(load_balancers)),
        suspended_processes=frozenset(p["ProcessName"] for p in raw.get("SuspendedProcesses", [])),
        health_check_grace_period=int(raw.get("HealthCheckGracePeriod") or 0),
        observed_at=observed_at,
    )
