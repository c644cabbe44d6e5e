"""CloudWatch: metric alarms that CloudWatch evaluates, and percentile statistics.

moto 5.2.5 stores metric alarms and never evaluates them (a new alarm reads ``OK``, "Unchecked:
Initial alarm creation", whatever its metric does), and answers a GetMetricData query for a
percentile (``p99``) with an internal error. The gates of a release read both, so the lab's
CloudWatch must do what AWS does with the metrics the lab publishes (``bluegreen_lab.cloudwatch``).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator

from ._patching import Patcher

if TYPE_CHECKING:
    from .core import Fidelity

# CloudWatch evaluates a period shortly after it ends, so datapoints published a little late
# (the lab publishes each second about half a second after it closes) still count.
EVALUATION_DELAY_S = 2.0

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
_COMPARE = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, CloudWatch's reading of ``pNN`` over raw values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _backends() -> Iterator[Any]:
    from moto.cloudwatch.models import cloudwatch_backends

    for account in list(dict.values(cloudwatch_backends)):
        yield from list(dict.values(account))


def _naive_utc(epoch: float) -> datetime:
    # moto keeps its own timestamps naive UTC (moto.core.utils.utcnow).
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def statistic_of(data: list[Any], statistic: str) -> float | None:
    """One period's statistic over moto's datums (single values and statistic sets)."""
    singles = [d.value for d in data if hasattr(d, "value")]
    sets = [d for d in data if hasattr(d, "sample_count")]
    match = _PERCENTILE.match(statistic)
    if match:
        return percentile(singles, float(match.group(1)))  # a statistic set has no percentiles
    count = len(singles) + sum(s.sample_count for s in sets)
    if not count:
        return None
    total = sum(singles) + sum(s.sum for s in sets)
    if statistic == "Sum":
        return total
    if statistic == "SampleCount":
        return float(count)
    if statistic == "Average":
        return total / count
    if statistic == "Minimum":
        return min(singles + [s.min for s in sets])
    if statistic == "Maximum":
        return max(singles + [s.max for s in sets])
    return None


def evaluate_alarm(alarm: Any, metrics: list[Any], now: float) -> tuple[str, str, dict[str, Any]] | None:
    """The state CloudWatch gives ``alarm`` at ``now`` (epoch seconds), with AWS's reason text,
    or ``None`` to keep the current state (``TreatMissingData = ignore`` without data)."""
    period = int(alarm.period or 60)
    periods = int(alarm.evaluation_periods or 1)
    needed = int(alarm.datapoints_to_alarm or periods)
    statistic = alarm.extended_statistic or alarm.statistic or "Average"
    compare, words = _COMPARE[alarm.comparison_operator]
    end = math.floor((now - EVALUATION_DELAY_S) / period) * period
    dims = sorted(alarm.dimensions)
    mine = [m for m in metrics
            if m.namespace == alarm.namespace and m.name == alarm.metric_name
            and sorted(m.dimensions) == dims and (not alarm.unit or m.unit == alarm.unit)
            and end - periods * period <= _epoch(m.timestamp) < end]
    points: list[tuple[float, float | None]] = []  # (period start, value), newest first
    for k in range(periods):
        start = end - (k + 1) * period
        data = [m for m in mine if start <= _epoch(m.timestamp) < start + period]
        points.append((start, statistic_of(data, statistic) if data else None))
    treat = alarm.treat_missing_data or "missing"
    present = [(t, v) for t, v in points if v is not None]
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return None
        return ("INSUFFICIENT_DATA", f"Insufficient Data: {periods} datapoint{'s' if periods > 1 else ''} "
                "were unknown.", {"version": "1.0", "queryDate": _naive_utc(now).isoformat()})
    breaching = sum(1 for _, v in present if compare(v, alarm.threshold))
    if treat == "breaching":
        breaching += len(points) - len(present)
    state = "ALARM" if breaching >= needed else "OK"
    shown = ", ".join(f"{v} ({_naive_utc(t).strftime('%d/%m/%y %H:%M:%S')})" for t, v in present)
    verb = "were" if breaching != 1 else "was"
    if state == "ALARM":
        reason = (f"Threshold Crossed: {breaching} out of the last {periods} datapoints [{shown}] {verb} "
                  f"{words} the threshold ({alarm.threshold}) (minimum {needed} datapoint"
                  f"{'s' if needed > 1 else ''} for OK -> ALARM transition).")
    else:
        reason = (f"Threshold Crossed: no more than {needed - 1} out of the last {periods} datapoints "
                  f"[{shown}] {words} the threshold ({alarm.threshold}) (minimum {needed} datapoint"
                  f"{'s' if needed > 1 else ''} for ALARM -> OK transition).")
    data = {"version": "1.0", "queryDate": _naive_utc(now).isoformat(), "statistic": statistic,
            "period": period, "threshold": alarm.threshold,
            "recentDatapoints": [v for _, v in present], "evaluatedDatapoints": [
                {"timestamp": _naive_utc(t).isoformat(), "value": v} for t, v in present]}
    return state, reason, data


def metric_alarms_are_evaluated(p: Patcher, fid: "Fidelity") -> None:
    """AWS (CloudWatch user guide, "Using Amazon CloudWatch alarms"): a metric alarm starts in
    ``INSUFFICIENT_DATA`` and CloudWatch evaluates it every period: the statistic of each of the
    last ``EvaluationPeriods`` periods is compared with the threshold; ``DatapointsToAlarm`` of
    them breaching (default: all) put it in ``ALARM``, otherwise ``OK``; a period without data is
    treated as ``TreatMissingData`` says (``missing``: all missing -> ``INSUFFICIENT_DATA``;
    ``notBreaching``, ``breaching``, ``ignore``: keep the state). Every change of state sets
    ``StateUpdatedTimestamp``, ``StateReason`` ("Threshold Crossed: ...") and ``StateReasonData``.

    moto 5.2.5 never evaluates an alarm: it reads ``OK`` from creation on, whatever its metric.
    Here each alarm on one metric is evaluated when a new period has ended (by ``fid.wall``,
    epoch seconds), at the start of every API call and of every fidelity read. Alarms on metric
    math (``Metrics=[...]``) and composite alarms are left as moto keeps them."""
    from moto.cloudwatch.models import CloudWatchBackend

    evaluated: dict[tuple[str, Any], float] = {}

    def make_put(original: Any) -> Any:
        def put_metric_alarm(self: Any, *args: Any, **kwargs: Any) -> Any:
            alarm = original(self, *args, **kwargs)
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_reason = "Unchecked: Initial alarm creation"
            evaluated.pop((alarm.alarm_arn, alarm.configuration_updated_timestamp), None)
            return alarm

        return put_metric_alarm

    p.wrap(CloudWatchBackend, "put_metric_alarm", make_put)

    def settle_alarms() -> None:
        now = float(fid.wall())
        for backend in _backends():
            alarms = [a for a in list(backend.alarms.values()) if a.metric_name and not a.metric_data_queries
                      and a.rule is None and a.comparison_operator in _COMPARE]
            if not alarms:
                continue
            metrics = None
            for alarm in alarms:
                period = int(alarm.period or 60)
                end = math.floor((now - EVALUATION_DELAY_S) / period) * period
                key = (alarm.alarm_arn, alarm.configuration_updated_timestamp)
                if evaluated.get(key) == end:
                    continue  # AWS evaluates once per period
                evaluated[key] = end
                if metrics is None:
                    metrics = list(backend.metric_data)
                result = evaluate_alarm(alarm, metrics, now)
                if result is None or result[0] == alarm.state_value:
                    continue
                state, reason, data = result
                alarm.update_state(reason, json.dumps(data), state)
                alarm.state_updated_timestamp = _naive_utc(end + EVALUATION_DELAY_S)

    fid.add_settler(settle_alarms)


def percentile_statistics(p: Patcher, fid: "Fidelity") -> None:
    """AWS (GetMetricData, MetricStat.Stat): "The statistic to return. It can include any
    CloudWatch statistic or extended statistic", a percentile such as ``p99`` among them, computed
    over the raw values published in the period (a statistic set has no percentiles).

    moto 5.2.5 computes only the five basic statistics: a ``p99`` query makes its serializer fail
    on ``None`` and the call answers HTTP 500."""
    from moto.cloudwatch.models import Statistics

    def make(original: Any) -> Any:
        def get_statistics_for_type(self: Any, stat: str) -> Any:
            match = _PERCENTILE.match(stat or "")
            if match:
                return percentile(self.metric_single_values_list, float(match.group(1)))
            return original(self, stat)

        return get_statistics_for_type

    p.wrap(Statistics, "get_statistics_for_type", make)
