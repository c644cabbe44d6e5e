"""``bluegreen demo``: zero downtime, visible. Also the measuring kit the benchmarks and lab tests use.

The demo brings the lab up (moto + fidelity layer, real Terraform, real HAProxy, one process per
instance, all on 127.0.0.1), applies the example stack with blue v1 live, prints ``status`` and a
``plan``, then releases v2 onto green and v3 back onto blue under a steady ~200 req/s through
HAProxy, and ends with the traffic summary and a PNG timeline under the work dir. ``broken=True``
releases a v2 whose health check fails and shows the automatic rollback instead.

    run_demo(broken=False, workdir=Path(".lab/demo"), reporter=Reporter(service="web")) -> exit code

``TrafficWatch`` is the measuring kit: steady load through the lab's HAProxy, a 50 ms sampler of
HAProxy's servers (which instance, which version, check status), a count of the AWS API calls moto
serves, and phase markers from a ``Reporter``'s step events, all on the load generator's clock.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from bluegreen.report import Reporter
from .lab import Lab, LabOptions
from .load import LoadGenerator, RequestRecord, summarize
from .timeline import text_summary, write_png

# The demo's and the benchmarks' lab: 2 s verify window, 3 s deregistration delay (AWS: 300 s).
DEMO_OPTIONS = dict(dataplane=True, deregistration_delay=3, verify_seconds=2,
                    unhealthy_grace_seconds=2, poll_seconds=0.2)
RATE_PER_S = 200
# The steps worth a marker on a timeline (every step would make the labels unreadable).
KEY_STEPS = ("apply-idle", "attach-new", "verify-window", "standby-old", "detach-old",
             "scale-old-to-zero", "undo attach-new", "undo apply-idle")
# The weighted mode's (its weight changes and gate decisions have their own panel).
WEIGHTED_KEY_STEPS = ("apply-idle", "wait-healthy", "shift-traffic", "bake", "scale-old-to-zero",
                      "undo shift-traffic", "undo bake", "undo apply-idle")
_OK_CHECKS = {"INI", "L4OK", "L6OK", "L7OK", "L7OKC", ""}


@dataclass(frozen=True)
class ServerSample:
    version: str | None
    health: str
    check_status: str
    admin: str


@dataclass
class Window:
    """One measured action (a release, a rollback, a relink) on the load clock."""

    name: str
    start: float
    end: float
    api_calls: Counter = field(default_factory=Counter)
    phases: list[tuple[float, str]] = field(default_factory=list)


class TrafficWatch:
    """Steady load + HAProxy sampler + API-call counter for one lab. Use as a context manager."""

    def __init__(self, lab: Lab, *, rate_per_s: float = RATE_PER_S, max_duration_s: float = 900,
                 sample_s: float = 0.05) -> None:
        self.lab = lab
        self.load = LoadGenerator(lab.url + "/", rate_per_s=rate_per_s, duration_s=max_duration_s,
                                  timeout_s=10.0, workers=256)
        self.sample_s = sample_s
        self.samples: list[tuple[float, dict[str, ServerSample]]] = []
        self.windows: list[Window] = []
        self._calls: list[tuple[float, str, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._remove_listener: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "TrafficWatch":
        self._remove_listener = self.lab.fidelity.add_listener(self._on_call)
        self.load.start()
        self._thread = threading.Thread(target=self._sample_loop, name="watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.load.stop(timeout_s=10)
        if self._thread is not None:
            self._thread.join(5)
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None

    def __enter__(self) -> "TrafficWatch":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_call(self, action: str, status: int) -> None:
        self._calls.append((self.load.now(), action, status))

    def _sample_loop(self) -> None:
        dp = self.lab.dataplane
        while not self._stop.is_set():
            t = self.load.now()
            try:
                versions = {i.instance_id: i.version for i in dp.fleet.instances().values()}
                servers = {name: ServerSample(versions.get(name), st.health, st.check_status, st.admin)
                           for name, st in dp.servers().items()}
                self.samples.append((t, servers))
            except Exception:  # noqa: BLE001 - a missed sample is a gap, not a failure
                pass
            self._stop.wait(self.sample_s)

    # -- measuring ---------------------------------------------------------------------------
    def now(self) -> float:
        return self.load.now()

    def settle(self, seconds: float) -> None:
        time.sleep(seconds)

    def measure(self, name: str) -> "_Measuring":
        """``with watch.measure("release") as w: ...``: one window, its API calls counted."""
        return _Measuring(self, name)

    def add_phases(self, window: Window, reporter: Reporter, offset: float,
                   steps: Iterable[str] | None = KEY_STEPS) -> None:
        """Step events of ``reporter`` as phase markers (``offset`` = load clock at its zero);
        only ``steps`` (None: all)."""
        wanted = None if steps is None else set(steps)
        for e in reporter.events:
            if e["event"] == "step" and (wanted is None or e["step"] in wanted):
                window.phases.append((offset + e["elapsed"], e["step"]))

    @property
    def records(self) -> list[RequestRecord]:
        return self.load.records

    def records_between(self, start: float, end: float) -> list[RequestRecord]:
        return [r for r in self.records if start <= r.start < end]

    def calls_between(self, start: float, end: float) -> Counter:
        return Counter(a for t, a, _ in list(self._calls) if start <= t <= end)


class _Measuring:
    def __init__(self, watch: TrafficWatch, name: str) -> None:
        self.watch = watch
        self.window = Window(name, watch.now(), watch.now())

    def __enter__(self) -> Window:
        self.window.start = self.watch.now()
        return self.window

    def __exit__(self, *exc: object) -> None:
        self.window.end = self.watch.now()
        self.window.api_calls = self.watch.calls_between(self.window.start, self.window.end)
        self.watch.windows.append(self.window)


def reporter_like(reporter: Reporter) -> Reporter:
    """A fresh Reporter (own clock zero and events) printing where ``reporter`` prints."""
    return Reporter(service=reporter.service, json_stream=reporter.json_stream,
                    console=reporter.console, quiet=reporter.quiet)


def offset_of(watch: TrafficWatch, reporter: Reporter) -> float:
    """Load-clock time of ``reporter``'s zero."""
    return watch.now() - reporter.elapsed()


