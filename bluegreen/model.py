"""Value types shared by every layer: colors, an observed snapshot of both colors and the traffic
layer, and the Terraform stack's outputs. Frozen and free of I/O, so decisions over them are pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Color(StrEnum):
    BLUE = "blue"
    GREEN = "green"

    def other(self) -> "Color":
        return Color.GREEN if self is Color.BLUE else Color.BLUE

    @classmethod
    def parse(cls, value: str) -> "Color":
        """``Color`` from text; ``ValueError`` names the accepted values."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown color {value!r}: expected 'blue' or 'green'") from None


class TrafficKind(StrEnum):
    ALB = "alb"  # an ALB/NLB target group: ASGs attach with AttachLoadBalancerTargetGroups
    ELB = "elb"  # a classic ELB: ASGs attach with AttachLoadBalancers


# Auto Scaling lifecycle states this tool reasons about (the API has more, e.g. Warmed:*).
IN_SERVICE = "InService"
STANDBY = "Standby"
ENTERING_STANDBY = "EnteringStandby"
PENDING = "Pending"

# Target health states as ELBv2 reports them; classic ELB's InService/OutOfService/Unknown are
# mapped onto these by the adapter so decisions need only one vocabulary.
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
INITIAL = "initial"
DRAINING = "draining"
UNUSED = "unused"

# The processes suspended on both colors during a release (AWS-SEMANTICS.md): never Launch
# (it blocks ExitStandby) nor AddToLoadBalancer (instances launched meanwhile would never join).
RELEASE_SUSPENDED_PROCESSES = ("AZRebalance", "AlarmNotification", "ScheduledActions")


@dataclass(frozen=True)
class Instance:
    id: str
    lifecycle_state: str
    health_status: str = "Healthy"  # the ASG's own view: Healthy / Unhealthy
    image_id: str | None = None  # from EC2; the per-instance launch template version is not reliable
    # EC2 LaunchTime as POSIX seconds (wall clock, UTC); the group's health check grace period
    # runs from it. ``None`` when EC2 did not (yet) describe the instance.
    launch_time: float | None = None


@dataclass(frozen=True)
class GroupState:
    """One color's Auto Scaling group as AWS reports it."""

    color: Color
    name: str
    min_size: int
    max_size: int
    desired_capacity: int
    instances: tuple[Instance, ...] = ()
    launch_template_id: str | None = None
    launch_template_version: str | None = None
    target_group_arns: tuple[str, ...] = ()
    load_balancer_names: tuple[str, ...] = ()
    suspended_processes: frozenset[str] = frozenset()
    exists: bool = True
    # HealthCheckGracePeriod: seconds after launch before a failed health check counts (the API
    # default is 0; Terraform's provider defaults to 300).
    health_check_grace_period: int = 0
    # When the adapter described the group (POSIX seconds, wall clock): an instance's age is
    # ``observed_at - launch_time``, both wall-clock readings, so decisions stay pure.
    observed_at: float | None = None

    def in_state(self, lifecycle_state: str) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.lifecycle_state == lifecycle_state)

    @property
    def in_service(self) -> tuple[Instance, ...]:
        return self.in_state(IN_SERVICE)

    @property
    def standby(self) -> tuple[Instance, ...]:
        return self.in_state(STANDBY)

    def attached_to(self, kind: "TrafficKind", name: str) -> bool:
        """Whether this group is attached to the target group ARN (ALB) or classic ELB ``name``."""
        if kind is TrafficKind.ALB:
            return name in self.target_group_arns
        return name in self.load_balancer_names

    def age_of(self, instance_id: str) -> float | None:
        """Seconds since ``instance_id`` launched, as of ``observed_at``; ``None`` if unknown."""
        for instance in self.instances:
            if instance.id == instance_id:
                if instance.launch_time is None or self.observed_at is None:
                    return None
                return max(self.observed_at - instance.launch_time, 0.0)
        return None

    def counts_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for instance in self.instances:
            counts[instance.lifecycle_state] = counts.get(instance.lifecycle_state, 0) + 1
        return counts


@dataclass(frozen=True)
class TargetHealth:
    instance_id: str
    state: str  # one of HEALTHY, UNHEALTHY, INITIAL, DRAINING, UNUSED
    reason: str | None = None


@dataclass(frozen=True)
class TrafficState:
    """The serving target group (or classic ELB) and the health of every registered target."""

    kind: TrafficKind
    name: str  # target group ARN for ALB, load balancer name for a classic ELB
    targets: tuple[TargetHealth, ...] = ()
    deregistration_delay_seconds: int = 300
    # The health check's timers (target group HealthCheckIntervalSeconds / UnhealthyThresholdCount,
    # classic ELB HealthCheck.Interval / UnhealthyThreshold); defaults are AWS's.
    health_check_interval_seconds: int = 30
    unhealthy_threshold_count: int = 2

    def health_of(self, instance_id: str) -> str | None:
        for target in self.targets:
            if target.instance_id == instance_id:
                return target.state
        return None


@dataclass(frozen=True)
class StackOutputs:
    """What the Terraform stack's outputs name (see terraform/examples/*/outputs.tf)."""

    service: str
    asg_names: dict[Color, str]
    launch_template_ids: dict[Color, str]
    traffic_kind: TrafficKind
    target_group_arn: str | None
    elb_name: str | None
    lb_dns_name: str
    live_color: Color
    # Weighted mode (optional outputs; absent = attach mode): the listener whose forward action
    # carries the weights, and each color's own target group.
    traffic_mode: str = "attach"
    listener_arn: str | None = None
    color_target_groups: dict[Color, str] | None = None

    @property
    def weighted(self) -> bool:
        return self.traffic_mode == "weighted"

    @property
    def traffic_name(self) -> str:
        if self.weighted and self.color_target_groups:
            # Attach-mode code asking for "the" target group gets the live color's own.
            return self.color_target_groups[self.live_color]
        name = self.target_group_arn if self.traffic_kind is TrafficKind.ALB else self.elb_name
        assert name, "stack outputs validated on load"
        return name


@dataclass(frozen=True)
class ColorVars:
    """One color's entry in the tfvars file bluegreen owns."""

    ami: str
    size: int
    release: str = ""


@dataclass(frozen=True)
class TfVars:
    """The ``*.auto.tfvars.json`` bluegreen writes: the live color and each color's variables."""

    live_color: Color
    colors: dict[Color, ColorVars] = field(default_factory=dict)

    def with_color(self, color: Color, vars_: ColorVars) -> "TfVars":
        colors = dict(self.colors)
        colors[color] = vars_
        return TfVars(live_color=self.live_color, colors=colors)

    def with_live(self, color: Color) -> "TfVars":
        return TfVars(live_color=color, colors=dict(self.colors))


@dataclass(frozen=True)
class Observed:
    """A snapshot of both colors and the traffic layer, taken from AWS in one pass."""

    groups: dict[Color, GroupState]
    traffic: TrafficState

    def group(self, color: Color) -> GroupState:
        return self.groups[color]

    def attached(self, color: Color) -> bool:
        return self.groups[color].attached_to(self.traffic.kind, self.traffic.name)
