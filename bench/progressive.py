"""Progressive-delivery benchmarks in one lab (``python -m bench.progressive``), issue 8.

One lab (moto + fidelity layer, real HAProxy, one process per instance, the lab's CloudWatch
model), one steady load (200 req/s), one fleet size, one after the other:

  attach_good      today's attach flow, good version (the reference);
  all_at_once_bad  a version answering 500 to 5 % of requests while passing its health checks,
                   released all at once (attach mode) with ``--keep-old`` and an alarm gate on the
                   target group's ``HTTPCode_Target_5XX_Count``: the gate trips, traffic flips
                   back to the warm old color.

The weighted scenarios of the issue (``weighted_good``, ``canary_bad``, ``bake_bad``) are added
when the weighted traffic mode lands; the JSON already has their shape:
``{"scenarios": {NAME: {"failed_requests", "mixed_version_window_s", "detect_to_flip_back_s",
"total_s", "requests", "versions"}}}``. Writes ``bench/results/progressive.json``, ``.md`` and a
PNG timeline per scenario.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bluegreen import commands
from bluegreen.aws.cloudwatch import load_balancer_dimension, target_group_dimension
from bluegreen.errors import RolledBackError
from bluegreen.gates import AlarmGate, GateSettings
from bluegreen.report import Reporter
from bluegreen_lab.demo import DEMO_OPTIONS, RATE_PER_S, TrafficWatch, Window, offset_of, reporter_like
from bluegreen_lab.lab import Lab, LabOptions
from bluegreen_lab.load import summarize
from bluegreen_lab.timeline import write_png

HERE = Path(__file__).resolve().parent
SETTLE_S = 3.0
ALARM = "web-5xx-bench"
FAULT = "errors=0.05"
LABELS = {"attach_good": "attach mode, good version",
          "all_at_once_bad": "attach mode, 5 % failing version, alarm gate, keep-old flip-back"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.progressive", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--size", type=int, default=2)
    p.add_argument("--rate", type=float, default=RATE_PER_S)
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args(argv)
    reporter = Reporter(service="web")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bluegreen-progressive-"))
    shutil.rmtree(workdir / "lab", ignore_errors=True)
    started = time.monotonic()
    try:
        results = run(workdir, args.size, args.rate, reporter)
    except KeyboardInterrupt:
        reporter.error("interrupted: the lab was torn down")
        return 130
    results["wall_time_s"] = round(time.monotonic() - started, 1)
    write_results(results, args.out)
    print(markdown(results))
    return 0


def scenario_metrics(watch: TrafficWatch, window: Window, old: str, new: str,
                     tripped_at: float | None = None) -> dict[str, Any]:
    """The issue's shape for one scenario. ``detect_to_flip_back_s``: the gate's trip (load clock)
    to the last response of the new version (traffic back on the old color)."""
    records = watch.records_between(window.start, window.end + SETTLE_S)
    s = summarize(records, old=old, new=new)
    detect = None
    if tripped_at is not None:
        last_new = max((r.end for r in records if r.ok and r.version == new), default=None)
        detect = round(max(0.0, last_new - tripped_at), 2) if last_new is not None else 0.0
    return {
        "requests": s.total,
        "failed_requests": s.failures,
        "failure_kinds": s.failure_kinds,
        "versions": s.versions,
        "mixed_version_window_s": round(s.mixed_window_s, 3),
        "detect_to_flip_back_s": detect,
        "total_s": round(window.end - window.start, 2),
    }


def run(workdir: Path, size: int, rate: float, reporter: Reporter) -> dict[str, Any]:
    options = LabOptions(**DEMO_OPTIONS)
    out: dict[str, Any] = {
        "setup": {"fleet_size": size, "rate_per_s": rate, "verify_seconds": options.verify_seconds,
                  "deregistration_delay_s": options.deregistration_delay, "fault": FAULT,
                  "gate": f"alarm {ALARM}: HTTPCode_Target_5XX_Count Sum >= 5 in 1 of 1 10-s periods",
                  "python": platform.python_version()},
        "scenarios": {},
    }
    with Lab(workdir / "lab", options) as lab:
        v1 = lab.bake("v1")
        reporter.info("terraform apply of the example stack (about 80 s)")
        app = lab.deploy_initial(v1, size=size, reporter=reporter)
        tg = app.stack.outputs().target_group_arn
        lb = lab.client("elbv2").describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]["LoadBalancerArns"][0]
        lab.client("cloudwatch").put_metric_alarm(
            AlarmName=ALARM, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
            Dimensions=[{"Name": "TargetGroup", "Value": target_group_dimension(tg)},
                        {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb)}],
            Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=5.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
        windows: dict[str, tuple[Window, str, str]] = {}
        with TrafficWatch(lab, rate_per_s=rate) as watch:
            time.sleep(2)
            # attach_good: the reference, no gates.
            v2 = lab.bake("v2")
            rep = reporter_like(reporter)
            offset = offset_of(watch, rep)
            with watch.measure("attach_good") as w:
                commands.release(lab.app(rep), ami=v2, manifest=None, size=None, keep_old=False, dry_run=False)
            watch.add_phases(w, rep, offset)
            time.sleep(SETTLE_S)
            out["scenarios"]["attach_good"] = scenario_metrics(watch, w, "v1", "v2")
            windows["attach_good"] = (w, "v1", "v2")

            # all_at_once_bad: the gate trips, the keep-old window flips back.
            v3 = lab.bake("v3-5xx", fault=FAULT)
            rep = reporter_like(reporter)
            offset = offset_of(watch, rep)
            settings = lab.settings().replace("release", keep_old_seconds=60)
            settings = dataclasses.replace(settings, gates=GateSettings(interval=1, period=10, window=60,
                                                                        alarms=(AlarmGate(ALARM),)))
            outcome = "completed"
            with watch.measure("all_at_once_bad") as w:
                try:
                    commands.release(lab.app(rep, settings), ami=v3, manifest=None, size=None, keep_old=True,
                                     dry_run=False)
                except RolledBackError as exc:
                    outcome = f"rolled back: {exc}"
            watch.add_phases(w, rep, offset)
            time.sleep(SETTLE_S)
            trips = [e for e in rep.events if e["event"] == "gate" and e.get("tripped")]
            tripped_at = offset + trips[0]["elapsed"] if trips else None
            if tripped_at is not None:
                w.phases.append((tripped_at, "gate tripped"))
            m = scenario_metrics(watch, w, "v2", "v3-5xx", tripped_at)
            m["outcome"] = outcome
            out["scenarios"]["all_at_once_bad"] = m
            windows["all_at_once_bad"] = (w, "v2", "v3-5xx")
        out["_records"] = watch.records
        out["_windows"] = windows
    return out


def write_results(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    records = results.pop("_records")
    windows = results.pop("_windows")
    for key, (w, old, new) in windows.items():
        lo, hi = w.start - 2, w.end + SETTLE_S
        recs = [dataclasses.replace(r, start=r.start - lo) for r in records if lo <= r.start < hi]
        phases = [(t - lo, label) for t, label in w.phases if lo <= t < hi] + [(w.start - lo, "start")]
        png = write_png(recs, out / f"progressive_{key}.png", phases=phases,
                        title=f"{LABELS[key]}: {old} -> {new}, {results['setup']['rate_per_s']:.0f} req/s")
        results["scenarios"][key]["timeline_png"] = png.name
    (out / "progressive.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "progressive.md").write_text(markdown(results) + "\n", encoding="utf-8")


def markdown(results: dict[str, Any]) -> str:
    s = results["setup"]
    lines = ["# Progressive delivery benchmarks (lab)", "",
             f"One lab, {s['rate_per_s']:.0f} req/s through HAProxy, fleet size {s['fleet_size']}; bad version: "
             f"`{s['fault']}` (passes its health checks); gate: {s['gate']}.", "",
             "| scenario | requests | failed | mixed-version window (s) | detect -> flip back (s) | total (s) |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, m in results["scenarios"].items():
        detect = "" if m["detect_to_flip_back_s"] is None else f"{m['detect_to_flip_back_s']:.2f}"
        lines.append(f"| {key} | {m['requests']} | {m['failed_requests']} | {m['mixed_version_window_s']:.2f} "
                     f"| {detect} | {m['total_s']:.1f} |")
    lines += ["", "A release flipped back serves the old version again after the new one: its mixed-version "
              "window spans the whole time the bad version served. Failed requests of `all_at_once_bad` are the "
              "bad version's own 500s; `detect -> flip back` runs from the gate's trip to the bad version's last "
              "response."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