class Marks:
    """Every event of a ``Reporter``, stamped on the load clock the moment it is emitted (a
    subscriber, so no clock offset to guess): the weights a weighted run set (``info`` events with
    ``shares``), the gates' decisions (``gate`` events), its steps and its error line.

        marks = Marks(watch, reporter)   # before the release
        marks.weights(), marks.gates(), marks.first(lambda e: e["event"] == "error")
    """

    def __init__(self, watch: TrafficWatch, reporter: Reporter) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._unsubscribe = reporter.subscribe(lambda e: self.events.append((watch.now(), e)))

    def close(self) -> None:
        self._unsubscribe()

    def weights(self, since: float | None = None) -> list[tuple[float, dict[str, int]]]:
        """Each weight change; with ``since``, first the weights before the run's first change
        (all on the old color: the first name a ``shares`` event lists)."""
        changes = [(t, dict(e["shares"])) for t, e in self.events if e["event"] == "info" and e.get("shares")]
        if since is not None and changes:
            names = list(changes[0][1])
            changes.insert(0, (since, {n: 100 if i == 0 else 0 for i, n in enumerate(names)}))
        return changes

    def gates(self) -> list[tuple[float, bool, str]]:
        return [(t, bool(e.get("tripped")), str(e.get("gate"))) for t, e in self.events if e["event"] == "gate"]

    def first(self, predicate: Any) -> float | None:
        return next((t for t, e in self.events if predicate(e)), None)

    def steps(self, wanted: Iterable[str] | None = None) -> list[tuple[float, str]]:
        names = None if wanted is None else set(wanted)
        return [(t, e["step"]) for t, e in self.events
                if e["event"] == "step" and (names is None or e["step"] in names)]


# -- metrics -----------------------------------------------------------------------------------


