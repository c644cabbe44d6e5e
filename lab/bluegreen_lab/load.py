"""Open-loop HTTP load against the lab's load balancer, recording every request.

Requests are paced at ``rate_per_s`` by one dispatcher thread and sent by a bounded pool of worker
threads, one TCP connection per request (``Connection: close``), each with a timeout. The run is
bounded by ``duration_s`` and ``max_requests`` both; ``stop()`` ends it early. A request that
cannot even be queued (every worker busy, the queue full) is recorded as failed (``dropped``).
"""

from __future__ import annotations

import http.client
import json
import math
import queue
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DROPPED = "dropped"  # RequestRecord.error of a request no worker could take in time


@dataclass(frozen=True)
class RequestRecord:
    start: float            # seconds since the generator started (monotonic)
    latency: float          # seconds
    status: int | None      # HTTP status, None when no response
    error: str | None       # error class ("ConnectionRefusedError", "timeout", "http_503", ...)
    version: str | None     # version served (X-App-Version / JSON body); on a failure its header, if any
    instance_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200

    @property
    def end(self) -> float:
        return self.start + self.latency


@dataclass
class LoadSummary:
    total: int
    ok: int
    failures: int
    failure_kinds: dict[str, int]
    versions: dict[str, int]                       # responses per version
    versions_over_time: dict[int, dict[str, int]]  # second of request start -> version -> count
    old_version: str | None
    new_version: str | None
    mixed_window_s: float           # last old-version response - first new-version response (>= 0)
    first_new_at: float | None
    last_old_at: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    duration_s: float
    achieved_rate_per_s: float
    extra: dict = field(default_factory=dict)

    def as_text(self) -> str:
        lines = [
            f"requests {self.total} in {self.duration_s:.1f}s ({self.achieved_rate_per_s:.0f}/s), "
            f"ok {self.ok}, failures {self.failures}"
            + (f" {self.failure_kinds}" if self.failure_kinds else ""),
            "versions " + ", ".join(f"{v}: {n}" for v, n in sorted(self.versions.items())),
        ]
        if self.old_version and self.new_version:
            lines.append(f"mixed-version window {self.mixed_window_s:.2f}s "
                         f"({self.old_version} -> {self.new_version})")
        if self.latency_p50_ms is not None:
            lines.append(f"latency p50 {self.latency_p50_ms:.1f} ms, p99 {self.latency_p99_ms:.1f} ms, "
                         f"max {self.latency_max_ms:.1f} ms")
        return "\n".join(lines)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(records: list[RequestRecord], *, old: str | None = None,
              new: str | None = None) -> LoadSummary:
    """Summary of a run. ``old``/``new`` default to the first and the last version to appear."""
    records = sorted(records, key=lambda r: r.start)
    ok = [r for r in records if r.ok]
    kinds = Counter(r.error or f"http_{r.status}" for r in records if not r.ok)
    versions = Counter(r.version for r in ok if r.version)
    over_time: dict[int, Counter] = {}
    for r in ok:
        if r.version:
            over_time.setdefault(int(r.start), Counter())[r.version] += 1
    order: list[str] = []
    for r in sorted(ok, key=lambda r: r.end):
        if r.version and r.version not in order:
            order.append(r.version)
    old = old or (order[0] if order else None)
    new = new or (order[-1] if len(order) > 1 else None)
    first_new = min((r.end for r in ok if r.version == new), default=None) if new else None
    last_old = max((r.end for r in ok if r.version == old), default=None) if old else None
    mixed = 0.0
    if first_new is not None and last_old is not None:
        mixed = max(0.0, last_old - first_new)
    lat = [r.latency * 1000 for r in records if r.status is not None]
    duration = (max(r.end for r in records) - records[0].start) if records else 0.0
    return LoadSummary(
        total=len(records), ok=len(ok), failures=len(records) - len(ok),
        failure_kinds=dict(kinds), versions=dict(versions),
        versions_over_time={k: dict(v) for k, v in sorted(over_time.items())},
        old_version=old, new_version=new, mixed_window_s=mixed,
        first_new_at=first_new, last_old_at=last_old,
        latency_p50_ms=percentile(lat, 50), latency_p99_ms=percentile(lat, 99),
        latency_max_ms=max(lat) if lat else None, duration_s=duration,
        achieved_rate_per_s=len(records) / duration if duration > 0 else 0.0)


