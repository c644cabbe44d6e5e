"""Progressive-delivery benchmarks in the lab (``python -m bench.progressive``), issue 8.

One steady load (200 req/s through the lab's HAProxy), one fleet size (2 per color), the same bad
version (it answers 500 to exactly every twentieth request while passing its health checks) and the
same gate (a CloudWatch alarm on the new version's target group: ``HTTPCode_Target_5XX_Count`` Sum
>= 5 in one 10-s period, evaluated by the lab's CloudWatch model), one after the other in two labs
(moto + fidelity layer, real Terraform, real HAProxy, one process per instance), the example stack
applied in each traffic mode:

attach lab (``traffic_mode = "attach"``: one target group, the colors attached in turn)
  attach_good      today's attach flow, good version (the reference);
  all_at_once_bad  the bad version released all at once with ``--keep-old`` and the alarm gate on
                   the shared target group: the gate trips, the keep-old window flips back (a warm
                   rollback: attach the old color, its checks, then the bad one drains);
weighted lab (``traffic_mode = "weighted"``: a target group per color, the listener's weights)
  weighted_good    all-at-once: one ModifyListener flip of a good version (no bake);
  canary_bad       the bad version at a 10 % canary step with a 45-s pause (then 100 %, bake 30 s),
                   the alarm gate on its target group: the gate trips during the canary pause;
  bake_bad         the bad version all at once (one flip to 100 %), bake 60 s with the alarm gate:
                   the gate trips during the bake, one listener call flips back.

Writes ``bench/results/progressive.json`` (``{"scenarios": {NAME: {"failed_requests",
"mixed_version_window_s", "detect_to_flip_back_s", "total_s", "requests", "versions", ...,
"timestamps": {...}}}}``, seconds from the release's start on the load generator's clock),
``progressive.md`` and a PNG timeline per scenario (served versions and errors; for the weighted
ones also each color's weight, the error rate and every gate decision).
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
from bluegreen_lab.demo import (DEMO_OPTIONS, KEY_STEPS, RATE_PER_S, WEIGHTED_KEY_STEPS, Marks, TrafficWatch,
                                Window, reporter_like)
from bluegreen_lab.lab import Lab, LabOptions
from bluegreen_lab.load import summarize
from bluegreen_lab.timeline import write_png

HERE = Path(__file__).resolve().parent
SETTLE_S = 3.0
FAULT = "errors=0.05"
GATE = GateSettings(interval=1, period=10, window=60)
ALARM_TEXT = "HTTPCode_Target_5XX_Count Sum >= 5 in 1 of 1 10-s periods, missing data not breaching"
CANARY_STEPS, CANARY_BAKE_S = "10:45s,100", 30
BAKE_BAD_S = 60
LABELS = {"attach_good": "attach mode, good version",
          "all_at_once_bad": "attach mode, 5 % failing version, alarm gate, keep-old flip-back",
          "weighted_good": "weighted mode, all at once (one listener flip), good version",
          "canary_bad": f"weighted mode, 5 % failing version, canary {CANARY_STEPS}, alarm gate",
          "bake_bad": f"weighted mode, 5 % failing version, all at once, bake {BAKE_BAD_S}s, alarm gate"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.progressive", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--size", type=int, default=2)
    p.add_argument("--rate", type=float, default=RATE_PER_S)
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--only", choices=("attach", "weighted"), default=None,
                   help="run one lab's scenarios only (the results files then hold only those)")
    args = p.parse_args(argv)
    reporter = Reporter(service="web")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bluegreen-progressive-"))
    for lab_dir in ("lab", "lab-weighted"):
        shutil.rmtree(workdir / lab_dir, ignore_errors=True)
    started = time.monotonic()
    try:
        results = run(workdir, args.size, args.rate, reporter,
                      only=(args.only,) if args.only else ("attach", "weighted"))
    except KeyboardInterrupt:
        reporter.error("interrupted: the lab was torn down")
        return 130
    results["wall_time_s"] = round(time.monotonic() - started, 1)
    write_results(results, args.out)
    print(markdown(results))
    return 0


def scenario_metrics(watch: TrafficWatch, window: Window, old: str, new: str, marks: Marks | None = None,
                     alarm: tuple[Any, str] | None = None) -> dict[str, Any]:
    """The issue's figures for one scenario, and the timestamps they come from (seconds from the
    release's start, load clock). ``detect_to_flip_back_s``: the gate's trip (bluegreen reading
    the alarm in ALARM) to the last response of the new version, its own 500s included (traffic
    back on the old color). ``failed_not_bad_version``: failures other than the bad version's own
    500s, i.e. requests lost to the release or to the flip itself."""
    records = watch.records_between(window.start, window.end + SETTLE_S)
    s = summarize(records, old=old, new=new)

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - window.start, 2)

    stamps: dict[str, Any] = {"release_start": 0.0, "release_end": rel(window.end)}
    first_new = min((r.start for r in records if r.version == new), default=None)
    last_new = max((r.end for r in records if r.version == new), default=None)
    stamps["first_new_request"] = rel(first_new)
    stamps["last_old_response"] = rel(s.last_old_at)
    stamps["last_new_response"] = rel(last_new)
    tripped = flipped = None
    if marks is not None:
        tripped = marks.first(lambda e: e["event"] == "gate" and e.get("tripped"))
        if tripped is not None:
            # The weighted mode: the flip's weights read back; the attach mode: the first step of
            # the flip back (attaching the warm old color again) begins.
            flipped = next((t for t, e in marks.events if t >= tripped and (
                (e["event"] == "info" and e.get("shares") and "flip back" in str(e.get("message")))
                or (e["event"] == "step" and not e.get("shares")))), None)
        stamps["gate_tripped"] = rel(tripped)
        stamps["flip_back"] = rel(flipped)
    if alarm is not None:
        client, name = alarm
        found = client.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if found and found[0]["StateValue"] == "ALARM":
            at = found[0]["StateUpdatedTimestamp"].timestamp()
            stamps["alarm_in_alarm"] = rel(watch.now() - (time.time() - at))
    detect = None
    if tripped is not None:
        detect = round(max(0.0, last_new - tripped), 2) if last_new is not None else 0.0
    lost = [r for r in records if not r.ok and not (r.error == "http_500" and r.version == new)]
    after = [r for r in records if last_new is not None and r.start > last_new]
    return {
        "requests": s.total,
        "failed_requests": s.failures,
        "failure_kinds": s.failure_kinds,
        "failed_not_bad_version": len(lost),
        "versions": s.versions,
        "mixed_version_window_s": round(s.mixed_window_s, 3),
        "detect_to_flip_back_s": detect,
        "gate_to_flip_call_s": round(flipped - tripped, 2) if tripped is not None and flipped is not None else None,
        "total_s": round(window.end - window.start, 2),
        "served_after_flip_back": summarize(after).versions if tripped is not None else None,
        "timestamps": stamps,
    }


def run(workdir: Path, size: int, rate: float, reporter: Reporter,
        only: tuple[str, ...] = ("attach", "weighted")) -> dict[str, Any]:
    options = LabOptions(**DEMO_OPTIONS)
    out: dict[str, Any] = {
        "setup": {"fleet_size": size, "rate_per_s": rate, "verify_seconds": options.verify_seconds,
                  "deregistration_delay_s": options.deregistration_delay, "fault": FAULT,
                  "gate": f"alarm on the new version's target group: {ALARM_TEXT}; read every {GATE.interval:g} s",
                  "canary_steps": CANARY_STEPS, "canary_bake_s": CANARY_BAKE_S, "bake_bad_s": BAKE_BAD_S,
                  "python": platform.python_version()},
        "scenarios": {}, "_records": {}, "_windows": {},
    }
    if "attach" in only:
        run_attach(workdir / "lab", options, size, rate, reporter, out)
    if "weighted" in only:
        run_weighted(workdir / "lab-weighted", dataclasses.replace(options, traffic_mode="weighted"),
                     size, rate, reporter, out)
    return out


def put_alarm(lab: Lab, name: str, target_group: str) -> tuple[Any, str]:
    """The gate's alarm on one target group, as a team would declare it (a new alarm starts in
    INSUFFICIENT_DATA: it trips on its first transition to ALARM)."""
    cloudwatch = lab.client("cloudwatch")
    lb = lab.client("elbv2").describe_target_groups(
        TargetGroupArns=[target_group])["TargetGroups"][0]["LoadBalancerArns"][0]
    cloudwatch.put_metric_alarm(
        AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "TargetGroup", "Value": target_group_dimension(target_group)},
                    {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb)}],
        Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=5.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    return cloudwatch, name


def release(lab: Lab, watch: TrafficWatch, reporter: Reporter, name: str, ami: str, settings: Any,
            keep_old: bool = False) -> tuple[Window, Marks, str]:
    """One release under the watch: its window, its events on the load clock, its outcome."""
    rep = reporter_like(reporter)
    marks = Marks(watch, rep)
    outcome = "completed"
    with watch.measure(name) as window:
        try:
            commands.release(lab.app(rep, settings), ami=ami, manifest=None, size=None, keep_old=keep_old,
                             dry_run=False)
        except RolledBackError as exc:
            outcome = f"rolled back: {exc}"
    marks.close()
    return window, marks, outcome


def record(out: dict[str, Any], key: str, watch: TrafficWatch, window: Window, marks: Marks, old: str, new: str,
           outcome: str, alarm: tuple[Any, str] | None, steps: tuple[str, ...]) -> None:
    m = scenario_metrics(watch, window, old, new, marks, alarm)
    m["outcome"] = outcome
    out["scenarios"][key] = m
    window.phases.extend(marks.steps(steps))
    tripped = m["timestamps"].get("gate_tripped")
    if tripped is not None:
        window.phases.append((window.start + tripped, "gate tripped"))
    out["_windows"][key] = (window, old, new, marks.weights(since=window.start), marks.gates())


def run_attach(workdir: Path, options: LabOptions, size: int, rate: float, reporter: Reporter,
               out: dict[str, Any]) -> None:
    with Lab(workdir, options) as lab:
        v1 = lab.bake("v1")
        reporter.info("attach lab: terraform apply of the example stack (about 80 s)")
        app = lab.deploy_initial(v1, size=size, reporter=reporter)
        alarm = put_alarm(lab, "web-5xx-bench", app.stack.outputs().target_group_arn)
        with TrafficWatch(lab, rate_per_s=rate) as watch:
            time.sleep(2)
            # attach_good: the reference, no gates.
            w, marks, outcome = release(lab, watch, reporter, "attach_good", lab.bake("v2"), lab.settings())
            time.sleep(SETTLE_S)
            record(out, "attach_good", watch, w, marks, "v1", "v2", outcome, None, KEY_STEPS)
            # all_at_once_bad: the gate trips, the keep-old window flips back.
            settings = lab.settings().replace("release", keep_old_seconds=60)
            settings = dataclasses.replace(settings, gates=dataclasses.replace(GATE, alarms=(AlarmGate(alarm[1]),)))
            w, marks, outcome = release(lab, watch, reporter, "all_at_once_bad", lab.bake("v3-5xx", fault=FAULT),
                                        settings, keep_old=True)
            time.sleep(SETTLE_S)
            record(out, "all_at_once_bad", watch, w, marks, "v2", "v3-5xx", outcome, alarm, KEY_STEPS)
        out["_records"]["attach"] = watch.records
        # moto's backends are process-wide: the weighted lab must not find this lab's instances.
        lab.emulator.reset()


def run_weighted(workdir: Path, options: LabOptions, size: int, rate: float, reporter: Reporter,
                 out: dict[str, Any]) -> None:
    with Lab(workdir, options) as lab:
        v1 = lab.bake("w1")
        reporter.info("weighted lab: terraform apply of the example stack, traffic_mode = \"weighted\" (about 85 s)")
        app = lab.deploy_initial(v1, size=size, reporter=reporter)
        target_groups = app.stack.outputs().color_target_groups
        assert target_groups, "the weighted stack names a target group per color"

        def idle_target_group() -> str:
            live = commands.observe(lab.app(reporter_like(reporter))).assessment.live
            assert live is not None, "a clean weighted stack has a live color"
            return target_groups[live.other()]

        def gated(steps: str, bake: int, alarm: str) -> Any:
            settings = lab.settings().replace("traffic", steps=steps, bake_seconds=bake)
            return dataclasses.replace(settings, gates=dataclasses.replace(GATE, alarms=(AlarmGate(alarm),)))

        with TrafficWatch(lab, rate_per_s=rate) as watch:
            time.sleep(2)
            # weighted_good: one listener call flips all traffic; no bake, no gate.
            settings = lab.settings().replace("traffic", steps="100", bake_seconds=0)
            w, marks, outcome = release(lab, watch, reporter, "weighted_good", lab.bake("w2"), settings)
            time.sleep(SETTLE_S)
            record(out, "weighted_good", watch, w, marks, "w1", "w2", outcome, None, WEIGHTED_KEY_STEPS)
            # canary_bad: 10 % for 45 s under the gate.
            alarm = put_alarm(lab, "web-5xx-canary", idle_target_group())
            w, marks, outcome = release(lab, watch, reporter, "canary_bad", lab.bake("w3-5xx", fault=FAULT),
                                        gated(CANARY_STEPS, CANARY_BAKE_S, alarm[1]))
            time.sleep(SETTLE_S)
            record(out, "canary_bad", watch, w, marks, "w2", "w3-5xx", outcome, alarm, WEIGHTED_KEY_STEPS)
            # bake_bad: all at once, noticed during the bake.
            alarm = put_alarm(lab, "web-5xx-bake", idle_target_group())
            w, marks, outcome = release(lab, watch, reporter, "bake_bad", lab.bake("w4-5xx", fault=FAULT),
                                        gated("100", BAKE_BAD_S, alarm[1]))
            time.sleep(SETTLE_S)
            record(out, "bake_bad", watch, w, marks, "w2", "w4-5xx", outcome, alarm, WEIGHTED_KEY_STEPS)
        out["_records"]["weighted"] = watch.records
        lab.emulator.reset()


def derived(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's criteria, checked against the measured figures."""
    sc = results["scenarios"]
    checks: dict[str, Any] = {}
    if "weighted_good" in sc:
        m = sc["weighted_good"]
        checks["weighted_good: 0 failed, mixed-version window < 0.5 s"] = (
            m["failed_requests"] == 0 and m["mixed_version_window_s"] < 0.5)
    if "canary_bad" in sc and "all_at_once_bad" in sc:
        a, c = sc["all_at_once_bad"]["failed_requests"], sc["canary_bad"]["failed_requests"]
        checks["canary_bad: failed <= all_at_once_bad's / 5"] = c * 5 <= a
        checks["canary_bad / all_at_once_bad failed"] = round(c / a, 3) if a else None
    if "bake_bad" in sc:
        m = sc["bake_bad"]
        served = m.get("served_after_flip_back") or {}
        checks["bake_bad: flipped back within 2 s of the trip, old color serving, none lost to the flip"] = (
            m["detect_to_flip_back_s"] is not None and m["detect_to_flip_back_s"] <= 2.0
            and m["failed_not_bad_version"] == 0 and set(served) == {"w2"}
            and "during the bake" in m["outcome"])
    return checks


