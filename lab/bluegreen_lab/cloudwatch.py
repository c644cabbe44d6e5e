"""The lab's CloudWatch model: the target-group metrics an ALB publishes, from the lab's real traffic.

HAProxy logs one line per request (``haproxy.REQUEST_LOG_MARK``: accept time, total time, server,
status, server response time). ``CloudWatchModel`` tails that log, maps each request's server (an
instance id) to the target groups that instance is registered with (the fidelity layer's
registry; draining targets still count: they finish in-flight requests), and publishes into the
emulated CloudWatch, namespace ``AWS/ApplicationELB`` with AWS's dimensions ``TargetGroup``
(``targetgroup/NAME/ID``) and ``LoadBalancer`` (``app/NAME/ID``):

* ``RequestCount`` (Sum): requests a target answered, per period with requests only (an ALB
  publishes no datapoint without requests);
* ``HTTPCode_Target_5XX_Count``: 5xx answers of the targets, only for periods that had one;
* ``TargetResponseTime`` (Seconds): each request's time from HAProxy sending it to the first
  response byte (HAProxy's ``%Tr``), as raw values, so percentiles such as ``p99`` work.

Periods are one second (AWS: 60 s), published half a second after they end; the fidelity layer
evaluates alarms on them as CloudWatch would. What it does not model from AWS: the minute
resolution and the one-to-three-minute publication delay of real ALB metrics; requests answered by
the load balancer itself (HAProxy's 503 without a server: AWS's ``HTTPCode_ELB_5XX_Count``, not
published); per-AZ dimensions; ``TargetResponseTime`` counts only the server's time to the
response headers as HAProxy measures it on 127.0.0.1.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .haproxy import REQUEST_LOG_MARK

NAMESPACE = "AWS/ApplicationELB"
MAX_VALUES = 150  # PutMetricData: at most 150 distinct values per datum

Dimensions = tuple[str, str]  # (TargetGroup value, LoadBalancer value)


@dataclass(frozen=True)
class Request:
    end: float  # epoch seconds when the response ended
    server: str  # HAProxy server name (= instance id); "<NOSRV>" when HAProxy answered itself
    status: int
    response_time: float | None  # seconds to the response headers; None when none came


def parse_line(line: str) -> Request | None:
    """One ``REQUEST_LOG_MARK`` line of HAProxy's log, or ``None`` for anything else."""
    parts = line.split()
    if len(parts) != 6 or parts[0] != REQUEST_LOG_MARK:
        return None
    try:
        accepted, total_ms, status, tr_ms = float(parts[1]), int(parts[2]), int(parts[4]), int(parts[5])
    except ValueError:
        return None
    return Request(end=accepted + max(total_ms, 0) / 1000.0, server=parts[3], status=status,
                   response_time=tr_ms / 1000.0 if tr_ms >= 0 else None)


@dataclass
class Bucket:
    requests: int = 0
    errors_5xx: int = 0
    times: Counter = field(default_factory=Counter)  # response time rounded to 1 ms -> count


class Aggregator:
    """Requests -> one-second buckets per target group -> PutMetricData items once closed."""

    def __init__(self, resolution_s: float = 1.0) -> None:
        self.resolution_s = resolution_s
        self.buckets: dict[tuple[Dimensions, float], Bucket] = defaultdict(Bucket)

    def add(self, request: Request, target_groups: Iterable[Dimensions]) -> None:
        start = math.floor(request.end / self.resolution_s) * self.resolution_s
        for dims in target_groups:
            bucket = self.buckets[(dims, start)]
            bucket.requests += 1
            if 500 <= request.status <= 599:
                bucket.errors_5xx += 1
            if request.response_time is not None:
                bucket.times[round(request.response_time, 3)] += 1

    def closed(self, now: float, lag_s: float) -> list[dict[str, Any]]:
        """Metric data of every bucket that ended at least ``lag_s`` before ``now``, removed."""
        data: list[dict[str, Any]] = []
        for key in sorted(k for k in self.buckets if k[1] + self.resolution_s + lag_s <= now):
            bucket = self.buckets.pop(key)
            data.extend(metric_data(key[0], key[1], bucket))
        return data


def metric_data(dims: Dimensions, start: float, bucket: Bucket) -> list[dict[str, Any]]:
    """An ALB's datapoints for one target group and period (naive UTC: moto's own timestamps)."""
    if not bucket.requests:
        return []
    stamp = datetime.fromtimestamp(start, timezone.utc).replace(tzinfo=None)
    dimensions = [{"Name": "TargetGroup", "Value": dims[0]}, {"Name": "LoadBalancer", "Value": dims[1]}]

    def datum(name: str, unit: str, **value: Any) -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dimensions, "Timestamp": stamp, "Unit": unit, **value}

    out = [datum("RequestCount", "Count", Value=float(bucket.requests))]
    if bucket.errors_5xx:
        out.append(datum("HTTPCode_Target_5XX_Count", "Count", Value=float(bucket.errors_5xx)))
    items = sorted(bucket.times.items())
    for i in range(0, len(items), MAX_VALUES):
        chunk = items[i:i + MAX_VALUES]
        out.append(datum("TargetResponseTime", "Seconds", Values=[v for v, _ in chunk],
                         Counts=[float(n) for _, n in chunk]))
    return out


class CloudWatchModel:
    """Tails HAProxy's log on a daemon thread and publishes the lab's ALB metrics.

    ``log_path``: HAProxy's log file; ``target_groups``: instance id -> the (TargetGroup,
    LoadBalancer) dimension values of every target group it is registered with; ``publish``:
    puts metric data into the emulated CloudWatch. ``tick()`` runs one round synchronously."""

    def __init__(self, log_path: Callable[[], Path | None],
                 target_groups: Callable[[], Mapping[str, list[Dimensions]]],
                 publish: Callable[[list[dict[str, Any]]], None], *, interval_s: float = 0.25,
                 lag_s: float = 0.5, wall: Callable[[], float] = time.time,
                 max_runtime_s: float = 6 * 3600) -> None:
        self._log_path = log_path
        self._target_groups = target_groups
        self._publish = publish
        self.interval_s = interval_s
        self.lag_s = lag_s
        self.wall = wall
        self.max_runtime_s = max_runtime_s
        self.aggregator = Aggregator()
        self._offset = 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.published = 0  # datapoints put, for tests and the demo
        self.unmapped = 0  # requests of a server in no target group (HAProxy answered, or a race)
        self.errors: list[str] = []

    def start(self) -> "CloudWatchModel":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cloudwatch-model", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_runtime_s
        while not self._stop.wait(self.interval_s) and time.monotonic() < deadline:
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the model must outlive one bad read
                self.errors = (self.errors + [repr(exc)])[-20:]

    def _new_lines(self) -> list[str]:
        path = self._log_path()
        if path is None or not path.exists():
            return []
        with path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        self._offset += len(chunk)
        text = self._partial + chunk
        lines = text.split(b"\n")
        self._partial = lines.pop()  # an unfinished line waits for the next read
        return [line.decode(errors="replace") for line in lines]

    def tick(self) -> int:
        """Read the new log lines, publish the periods that closed; returns datapoints put."""
        with self._lock:
            requests = [r for r in map(parse_line, self._new_lines()) if r is not None]
            if requests:
                mapping = self._target_groups()
                for request in requests:
                    groups = mapping.get(request.server, [])
                    if not groups:
                        self.unmapped += 1
                    self.aggregator.add(request, groups)
            data = self.aggregator.closed(self.wall(), self.lag_s)
            if data:
                self._publish(data)
                self.published += len(data)
            return len(data)
