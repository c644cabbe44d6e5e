"""Auto Scaling group attributes moto stores differently from AWS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.autoscaling.models import AutoScalingBackend

from ._patching import Patcher

if TYPE_CHECKING:
    from .core import Fidelity


def health_check_grace_period_keeps_zero(p: Patcher, fid: "Fidelity") -> None:
    """AWS (Auto Scaling API, CreateAutoScalingGroup): ``HealthCheckGracePeriod`` "The amount of
    time, in seconds, that Amazon EC2 Auto Scaling waits before checking the health status of an
    EC2 instance that has come into service ... Default: 0 seconds". A group created with 0, or
    without the parameter, reports ``HealthCheckGracePeriod: 0``.

    moto 5.2.5: ``AutoScalingBackend.create_auto_scaling_group`` stores
    ``make_int(health_check_period or 300)``, so an explicit 0 (and an absent value) reads back
    300: Terraform's provider then plans a perpetual change of a group declared with
    ``health_check_grace_period = 0``, and bluegreen would wait 300 s before judging a new target.
    Wraps the backend call to store the value as given, 0 when absent (UpdateAutoScalingGroup
    already stores what it is given)."""

    def make_create(original: Any) -> Any:
        def create_auto_scaling_group(self: AutoScalingBackend, *args: Any, **kwargs: Any) -> Any:
            group = original(self, *args, **kwargs)
            period = kwargs.get("health_check_period")
            if not period:  # None, 0 or "0": AWS's default and an explicit zero are both 0
                group.health_check_grace_period = 0
            return group

        return create_auto_scaling_group

    p.wrap(AutoScalingBackend, "create_auto_scaling_group", make_create)
