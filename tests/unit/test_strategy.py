"""Strategy parsing (bluegreen/strategy.py) and its validation in bluegreen.toml: steps of
weight and pause, approval pauses, one-line errors naming the key, exit 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen.config import parse_settings
from bluegreen.errors import ConfigError, ExitCode
from bluegreen.strategy import (
    StrategyError,
    WeightStep,
    describe,
    parse_steps,
    strategy_steps,
    weights_for,
)


def test_explicit_steps_with_timed_and_approval_pauses():
    steps = parse_steps("10:2m, 50:pause,75:90s,100", "--steps")
    assert steps == (WeightStep(10, 120.0), WeightStep(50, None), WeightStep(75, 90.0), WeightStep(100, 0.0))
    assert steps[1].approval and not steps[0].approval
    assert describe(steps) == "10:2m,50:pause,75:90s,100"


def test_named_strategies():
    assert strategy_steps("all-at-once") == (WeightStep(100, 0.0),)
    assert strategy_steps("canary", canary_percent=5, pause="1m") == (WeightStep(5, 60.0), WeightStep(100, 0.0))
    assert [s.percent for s in strategy_steps("linear", linear_percent=25, pause="30s")] == [25, 50, 75, 100]
    assert strategy_steps("canary", pause="pause")[0].approval


@pytest.mark.parametrize("text, fragment", [
    ("10:2m,50", "last step must be 100"),
    ("10:2x,100", "pause '2x' must be a duration"),
    ("120", "outside 0-100"),
    ("50,10,100", "must increase"),
    ("0:1m,100", "start above 0"),
    ("abc", "whole percentage"),
    ("10:25h,100", "longer than a day"),
    ("", "expected steps"),
])
def test_bad_steps_name_the_key(text, fragment):
    with pytest.raises(StrategyError) as info:
        parse_steps(text, "--steps")
    assert fragment in str(info.value) and str(info.value).startswith("--steps")


def test_weights_always_sum_to_100():
    for p in (0, 10, 99, 100):
        assert sum(weights_for(p)) == 100 and weights_for(p)[1] == p


@pytest.mark.parametrize("table, key", [
    ({"mode": "canary"}, "traffic.mode"),
    ({"steps": "10:1m,90"}, "traffic.steps"),
    ({"strategy": "blue-green"}, "traffic.strategy"),
    ({"strategy": "canary", "canary_percent": 100}, "traffic.canary_percent"),
    ({"strategy": "linear", "pause": "soon"}, "traffic.pause"),
    ({"on_timeout": "wait"}, "traffic.on_timeout"),
    ({"approval_timeout_seconds": 0}, "traffic.approval_timeout_seconds"),
])
def test_bad_traffic_config_is_one_line_exit_3(table, key):
    with pytest.raises(ConfigError) as info:
        parse_settings({"traffic": table}, source=Path("bluegreen.toml"))
    assert key in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code is ExitCode.CONFIG


def test_traffic_defaults_are_the_attach_mode():
    settings = parse_settings({}, source=Path("bluegreen.toml"))
    assert settings.traffic.mode == "attach"
    assert settings.traffic.weight_steps() == (WeightStep(100, 0.0),)
    weighted = parse_settings({"traffic": {"mode": "weighted", "steps": "10:30s,100", "bake_seconds": 60}},
                              source=Path("bluegreen.toml"))
    assert weighted.traffic.weight_steps() == (WeightStep(10, 30.0), WeightStep(100, 0.0))