def switch_metrics(watch: TrafficWatch, window: Window, old: str, new: str,
                   settle_after_s: float = 2.0) -> dict[str, Any]:
    """Failures, mixed-version window, cutover and total time of one release-like window.

    ``cutover_s``: window start -> last response of ``old`` (users see only ``new`` after it).
    Requests counted: from the window start to ``settle_after_s`` after its end.
    """
    recs = watch.records_between(window.start, window.end + settle_after_s)
    s = summarize(recs, old=old, new=new)
    cutover = (s.last_old_at - window.start) if s.last_old_at is not None and s.first_new_at else None
    return {
        "name": window.name,
        "requests": s.total,
        "failed_requests": s.failures,
        "failure_kinds": s.failure_kinds,
        "versions": s.versions,
        "mixed_version_window_s": round(s.mixed_window_s, 3),
        "first_new_at_s": _r(s.first_new_at and s.first_new_at - window.start),
        "cutover_s": _r(cutover),
        "total_s": round(window.end - window.start, 2),
        "api_calls": sum(window.api_calls.values()),
        "api_calls_by_action": dict(sorted(window.api_calls.items())),
        "latency_p99_ms": _r(s.latency_p99_ms),
        "latency_max_ms": _r(s.latency_max_ms),
    }


def rollback_metrics(watch: TrafficWatch, window: Window, new: str) -> dict[str, Any]:
    """For a release of a broken ``new`` version: from the first failed health check of a
    ``new`` server (HAProxy's check status) to traffic fully back on the old color: no ``new``
    server left in HAProxy (the idle color detached and drained) and no ``new`` response after.
    Failed requests: those started in that interval."""
    first_fail = back = None
    for t, servers in watch.samples:
        if t < window.start:
            continue
        news = [s for s in servers.values() if s.version == new]
        if first_fail is None:
            if any(s.check_status not in _OK_CHECKS or s.health == "unhealthy" for s in news):
                first_fail = t
        elif not news:
            back = t
            break
    served_new = [r.end for r in watch.records_between(window.start, window.end + 2)
                  if r.ok and r.version == new]
    out: dict[str, Any] = {"first_failed_check_at_s": _r(first_fail and first_fail - window.start),
                           "new_version_responses": len(served_new)}
    if first_fail is None or back is None:
        out.update(rollback_s=None, failed_requests_during=None)
        return out
    back = max([back] + served_new)
    during = [r for r in watch.records_between(first_fail, back) if not r.ok]
    out.update(rollback_s=round(back - first_fail, 2), failed_requests_during=len(during),
               requests_during=len(watch.records_between(first_fail, back)))
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# -- the demo -----------------------------------------------------------------------------------


def _say(reporter: Reporter, text: str = "") -> None:
    if not reporter.quiet:
        reporter.console.print(text, markup=False, highlight=False, soft_wrap=True)


def _print_status(app: Any, reporter: Reporter, title: str) -> None:
    from bluegreen import commands, views

    doc = views.status_document(commands.observe(app), app.settings.service.name, commands.in_flight(app))
    _say(reporter, f"\n$ bluegreen status    # {title}")
    _say(reporter, views.status_text(doc) + "\n")


def run_demo(broken: bool, workdir: Path, reporter: Reporter, *, canary: bool = False) -> int:
    """The whole demo; returns the exit code (0: as expected; 1: a release did not behave;
    130: interrupted). Everything it starts is stopped on return, on error and on Ctrl-C.
    ``canary``: the weighted stack's canary releases with an alarm gate (``run_canary_demo``)."""
    workdir = Path(workdir).resolve()
    started = time.monotonic()
    from bluegreen.errors import ReleaseInterrupted
    from bluegreen.stop import RunStopped

    try:
        if canary:
            return _run_canary_demo(workdir, reporter, started)
        return _run_demo(broken, workdir, reporter, started)
    except (KeyboardInterrupt, ReleaseInterrupted, RunStopped):
        # A signal raises RunStopped (cli.run_command routes it to a StopToken).
        reporter.error("interrupted: the lab was torn down (no process left)")
        return 130


