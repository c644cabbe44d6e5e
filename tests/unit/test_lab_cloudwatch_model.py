"""The lab's CloudWatch model, pure parts (lab/bluegreen_lab/cloudwatch.py): HAProxy's request
lines -> one-second buckets per target group -> an ALB's datapoints with AWS's dimensions."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bluegreen_lab.cloudwatch import Aggregator, CloudWatchModel, Request, parse_line

TG = ("targetgroup/web/1", "app/web/2")
T = 1_800_000_000.0


def test_parse_line() -> None:
    assert parse_line("BGREQ 1800000000.250 12 i-0abc 500 9") == Request(1800000000.262, "i-0abc", 500, 0.009)
    assert parse_line("BGREQ 1800000000.250 2001 <NOSRV> 503 -1") == Request(1800000002.251, "<NOSRV>", 503, None)
    assert parse_line("[WARNING] (1) : Server be_app/i-1 is UP") is None
    assert parse_line("BGREQ x 1 i-1 200 1") is None


def test_buckets_publish_what_an_alb_publishes() -> None:
    agg = Aggregator()
    for n in range(20):
        agg.add(Request(T + 0.01 * n, "i-1", 500 if n % 10 == 0 else 200, 0.002 if n else 0.9), [TG])
    agg.add(Request(T + 1.2, "i-1", 200, 0.004), [TG])
    assert agg.closed(T + 1.4, lag_s=0.5) == []  # the first second has not been closed for 0.5 s
    data = agg.closed(T + 1.5, lag_s=0.5)
    by_name = {d["MetricName"]: d for d in data}
    assert set(by_name) == {"RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime"}
    dims = [{"Name": "TargetGroup", "Value": TG[0]}, {"Name": "LoadBalancer", "Value": TG[1]}]
    assert all(d["Dimensions"] == dims and d["Timestamp"] == datetime(2027, 1, 15, 8, 0) for d in data)
    assert by_name["RequestCount"]["Value"] == 20 and by_name["HTTPCode_Target_5XX_Count"]["Value"] == 2
    assert by_name["TargetResponseTime"]["Values"] == [0.002, 0.9] and by_name["TargetResponseTime"]["Counts"] == [19, 1]
    assert by_name["TargetResponseTime"]["Unit"] == "Seconds"
    # The next second: requests, no 5xx datapoint at all (an ALB publishes none without one).
    later = agg.closed(T + 3, lag_s=0.5)
    assert [d["MetricName"] for d in later] == ["RequestCount", "TargetResponseTime"]


def test_the_model_tails_the_log_and_maps_servers_to_target_groups(tmp_path: Path) -> None:
    log = tmp_path / "haproxy.log"
    log.write_text("Server be_app/i-1 is UP\nBGREQ 1800000000.100 3 i-1 200 2\nBGREQ 1800000000.2", encoding="utf-8")
    put: list[list[dict]] = []
    now = [T + 0.3]
    model = CloudWatchModel(lambda: log, lambda: {"i-1": [TG]}, put.append, wall=lambda: now[0])
    assert model.tick() == 0
    with log.open("a", encoding="utf-8") as f:  # the half-written line is completed later
        f.write("00 5 i-1 503 4\nBGREQ 1800000000.300 1 i-9 200 1\n")
    now[0] = T + 2
    model.tick()
    counts = {d["MetricName"]: d.get("Value") for d in put[0]}
    assert counts["RequestCount"] == 2 and counts["HTTPCode_Target_5XX_Count"] == 1
    assert model.unmapped == 1  # i-9 is in no target group
