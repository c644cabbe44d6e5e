"""The scale benchmark's pure helpers: batch arithmetic, growth exponents, the assertion."""

from __future__ import annotations

import math

import pytest

from bench.scale import (
    SleepMeter,
    batch_violations,
    expected_batches,
    growth_exponent,
    growth_label,
    local_exponent,
)


@pytest.mark.parametrize(
    ("n", "calls"),
    [(0, 0), (1, 1), (10, 1), (19, 1), (20, 1), (21, 2), (100, 5), (101, 6), (500, 25)],
)
def test_expected_batches_is_ceil_n_over_20(n, calls):
    assert expected_batches(n) == calls


def test_expected_batches_rejects_nonsense():
    with pytest.raises(ValueError):
        expected_batches(-1)
    with pytest.raises(ValueError):
        expected_batches(10, batch=0)


def test_growth_exponent_of_power_laws():
    sizes = [10, 100, 500]
    assert growth_exponent(sizes, [7, 7, 7]) == pytest.approx(0.0)
    assert growth_exponent(sizes, [3 * n for n in sizes]) == pytest.approx(1.0)
    assert growth_exponent(sizes, [0.01 * n * n for n in sizes]) == pytest.approx(2.0)


def test_growth_exponent_needs_two_distinct_positive_points():
    assert growth_exponent([10], [1.0]) is None
    assert growth_exponent([10, 10], [1.0, 2.0]) is None
    assert growth_exponent([10, 100], [0.0, 2.0]) is None


def test_local_exponent():
    assert local_exponent(100, 2.0, 500, 10.0) == pytest.approx(1.0)
    assert local_exponent(100, 1.0, 500, 25.0) == pytest.approx(2.0)
    assert local_exponent(100, 0.0, 500, 25.0) is None
    assert local_exponent(100, 1.0, 100, 2.0) is None


@pytest.mark.parametrize(
    ("exponent", "label"),
    [(None, "n/a"), (0.05, "constant"), (0.5, "sublinear"), (0.9, "linear"), (1.1, "linear"), (1.4, "superlinear")],
)
def test_growth_label(exponent, label):
    assert growth_label(exponent) == label


def _calls(n_enter, n_exit, detach=1):
    return {"EnterStandby": n_enter, "ExitStandby": n_exit, "DetachLoadBalancerTargetGroups": detach}


def test_batch_violations_accepts_ceil_n_over_20():
    for n in (10, 100, 500):
        batches = math.ceil(n / 20)
        assert batch_violations(n, _calls(batches, batches)) == []


def test_batch_violations_catches_one_call_per_instance():
    problems = batch_violations(100, _calls(100, 5))
    assert any("EnterStandby called 100 times" in p for p in problems)
    assert any("grows as N" in p for p in problems)


def test_batch_violations_catches_missing_calls_and_extra_detaches():
    assert batch_violations(100, {"EnterStandby": 5, "DetachLoadBalancerTargetGroups": 1})  # no ExitStandby
    assert batch_violations(10, _calls(1, 1, detach=10))


class _Clock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


def test_sleep_meter_passes_through_and_counts():
    inner = _Clock()
    meter = SleepMeter(inner)
    meter.sleep(0.0)
    meter.sleep(0.0)
    assert meter.sleeps == 2
    assert meter.now() == inner.now()
    assert meter.slept >= 0.0