def write_results(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    records = results.pop("_records")
    windows = results.pop("_windows")
    for key, (w, old, new, weights, gates) in windows.items():
        lab_records = records["attach" if key in ("attach_good", "all_at_once_bad") else "weighted"]
        lo, hi = w.start - 2, w.end + SETTLE_S
        recs = [dataclasses.replace(r, start=r.start - lo) for r in lab_records if lo <= r.start < hi]
        phases = [(t - lo, label) for t, label in w.phases if lo <= t < hi] + [(w.start - lo, "start")]
        png = write_png(recs, out / f"progressive_{key}.png", phases=phases,
                        title=f"{LABELS[key]}: {old} -> {new}, {results['setup']['rate_per_s']:.0f} req/s",
                        weights=[(t - lo, s) for t, s in weights] or None,
                        gates=[(t - lo, tripped, gate) for t, tripped, gate in gates] or None)
        results["scenarios"][key]["timeline_png"] = png.name
        if weights:
            results["scenarios"][key]["weights"] = [{"at_s": round(t - w.start, 2), "shares": s} for t, s in weights]
        results["scenarios"][key]["gate_checks"] = len(gates)
    results["criteria"] = derived(results)
    (out / "progressive.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "progressive.md").write_text(markdown(results) + "\n", encoding="utf-8")


def markdown(results: dict[str, Any]) -> str:
    s = results["setup"]
    lines = ["# Progressive delivery benchmarks (lab)", "",
             (f"`python -m bench.progressive`: two labs (attach and weighted example stack), {s['rate_per_s']:.0f} "
              f"req/s through HAProxy, fleet size {s['fleet_size']}; bad version: `{s['fault']}` (passes its "
              f"health checks); gate: {s['gate']}."), "",
             ("| scenario | requests | failed | lost to the flip | mixed-version window (s) "
              "| gate trip -> flip back (s) | total (s) |"),
             "|---|---:|---:|---:|---:|---:|---:|"]
    for key, m in results["scenarios"].items():
        detect = "" if m["detect_to_flip_back_s"] is None else f"{m['detect_to_flip_back_s']:.2f}"
        lines.append(f"| {key} | {m['requests']} | {m['failed_requests']} | {m['failed_not_bad_version']} "
                     f"| {m['mixed_version_window_s']:.2f} | {detect} | {m['total_s']:.1f} |")
    lines += ["", "Criteria (issue 8):", ""]
    lines += [f"- {k}: {v}" for k, v in results.get("criteria", {}).items()]
    lines += ["", "Failed requests of the bad scenarios are the bad version's own 500s (`lost to the flip` counts "
              "every other failure). A release flipped back serves the old version again after the new one: its "
              "mixed-version window spans the whole time the bad version served. `gate trip -> flip back` runs from "
              "bluegreen reading the alarm in ALARM to the bad version's last response; each scenario's "
              "`timestamps` in the JSON (seconds from the release's start) give the alarm's own transition, the "
              "trip, the flip call and the last bad response."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
