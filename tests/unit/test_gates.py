"""Gates (bluegreen/gates.py): the [gates] table, the pure verdicts, and the watch over a fake
CloudWatch with a fake clock: alarm transitions, pre-existing ALARM, min_requests, failure_limit,
each no-data policy, the comparison with the old color's target group."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bluegreen.config import load_settings
from bluegreen.errors import ConfigError, ExitCode
from bluegreen.gates import (
    ALARM,
    FIVE_XX_RATE,
    OK,
    P99_LATENCY,
    AlarmGate,
    AlarmState,
    GateSettings,
    MetricGate,
    MetricSample,
    build_gate_watch,
    count_failures,
    judge_metric,
    window_of,
)

T0 = 1_800_000_000.0  # epoch seconds of the fake wall clock's start


# -- configuration ------------------------------------------------------------------------------


def load(tmp_path: Path, text: str):
    path = tmp_path / "bluegreen.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "bluegreen.toml") in message
    assert info.value.exit_code is ExitCode.CONFIG
    return message


def test_gates_table_is_read_with_defaults(tmp_path: Path) -> None:
    s = load(tmp_path, """
[gates]
interval = 5
period = 10
block_on_existing_alarm = false

[[gates.alarm]]
name = "web-5xx"

[[gates.metric]]
metric = "5xx_rate"
threshold = 0.02
min_requests = 100
failure_limit = 3
no_data = "fail"
old_margin = 0.01

