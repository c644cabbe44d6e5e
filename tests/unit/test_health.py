"""Pure health verdicts: instances ready on the new AMI, target health thresholds, draining."""

from __future__ import annotations

import pytest

from bluegreen.health import HealthVerdict, Verdict, drained, in_service_ids, instances_ready, targets_health
from bluegreen.model import (
    DRAINING,
    HEALTHY,
    IN_SERVICE,
    INITIAL,
    PENDING,
    UNHEALTHY,
    UNUSED,
    Color,
    GroupState,
    Instance,
    TargetHealth,
    TrafficKind,
    TrafficState,
)

NEW = "ami-0fedcba9876543210"
OLD = "ami-0123456789abcdef0"


def grp(*instances: Instance) -> GroupState:
    return GroupState(Color.GREEN, "web-green", 0, 6, len(instances), instances=instances)


def traffic(**states: str) -> TrafficState:
    return TrafficState(
        TrafficKind.ALB, "arn:tg", tuple(TargetHealth(i.replace("_", "-"), s) for i, s in states.items())
    )


# -- Verdict --------------------------------------------------------------------------------------


def test_verdict_waiting():
    assert Verdict(False, "x").waiting
    assert not Verdict(False, "x", failed=True).waiting
    assert not Verdict(True, "x").waiting


# -- instances_ready ------------------------------------------------------------------------------


def test_instances_ready_when_all_in_service_on_the_ami():
    verdict = instances_ready(grp(Instance("i-1", IN_SERVICE, image_id=NEW), Instance("i-2", IN_SERVICE, image_id=NEW)), NEW, 2)
    assert verdict.ok and not verdict.failed
    assert verdict.reason == f"2/2 InService on {NEW}"


def test_unknown_image_id_is_not_held_against_an_instance():
    verdict = instances_ready(grp(Instance("i-1", IN_SERVICE, image_id=None)), NEW, 1)
    assert verdict.ok


def test_wrong_ami_fails():
    group = grp(Instance("i-1", IN_SERVICE, image_id=NEW), Instance("i-2", IN_SERVICE, image_id=OLD))
    verdict = instances_ready(group, NEW, 2)
    assert not verdict.ok
    assert verdict.failed and not verdict.waiting
    assert "i-2" in verdict.reason and "i-1" not in verdict.reason
    assert "1 InService instance(s) of web-green" in verdict.reason


def test_wrong_ami_on_a_pending_instance_is_not_judged_yet():
    group = grp(Instance("i-1", IN_SERVICE, image_id=NEW), Instance("i-2", PENDING, image_id=OLD))
    verdict = instances_ready(group, NEW, 2)
    assert verdict.waiting


def test_fewer_in_service_is_waiting():
    group = grp(Instance("i-1", IN_SERVICE, image_id=NEW), Instance("i-2", PENDING, image_id=NEW))
    verdict = instances_ready(group, NEW, 2)
    assert verdict.waiting
    assert verdict.reason == f"1/2 InService on {NEW}"


def test_no_instances_yet_is_waiting():
    verdict = instances_ready(grp(), NEW, 3)
    assert verdict.waiting
    assert verdict.reason.startswith("0/3")


def test_unhealthy_status_is_waiting_even_with_enough_in_service():
    group = grp(
        Instance("i-1", IN_SERVICE, health_status="Unhealthy", image_id=NEW),
        Instance("i-2", IN_SERVICE, image_id=NEW),
    )
    verdict = instances_ready(group, NEW, 2)
    assert verdict.waiting
    assert "1 marked Unhealthy by Auto Scaling" in verdict.reason


def test_zero_size_is_ready_at_once():
    assert instances_ready(grp(), NEW, 0).ok


# -- targets_health -------------------------------------------------------------------------------


def test_all_healthy_at_threshold_one():
    verdict = targets_health(traffic(i_1=HEALTHY, i_2=HEALTHY), ["i-1", "i-2"], 1.0)
    assert isinstance(verdict, HealthVerdict)
    assert verdict.ok
    assert (verdict.healthy, verdict.total) == (2, 2)
    assert verdict.reason == "2/2 healthy"
    assert verdict.unhealthy_ids == ()


def test_one_initial_at_threshold_one_waits_and_says_why():
    verdict = targets_health(traffic(i_1=HEALTHY, i_2=INITIAL), ["i-1", "i-2"], 1.0)
    assert verdict.waiting
    assert verdict.reason == "1/2 healthy (1 healthy, 1 initial)"


def test_half_healthy_passes_at_threshold_half():
    verdict = targets_health(traffic(i_1=HEALTHY, i_2=UNHEALTHY), ["i-1", "i-2"], 0.5)
    assert verdict.ok
    assert verdict.unhealthy_ids == ("i-2",)


def test_below_half_fails_threshold_half():
    verdict = targets_health(
        traffic(i_1=HEALTHY, i_2=UNHEALTHY, i_3=UNHEALTHY), ["i-3", "i-1", "i-2"], 0.5
    )
    assert not verdict.ok
    assert verdict.unhealthy_ids == ("i-2", "i-3")  # sorted
    assert "2 unhealthy" in verdict.reason


def test_not_registered_targets_count_against():
    verdict = targets_health(traffic(i_1=HEALTHY), ["i-1", "i-2"], 1.0)
    assert not verdict.ok
    assert "1 not registered" in verdict.reason


def test_no_targets_is_never_ok():
    verdict = targets_health(traffic(), [], 0.5)
    assert not verdict.ok
    assert verdict.total == 0


def test_only_the_given_ids_count():
    verdict = targets_health(traffic(i_1=HEALTHY, i_9=UNHEALTHY), ["i-1"], 1.0)
    assert verdict.ok and verdict.total == 1


@pytest.mark.parametrize(
    ("healthy", "total", "threshold"),
    [(7, 25, 0.28), (14, 25, 0.56), (7, 50, 0.14), (7, 10, 0.7), (1, 3, 1 / 3), (2, 3, 2 / 3)],
)
def test_threshold_met_exactly_passes_despite_float_rounding(healthy, total, threshold):
    states = {f"i_{k}": (HEALTHY if k < healthy else UNHEALTHY) for k in range(total)}
    verdict = targets_health(traffic(**states), [f"i-{k}" for k in range(total)], threshold)
    assert verdict.ok, verdict.reason
    one_less = {f"i_{k}": (HEALTHY if k < healthy - 1 else UNHEALTHY) for k in range(total)}
    assert not targets_health(traffic(**one_less), [f"i-{k}" for k in range(total)], threshold).ok


# -- drained --------------------------------------------------------------------------------------


def test_drained_when_nothing_is_registered():
    verdict = drained(traffic(i_9=HEALTHY), ["i-1", "i-2"])
    assert verdict.ok
    assert verdict.reason == "2 target(s) drained"


def test_unused_counts_as_drained():
    assert drained(traffic(i_1=UNUSED), ["i-1"]).ok


def test_draining_is_waiting():
    verdict = drained(traffic(i_1=DRAINING, i_2=HEALTHY), ["i-1", "i-2", "i-3"])
    assert verdict.waiting
    assert verdict.reason == "2/3 target(s) still registered (1 draining)"


def test_drained_with_no_ids():
    assert drained(traffic(i_1=HEALTHY), []).ok


def test_in_service_ids():
    group = grp(Instance("i-1", IN_SERVICE), Instance("i-2", PENDING), Instance("i-3", IN_SERVICE))
    assert in_service_ids(group) == ("i-1", "i-3")
