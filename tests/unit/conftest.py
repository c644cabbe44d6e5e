"""Shared fakes and builders for the pure-core unit tests: a virtual clock and hand-built
Auto Scaling / load balancer snapshots (no AWS, no moto, no sleeping)."""

from __future__ import annotations

from typing import Callable

import pytest

from bluegreen.model import (
    HEALTHY,
    IN_SERVICE,
    Color,
    GroupState,
    Instance,
    Observed,
    TargetHealth,
    TrafficKind,
    TrafficState,
)

TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
AMI_OLD = "ami-0123456789abcdef0"
AMI_NEW = "ami-0fedcba9876543210"


class FakeClock:
    """Virtual monotonic time: ``sleep`` advances ``now`` instantly and is recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"negative sleep {seconds}"
        self.sleeps.append(seconds)
        self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_group(
    color: Color,
    count: int,
    *,
    state: str = IN_SERVICE,
    ami: str | None = AMI_OLD,
    attached: bool = False,
    desired: int | None = None,
    health_status: str = "Healthy",
) -> GroupState:
    instances = tuple(
        Instance(id=f"i-{color.value}-{k}", lifecycle_state=state, health_status=health_status, image_id=ami)
        for k in range(count)
    )
    return GroupState(
        color=color,
        name=f"web-{color.value}",
        min_size=count,
        max_size=max(count, 1) * 2,
        desired_capacity=count if desired is None else desired,
        instances=instances,
        launch_template_id=f"lt-{color.value}",
        launch_template_version="3",
        target_group_arns=(TG_ARN,) if attached else (),
    )


def make_observed(
    blue: GroupState,
    green: GroupState,
    *,
    target_state: str = HEALTHY,
    targets: tuple[TargetHealth, ...] | None = None,
) -> Observed:
    """Both colors; unless ``targets`` is given, every instance of an attached group is
    registered with ``target_state``."""
    if targets is None:
        targets = tuple(
            TargetHealth(i.id, target_state)
            for g in (blue, green)
            if TG_ARN in g.target_group_arns
            for i in g.instances
        )
    return Observed(
        groups={Color.BLUE: blue, Color.GREEN: green},
        traffic=TrafficState(kind=TrafficKind.ALB, name=TG_ARN, targets=targets),
    )


@pytest.fixture
def group() -> Callable[..., GroupState]:
    return make_group


@pytest.fixture
def observed() -> Callable[..., Observed]:
    return make_observed


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """The crash-point matrix (test_crash_matrix.py) says how many cases it ran."""
    import sys

    matrix = sys.modules.get("test_crash_matrix")
    counts = getattr(matrix, "RAN", None)
    if counts:
        detail = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
        terminalreporter.write_line(f"crash-point matrix: {sum(counts.values())} cases ran ({detail})")
