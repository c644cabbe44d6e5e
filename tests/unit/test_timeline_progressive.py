"""The progressive timeline's pieces (lab/bluegreen_lab/timeline.py): weights as step lines, the
error rate per bin, and the second panel drawn only when weights or gate decisions are given."""

from __future__ import annotations

import struct

from bluegreen_lab.load import RequestRecord
from bluegreen_lab.timeline import error_rate, weight_steps, write_png


def rec(start: float, version: str | None = "v1", ok: bool = True) -> RequestRecord:
    return RequestRecord(start=start, latency=0.01, status=200 if ok else 500,
                         error=None if ok else "http_500", version=version)


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_weight_steps_hold_each_share_until_the_next_change_and_to_the_end():
    changes = [(5.0, {"blue": 90, "green": 10}), (2.0, {"blue": 100}), (9.0, {"blue": 0, "green": 100})]
    lines = weight_steps(changes, end=12.0)
    assert lines == {"blue": ([2.0, 5.0, 9.0, 12.0], [100, 90, 0, 0]),
                     "green": ([2.0, 5.0, 9.0, 12.0], [0, 10, 100, 100])}
    assert weight_steps([], end=3.0) == {}


def test_error_rate_is_failed_over_all_per_bin_and_none_without_requests():
    records = [rec(0.1), rec(0.2), rec(0.3, "v2", ok=False), rec(0.4), rec(1.1, ok=False)]
    starts, rates = error_rate(records, bin_s=0.5)
    assert starts == [0.0, 0.5, 1.0]
    assert rates == [25.0, None, 100.0]


def test_the_progress_panel_is_drawn_only_for_a_progressive_release(tmp_path):
    records = [rec(i * 0.05, "v1" if i < 60 else "v2", ok=i % 20 != 0 or i < 60) for i in range(120)]
    plain = write_png(records, tmp_path / "plain.png", phases=[(3.0, "shift")])
    progressive = write_png(records, tmp_path / "canary.png", phases=[(3.0, "shift")],
                            weights=[(0.0, {"blue": 100, "green": 0}), (3.0, {"blue": 90, "green": 10})],
                            gates=[(4.0, False, "gates"), (5.0, True, "alarm web-5xx")])
    assert png_size(plain) == (1100, 450)
    assert png_size(progressive) == (1100, 700)  # the weights / error-rate / gates panel under it
