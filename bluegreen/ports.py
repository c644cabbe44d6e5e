"""Narrow ports between the release logic and the world. Adapters (``bluegreen/aws``,
``bluegreen/terraform``) implement them; decision modules never import an adapter.

Every method that talks to AWS raises ``AwsError`` (with the AWS ``Error.Code``) on failure.
Methods taking instance ids accept any number and batch internally (20 per call where AWS says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

from .model import GroupState, StackOutputs, TrafficState


class AutoScaling(Protocol):
    def describe_group(self, name: str) -> GroupState | None:
        """The group with its instances (ImageId filled in from EC2); ``None`` if it does not exist.
        The returned ``GroupState.color`` is taken from the group's ``Color`` tag."""

    def set_min_size(self, name: str, min_size: int) -> None: ...

    def set_capacity(self, name: str, *, min_size: int, desired: int, max_size: int) -> None:
        """Outside a release bluegreen never calls this: Terraform owns capacity. Used by the lab."""

    def enter_standby(self, name: str, instance_ids: Sequence[str]) -> None:
        """EnterStandby with ShouldDecrementDesiredCapacity=True, at most 20 ids per call."""

    def exit_standby(self, name: str, instance_ids: Sequence[str]) -> None:
        """ExitStandby (always increments desired capacity), at most 20 ids per call."""

    def suspend_processes(self, name: str, processes: Iterable[str]) -> None: ...

    def resume_processes(self, name: str, processes: Iterable[str]) -> None: ...

    def attach_target_group(self, name: str, target_group_arn: str) -> None: ...

    def detach_target_group(self, name: str, target_group_arn: str) -> None: ...

    def attach_load_balancer(self, name: str, elb_name: str) -> None: ...

    def detach_load_balancer(self, name: str, elb_name: str) -> None: ...


class LoadBalancer(Protocol):
    def describe_traffic(self) -> TrafficState:
        """Health of every target registered with the serving target group / classic ELB."""


class Images(Protocol):
    def exists(self, ami: str) -> bool:
        """DescribeImages in the configured region; ``False`` when AWS says it does not exist."""


class Terraform(Protocol):
    """Terraform on the configured stack directory. Arguments are built by ``terraform/argv.py``."""

    def ensure_ready(self) -> None:
        """Check the binary/library and version, run ``init`` once if needed."""

    def plan(self, var_file: Path, out: Path) -> bool:
        """``plan -detailed-exitcode -out``; ``True`` when the plan has changes."""

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        """``show -json PLAN`` parsed."""

    def show_state(self) -> dict[str, Any]:
        """``show -json`` of the current state, parsed (what the last apply set)."""

    def apply_plan(self, plan_file: Path) -> None:
        """``apply`` of exactly that saved plan."""

    def outputs(self) -> StackOutputs: ...

    def state_identity(self) -> tuple[str, int]:
        """``(lineage, serial)`` of the current state (``state pull``); ``("", 0)`` without one."""

    def version(self) -> str:
        """The Terraform version, e.g. ``1.15.5``: a saved plan applies only with the same one."""


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, monotonic."""

    def sleep(self, seconds: float) -> None: ...


class Reporter(Protocol):
    def info(self, message: str, **fields: Any) -> None: ...

    def warn(self, message: str, **fields: Any) -> None: ...

    def error(self, message: str, **fields: Any) -> None: ...

    def event(self, kind: str, **fields: Any) -> None:
        """A machine-readable event (one JSON line on stdout with --json)."""


class Listener(Protocol):
    """The weighted mode's traffic switch: the forward action of one listener (or listener rule)
    to the colors' target groups, with weights 0-999."""

    def weights(self) -> dict[str, int]:
        """Target group ARN -> weight of the forward action, as AWS reports it now."""

    def set_weights(self, weights: dict[str, int]) -> None:
        """One ModifyListener (or ModifyRule) call replacing the forward action's weights."""
