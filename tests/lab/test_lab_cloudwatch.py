"""The sample app's user-hurting fault and the lab's CloudWatch model over a real HAProxy: a
version that passes its health checks while answering 500 to 5 % of requests, or slower; its
requests, 5xx answers and response times as an ALB would publish them for its target group."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bluegreen_lab.cloudwatch import CloudWatchModel
from bluegreen_lab.haproxy import REQUEST_LOG_MARK, HAProxy
from bluegreen_lab.instances import InstanceFleet
from bluegreen_lab.cloudwatch import Aggregator
from bluegreen_lab.fidelity.cloudwatch import percentile

pytestmark = pytest.mark.lab

TG = ("targetgroup/web/1", "app/web/2")


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_for_request_lines(log: Path, count: int, timeout_s: float = 5.0) -> int:
    """HAProxy writes a request's log line after the answer has gone out, so the client can see
    its last answer before the line is in the file: wait (bounded) until all ``count`` are."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = log.read_text(errors="replace").count(REQUEST_LOG_MARK + " ")
        if seen >= count or time.monotonic() >= deadline:
            return seen
        time.sleep(0.02)


def test_a_faulty_version_passes_its_checks_and_the_model_counts_its_5xx(haproxy_bin: str) -> None:
    with HAProxy(binary=haproxy_bin) as hp, InstanceFleet() as fleet:
        fast = fleet.start("i-fast", "v2", fault="errors=0.05")
        slow = fleet.start("i-slow", "v2", fault="latency_ms=60")
        for name, port in (("i-fast", fast), ("i-slow", slow)):
            hp.add(name, port)
            hp.ready(name)
        assert hp.wait_for("i-fast", "healthy", 5) and hp.wait_for("i-slow", "healthy", 5)
        put: list[dict] = []
        model = CloudWatchModel(lambda: hp.log_path, lambda: {"i-fast": [TG], "i-slow": [TG]}, put.extend,
                                wall=lambda: float("inf"))
        statuses = [status_of(hp.url) for _ in range(80)]
        assert wait_for_request_lines(hp.log_path, 80) == 80
        model.aggregator = Aggregator(resolution_s=3600)  # one bucket for the whole run
        model.tick()
        assert hp.health("i-fast") == "healthy" and hp.health("i-slow") == "healthy"  # checks still pass
    # Round robin: 40 requests each; every 20th of the faulty one's answers 500 (exactly 2).
    assert statuses.count(500) == 2 and statuses.count(200) == 78
    sums: dict[str, float] = {}
    times: list[float] = []
    for d in put:
        assert d["Dimensions"] == [{"Name": "TargetGroup", "Value": TG[0]}, {"Name": "LoadBalancer", "Value": TG[1]}]
        if "Value" in d:
            sums[d["MetricName"]] = sums.get(d["MetricName"], 0) + d["Value"]
        else:
            times += [v for v, n in zip(d["Values"], d["Counts"]) for _ in range(int(n))]
    assert sums == {"RequestCount": 80, "HTTPCode_Target_5XX_Count": 2}
    assert len(times) == 80
    assert percentile(times, 99) >= 0.06 and percentile(times, 25) < 0.06  # the slow half shows in p99