def _version_of(resp: http.client.HTTPResponse, body: bytes) -> tuple[str | None, str | None]:
    version = resp.getheader("X-App-Version")
    instance = resp.getheader("X-Instance-Id")
    if version is None and body:
        try:
            doc = json.loads(body)
            version, instance = doc.get("version"), doc.get("instance_id", instance)
        except (ValueError, AttributeError):
            version = body.decode(errors="replace").strip()[:64] or None
    return version, instance


class LoadGenerator:
    """``LoadGenerator(url, rate_per_s=200, duration_s=10).start()`` ... ``.stop()`` / ``.wait()``."""

    def __init__(self, url: str, rate_per_s: float = 200, duration_s: float = 10.0,
                 max_requests: int | None = None, timeout_s: float = 10.0,
                 workers: int = 32) -> None:
        if rate_per_s <= 0 or duration_s <= 0:
            raise ValueError("rate_per_s and duration_s must be > 0")
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.rate_per_s = rate_per_s
        self.duration_s = duration_s
        self.max_requests = max_requests or math.ceil(rate_per_s * duration_s)
        self.timeout_s = timeout_s
        self.workers = workers
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, workers * 4))
        self._threads: list[threading.Thread] = []
        self._t0: float | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "LoadGenerator":
        if self._threads:
            return self
        self._t0 = time.monotonic()
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"load-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        d = threading.Thread(target=self._dispatch, name="load-dispatch", daemon=True)
        d.start()
        self._threads.append(d)
        return self

    def now(self) -> float:
        """Seconds since start, on the records' clock (for release-phase markers)."""
        return 0.0 if self._t0 is None else time.monotonic() - self._t0

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop dispatching and wait (bounded) for in-flight requests."""
        self._stop.set()
        self.wait(timeout_s)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the run to end on its own; ``True`` when every thread finished."""
        budget = timeout_s if timeout_s is not None else self.duration_s + self.timeout_s + 5
        deadline = time.monotonic() + budget
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def done(self) -> bool:
        return bool(self._threads) and not any(t.is_alive() for t in self._threads)

    def __enter__(self) -> "LoadGenerator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- results ---------------------------------------------------------------------------------

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def dropped(self) -> int:
        """Requests not sent in time because every worker was busy (the queue was full)."""
        with self._lock:
            return sum(1 for r in self._records if r.error == DROPPED)

    def summary(self, *, old: str | None = None, new: str | None = None) -> LoadSummary:
        s = summarize(self.records, old=old, new=new)
        s.extra["dropped"] = s.failure_kinds.get(DROPPED, 0)
        return s

    # -- threads ---------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        interval = 1.0 / self.rate_per_s
        assert self._t0 is not None
        end = self._t0 + self.duration_s
        try:
            for i in range(self.max_requests):
                due = self._t0 + i * interval
                if due >= end:
                    break
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                if self._stop.is_set():
                    break
                try:
                    self._queue.put_nowait(due)
                except queue.Full:
                    # Every worker is waiting on an answer: this request cannot go out at its time.
                    # It counts as failed, so a stall that ties up the workers is never hidden by
                    # requests that were simply not sent.
                    with self._lock:
                        self._records.append(RequestRecord(start=due - self._t0, latency=0.0, status=None,
                                                           error=DROPPED, version=None))
        finally:
            for _ in range(self.workers):
                self._queue.put(None)  # one sentinel per worker; workers drain the queue first

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._stop.is_set():
                continue  # drain without sending after stop()
            self._one()

    def _one(self) -> None:
        assert self._t0 is not None
        started = time.monotonic()
        status = version = instance = error = None
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.request("GET", self.path, headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read(65536)
            status = resp.status
            if status == 200:
                version, instance = _version_of(resp, body)
            else:
                error = f"http_{status}"
                # Who failed it: an instance's own error carries its version header; the load
                # balancer's own answers (HAProxy's 503) carry none. ``ok`` stays False either way.
                version, instance = resp.getheader("X-App-Version"), resp.getheader("X-Instance-Id")
        except (socket.timeout, TimeoutError):
            error = "timeout"
        except Exception as exc:  # noqa: BLE001 - every failure is a data point, by class
            error = type(exc).__name__
        finally:
            conn.close()
        rec = RequestRecord(start=started - self._t0, latency=time.monotonic() - started,
                            status=status, error=error, version=version, instance_id=instance)
        with self._lock:
            self._records.append(rec)