def _run_demo(broken: bool, workdir: Path, reporter: Reporter, started: float) -> int:
    from bluegreen import commands, views
    from bluegreen.errors import RolledBackError

    lab_dir = workdir / "lab"
    shutil.rmtree(lab_dir, ignore_errors=True)  # a previous run's Terraform state means nothing now
    workdir.mkdir(parents=True, exist_ok=True)
    say = lambda text="": _say(reporter, text)  # noqa: E731
    say(f"bluegreen demo{' --broken' if broken else ''}: emulated AWS (moto), real Terraform, "
        f"real HAProxy, {RATE_PER_S} req/s; work dir {workdir}")
    with Lab(lab_dir, LabOptions(**DEMO_OPTIONS)) as lab:
        reporter.info(f"lab up: AWS emulation {lab.emulator.endpoint_url}, load balancer {lab.url}")
        v1 = lab.bake("v1")
        reporter.info("terraform apply of the example stack "
                      "(about 80 s, mostly the AWS provider's fixed waits for a new aws_lb)")
        app = lab.deploy_initial(v1, size=2, reporter=reporter)
        _print_status(app, reporter, "blue v1 live")
        v2 = lab.bake("v2", broken="now" if broken else None)
        reporter.info(f"baked v2: {v2}" + (" (BROKEN: its /health answers 500)" if broken else ""))
        preview, live, idle = commands.plan(app, ami=v2, manifest=None, size=None)
        say(f"$ bluegreen plan --ami {v2}")
        say(views.plan_text(views.plan_document(preview, live, idle)) + "\n")

        results: dict[str, Any] = {"broken": broken, "rate_per_s": RATE_PER_S, "fleet_size": 2,
                                   "deregistration_delay_s": lab.options.deregistration_delay,
                                   "verify_seconds": lab.options.verify_seconds, "releases": []}
        ok = True
        with TrafficWatch(lab) as watch:
            reporter.info(f"steady load: {RATE_PER_S} req/s through HAProxy {lab.url}")
            watch.settle(2)
            steps = [("v1", "v2", v2)] if broken else [("v1", "v2", v2), ("v2", "v3", None)]
            for old, new, ami in steps:
                ami = ami or lab.bake(new)
                say(f"\n$ bluegreen release --ami {ami}    # {new}")
                rep = reporter_like(reporter)
                app = lab.app(rep)
                offset = offset_of(watch, rep)
                failed: Exception | None = None
                with watch.measure(f"release {old}->{new}") as window:
                    try:
                        commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False)
                    except RolledBackError as exc:
                        failed = exc
                        rep.warn(f"automatic rollback: {exc}")
                watch.add_phases(window, rep, offset)
                watch.settle(2)
                metrics = switch_metrics(watch, window, old, new)
                if broken:
                    metrics["rolled_back"] = failed is not None
                    metrics["rollback"] = rollback_metrics(watch, window, new)
                    ok &= failed is not None and metrics["versions"].get(new, 0) == 0
                else:
                    ok &= failed is None and metrics["failed_requests"] == 0
                    if failed is not None:
                        reporter.error(f"release failed: {failed}")
                results["releases"].append(metrics)
        records = watch.records
        phases = [p for w in watch.windows for p in w.phases]
        phases += [(w.start, w.name) for w in watch.windows]
        _print_status(lab.app(reporter), reporter, "after the demo")
        png = write_png(records, workdir / "timeline.png", phases=phases,
                        title=("bluegreen demo --broken: served versions and errors" if broken
                               else "bluegreen demo: served versions and errors under load"))
        overall = summarize(records)
        results.update(traffic=_summary_dict(overall), timeline_png=str(png),
                       wall_time_s=round(time.monotonic() - started, 1),
                       dataplane_errors=list(lab.dataplane.errors))
        (workdir / "timeline.txt").write_text(text_summary(records, phases=phases) + "\n", encoding="utf-8")
        (workdir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n",
                                              encoding="utf-8")
    say("\n== traffic during the demo ==")
    say(_traffic_text(records, results))
    say(f"\ntimeline (PNG): {png}\nper-second text: {workdir / 'timeline.txt'}\n"
        f"numbers (JSON): {workdir / 'results.json'}")
    say(f"demo wall time {time.monotonic() - started:.0f}s; lab torn down (no process left)")
    return 0 if ok else 1


# -- the canary demo (`bluegreen demo --canary`) ---------------------------------------------------

