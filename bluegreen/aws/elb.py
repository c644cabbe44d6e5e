"""``ports.LoadBalancer`` over boto3: an ALB/NLB target group (elbv2) or a classic ELB (elb).

Both report in ELBv2's health vocabulary (``model.HEALTHY`` ...), so decisions need only one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..model import (
    DRAINING,
    HEALTHY,
    INITIAL,
    UNHEALTHY,
    UNUSED,
    TargetHealth,
    TrafficKind,
    TrafficState,
)
from .session import AwsClients, aws_call, count_calls

# AWS's default deregistration delay, used if the attribute is ever missing from the answer.
DEFAULT_DEREGISTRATION_DELAY = 300
# AWS's defaults for a health check's interval and unhealthy threshold (target groups of an ALB
# and classic ELBs alike), used if the answer ever lacks them.
DEFAULT_INTERVAL = 30
DEFAULT_UNHEALTHY_THRESHOLD = 2

# ELBv2 TargetHealth.State -> the model's states. The two states outside the model are mapped
# conservatively: "unhealthy.draining" (NLB: unhealthy and being deregistered) is on its way out,
# and "unavailable" (health checks disabled) says nothing about health, so it never counts as healthy.
_ELBV2_STATES = {
    "healthy": HEALTHY,
    "unhealthy": UNHEALTHY,
    "initial": INITIAL,
    "draining": DRAINING,
    "unused": UNUSED,
    "unhealthy.draining": DRAINING,
    "unavailable": UNHEALTHY,
}


class TargetGroupTraffic:
    """Targets of one ALB/NLB target group and its deregistration delay."""

    def __init__(self, elbv2: Any, target_group_arn: str, *, calls: Counter[str] | None = None) -> None:
        self._elbv2 = elbv2
        self.target_group_arn = target_group_arn
        self.calls: Counter[str] = calls if calls is not None else Counter()
        count_calls(elbv2, self.calls)
        # The delay is a Terraform-owned attribute that does not change during a release; reading
        # it once per adapter halves the calls of every health poll.
        self._delay: int | None = None
        self._timers: tuple[int, int] | None = None  # Terraform-owned as well: read once

    @classmethod
    def from_clients(cls, clients: AwsClients, target_group_arn: str) -> "TargetGroupTraffic":
        return cls(clients.client("elbv2"), target_group_arn, calls=clients.calls)

    def deregistration_delay(self) -> int:
        if self._delay is None:
            with aws_call(f"read the attributes of target group {self.target_group_arn}"):
                answer = self._elbv2.describe_target_group_attributes(TargetGroupArn=self.target_group_arn)
            attributes = {a["Key"]: a.get("Value") for a in answer.get("Attributes", [])}
            value = attributes.get("deregistration_delay.timeout_seconds")
            self._delay = int(value) if value not in (None, "") else DEFAULT_DEREGISTRATION_DELAY
        return self._delay

    def health_check_timers(self) -> tuple[int, int]:
        """(HealthCheckIntervalSeconds, UnhealthyThresholdCount) of the target group."""
        if self._timers is None:
            with aws_call(f"describe target group {self.target_group_arn}"):
                answer = self._elbv2.describe_target_groups(TargetGroupArns=[self.target_group_arn])
            groups = answer.get("TargetGroups", [])
            group = groups[0] if groups else {}
            self._timers = (
                int(group.get("HealthCheckIntervalSeconds") or DEFAULT_INTERVAL),
                int(group.get("UnhealthyThresholdCount") or DEFAULT_UNHEALTHY_THRESHOLD),
            )
        return self._timers

    def describe_traffic(self) -> TrafficState:
        # DescribeTargetHealth is not paginated (at most 1000 targets per group).
        with aws_call(f"read target health of {self.target_group_arn}"):
            answer = self._elbv2.describe_target_health(TargetGroupArn=self.target_group_arn)
        targets = []
        for description in answer.get("TargetHealthDescriptions", []):
            health = description.get("TargetHealth", {})
            raw_state = health.get("State", "unused")
            targets.append(
                TargetHealth(
                    instance_id=description["Target"]["Id"],
                    state=_ELBV2_STATES.get(raw_state, UNHEALTHY),
                    reason=health.get("Reason") or (raw_state if raw_state not in _ELBV2_STATES else None),
                )
            )
        delay = self.deregistration_delay()
        interval, threshold = self.health_check_timers()
        return TrafficState(
            kind=TrafficKind.ALB,
            name=self.target_group_arn,
            targets=tuple(targets),
            deregistration_delay_seconds=delay,
            health_check_interval_seconds=interval,
            unhealthy_threshold_count=threshold,
        )


# Classic ELB gives no reason *code* that tells "still registering" from "failed its checks"
# (ReasonCode is only ELB / Instance / N/A); the documented Description strings are the only
# signal, so these few are matched, and anything else keeps the conservative mapping.
_CLASSIC_REGISTERING = (
    "Instance registration is still in progress",
    "Instance has not passed the configured HealthyThreshold",
)
_CLASSIC_DEREGISTERING = "Instance deregistration currently in progress"


def classic_state(state: str, description: str | None) -> str:
    """Classic ELB InstanceState -> the model's state (pure, tested without AWS)."""
    text = description or ""
    if _CLASSIC_DEREGISTERING in text:
        return DRAINING
    if state == "InService":
        return HEALTHY
    if state == "OutOfService":
        return INITIAL if any(marker in text for marker in _CLASSIC_REGISTERING) else UNHEALTHY
    return UNUSED  # "Unknown": stopped, terminated, or not registered


