"""Gates: CloudWatch alarms and target-group metrics that watch a release while traffic moves,
and trip (flip all traffic back, exit 10) when the new version hurts users without failing its
health checks.

Three layers, top to bottom:

* ``GateSettings``: the ``[gates]`` table of ``bluegreen.toml`` (``parse_gates``), validated to
  one line naming the key.
* Pure evaluation: ``alarm_at_start`` / ``alarm_verdict`` (a transition to ALARM after the watch
  started), ``judge_metric`` (5xx rate or p99 ``TargetResponseTime`` of the new color's target
  group over a window, against a threshold, compared with the old color's where there is one,
  with a ``min_requests`` floor) and ``count_failures`` (``failure_limit`` consecutive failures,
  the explicit no-data policy). Everything takes samples and states, returns values with reasons.
* ``CloudWatchGateWatch``: the ``GateWatch`` the executor calls. ``start`` before any traffic
  moves (an alarm already in ALARM blocks by default); ``check`` every poll of a pause, a verify
  window or a keep-old window: it asks CloudWatch only once per ``interval`` and returns ``None``
  in between. The only I/O is through ``CloudWatchPort`` (``bluegreen/aws/cloudwatch.py``).

Alarms are compared with what they were at ``start``: an alarm in ALARM that stays in ALARM is not
a transition (it was reported, or blocked, at ``start``); one whose state changed to ALARM since,
or left ALARM and came back (a newer ``StateUpdatedTimestamp``), trips. Comparing snapshots
instead of timestamps against our own clock makes the check immune to clock skew.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from .errors import AwsError, ConfigError
from .health import Verdict

ALARM = "ALARM"
OK = "OK"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

NO_DATA_POLICIES = ("pass", "fail", "wait")
FIVE_XX_RATE = "5xx_rate"
P99_LATENCY = "p99_latency"
METRICS = (FIVE_XX_RATE, P99_LATENCY)
_LABELS = {FIVE_XX_RATE: "5xx rate", P99_LATENCY: "p99 TargetResponseTime"}

# GetMetricData periods CloudWatch accepts: 1, 5, 10, 20, 30 s (high resolution) or a multiple
# of 60. ALB metrics have 60-second resolution on AWS, so 60 is the period to use there; the lab
# publishes every second and uses a shorter period to keep its tests short.
_SHORT_PERIODS = (1, 5, 10, 20, 30)


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmGate:
    """``[[gates.alarm]]``: a CloudWatch alarm by name, in the service's region."""

    name: str


@dataclass(frozen=True)
class MetricGate:
    """``[[gates.metric]]``: one target-group metric of the new color against a threshold.

    ``threshold``: a fraction (0.02 = 2 %) for ``5xx_rate``, seconds for ``p99_latency``.
    ``old_margin``: compare with the old color's target group, where it has one and enough
    requests: a value over the threshold passes while it is within ``old_margin`` of the old
    color's (the old version is as bad: a shared dependency, not the release). ``None``: no
    comparison, the threshold alone decides.
    """

    metric: str
    threshold: float
    min_requests: int = 50
    failure_limit: int = 1
    no_data: str = "wait"
    old_margin: float | None = None

    @property
    def label(self) -> str:
        return _LABELS[self.metric]


@dataclass(frozen=True)
class GateSettings:
    """``[gates]``. ``interval``: seconds between two CloudWatch reads; ``period``: the
    GetMetricData period; ``window``: how far back each metric check looks (never before the
    watch started); ``block_on_existing_alarm``: an alarm already in ALARM stops the release
    before any change (``False``: it is reported and only a new transition trips)."""

    interval: float = 60.0
    period: int = 60
    window: int = 300
    block_on_existing_alarm: bool = True
    alarms: tuple[AlarmGate, ...] = ()
    metrics: tuple[MetricGate, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.alarms or self.metrics)

    def describe(self) -> str:
        parts = [f"alarm {a.name}" for a in self.alarms]
        parts += [f"{m.label} > {format_value(m.metric, m.threshold)}" for m in self.metrics]
        return ", ".join(parts)


