from __future__ import annotations

import socket
import time

import pytest

from bluegreen_lab.haproxy import free_port
from bluegreen_lab.load import LoadGenerator, RequestRecord, percentile, summarize
from bluegreen_lab.timeline import bin_counts, text_summary, write_png

pytestmark = pytest.mark.lab


def rec(start, version="v1", status=200, error=None, latency=0.01):
    return RequestRecord(start=start, latency=latency, status=status, error=error, version=version)


def test_summary_mixed_window_failures_and_latency():
    records = ([rec(i * 0.1) for i in range(20)]                 # v1 from 0.0 to 1.9
               + [rec(1.5 + i * 0.1, "v2") for i in range(20)]   # v2 from 1.5
               + [rec(2.0, None, None, "ConnectionRefusedError"), rec(2.1, None, 503, "http_503")])
    s = summarize(records)
    assert (s.old_version, s.new_version) == ("v1", "v2")
    assert s.total == 42 and s.ok == 40 and s.failures == 2
    assert s.failure_kinds == {"ConnectionRefusedError": 1, "http_503": 1}
    assert s.versions == {"v1": 20, "v2": 20}
    assert s.mixed_window_s == pytest.approx(1.9 - 1.5, abs=1e-9)
    assert s.versions_over_time[1] == {"v1": 10, "v2": 5}
    assert s.latency_p50_ms == pytest.approx(10.0)
    assert "failures 2" in s.as_text() and "mixed-version window 0.40s" in s.as_text()


def test_summary_single_version_has_no_window():
    s = summarize([rec(0.0), rec(0.5)])
    assert s.new_version is None and s.mixed_window_s == 0.0


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([5.0], 99) == 5.0


def test_timeline_png_and_text(tmp_path):
    records = [rec(i * 0.05, "v1" if i < 40 else "v2") for i in range(80)] + [
        rec(1.0, None, None, "timeout")]
    starts, per_version, errors = bin_counts(records, 0.25)
    assert len(starts) == 16 and sum(errors) == 1
    assert sum(per_version["v1"]) == 40 and sum(per_version["v2"]) == 40
    out = write_png(records, tmp_path / "t.png", phases=[(1.0, "drain blue"), (1.1, "remove")])
    assert out.read_bytes()[:4] == b"\x89PNG"
    txt = text_summary(records, phases=[(1.0, "drain blue")])
    assert "drain blue" in txt and "failures 1" in txt


def test_load_generator_is_bounded_and_classifies_errors():
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    load = LoadGenerator(f"http://127.0.0.1:{port}/", rate_per_s=100, duration_s=30,
                         max_requests=30, timeout_s=1).start()
    assert load.wait(20)
    # max_requests (30 at 100/s: 0.3 s) ends it, not the 30 s duration; the bound leaves a busy
    # machine room and still tells the two apart.
    assert time.monotonic() - t0 < 10
    s = load.summary()
    assert s.total == 30 and s.failures == 30
    assert s.failure_kinds == {"ConnectionRefusedError": 30}


def test_load_generator_stop_ends_early():
    port = free_port()
    load = LoadGenerator(f"http://127.0.0.1:{port}/", rate_per_s=50, duration_s=30).start()
    time.sleep(0.2)
    t0 = time.monotonic()
    load.stop(5)
    # Far below the 30 s duration (1,500 requests at 50/s), with room for a busy machine.
    assert time.monotonic() - t0 < 10 and load.done
    assert 0 < load.summary().total < 500


def test_requests_the_workers_cannot_take_are_failures_not_silence():
    # A server that accepts and never answers ties up the one worker; the queue (4 per worker)
    # fills, and every request after that is recorded as dropped, never left out of the count.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        port = listener.getsockname()[1]
        load = LoadGenerator(f"http://127.0.0.1:{port}/", rate_per_s=100, duration_s=0.5, timeout_s=1,
                             workers=1).start()
        assert load.wait(20)
        s = load.summary()
        assert s.total == 50 and s.ok == 0
        assert load.dropped > 0 and s.failure_kinds.get("dropped") == load.dropped
        assert s.failure_kinds.get("timeout", 0) + load.dropped == 50
    finally:
        listener.close()