# A 10 % canary watched for 20 s, then everything, then a 15-s bake; the same gate for both releases.
CANARY_DEMO_STEPS = "10:20s,100"
CANARY_DEMO_BAKE_S = 15
CANARY_DEMO_FAULT = "errors=0.05"


def _canary_alarms(lab: Lab, target_groups: dict[Any, str]) -> tuple[str, ...]:
    """One alarm per color's target group, as a team would declare them: 5xx Sum >= 5 in one
    10-s period (the lab's model publishes every second; on AWS use 60-s periods)."""
    from bluegreen.aws.cloudwatch import load_balancer_dimension, target_group_dimension

    cloudwatch, names = lab.client("cloudwatch"), []
    for color, arn in sorted(target_groups.items(), key=lambda item: str(item[0])):
        lb = lab.client("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["LoadBalancerArns"][0]
        name = f"web-5xx-{color.value}"
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
            Dimensions=[{"Name": "TargetGroup", "Value": target_group_dimension(arn)},
                        {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb)}],
            Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=5.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
        names.append(name)
    return tuple(names)


def _run_canary_demo(workdir: Path, reporter: Reporter, started: float) -> int:
    """The weighted example stack (a target group per color, the listener's weights), 200 req/s:
    v2 released as a canary (10 % for 20 s, then 100 %, a 15-s bake) under an alarm gate on 5xx,
    which passes; then v3, which answers 500 to 5 % of requests while passing its health checks,
    released the same way: the gate trips during the canary and one listener call flips all
    traffic back. The timeline PNG shows the weights, the served versions, the error rate and
    every gate decision."""
    import dataclasses

    from bluegreen import commands
    from bluegreen.errors import RolledBackError
    from bluegreen.gates import AlarmGate, GateSettings

    lab_dir = workdir / "lab"
    shutil.rmtree(lab_dir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    say = lambda text="": _say(reporter, text)  # noqa: E731
    say(f"bluegreen demo --canary: the weighted stack (a target group per color, the listener's weights), "
        f"emulated AWS (moto), real Terraform, real HAProxy, {RATE_PER_S} req/s; work dir {workdir}")
    options = LabOptions(**{**DEMO_OPTIONS, "traffic_mode": "weighted"})
    with Lab(lab_dir, options) as lab:
        reporter.info(f"lab up: AWS emulation {lab.emulator.endpoint_url}, load balancer {lab.url}")
        v1 = lab.bake("v1")
        reporter.info("terraform apply of the weighted example stack "
                      "(about 85 s, mostly the AWS provider's fixed waits for a new aws_lb)")
        app = lab.deploy_initial(v1, size=2, reporter=reporter)
        _print_status(app, reporter, "blue v1 live, weights blue 100 / green 0")
        target_groups = app.stack.outputs().color_target_groups or {}
        alarms = _canary_alarms(lab, target_groups)
        gates = GateSettings(interval=1, period=10, window=60, alarms=tuple(AlarmGate(a) for a in alarms))
        settings = lab.settings().replace("traffic", steps=CANARY_DEMO_STEPS, bake_seconds=CANARY_DEMO_BAKE_S)
        settings = dataclasses.replace(settings, gates=gates)
        say(f"[traffic] steps = \"{CANARY_DEMO_STEPS}\", bake_seconds = {CANARY_DEMO_BAKE_S}; "
            f"[gates] interval = 1, alarms {', '.join(alarms)} (5xx Sum >= 5 per 10 s)")
        results: dict[str, Any] = {"canary": True, "rate_per_s": RATE_PER_S, "fleet_size": 2,
                                   "steps": CANARY_DEMO_STEPS, "bake_seconds": CANARY_DEMO_BAKE_S,
                                   "alarms": list(alarms), "releases": []}
        ok = True
        weights: list[tuple[float, dict[str, int]]] = []
        gate_marks: list[tuple[float, bool, str]] = []
        with TrafficWatch(lab) as watch:
            reporter.info(f"steady load: {RATE_PER_S} req/s through HAProxy {lab.url}")
            watch.settle(2)
            for old, new, fault in (("v1", "v2", None), ("v2", "v3", CANARY_DEMO_FAULT)):
                ami = lab.bake(new, fault=fault)
                say(f"\n$ bluegreen release --ami {ami} --steps {CANARY_DEMO_STEPS}    # {new}"
                    + (" (fails 5 % of requests, passes its health checks)" if fault else ""))
                rep = reporter_like(reporter)
                marks = Marks(watch, rep)
                unsubscribe = rep.subscribe(_gate_printer(rep))
                failed: Exception | None = None
                with watch.measure(f"canary {old}->{new}") as window:
                    try:
                        commands.release(lab.app(rep, settings), ami=ami, manifest=None, size=None,
                                         keep_old=False, dry_run=False)
                    except RolledBackError as exc:
                        failed = exc
                        rep.warn(f"flipped back by a gate: {exc}")
                unsubscribe()
                marks.close()
                window.phases.extend(marks.steps(WEIGHTED_KEY_STEPS))
                tripped = marks.first(lambda e: e["event"] == "gate" and e.get("tripped"))
                if tripped is not None:
                    window.phases.append((tripped, "gate tripped"))
                weights += marks.weights(since=window.start)
                gate_marks += marks.gates()
                watch.settle(2)
                metrics = switch_metrics(watch, window, old, new)
                metrics["gate_checks"] = len(marks.gates())
                metrics["gate_tripped"] = tripped is not None
                records = watch.records_between(window.start, window.end + 2)
                metrics["failed_not_new_version"] = sum(
                    1 for r in records if not r.ok and not (r.error == "http_500" and r.version == new))
                if fault:
                    metrics["rolled_back"] = failed is not None
                    last_new = max((r.end for r in records if r.version == new), default=None)
                    metrics["trip_to_last_new_response_s"] = (
                        _r(max(0.0, last_new - tripped)) if last_new is not None and tripped is not None else None)
                    ok &= failed is not None and tripped is not None and metrics["failed_not_new_version"] == 0
                else:
                    ok &= failed is None and metrics["failed_requests"] == 0
                    if failed is not None:
                        reporter.error(f"release failed: {failed}")
                results["releases"].append(metrics)
        records = watch.records
        phases = [p for w in watch.windows for p in w.phases] + [(w.start, w.name) for w in watch.windows]
        _print_status(lab.app(reporter), reporter, "after the demo")
        png = write_png(records, workdir / "timeline.png", phases=phases,
                        title="bluegreen demo --canary: weights, served versions, errors and gate decisions",
                        weights=weights, gates=gate_marks)
        results.update(traffic=_summary_dict(summarize(records)), timeline_png=str(png),
                       weights=[{"at_s": round(t, 2), "shares": s} for t, s in weights],
                       wall_time_s=round(time.monotonic() - started, 1),
                       dataplane_errors=list(lab.dataplane.errors))
        (workdir / "timeline.txt").write_text(text_summary(records, phases=phases) + "\n", encoding="utf-8")
        (workdir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n",
                                              encoding="utf-8")
    say("\n== traffic during the demo ==")
    say(_canary_text(records, results))
    say(f"\ntimeline (PNG): {png}\nper-second text: {workdir / 'timeline.txt'}\n"
        f"numbers (JSON): {workdir / 'results.json'}")
    say(f"demo wall time {time.monotonic() - started:.0f}s; lab torn down (no process left)")
    return 0 if ok else 1


def _gate_printer(reporter: Reporter) -> Any:
    """Say the gates' decisions on the console: every trip, and a pass at most every 5 s."""
    last: list[float] = [-1e9]

    def on_event(e: dict[str, Any]) -> None:
        if e.get("event") != "gate" or reporter.quiet:
            return
        if e.get("tripped") or e["elapsed"] - last[0] >= 5:
            last[0] = e["elapsed"]
            verdict = "TRIPPED" if e.get("tripped") else "pass"
            reporter.console.print(f"[{e['elapsed']:7.1f}s] {reporter.service} gates: {verdict}: {e.get('gate')}: "
                                   f"{e.get('reason')}",
                                   markup=False, highlight=False, soft_wrap=True,
                                   style="red" if e.get("tripped") else "dim")

    return on_event


def _canary_text(records: list[RequestRecord], results: dict[str, Any]) -> str:
    s = summarize(records)
    lines = [f"requests {s.total} in {s.duration_s:.0f}s ({s.achieved_rate_per_s:.0f}/s), failed {s.failures}"
             + (f" {s.failure_kinds}" if s.failure_kinds else ""),
             "served: " + ", ".join(f"{v} {n}" for v, n in sorted(s.versions.items()))]
    for m in results["releases"]:
        line = (f"{m['name']}: {m['requests']} requests, {m['failed_requests']} failed "
                f"({m['failed_not_new_version']} not the new version's own 500s), versions {m['versions']}, "
                f"{m['gate_checks']} gate checks, took {m['total_s']:.1f}s")
        if "rolled_back" in m:
            line += (f"; gate tripped: {'yes' if m['gate_tripped'] else 'NO'}, flipped back: "
                     f"{'yes' if m['rolled_back'] else 'NO'}, last response of the bad version "
                     f"{m['trip_to_last_new_response_s']}s after the trip")
        lines.append(line)
    changes = [w for i, w in enumerate(results["weights"])
               if i == 0 or w["shares"] != results["weights"][i - 1]["shares"]]  # a bake re-reads 100 %
    lines.append("listener weights over time: " + ", ".join(
        f"{w['at_s']:.1f}s {' / '.join(f'{c} {p} %' for c, p in sorted(w['shares'].items()))}" for w in changes))
    return "\n".join(lines)


def _summary_dict(s: Any) -> dict[str, Any]:
    return {"requests": s.total, "ok": s.ok, "failed_requests": s.failures,
            "failure_kinds": s.failure_kinds, "versions": s.versions,
            "versions_over_time": s.versions_over_time, "duration_s": round(s.duration_s, 1),
            "latency_p50_ms": _r(s.latency_p50_ms), "latency_p99_ms": _r(s.latency_p99_ms)}


def _traffic_text(records: Iterable[RequestRecord], results: dict[str, Any]) -> str:
    records = list(records)
    s = summarize(records)
    lines = [f"requests {s.total} in {s.duration_s:.0f}s ({s.achieved_rate_per_s:.0f}/s), "
             f"failed {s.failures}" + (f" {s.failure_kinds}" if s.failure_kinds else ""),
             "served: " + ", ".join(f"{v} {n}" for v, n in sorted(s.versions.items()))]
    for m in results["releases"]:
        line = (f"{m['name']}: {m['requests']} requests, {m['failed_requests']} failed, "
                f"mixed-version window {m['mixed_version_window_s']:.2f}s "
                f"(drain {results['deregistration_delay_s']}s, verify {results['verify_seconds']}s), "
                f"release took {m['total_s']:.1f}s")
        lines.append(line)
        rb = m.get("rollback")
        if rb is not None:
            if rb.get("rollback_s") is None:
                lines.append(f"  rollback: not observed ({rb})")
            else:
                lines.append(f"  automatic rollback: {'yes' if m['rolled_back'] else 'NO'}; "
                             f"{rb['rollback_s']:.1f}s from the first failed health check to traffic "
                             f"fully back / idle color detached; {rb['failed_requests_during']} failed "
                             f"requests during it; {rb['new_version_responses']} responses from the "
                             "broken version")
    lines.append("versions served over time (per 5 s):")
    buckets: dict[int, Counter] = {}
    errors: Counter = Counter()
    for r in records:
        b = int(r.start // 5) * 5
        if r.ok:
            buckets.setdefault(b, Counter())[r.version or "?"] += 1
        else:
            errors[b] += 1
    for b in sorted(set(buckets) | set(errors)):
        parts = ", ".join(f"{v} {n}" for v, n in sorted(buckets.get(b, Counter()).items()))
        lines.append(f"  {b:4d}-{b + 5:<4d}s {parts}" + (f", FAILED {errors[b]}" if errors[b] else ""))
    return "\n".join(lines)


if __name__ == "__main__":  # python -m bluegreen_lab.demo [--broken | --canary] [workdir]
    args = [a for a in sys.argv[1:] if a not in ("--broken", "--canary")]
    sys.exit(run_demo("--broken" in sys.argv, Path(args[0] if args else ".lab/demo"),
                      Reporter(service="web"), canary="--canary" in sys.argv))
