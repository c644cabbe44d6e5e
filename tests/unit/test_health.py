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


# -- unhealthy new targets: AWS's own timers --------------------------------------------------------

from bluegreen.health import HealthTimers, new_targets_health, track_unhealthy, unhealthy_target  # noqa: E402

LAUNCHED = 1_700_000_000.0  # wall clock (EC2 LaunchTime), independent of the monotonic wait clock


def aged(*ids_states: tuple[str, str], age: float, grace: int = 300) -> tuple[GroupState, TrafficState]:
    """A green group whose instances were launched ``age`` seconds before it was observed, and
    a target group (interval 10 s, unhealthy threshold 3) reporting ``ids_states``."""
    group = GroupState(
        Color.GREEN, "web-green", 0, 6, len(ids_states),
        instances=tuple(Instance(i, IN_SERVICE, launch_time=LAUNCHED) for i, _ in ids_states),
        health_check_grace_period=grace,
        observed_at=LAUNCHED + age,
    )
    traffic_ = TrafficState(
        TrafficKind.ALB, "arn:tg", tuple(TargetHealth(i, s) for i, s in ids_states),
        health_check_interval_seconds=10, unhealthy_threshold_count=3,
    )
    return group, traffic_


class Watch:
    """The executor's loop around ``new_targets_health``, on a manual monotonic clock."""

    def __init__(self, clock, margin: float = 0.0) -> None:
        self.clock, self.margin = clock, margin
        self.since: dict[str, float] = {}

    def poll(self, group: GroupState, traffic_: TrafficState) -> HealthVerdict:
        now = self.clock.now()
        current = targets_health(traffic_, in_service_ids(group), 1.0)
        self.since = track_unhealthy(self.since, current.unhealthy_ids, now)
        return new_targets_health(group, traffic_, self.since, now, margin_seconds=self.margin)


def test_timers_combine_interval_threshold_and_margin():
    timers = HealthTimers(grace_period_seconds=300, interval_seconds=10, unhealthy_threshold=3, margin_seconds=2)
    assert timers.failing_after == 32
    assert timers.describe() == "32s (interval 10s × threshold 3 + 2s margin)"
    assert HealthTimers(0, 10, 3).describe() == "30s (interval 10s × threshold 3)"


def test_timers_come_from_the_group_and_the_target_group():
    group, traffic_ = aged(("i-1", UNHEALTHY), age=5, grace=120)
    assert HealthTimers.of(group, traffic_, 7) == HealthTimers(120, 10, 3, 7)


def test_the_reason_names_the_numbers():
    timers = HealthTimers(grace_period_seconds=300, interval_seconds=10, unhealthy_threshold=3)
    verdict = unhealthy_target("i-abc", unhealthy_for=35, age=400, timers=timers)
    assert verdict.failed
    assert verdict.reason == (
        "i-abc unhealthy for 35s; failing after 30s (interval 10s × threshold 3) once past the group's "
        "300s grace period"
    )


@pytest.mark.parametrize(
    ("unhealthy_for", "age", "failed"),
    [
        (29.9, 400, False),  # past the grace period, not yet interval × threshold
        (30, 400, True),
        (299, 299, False),  # unhealthy since launch, but the group's grace period runs
        (300, 300, True),
        (30, None, False),  # launch time unknown: just launched, within the grace period
    ],
)
def test_fails_only_past_both_timers(unhealthy_for, age, failed):
    timers = HealthTimers(grace_period_seconds=300, interval_seconds=10, unhealthy_threshold=3)
    verdict = unhealthy_target("i-1", unhealthy_for=unhealthy_for, age=age, timers=timers)
    assert verdict.failed is failed
    assert not verdict.ok


def test_no_grace_period_and_unknown_age_fails_on_the_check_timers():
    timers = HealthTimers(grace_period_seconds=0, interval_seconds=5, unhealthy_threshold=2)
    verdict = unhealthy_target("i-1", unhealthy_for=10, age=None, timers=timers)
    assert verdict.failed
    assert "(the group has no grace period)" in verdict.reason


def test_waiting_reason_is_stable_while_time_passes():
    timers = HealthTimers(grace_period_seconds=300, interval_seconds=10, unhealthy_threshold=3)
    first = unhealthy_target("i-1", unhealthy_for=1, age=10, timers=timers)
    later = unhealthy_target("i-1", unhealthy_for=20, age=29, timers=timers)
    assert first.waiting and later.waiting and first.reason == later.reason
    assert "within the group's 300s grace period" in first.reason