[[gates.metric]]
metric = "p99_latency"
threshold = 0.5
""").gates
    assert s.interval == 5.0 and s.period == 10 and s.window == 300 and not s.block_on_existing_alarm
    assert s.alarms == (AlarmGate("web-5xx"),)
    assert s.metrics == (MetricGate(FIVE_XX_RATE, 0.02, 100, 3, "fail", 0.01),
                         MetricGate(P99_LATENCY, 0.5, 50, 1, "wait", None))
    assert s.enabled


def test_no_gates_table_means_no_gates(tmp_path: Path) -> None:
    s = load(tmp_path, '[service]\nname = "web"\n').gates
    assert s == GateSettings() and not s.enabled
    assert build_gate_watch(s, FakeCloudWatch(), "arn:tg") is None


@pytest.mark.parametrize("text, key", [
    ("[gates]\ninterval = 0\n", "gates.interval"),
    ("[gates]\ninterval = -1\n", "gates.interval"),
    ("[gates]\ninterval = nan\n", "gates.interval"),
    ("[gates]\nperiod = 45\n", "gates.period"),
    ("[gates]\nperiod = 60\nwindow = 30\n", "gates.window"),
    ("[gates]\nblock_on_existing_alarm = 1\n", "gates.block_on_existing_alarm"),
    ("[gates]\nspeed = 1\n", "gates.speed"),
    ('[[gates.alarm]]\nname = ""\n', "gates.alarm[1].name"),
    ('[[gates.alarm]]\nname = "a"\n[[gates.alarm]]\nname = "a"\n', "listed twice"),
    ('[[gates.metric]]\nmetric = "cpu"\nthreshold = 1\n', "gates.metric[1].metric"),
    ('[[gates.metric]]\nmetric = "5xx_rate"\n', "gates.metric[1].threshold is required"),
    ('[[gates.metric]]\nmetric = "5xx_rate"\nthreshold = 2\n', "gates.metric[1].threshold"),
    ('[[gates.metric]]\nmetric = "5xx_rate"\nthreshold = inf\n', "gates.metric[1].threshold"),
    ('[[gates.metric]]\nmetric = "p99_latency"\nthreshold = 0\n', "gates.metric[1].threshold"),
    ('[[gates.metric]]\nmetric = "5xx_rate"\nthreshold = 0.1\nfailure_limit = 0\n', "gates.metric[1].failure_limit"),
    ('[[gates.metric]]\nmetric = "5xx_rate"\nthreshold = 0.1\nmin_requests = -1\n', "gates.metric[1].min_requests"),
    ('[[gates.metric]]\nmetric = "5xx_rate"\nthreshold = 0.1\nno_data = "skip"\n', "gates.metric[1].no_data"),
    ('[[gates.metric]]\nmetric = "5xx_rate"\nthreshold = 0.1\nold_margin = -0.1\n', "gates.metric[1].old_margin"),
])
def test_bad_gate_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    assert key in config_error(tmp_path, text)


# -- a fake CloudWatch and clocks ---------------------------------------------------------------


@dataclass
class FakeCloudWatch:
    """Alarm states and per-target-group samples, changed by the test as time goes by."""

    states: dict[str, AlarmState] = field(default_factory=dict)
    samples: dict[str, list[MetricSample]] = field(default_factory=dict)
    reads: list[tuple[str, float, float]] = field(default_factory=list)

    def alarms(self, names):
        return {n: self.states[n] for n in names if n in self.states}

    def target_group_samples(self, arn, start, end, period, *, latency=True):
        self.reads.append((arn, start, end))
        return [s for s in self.samples.get(arn, []) if start <= s.timestamp < end]

    def set(self, name: str, state: str, at: float, reason: str = "") -> None:
        self.states[name] = AlarmState(name, state, at, reason)

    def traffic(self, arn: str, at: float, requests: float, errors: float = 0, p99: float | None = None) -> None:
        self.samples.setdefault(arn, []).append(MetricSample(at, requests, errors, p99))


class Clocks:
    """The executor's monotonic clock and CloudWatch's wall clock, moving together."""

    def __init__(self) -> None:
        self.mono = 100.0
        self.epoch = T0

    def wall(self) -> float:
        return self.epoch

    def advance(self, seconds: float) -> float:
        self.mono += seconds
        self.epoch += seconds
        return self.mono


def watch(cw: FakeCloudWatch, clocks: Clocks, *, alarms=(), metrics=(), block=True, interval=10.0, old=None):
    settings = GateSettings(interval=interval, period=10, window=60, block_on_existing_alarm=block,
                            alarms=tuple(AlarmGate(a) for a in alarms), metrics=tuple(metrics))
    w = build_gate_watch(settings, cw, "arn:new", old, wall=clocks.wall)
    assert w is not None
    return w


# -- alarms -------------------------------------------------------------------------------------


def test_alarm_transition_after_start_trips_with_its_reason() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    cw.set("web-5xx", OK, T0 - 600)
    w = watch(cw, clocks, alarms=["web-5xx"])
    started = w.start(clocks.mono)
    assert started is not None and not started.tripped and "web-5xx OK" in started.reason
    assert not w.check(clocks.advance(10)).tripped
    cw.set("web-5xx", ALARM, clocks.epoch + 3, "Threshold Crossed: 1 datapoint [12.0] >= 5.0")
    verdict = w.check(clocks.advance(10))
    assert verdict.tripped and verdict.gate == "alarm web-5xx"
    assert "went to ALARM at" in verdict.reason and "[12.0] >= 5.0" in verdict.reason


def test_alarm_already_in_alarm_blocks_before_anything_moves() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    cw.set("web-5xx", ALARM, T0 - 120, "Threshold Crossed")
    verdict = watch(cw, clocks, alarms=["web-5xx"]).start(clocks.mono)
    assert verdict.tripped and verdict.gate == "alarm web-5xx"
    assert "already in ALARM since" in verdict.reason and "before the release began" in verdict.reason


def test_alarm_already_in_alarm_is_reported_when_not_blocking_and_trips_only_on_a_new_transition() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    cw.set("web-5xx", ALARM, T0 - 120)
    w = watch(cw, clocks, alarms=["web-5xx"], block=False)
    started = w.start(clocks.mono)
    assert not started.tripped and "not blocking" in started.reason
    assert not w.check(clocks.advance(10)).tripped  # still the same ALARM: no transition
    cw.set("web-5xx", OK, clocks.epoch)
    assert not w.check(clocks.advance(10)).tripped
    cw.set("web-5xx", ALARM, clocks.epoch)  # left ALARM and came back: a new transition
    assert w.check(clocks.advance(10)).tripped


def test_unknown_alarm_is_a_config_error_at_start() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    cw.set("web-5xx", OK, T0)
    w = watch(cw, clocks, alarms=["web-5xx", "web-latncy"])
    with pytest.raises(ConfigError, match=r"gates.alarm\[2\].name 'web-latncy': no such CloudWatch alarm") as info:
        w.start(clocks.mono)
    assert info.value.exit_code is ExitCode.CONFIG


def test_an_alarm_deleted_during_the_release_trips() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    cw.set("web-5xx", OK, T0)
    w = watch(cw, clocks, alarms=["web-5xx"])
    w.start(clocks.mono)
    del cw.states["web-5xx"]
    assert "no longer exists" in w.check(clocks.advance(10)).reason


def test_checks_read_cloudwatch_once_per_interval() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    w = watch(cw, clocks, metrics=[MetricGate(FIVE_XX_RATE, 0.02, min_requests=0)], interval=10)
    w.start(clocks.mono)
    assert w.check(clocks.advance(4)) is None and w.check(clocks.advance(4)) is None
    assert not cw.reads
    assert w.check(clocks.advance(2)) is not None
    assert len(cw.reads) == 1


# -- metrics ----------------------------------------------------------------------------------


def test_5xx_rate_over_the_threshold_trips_with_the_numbers() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    w = watch(cw, clocks, metrics=[MetricGate(FIVE_XX_RATE, 0.02, min_requests=100)])
    w.start(clocks.mono)
    cw.traffic("arn:new", T0 + 1, 500, 26)
    verdict = w.check(clocks.advance(10))
    assert verdict.tripped and verdict.gate == "5xx rate"
    assert "5.2% (26 of 500 requests)" in verdict.reason and "> 2.0%" in verdict.reason


def test_metrics_never_look_before_the_watch_started() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    cw.traffic("arn:new", T0 - 5, 500, 500)  # the old version's errors on a shared target group
    w = watch(cw, clocks, metrics=[MetricGate(FIVE_XX_RATE, 0.02, min_requests=0)])
    w.start(clocks.mono)
    cw.traffic("arn:new", T0 + 1, 500, 0)
    verdict = w.check(clocks.advance(10))
    assert not verdict.tripped and "0.0% (0 of 500 requests)" in verdict.reason
    assert cw.reads[0][1] == T0


def test_below_min_requests_is_no_decision() -> None:
    gate = MetricGate(FIVE_XX_RATE, 0.02, min_requests=100)
    few = [MetricSample(T0, 40, 40)]
    assert window_of(gate, few).value is None
    judged = judge_metric(gate, few, None)
    assert judged.outcome == "no-data" and "40 5xx of 40 requests" in judged.reason and "min_requests 100" in judged.reason


def test_failure_limit_needs_consecutive_failures() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    w = watch(cw, clocks, metrics=[MetricGate(FIVE_XX_RATE, 0.02, min_requests=10, failure_limit=3)])
    w.start(clocks.mono)
    cw.traffic("arn:new", T0 + 1, 100, 10)
    assert not w.check(clocks.advance(10)).tripped
    assert not w.check(clocks.advance(10)).tripped
    verdict = w.check(clocks.advance(10))
    assert verdict.tripped and "on 3 consecutive checks" in verdict.reason


def test_a_passing_check_resets_the_failure_count() -> None:
    assert count_failures("wait", "fail", 2) == 3
    assert count_failures("wait", "pass", 2) == 0


@pytest.mark.parametrize("policy, after_no_data", [("pass", 0), ("fail", 2), ("wait", 1)])
def test_each_no_data_policy(policy: str, after_no_data: int) -> None:
    assert count_failures(policy, "no-data", 1) == after_no_data


def test_no_data_fail_trips_and_says_why() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    w = watch(cw, clocks, metrics=[MetricGate(FIVE_XX_RATE, 0.02, min_requests=10, no_data="fail")])
    w.start(clocks.mono)
    verdict = w.check(clocks.advance(10))
    assert verdict.tripped and 'no_data = "fail"' in verdict.reason and "0 5xx of 0 requests" in verdict.reason


def test_no_data_wait_never_trips_and_keeps_the_count() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    w = watch(cw, clocks, metrics=[MetricGate(FIVE_XX_RATE, 0.02, min_requests=10, failure_limit=2)])
    w.start(clocks.mono)
    cw.traffic("arn:new", T0 + 1, 100, 10)
    assert not w.check(clocks.advance(10)).tripped  # 1 failure
    cw.samples.clear()
    for _ in range(5):  # the window slides past the traffic: no data, no decision
        assert not w.check(clocks.advance(60)).tripped
    cw.traffic("arn:new", clocks.epoch - 5, 100, 10)
    assert w.check(clocks.advance(10)).tripped  # the second failure, still consecutive


def test_p99_latency_takes_the_worst_period() -> None:
    gate = MetricGate(P99_LATENCY, 0.5, min_requests=10)
    samples = [MetricSample(T0, 100, 0, 0.2), MetricSample(T0 + 10, 100, 0, 0.9)]
    judged = judge_metric(gate, samples, None)
    assert judged.outcome == "fail" and "0.900s over 200 requests" in judged.reason and "> 0.500s" in judged.reason


def test_comparison_with_the_old_color_excuses_a_shared_failure() -> None:
    gate = MetricGate(FIVE_XX_RATE, 0.02, min_requests=10, old_margin=0.01)
    new = [MetricSample(T0, 1000, 50)]
    same = judge_metric(gate, new, [MetricSample(T0, 1000, 45)])
    assert same.outcome == "pass" and "within old_margin 1.0% of the old color 4.5%" in same.reason
    worse = judge_metric(gate, new, [MetricSample(T0, 1000, 5)])
    assert worse.outcome == "fail" and "old color 0.5% (5 of 1000 requests)" in worse.reason
    # The old color without enough requests cannot excuse anything.
    assert judge_metric(gate, new, [MetricSample(T0, 3, 3)]).outcome == "fail"


def test_the_watch_reads_the_old_target_group_for_the_comparison() -> None:
    cw, clocks = FakeCloudWatch(), Clocks()
    w = watch(cw, clocks, metrics=[MetricGate(FIVE_XX_RATE, 0.02, min_requests=10, old_margin=0.01)], old="arn:old")
    w.start(clocks.mono)
    cw.traffic("arn:new", T0 + 1, 200, 10)
    cw.traffic("arn:old", T0 + 1, 200, 9)
    verdict = w.check(clocks.advance(10))
    assert not verdict.tripped and "within old_margin" in verdict.reason
    assert {r[0] for r in cw.reads} == {"arn:new", "arn:old"}


# -- the probe a wait holds ----------------------------------------------------------------------


class Flaky(FakeCloudWatch):
    failing = True

    def alarms(self, names):
        if self.failing:
            from bluegreen.errors import AwsError

            raise AwsError("failed to describe CloudWatch alarms web-5xx: Throttling", code="Throttling")
        return super().alarms(names)


def test_the_gated_probe_fails_a_healthy_window_when_a_gate_trips() -> None:
    from bluegreen.gates import gated_probe
    from bluegreen.health import Verdict

    cw, clocks = FakeCloudWatch(), Clocks()
    cw.set("web-5xx", OK, T0)
    w = watch(cw, clocks, alarms=["web-5xx"])
    w.start(clocks.mono)
    clock = type("C", (), {"now": lambda self: clocks.mono})()
    probe = gated_probe(lambda: Verdict(True, "2/2 healthy"), w, clock)
    assert probe().ok  # within the interval: CloudWatch is not read
    cw.set("web-5xx", ALARM, clocks.epoch, "Threshold Crossed")
    clocks.advance(10)
    verdict = probe()
    assert not verdict.ok and verdict.failed and verdict.reason.startswith("gate alarm web-5xx: went to ALARM")
    # An unhealthy window fails on its own reason; gates are not read then.
    assert gated_probe(lambda: Verdict(False, "1/2 healthy"), w, clock)().reason == "1/2 healthy"


def test_cloudwatch_unreadable_three_times_in_a_row_trips() -> None:
    from bluegreen.gates import READ_FAILURES_TRIP, gated_probe
    from bluegreen.health import Verdict

    cw, clocks = Flaky(), Clocks()
    cw.set("web-5xx", OK, T0)
    cw.failing = False
    w = watch(cw, clocks, alarms=["web-5xx"])
    w.start(clocks.mono)
    cw.failing = True
    clock = type("C", (), {"now": lambda self: clocks.mono})()
    probe = gated_probe(lambda: Verdict(True, "ok"), w, clock)
    for _ in range(READ_FAILURES_TRIP - 1):
        clocks.advance(10)
        assert probe().ok
    clocks.advance(10)
    verdict = probe()
    assert verdict.failed and "CloudWatch unreadable 3 times in a row" in verdict.reason and "Throttling" in verdict.reason