_GATE_KEYS = ("interval", "period", "window", "block_on_existing_alarm", "alarm", "metric")
_ALARM_KEYS = ("name",)
_METRIC_KEYS = ("metric", "threshold", "min_requests", "failure_limit", "no_data", "old_margin")


def parse_gates(table: Any, source: Path) -> GateSettings:
    """The ``[gates]`` table -> ``GateSettings``; ``ConfigError`` (exit 3) naming the key."""

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{source}: {message}")

    if not isinstance(table, dict):
        raise fail("gates must be a table ([gates])")
    for key in table:
        if key not in _GATE_KEYS:
            raise fail(f"unknown key gates.{key}; known keys in [gates]: {', '.join(_GATE_KEYS)}")
    interval = _number(table, "interval", 60.0, fail, where="gates")
    if not 0 < interval <= 3600:
        raise fail(f"gates.interval must be a number of seconds in (0, 3600] (how often the gates "
                   f"read CloudWatch), got {table.get('interval')!r}")
    period = table.get("period", 60)
    if (isinstance(period, bool) or not isinstance(period, int)
            or not (period in _SHORT_PERIODS or (period > 0 and period % 60 == 0 and period <= 86400))):
        raise fail(f"gates.period must be 1, 5, 10, 20, 30 or a multiple of 60 seconds (CloudWatch's "
                   f"periods; ALB metrics have 60-second resolution), got {period!r}")
    window = table.get("window", max(300, period))
    if isinstance(window, bool) or not isinstance(window, int) or not period <= window <= 86400:
        raise fail(f"gates.window must be whole seconds in [gates.period ({period}), 86400], got {window!r}")
    block = table.get("block_on_existing_alarm", True)
    if not isinstance(block, bool):
        raise fail(f"gates.block_on_existing_alarm must be true or false, got {block!r}")
    alarms = tuple(_parse_alarm(n, t, fail) for n, t in enumerate(_tables(table, "alarm", fail), start=1))
    names = [a.name for a in alarms]
    for name in names:
        if names.count(name) > 1:
            raise fail(f"gates.alarm: {name!r} is listed twice; list each alarm once")
    metrics = tuple(_parse_metric(n, t, fail) for n, t in enumerate(_tables(table, "metric", fail), start=1))
    return GateSettings(interval=interval, period=period, window=window, block_on_existing_alarm=block,
                        alarms=alarms, metrics=metrics)


def _tables(table: dict, key: str, fail: Callable[[str], ConfigError]) -> list[dict]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise fail(f"gates.{key} must be a list of tables ([[gates.{key}]])")
    return value