def test_track_unhealthy_restarts_after_any_other_state():
    since = track_unhealthy({}, ["i-1", "i-2"], 100.0)
    assert since == {"i-1": 100.0, "i-2": 100.0}
    since = track_unhealthy(since, ["i-1"], 105.0)  # i-2 read healthy (or initial) once
    assert since == {"i-1": 100.0}
    assert track_unhealthy(since, ["i-1", "i-2"], 110.0) == {"i-1": 100.0, "i-2": 110.0}


def test_slow_booting_app_is_not_failed_inside_the_grace_period(clock):
    """Unhealthy from its first checks until it has booted at 250 s of a 300 s grace period:
    a release must wait, where the old rule failed it after unhealthy_grace_seconds."""
    watch = Watch(clock, margin=2)
    for age in range(20, 250, 5):
        clock.t = 1000.0 + age
        verdict = watch.poll(*aged(("i-1", UNHEALTHY), age=age))
        assert verdict.waiting, (age, verdict.reason)
    clock.t = 1000.0 + 260
    assert watch.poll(*aged(("i-1", HEALTHY), age=260)).ok


def test_broken_instance_fails_once_past_grace_and_the_check_window(clock):
    watch = Watch(clock, margin=2)
    results = {}
    for age in range(0, 400, 1):
        clock.t = 1000.0 + age
        results[age] = watch.poll(*aged(("i-1", HEALTHY), ("i-2", UNHEALTHY), age=age))
    failed_at = min(age for age, v in results.items() if v.failed)
    assert failed_at == 300  # unhealthy since age 0 (300 s > 32 s), so the grace period decides
    assert results[failed_at].reason == (
        "1/2 healthy (1 healthy, 1 unhealthy): i-2 unhealthy for 300s; failing after 32s "
        "(interval 10s × threshold 3 + 2s margin) once past the group's 300s grace period"
    )
    assert results[failed_at].unhealthy_ids == ("i-2",)


def test_turning_unhealthy_after_the_grace_period_gets_the_check_window(clock):
    watch = Watch(clock)
    clock.t = 1000.0
    assert watch.poll(*aged(("i-1", HEALTHY), ("i-2", INITIAL), age=400)).waiting
    for step in range(0, 30):
        clock.t = 1001.0 + step
        assert watch.poll(*aged(("i-1", HEALTHY), ("i-2", UNHEALTHY), age=401 + step)).waiting
    clock.t = 1031.0
    verdict = watch.poll(*aged(("i-1", HEALTHY), ("i-2", UNHEALTHY), age=431))
    assert verdict.failed and "i-2 unhealthy for 30s" in verdict.reason


def test_a_flap_restarts_the_window(clock):
    watch = Watch(clock)
    clock.t = 1000.0
    watch.poll(*aged(("i-1", UNHEALTHY), age=400))
    clock.t = 1025.0
    assert watch.poll(*aged(("i-1", HEALTHY), ("i-2", INITIAL), age=425)).waiting
    clock.t = 1026.0
    watch.poll(*aged(("i-1", UNHEALTHY), age=426))
    clock.t = 1055.0
    assert watch.poll(*aged(("i-1", UNHEALTHY), age=455)).waiting  # 29 s since the flap
    clock.t = 1056.0
    assert watch.poll(*aged(("i-1", UNHEALTHY), age=456)).failed


def test_several_failed_targets_are_counted(clock):
    watch = Watch(clock)
    ids = (("i-1", UNHEALTHY), ("i-2", UNHEALTHY), ("i-3", UNHEALTHY))
    clock.t = 1000.0
    watch.poll(*aged(*ids, age=400, grace=0))
    clock.t = 1030.0
    verdict = watch.poll(*aged(*ids, age=430, grace=0))
    assert verdict.failed and verdict.reason.endswith("(+2 more)")


def test_all_healthy_is_ok_whatever_the_timers(clock):
    watch = Watch(clock)
    verdict = watch.poll(*aged(("i-1", HEALTHY), ("i-2", HEALTHY), age=1))
    assert verdict.ok and verdict.reason == "2/2 healthy"


def test_initial_targets_never_fail():
    group, traffic_ = aged(("i-1", INITIAL), age=10_000, grace=0)
    verdict = new_targets_health(group, traffic_, {}, 5000.0)
    assert verdict.waiting