class ClassicElbTraffic:
    """Instances of one classic ELB and its connection-draining timeout."""

    def __init__(self, elb: Any, name: str, *, calls: Counter[str] | None = None) -> None:
        self._elb = elb
        self.name = name
        self.calls: Counter[str] = calls if calls is not None else Counter()
        count_calls(elb, self.calls)
        self._draining: int | None = None
        self._timers: tuple[int, int] | None = None

    @classmethod
    def from_clients(cls, clients: AwsClients, name: str) -> "ClassicElbTraffic":
        return cls(clients.client("elb"), name, calls=clients.calls)

    def draining_timeout(self) -> int:
        """Connection-draining timeout in seconds; 0 when draining is disabled."""
        if self._draining is None:
            with aws_call(f"read the attributes of classic load balancer {self.name}"):
                answer = self._elb.describe_load_balancer_attributes(LoadBalancerName=self.name)
            draining = answer.get("LoadBalancerAttributes", {}).get("ConnectionDraining") or {}
            self._draining = int(draining.get("Timeout", 300)) if draining.get("Enabled") else 0
        return self._draining

    def health_check_timers(self) -> tuple[int, int]:
        """(HealthCheck.Interval, HealthCheck.UnhealthyThreshold) of the classic ELB."""
        if self._timers is None:
            with aws_call(f"describe classic load balancer {self.name}"):
                answer = self._elb.describe_load_balancers(LoadBalancerNames=[self.name])
            descriptions = answer.get("LoadBalancerDescriptions", [])
            check = (descriptions[0].get("HealthCheck") if descriptions else None) or {}
            self._timers = (
                int(check.get("Interval") or DEFAULT_INTERVAL),
                int(check.get("UnhealthyThreshold") or DEFAULT_UNHEALTHY_THRESHOLD),
            )
        return self._timers

    def describe_traffic(self) -> TrafficState:
        with aws_call(f"read instance health of classic load balancer {self.name}"):
            answer = self._elb.describe_instance_health(LoadBalancerName=self.name)
        targets = tuple(
            TargetHealth(
                instance_id=s["InstanceId"],
                state=classic_state(s.get("State", "Unknown"), s.get("Description")),
                reason=s.get("Description") or None,
            )
            for s in answer.get("InstanceStates", [])
        )
        delay = self.draining_timeout()
        interval, threshold = self.health_check_timers()
        return TrafficState(
            kind=TrafficKind.ELB,
            name=self.name,
            targets=targets,
            deregistration_delay_seconds=delay,
            health_check_interval_seconds=interval,
            unhealthy_threshold_count=threshold,
        )