def _number(table: dict, key: str, default: float, fail: Callable[[str], ConfigError], *, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(f"{where}.{key} must be a finite number, got {value!r}")
    return float(value)


def _parse_alarm(number: int, table: dict, fail: Callable[[str], ConfigError]) -> AlarmGate:
    where = f"gates.alarm[{number}]"
    for key in table:
        if key not in _ALARM_KEYS:
            raise fail(f"unknown key {where}.{key}; known keys: {', '.join(_ALARM_KEYS)}")
    name = table.get("name")
    # CloudWatch alarm names: 1-255 characters.
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise fail(f'{where}.name must be the name of a CloudWatch alarm (1-255 characters), got {name!r}')
    return AlarmGate(name)


def _parse_metric(number: int, table: dict, fail: Callable[[str], ConfigError]) -> MetricGate:
    where = f"gates.metric[{number}]"
    for key in table:
        if key not in _METRIC_KEYS:
            raise fail(f"unknown key {where}.{key}; known keys: {', '.join(_METRIC_KEYS)}")
    metric = table.get("metric")
    if metric not in METRICS:
        raise fail(f"{where}.metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if "threshold" not in table:
        raise fail(f"{where}.threshold is required ({'a fraction such as 0.02' if metric == FIVE_XX_RATE else 'seconds such as 0.5'})")
    threshold = _number(table, "threshold", 0.0, fail, where=where)
    if metric == FIVE_XX_RATE and not 0 <= threshold < 1:
        raise fail(f"{where}.threshold is a fraction of requests in [0, 1) (0.02 = 2 %), got {table['threshold']!r}")
    if metric == P99_LATENCY and not 0 < threshold <= 3600:
        raise fail(f"{where}.threshold is seconds of TargetResponseTime in (0, 3600], got {table['threshold']!r}")
    min_requests = table.get("min_requests", 50)
    if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 0:
        raise fail(f"{where}.min_requests must be a whole number >= 0, got {min_requests!r}")
    limit = table.get("failure_limit", 1)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise fail(f"{where}.failure_limit must be a whole number of consecutive failed checks in [1, 1000], got {limit!r}")
    no_data = table.get("no_data", "wait")
    if no_data not in NO_DATA_POLICIES:
        raise fail(f'{where}.no_data must be one of "pass", "fail", "wait", got {no_data!r}')
    margin: float | None = None
    if "old_margin" in table:
        margin = _number(table, "old_margin", 0.0, fail, where=where)
        if margin < 0:
            raise fail(f"{where}.old_margin must be >= 0, got {table['old_margin']!r}")
    return MetricGate(metric=metric, threshold=threshold, min_requests=min_requests, failure_limit=limit,
                      no_data=no_data, old_margin=margin)


# -- what CloudWatch tells us -------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmState:
    """One alarm from DescribeAlarms."""

    name: str
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    updated: float  # StateUpdatedTimestamp, epoch seconds
    reason: str = ""


@dataclass(frozen=True)
class MetricSample:
    """One GetMetricData period of a target group (AWS/ApplicationELB)."""

    timestamp: float  # start of the period, epoch seconds
    requests: float  # RequestCount, Sum
    errors_5xx: float = 0.0  # HTTPCode_Target_5XX_Count, Sum (no datapoint when there were none)
    p99_seconds: float | None = None  # TargetResponseTime, p99


@dataclass(frozen=True)
class TargetGroupRef:
    """A target group as CloudWatch names it, with its ARN for messages."""

    arn: str
    label: str = ""  # e.g. "green" or "shared target group"


class CloudWatchPort(Protocol):
    def alarms(self, names: Sequence[str]) -> dict[str, AlarmState]:
        """DescribeAlarms of these names; an alarm that does not exist is absent from the result."""

    def target_group_samples(self, target_group_arn: str, start: float, end: float,
                             period: int, *, latency: bool = True) -> list[MetricSample]:
        """GetMetricData of RequestCount, HTTPCode_Target_5XX_Count and (with ``latency``)
        TargetResponseTime p99 in [start, end) (epoch seconds), one sample per period that has
        requests."""


# -- verdicts (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateVerdict:
    tripped: bool
    gate: str  # e.g. "alarm web-5xx" or "5xx rate"
    reason: str  # one line with the numbers

    def __str__(self) -> str:
        return f"gate {self.gate}: {self.reason}"


class GateWatch(Protocol):
    @property
    def started(self) -> bool:
        """Whether ``start`` has set the baseline (a release starts its gates before any change)."""

    def start(self, now: float) -> GateVerdict | None:
        """Before any traffic moves: a pre-existing ALARM etc. A tripped verdict means: do not start."""

    def check(self, now: float) -> GateVerdict | None:
        """Each poll during pauses, verify windows and the bake; ``None`` between intervals."""


def clock_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%SZ")


def format_value(metric: str, value: float) -> str:
    if metric == FIVE_XX_RATE:
        return f"{value * 100:.1f}%"
    return f"{value:.3f}s"


def alarm_at_start(state: AlarmState, *, block: bool) -> GateVerdict | None:
    """An alarm already in ALARM when the release begins: blocks it (``block``) or is reported."""
    if state.state != ALARM:
        return None
    said = f": {state.reason}" if state.reason else ""
    if block:
        return GateVerdict(True, f"alarm {state.name}",
                           f"already in ALARM since {clock_text(state.updated)}, before the release began{said}")
    return GateVerdict(False, f"alarm {state.name}",
                       f"already in ALARM since {clock_text(state.updated)}, not blocking "
                       f"(block_on_existing_alarm = false): only a new transition to ALARM trips{said}")


def alarm_verdict(baseline: AlarmState | None, current: AlarmState | None, name: str) -> GateVerdict:
    """Trips on a transition to ALARM after the baseline was taken; an alarm deleted meanwhile
    trips too: a gate that can no longer watch must not pass silently."""
    gate = f"alarm {name}"
    if current is None:
        return GateVerdict(True, gate, "the alarm no longer exists (DescribeAlarms); nothing watches the release")
    if current.state == ALARM and (baseline is None or baseline.state != ALARM or current.updated != baseline.updated):
        said = f": {current.reason}" if current.reason else ""
        return GateVerdict(True, gate, f"went to ALARM at {clock_text(current.updated)}{said}")
    return GateVerdict(False, gate, current.state)


@dataclass(frozen=True)
class Window:
    """A metric over a window: ``value`` is ``None`` when there is too little traffic to judge."""

    requests: float
    errors_5xx: float
    value: float | None

    def describe(self, metric: str) -> str:
        if metric == FIVE_XX_RATE:
            if self.value is None:
                return f"{self.errors_5xx:.0f} 5xx of {self.requests:.0f} requests"
            return f"{format_value(metric, self.value)} ({self.errors_5xx:.0f} of {self.requests:.0f} requests)"
        return (f"{format_value(metric, self.value)} over {self.requests:.0f} requests" if self.value is not None
                else f"no latency over {self.requests:.0f} requests")


def window_of(gate: MetricGate, samples: Sequence[MetricSample]) -> Window:
    """The metric over ``samples``; ``value`` stays ``None`` below ``min_requests`` (ALB publishes
    no datapoint without requests, and a rate over three requests decides nothing)."""
    requests = sum(s.requests for s in samples)
    errors = sum(s.errors_5xx for s in samples)
    enough = requests > 0 and requests >= gate.min_requests
    value: float | None = None
    if enough and gate.metric == FIVE_XX_RATE:
        value = errors / requests
    elif enough:
        # CloudWatch cannot merge percentiles of several periods: the worst period's p99 is the
        # conservative reading of the window's.
        p99s = [s.p99_seconds for s in samples if s.p99_seconds is not None and s.requests > 0]
        value = max(p99s) if p99s else None
    return Window(requests, errors, value)


PASS, FAIL, NO_DATA = "pass", "fail", "no-data"


@dataclass(frozen=True)
class Judgement:
    outcome: str  # pass | fail | no-data
    reason: str


def judge_metric(gate: MetricGate, new: Sequence[MetricSample], old: Sequence[MetricSample] | None,
                 *, since: str = "") -> Judgement:
    """One check of a metric gate: the new color's window against the threshold, then (with
    ``old_margin``) against the old color's window when it has enough requests to compare."""
    mine = window_of(gate, new)
    span = f" since {since}" if since else ""
    if mine.value is None:
        return Judgement(NO_DATA, f"{gate.label}: no decision{span}, {mine.describe(gate.metric)} "
                                  f"(min_requests {gate.min_requests})")
    text = f"{gate.label} {mine.describe(gate.metric)}{span}"
    limit = format_value(gate.metric, gate.threshold)
    if mine.value <= gate.threshold:
        return Judgement(PASS, f"{text} <= {limit}")
    if gate.old_margin is not None and old is not None:
        theirs = window_of(gate, old)
        if theirs.value is not None:
            base = f"old color {theirs.describe(gate.metric)}"
            if mine.value <= theirs.value + gate.old_margin:
                return Judgement(PASS, f"{text} > {limit} but within old_margin "
                                       f"{format_value(gate.metric, gate.old_margin)} of the {base}")
            return Judgement(FAIL, f"{text} > {limit}; {base}")
    return Judgement(FAIL, f"{text} > {limit}")


def count_failures(policy: str, outcome: str, consecutive: int) -> int:
    """Consecutive failed checks after this one. No data counts as the gate's policy says:
    ``pass`` resets the count, ``fail`` adds one, ``wait`` leaves it as it was (no decision)."""
    if outcome == NO_DATA:
        outcome = {"pass": PASS, "fail": FAIL}.get(policy, NO_DATA)
    if outcome == PASS:
        return 0
    if outcome == FAIL:
        return consecutive + 1
    return consecutive


# -- the watch --------------------------------------------------------------------------------


@dataclass
class CloudWatchGateWatch:
    """``GateWatch`` over ``CloudWatchPort``. ``new``: the target group whose metrics judge the new
    color (in the attach mode the one shared target group); ``old``: the old color's own target
    group when there is one (weighted mode), for the ``old_margin`` comparison. ``wall``: epoch
    seconds (CloudWatch's time); ``now`` arguments are the executor's monotonic clock."""

    settings: GateSettings
    port: CloudWatchPort
    new: TargetGroupRef | None = None
    old: TargetGroupRef | None = None
    wall: Callable[[], float] = time.time
    source: str = "bluegreen.toml"
    baseline: dict[str, AlarmState] = field(default_factory=dict)
    failures: dict[int, int] = field(default_factory=dict)  # metric gate index -> consecutive failures
    started_wall: float | None = None
    last_check: float | None = None
    last: GateVerdict | None = None

    @property
    def started(self) -> bool:
        return self.started_wall is not None

    def read_alarms(self) -> dict[str, AlarmState]:
        """DescribeAlarms of every configured alarm; ``ConfigError`` (exit 3) naming the first
        that does not exist, so a typo stops the release before anything changes."""
        names = [a.name for a in self.settings.alarms]
        if not names:
            return {}
        found = self.port.alarms(names)
        for number, name in enumerate(names, start=1):
            if name not in found:
                raise ConfigError(f"{self.source}: gates.alarm[{number}].name {name!r}: no such CloudWatch "
                                  "alarm (DescribeAlarms found none by that name in the service's region); "
                                  "create it or fix the name")
        return found

    def start(self, now: float) -> GateVerdict | None:
        states = self.read_alarms()
        self.baseline = dict(states)
        self.failures = {i: 0 for i in range(len(self.settings.metrics))}
        self.started_wall = self.wall()
        self.last_check = now
        notes: list[GateVerdict] = []
        for gate in self.settings.alarms:
            verdict = alarm_at_start(states[gate.name], block=self.settings.block_on_existing_alarm)
            if verdict is not None and verdict.tripped:
                self.last = verdict
                return verdict
            if verdict is not None:
                notes.append(verdict)
        armed = [f"{a.name} {states[a.name].state}" for a in self.settings.alarms]
        armed += [m.label for m in self.settings.metrics]
        reason = "watching " + ", ".join(armed) + "".join(f"; {n.gate} {n.reason}" for n in notes)
        self.last = GateVerdict(False, "gates", reason)
        return self.last

    def check(self, now: float) -> GateVerdict | None:
        if self.started_wall is None:
            return self.start(now)
        if self.last_check is not None and now - self.last_check < self.settings.interval:
            return None
        self.last_check = now
        self.last = self.evaluate()
        return self.last

    def evaluate(self) -> GateVerdict:
        """One reading of every gate, alarms first (CloudWatch's own verdict), then metrics."""
        passing: list[str] = []
        if self.settings.alarms:
            names = [a.name for a in self.settings.alarms]
            current = self.port.alarms(names)
            for name in names:
                verdict = alarm_verdict(self.baseline.get(name), current.get(name), name)
                if verdict.tripped:
                    return verdict
                passing.append(f"{name} {verdict.reason}")
        if self.settings.metrics and self.new is not None:
            assert self.started_wall is not None
            end = self.wall()
            begin = max(self.started_wall, end - self.settings.window)
            if end - begin >= 1:  # GetMetricData refuses StartTime == EndTime (whole seconds)
                # p99 only when a gate needs it: each statistic is a metric CloudWatch bills.
                latency = any(m.metric == P99_LATENCY for m in self.settings.metrics)
                period = self.settings.period
                new = self.port.target_group_samples(self.new.arn, begin, end, period, latency=latency)
                old = (self.port.target_group_samples(self.old.arn, begin, end, period, latency=latency)
                       if self.old is not None and any(m.old_margin is not None for m in self.settings.metrics)
                       else None)
                for index, gate in enumerate(self.settings.metrics):
                    judged = judge_metric(gate, new, old, since=clock_text(begin))
                    count = count_failures(gate.no_data, judged.outcome, self.failures.get(index, 0))
                    self.failures[index] = count
                    if count >= gate.failure_limit:
                        times = f" on {count} consecutive checks" if gate.failure_limit > 1 else ""
                        if judged.outcome == NO_DATA:
                            return GateVerdict(True, gate.label, f"{judged.reason}{times} (no_data = \"fail\")")
                        return GateVerdict(True, gate.label, f"{judged.reason}{times}")
                    passing.append(judged.reason + (f" (failed {count} of {gate.failure_limit})" if count else ""))
        return GateVerdict(False, "gates", "; ".join(passing) or "nothing to read yet")


def build_gate_watch(settings: GateSettings, port: CloudWatchPort | None, new_tg: str | None,
                     old_tg: str | None = None, *, source: str = "bluegreen.toml",
                     wall: Callable[[], float] = time.time) -> CloudWatchGateWatch | None:
    """The executor's factory: ``None`` when no gate is configured (nothing is read). ``new_tg``
    is the target group whose metrics judge the new color (the shared one in the attach mode;
    ``None`` for a classic ELB, where only alarms can watch); ``old_tg`` the old color's own."""
    if not settings.enabled or port is None:
        return None
    return CloudWatchGateWatch(
        settings, port,
        new=TargetGroupRef(new_tg) if new_tg else None,
        old=TargetGroupRef(old_tg) if old_tg else None,
        wall=wall, source=source,
    )


def metric_gates_unusable(settings: GateSettings, new_tg: str | None) -> str | None:
    """Why the metric gates cannot watch this stack (no target group: a classic ELB), else ``None``."""
    if settings.metrics and not new_tg:
        return ("gates.metric needs an ALB target group (AWS/ApplicationELB metrics); this stack serves "
                "through a classic ELB: use [[gates.alarm]] on AWS/ELB metrics instead")
    return None


def alarm_states(found: Mapping[str, AlarmState]) -> str:
    return ", ".join(f"{name} {state.state}" for name, state in found.items())


READ_FAILURES_TRIP = 3


def gated_probe(probe: Callable[[], Verdict], watch: GateWatch | None, clock: Any, reporter: Any = None, *,
                color: str | None = None, while_waiting: bool = False) -> Callable[[], Verdict]:
    """A wait's probe (``health.Verdict``) that also fails when a gate trips: a verify or keep-old
    window then fails like one with an unhealthy target, with the gate's name and numbers as the
    reason. Gates are read at most once per interval, and only while the probe itself passes
    (an unhealthy target says more than a metric), unless ``while_waiting``: a wait that is not
    about the new color (the old one draining while the new one serves alone) reads them while
    it waits, so users hurt by the new color are noticed there too."""
    if watch is None:
        return probe
    errors: list[str] = []  # consecutive failed reads

    def gated() -> Verdict:
        verdict = probe()
        if not verdict.ok and not while_waiting:
            return verdict
        try:
            gate = watch.check(clock.now())
        except AwsError as exc:
            # One failed read (after botocore's retries) is a warning; a gate that cannot read
            # CloudWatch READ_FAILURES_TRIP times in a row trips: nothing watches users any more.
            errors.append(str(exc))
            if len(errors) < READ_FAILURES_TRIP:
                if reporter is not None:
                    reporter.warn(f"gates: could not read CloudWatch ({exc}); trying again next interval", color=color)
                return verdict
            gate = GateVerdict(True, "gates", f"CloudWatch unreadable {len(errors)} times in a row: {errors[-1]}")
        else:
            errors.clear()
        if gate is None:
            return verdict
        if reporter is not None:
            reporter.event("gate", gate=gate.gate, tripped=gate.tripped, reason=gate.reason, color=color)
        if gate.tripped:
            if reporter is not None:
                reporter.error(f"{gate}", color=color)
            return Verdict(False, str(gate), failed=True)
        if reporter is not None:
            reporter.info(f"gates pass: {gate.reason}", color=color)
        return verdict

    return gated
