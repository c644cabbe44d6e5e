"""Issue 3's scale benchmark: release fleets of N instances per color against the lab.

    python -m bench.scale                     # N = 10, 100, 500
    python -m bench.scale --sizes 10,100      # a subset

Writes ``bench/results/scale.json`` and ``bench/results/scale.md`` and exits non-zero if an
assertion fails (Standby calls must grow as ceil(N/20), never N).

Three processes per fleet size, so that each figure means one thing:

* this process (the *driver*) runs one *host* per size, one after the other (the machine has two
  CPUs: sizes in parallel would measure contention, not bluegreen);
* the *host* owns a fresh Lab (moto's server + the fidelity layer in-process, so its backends
  start empty: moto keeps terminated instances, which would slow the larger sizes of a lab
  reused between sizes), deploys blue at N (``Lab.deploy_initial``), counts every call moto
  serves (``fid.add_listener``, Terraform's included) and how long moto spends in each;
* the *worker* is the bluegreen process proper: an ``App`` on the lab's config that runs
  ``commands.release`` once. Its tracemalloc peak and ru_maxrss are bluegreen's own (in the lab,
  moto runs inside the process that drives it, which would otherwise be counted too); its
  children's ru_maxrss is Terraform's.

Each size runs two releases: blue -> green (timed, no tracemalloc, whose ~2x slowdown of Python
would inflate "wall time excluding waits") and green -> blue (tracemalloc on, for memory). Both
are asserted.

Wall time excluding configured waits = the release's wall time minus the seconds the App's clock
spent in ``sleep`` (every poll interval and verify window goes through ``app.clock.sleep``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

STANDBY_BATCH = 20  # AWS's limit of instance ids per EnterStandby / ExitStandby (bluegreen's too)
DEFAULT_SIZES = (10, 100, 500)
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Calls whose count must not depend on N, or only through the 20-id batches.
BATCHED_CALLS = ("EnterStandby", "ExitStandby")
DETACH_CALLS = ("DetachLoadBalancerTargetGroups", "DetachLoadBalancers", "DetachInstances")

# The example stack carves two /24 subnets out of a /16 (cidrsubnet(vpc_cidr, 8, i)): 2 x 251
# addresses, fewer than the 2N instances a release of N per color runs at once for N > ~250 (moto's
# launch raises StopIteration after 250 in a /24; AWS would refuse with InsufficientFreeAddressesInSubnet).
# The bench widens the subnets to /20 in the lab's *copy* of the stack, for every size alike.
SUBNET_EXPR = "cidrsubnet(var.vpc_cidr, 8, count.index)"
WIDE_SUBNET_EXPR = "cidrsubnet(var.vpc_cidr, 4, count.index)"


# -- pure helpers (tests/unit/test_bench_scale_math.py) -----------------------------------------


def expected_batches(n: int, batch: int = STANDBY_BATCH) -> int:
    """Calls needed for ``n`` ids at ``batch`` ids per call: ceil(n / batch)."""
    if n < 0 or batch < 1:
        raise ValueError(f"n={n}, batch={batch}")
    return math.ceil(n / batch)


def growth_exponent(sizes: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope of log(value) over log(size): 0 constant, 1 linear, 2 quadratic.
    ``None`` with fewer than two usable points (sizes and values must be > 0)."""
    points = [(math.log(s), math.log(v)) for s, v in zip(sizes, values) if s > 0 and v > 0]
    if len(points) < 2 or len({x for x, _ in points}) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx


def local_exponent(n1: float, v1: float, n2: float, v2: float) -> float | None:
    """Growth exponent between two sizes: log(v2/v1) / log(n2/n1)."""
    if min(n1, n2, v1, v2) <= 0 or n1 == n2:
        return None
    return math.log(v2 / v1) / math.log(n2 / n1)


def growth_label(exponent: float | None, *, tolerance: float = 0.15) -> str:
    if exponent is None:
        return "n/a"
    if exponent < tolerance:
        return "constant"
    if exponent < 1 - tolerance:
        return "sublinear"
    if exponent <= 1 + tolerance:
        return "linear"
    return "superlinear"


def batch_violations(size: int, calls: dict[str, int]) -> list[str]:
    """Why ``calls`` (one release of ``size`` per color) break the ceil(N/20) rule; [] if they don't."""
    problems = []
    want = expected_batches(size)
    for name in BATCHED_CALLS:
        got = calls.get(name, 0)
        if got != want:
            problems.append(f"N={size}: {name} called {got} times, expected ceil({size}/{STANDBY_BATCH}) = {want}")
        if size > STANDBY_BATCH and got >= size:
            problems.append(f"N={size}: {name} called {got} times: grows as N")
    detach = sum(calls.get(name, 0) for name in DETACH_CALLS)
    if detach > want:
        problems.append(f"N={size}: {detach} detach calls, more than ceil(N/20) = {want}")
    return problems


def count_records(operation: str, parsed: dict[str, Any]) -> int:
    """Instances or targets in one parsed describe answer (0 for other operations)."""
    if operation == "DescribeInstances":
        return sum(len(r.get("Instances", [])) for r in parsed.get("Reservations", []))
    if operation == "DescribeAutoScalingGroups":
        return sum(len(g.get("Instances", [])) for g in parsed.get("AutoScalingGroups", []))
    if operation == "DescribeTargetHealth":
        return len(parsed.get("TargetHealthDescriptions", []))
    if operation == "DescribeInstanceHealth":
        return len(parsed.get("InstanceStates", []))
    return 0


def mib(value_bytes: float) -> float:
    return round(value_bytes / (1024 * 1024), 1)


# -- worker: the bluegreen process ---------------------------------------------------------------


class SleepMeter:
    """Wraps the App's clock: the same ``now``; ``sleep`` also adds up the seconds spent in it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.slept = 0.0
        self.sleeps = 0

    def now(self) -> float:
        return self.inner.now()

    def sleep(self, seconds: float) -> None:
        started = time.monotonic()
        try:
            self.inner.sleep(seconds)
        finally:
            self.slept += time.monotonic() - started
            self.sleeps += 1


def _maxrss_bytes(who: int) -> int:
    value = resource.getrusage(who).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024  # Linux reports KiB


def _vm_hwm_bytes() -> int | None:
    """Peak RSS of this process image (Linux ``VmHWM``): unlike ru_maxrss, never inherited."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# Linux keeps a process's ru_maxrss across execve() and starts a forked child's high-water mark at
# the parent's RSS, so a worker spawned by the host (moto and its backends: hundreds of MiB) would
# report the host's RSS as its own. The host therefore forks this tiny spawner first thing, while
# it is still small, and has it start the workers.
_SPAWNER = r"""
import json, subprocess, sys
for line in sys.stdin:
    job = json.loads(line)
    with open(job["log"], "w") as log:
        try:
            code = subprocess.run(job["argv"], env=job["env"], cwd=job["cwd"], stdout=log,
                                  stderr=subprocess.STDOUT, timeout=job["timeout"]).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    print(json.dumps(code), flush=True)
"""


class Spawner:
    def __init__(self) -> None:
        self._process = subprocess.Popen([sys.executable, "-c", _SPAWNER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)

    def run(self, argv: list[str], *, log: Path, timeout: float) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        job = {"argv": argv, "env": dict(os.environ), "cwd": str(Path.cwd()), "log": str(log), "timeout": timeout}
        self._process.stdin.write(json.dumps(job) + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)


def run_worker(args: argparse.Namespace) -> int:
    """One ``commands.release`` in this process, instrumented; the figures go to ``args.result``."""
    import tracemalloc

    from bluegreen import commands
    from bluegreen.app import App
    from bluegreen.config import load_settings
    from bluegreen.observe import AwsCallEvent, TerraformEvent
    from bluegreen.report import Reporter
    from bluegreen.waits import SystemClock

    rss_before = _maxrss_bytes(resource.RUSAGE_SELF)

    reporter = Reporter(service=args.service)
    meter = SleepMeter(SystemClock())
    # As Lab.app: no jitter in the lab's fraction-of-a-second polls.
    app = App(load_settings(Path(args.config)), reporter, clock=meter, poll_jitter=0.0)

    # Terraform: time of every run, by subcommand (the runner's own start/end events).
    tf_runs: list[dict[str, Any]] = []
    tf_total = [0.0]

    def on_terraform(event: TerraformEvent) -> None:
        if event.phase == "end" and event.seconds is not None:
            tf_total[0] += event.seconds
            tf_runs.append({"cmd": event.subcommand, "seconds": round(event.seconds, 3)})

    app.terraform_events.add(on_terraform)

    # AWS calls: client-side seconds by operation (the counts come from app.clients.calls), and
    # how many records (instances, targets) the describes returned: the volume behind the time.
    aws_seconds: Counter[str] = Counter()
    records: Counter[str] = Counter()
    aws_total = [0.0]

    def on_aws(event: AwsCallEvent) -> None:
        aws_seconds[event.operation] += event.seconds
        aws_total[0] += event.seconds
        if event.response is not None:
            records[event.operation] += count_records(event.operation, event.response)

    app.aws_events.add(on_aws)

    marks: list[dict[str, Any]] = []

    def mark(name: str) -> None:
        peak = current = None
        if tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()  # peak: since the previous mark
            tracemalloc.reset_peak()
        marks.append({"step": name, "t": time.monotonic(), "slept": meter.slept, "tf": tf_total[0],
                      "aws": aws_total[0], "peak": peak, "current": current,
                      "by_api": Counter(app.clients.calls) if "clients" in app.__dict__ else Counter(),
                      "calls": sum(app.clients.calls.values()) if "clients" in app.__dict__ else 0})

    def on_event(record: dict[str, Any]) -> None:
        if record["event"] == "step":
            mark(record["step"])

    reporter.subscribe(on_event)

    if args.tracemalloc:
        tracemalloc.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    mark("(observe, lease)")
    error = None
    try:
        plan = commands.release(app, ami=args.ami, manifest=None, size=None, keep_old=False, dry_run=False)
    except Exception as exc:  # noqa: BLE001 - reported in the result, and the exit code
        plan, error = None, f"{type(exc).__name__}: {exc}"
    wall = time.monotonic() - started
    traced = tracemalloc.get_traced_memory() if args.tracemalloc else None
    mark("(end)")
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    if traced is not None:  # the peak over the whole release: get_traced_memory() after a reset_peak
        traced = (traced[0], max([traced[1]] + [m["peak"] for m in marks if m["peak"] is not None]))
    if args.tracemalloc:
        tracemalloc.stop()

    steps = []
    for current, following in zip(marks, marks[1:]):
        steps.append({
            "step": current["step"],
            "wall_s": round(following["t"] - current["t"], 3),
            "sleep_s": round(following["slept"] - current["slept"], 3),
            "terraform_s": round(following["tf"] - current["tf"], 3),
            "aws_s": round(following["aws"] - current["aws"], 3),
            "aws_calls": following["calls"] - current["calls"],
            "aws_calls_by_api": dict(sorted((following["by_api"] - current["by_api"]).items())),
            "tracemalloc_peak_bytes": following["peak"],
            # what the step allocated on top of what was live when it began
            "tracemalloc_step_growth_bytes": (following["peak"] - current["current"]
                                              if following["peak"] is not None and current["current"] is not None else None),
        })
    calls = dict(sorted(app.clients.calls.items())) if "clients" in app.__dict__ else {}
    result = {
        "ok": error is None,
        "error": error,
        "from": plan.live.value if plan else None,
        "to": plan.target.value if plan else None,
        "size": plan.size if plan else None,
        "ami": args.ami,
        "tracemalloc": bool(args.tracemalloc),
        "wall_s": round(wall, 3),
        "sleep_s": round(meter.slept, 3),
        "sleeps": meter.sleeps,
        "wall_excluding_waits_s": round(wall - meter.slept, 3),
        "terraform_s": round(tf_total[0], 3),
        "terraform_runs": tf_runs,
        "aws_client_s": round(aws_total[0], 3),
        "other_s": round(wall - meter.slept - tf_total[0] - aws_total[0], 3),
        "cpu_user_s": round(cpu1.ru_utime - cpu0.ru_utime, 3),
        "cpu_sys_s": round(cpu1.ru_stime - cpu0.ru_stime, 3),
        "bluegreen_calls": calls,
        "bluegreen_calls_total": sum(calls.values()),
        "bluegreen_call_seconds": {k: round(v, 3) for k, v in sorted(aws_seconds.items())},
        "bluegreen_records_returned": dict(sorted(records.items())),
        "steps": steps,
        "memory": {
            "tracemalloc_peak_bytes": traced[1] if traced else None,
            "tracemalloc_end_bytes": traced[0] if traced else None,
            # The first mark (observe, lease) also creates the boto3 clients and loads botocore's
            # service models (most of the peak, and the same at any N): the steps after it show
            # what the release's own data costs.
            "tracemalloc_max_step_growth_bytes": max(
                (s["tracemalloc_step_growth_bytes"] for s in steps[1:] if s["tracemalloc_step_growth_bytes"] is not None),
                default=None),
            "ru_maxrss_before_release_bytes": rss_before,
            "ru_maxrss_bytes": _maxrss_bytes(resource.RUSAGE_SELF),
            "vm_hwm_bytes": _vm_hwm_bytes(),
            "terraform_children_maxrss_bytes": _maxrss_bytes(resource.RUSAGE_CHILDREN),
        },
    }
    Path(args.result).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if error is None else 1


# -- host: one Lab per size -------------------------------------------------------------------


class MotoMeter:
    """Calls moto serves (any client), counted by action, plus the seconds moto spends in each
    (measured around ``BaseResponse.call_action``, lock wait included), per named phase."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = "setup"
        self.calls: dict[str, Counter[str]] = {}
        self.errors: dict[str, Counter[str]] = {}
        self.seconds: dict[str, Counter[str]] = {}
        self._restore: Any = None

    def listener(self, action: str, status: int) -> None:
        with self.lock:
            self.calls.setdefault(self.phase, Counter())[action] += 1
            if status >= 400:
                self.errors.setdefault(self.phase, Counter())[f"{action} {status}"] += 1

    def install_timer(self) -> None:
        from moto.core.responses import BaseResponse

        wrapped = BaseResponse.__dict__.get("call_action")
        meter = self

        def call_action(response: Any) -> Any:
            started = time.monotonic()
            try:
                return wrapped(response)
            finally:
                spent = time.monotonic() - started
                try:
                    action = response._get_action()
                except Exception:  # noqa: BLE001
                    action = "?"
                with meter.lock:
                    meter.seconds.setdefault(meter.phase, Counter())[action] += spent

        BaseResponse.call_action = call_action  # type: ignore[method-assign]

        def restore() -> None:
            if BaseResponse.__dict__.get("call_action") is call_action:
                BaseResponse.call_action = wrapped  # type: ignore[method-assign]

        self._restore = restore

    def remove_timer(self) -> None:
        if self._restore is not None:
            self._restore()
            self._restore = None

    def summary(self, phase: str) -> dict[str, Any]:
        calls = self.calls.get(phase, Counter())
        seconds = self.seconds.get(phase, Counter())
        return {
            "moto_calls": dict(sorted(calls.items())),
            "moto_calls_total": sum(calls.values()),
            "moto_errors": dict(sorted(self.errors.get(phase, Counter()).items())),
            "moto_seconds": {k: round(v, 3) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])},
            "moto_seconds_total": round(sum(seconds.values()), 3),
        }


def widen_subnets(stack_dir: Path) -> bool:
    main = stack_dir / "main.tf"
    text = main.read_text(encoding="utf-8")
    if SUBNET_EXPR not in text:
        return False
    main.write_text(text.replace(SUBNET_EXPR, WIDE_SUBNET_EXPR), encoding="utf-8")
    return True


def _moto_instances() -> dict[str, int]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    from bluegreen_lab.emulator import LAB_REGION

    states: Counter[str] = Counter()
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][LAB_REGION]
    for reservation in list(backend.reservations.values()):
        for instance in reservation.instances:
            states[instance.state] += 1
    return dict(states)


def run_host(args: argparse.Namespace) -> int:
    spawner = Spawner()  # before moto is imported: see _SPAWNER
    try:
        return _run_host(args, spawner)
    finally:
        spawner.close()


def _run_host(args: argparse.Namespace, spawner: Spawner) -> int:
    from bluegreen_lab.lab import Lab, LabOptions
    from bluegreen.observe import TerraformEvent
    from bluegreen.report import Reporter

    size = args.size
    workdir = Path(args.workdir)
    options = LabOptions(
        deregistration_delay=1,
        initial_seconds=0.2,
        poll_seconds=0.2,
        verify_seconds=1,
        unhealthy_grace_seconds=5,
        instance_timeout_seconds=max(60, 2 * size),
        healthy_timeout_seconds=max(30, size),
    )
    out: dict[str, Any] = {"size": size, "options": {k: getattr(options, k) for k in (
        "deregistration_delay", "initial_seconds", "poll_seconds", "verify_seconds",
        "instance_timeout_seconds", "healthy_timeout_seconds")}}

    tf_runs: list[dict[str, Any]] = []

    def on_terraform(event: TerraformEvent) -> None:
        if event.phase == "end" and event.seconds is not None:
            tf_runs.append({"cmd": event.subcommand, "seconds": round(event.seconds, 3)})

    meter = MotoMeter()
    t_start = time.monotonic()
    with Lab(workdir, options) as lab:
        out["lab_start_s"] = round(time.monotonic() - t_start, 3)
        lab.terraform_events.add(on_terraform)  # every runner of this lab: the deploy's Apps too
        remove = lab.fidelity.add_listener(meter.listener)
        meter.install_timer()
        try:
            assert lab.stack_dir is not None
            out["subnets_widened"] = widen_subnets(lab.stack_dir)
            v1 = lab.bake("v1")
            meter.phase = "deploy_initial"
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            started = time.monotonic()
            lab.deploy_initial(v1, size=size, reporter=Reporter(service=options.service))
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            out["deploy_initial"] = {
                "seconds": round(time.monotonic() - started, 3),
                "host_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 3),
                "terraform_runs": list(tf_runs),
                **meter.summary("deploy_initial"),
            }
            out["releases"] = []
            for index in range(args.releases):
                meter.phase = "bake"
                ami = lab.bake(f"v{index + 2}")
                phase = f"release{index + 1}"
                meter.phase = phase
                result_file = workdir / f"{phase}.json"
                log_file = workdir / f"{phase}.log"
                argv = [sys.executable, "-m", "bench.scale", "--worker", "--config", str(lab.config_path),
                        "--ami", ami, "--result", str(result_file), "--service", options.service]
                if index == 1:
                    argv.append("--tracemalloc")
                cpu0 = resource.getrusage(resource.RUSAGE_SELF)
                started = time.monotonic()
                code = spawner.run(argv, log=log_file, timeout=args.release_timeout)
                elapsed = time.monotonic() - started
                cpu1 = resource.getrusage(resource.RUSAGE_SELF)
                meter.phase = "after"
                release = json.loads(result_file.read_text()) if result_file.exists() else {
                    "ok": False, "error": f"worker exited {code} without a result; see {log_file}"}
                release.update(meter.summary(phase))
                release["worker_process_s"] = round(elapsed, 3)
                release["moto_host_cpu_s"] = round(
                    cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 3)
                release["log"] = str(log_file)
                out["releases"].append(release)
                if not release.get("ok"):
                    break
            out["moto_instances_at_end"] = _moto_instances()
            out["host_maxrss_bytes"] = _maxrss_bytes(resource.RUSAGE_SELF)  # moto + fidelity + Lab
        finally:
            meter.remove_timer()
            remove()
    out["host_total_s"] = round(time.monotonic() - t_start, 3)
    Path(args.result).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


# -- driver ---------------------------------------------------------------------------------------


def _measured(size_result: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the timed release, the tracemalloc release) of one size."""
    releases = size_result.get("releases") or []
    timed = next((r for r in releases if r.get("ok") and not r.get("tracemalloc")), None)
    traced = next((r for r in releases if r.get("ok") and r.get("tracemalloc")), None)
    return timed, traced


METHOD_NOTES = (
    "Subnets: the example stack's two /24 subnets hold ~500 instances (251 usable addresses each in AWS; "
    "moto's launch raises StopIteration after 250), fewer than the 2N a release of N=500 runs at once; the "
    "bench widens them to /20 in the lab's copy of the stack, for every size.",
    "ru_maxrss: the bluegreen worker is started by a small spawner forked before moto is imported, because "
    "Linux carries a parent's RSS into a child's ru_maxrss across fork+exec (it read 252 MiB, moto's host, "
    "otherwise). It is the timed release's (tracemalloc roughly doubles RSS and Python CPU time).",
    "tracemalloc peak includes creating the boto3 clients and loading botocore's service models (~28 MiB "
    "retained, the same at any N); 'max step growth' is the most any later step allocated above what was live "
    "when it began.",
    "moto-served calls count everything moto answered while the release ran: bluegreen's calls plus Terraform's "
    "(plan/apply/confirm refresh), with the seconds moto spent in each (lock wait included).",
)


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


# name -> (release, path): the timed release ("t") or the tracemalloc one ("m").
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "release_wall_s": ("t", ("wall_s",)),
    "release_wall_excluding_waits_s": ("t", ("wall_excluding_waits_s",)),
    "release_terraform_s": ("t", ("terraform_s",)),
    "release_bluegreen_aws_call_s": ("t", ("aws_client_s",)),
    "release_moto_busy_s": ("t", ("moto_seconds_total",)),
    "bluegreen_calls": ("t", ("bluegreen_calls_total",)),
    "moto_calls": ("t", ("moto_calls_total",)),
    "bluegreen_ru_maxrss_bytes": ("t", ("memory", "ru_maxrss_bytes")),
    "tracemalloc_peak_bytes": ("m", ("memory", "tracemalloc_peak_bytes")),
    "tracemalloc_max_step_growth_bytes": ("m", ("memory", "tracemalloc_max_step_growth_bytes")),
}


def analyse(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The assertions, and growth exponents across sizes (of totals, per API, per record)."""
    problems: list[str] = []
    batches = []
    for r in results:
        if r.get("error"):
            problems.append(f"N={r['size']}: {r['error']}")
            continue
        for release in r.get("releases", []):
            if not release.get("ok"):
                problems.append(f"N={r['size']}: release failed: {release.get('error')}")
                continue
            for source in ("bluegreen_calls", "moto_calls"):
                found = batch_violations(r["size"], release.get(source, {}))
                problems.extend(f"{p} ({source})" for p in found)
            batches.append({
                "size": r["size"], "release": f"{release['from']}->{release['to']}",
                "expected": expected_batches(r["size"]),
                **{name: release["bluegreen_calls"].get(name, 0) for name in BATCHED_CALLS},
                **{f"moto_{name}": release["moto_calls"].get(name, 0) for name in BATCHED_CALLS},
                "detach": sum(release["bluegreen_calls"].get(n, 0) for n in DETACH_CALLS),
            })

    ok = [r for r in results if _measured(r)[0] is not None]
    sizes = [r["size"] for r in ok]
    series: dict[str, list[float]] = {"initial_deploy_s": [r["deploy_initial"]["seconds"] for r in ok]}
    for name, (which, path) in METRICS.items():
        series[name] = [float(_get(_measured(r)[0 if which == "t" else 1], *path) or 0) for r in ok]
    for key in ("bluegreen_calls", "moto_seconds", "bluegreen_call_seconds", "bluegreen_records_returned"):
        names = set().union(*(_measured(r)[0].get(key, {}).keys() for r in ok)) if ok else set()
        for op in sorted(names):
            series[f"{key}.{op}"] = [float(_measured(r)[0].get(key, {}).get(op) or 0) for r in ok]
    # Cost per record: does an instance cost more to describe in a bigger fleet?
    for op in ("DescribeInstances", "DescribeAutoScalingGroups", "DescribeTargetHealth"):
        recs = series.get(f"bluegreen_records_returned.{op}")
        secs = series.get(f"moto_seconds.{op}")
        if recs and secs and min(recs) > 0:
            series[f"moto_ms_per_record.{op}"] = [round(1000 * s / n, 3) for s, n in zip(secs, recs)]
    growth = {}
    for name, values in series.items():
        if len(sizes) < 2 or min(values) <= 0:
            continue
        last = local_exponent(sizes[-2], values[-2], sizes[-1], values[-1])
        fit = growth_exponent(sizes, values)
        growth[name] = {
            "values": values,
            "exponent_fit": round(fit, 2) if fit is not None else None,
            "exponent_last_step": round(last, 2) if last is not None else None,
            "label": growth_label(last),
        }
    # Flag what grows faster than N between the two largest sizes; per-API seconds only once they
    # cost something (>= 1 s at the largest size).
    superlinear = {
        k: v for k, v in growth.items()
        if v["label"] == "superlinear" and not ("seconds." in k and v["values"][-1] < 1.0)
    }
    return {"sizes": sizes, "problems": problems, "batches": batches, "growth": growth,
            "superlinear": dict(sorted(superlinear.items(), key=lambda kv: -(kv[1]["exponent_last_step"] or 0)))}


def render_markdown(doc: dict[str, Any]) -> str:
    o = doc["options"]
    lines = [
        "# Scale benchmark (issue 3)",
        "",
        f"`{doc['command']}`: {doc['started']}, {doc['total_s']:.0f} s in all, {doc['machine']}.",
        "",
        "One fresh Lab per size (blue deployed at N by Terraform + bootstrap), then two releases in a separate",
        "bluegreen process: blue→green (timed; its figures are the ones below) and green→blue (with tracemalloc,",
        f"for memory). Waits: deregistration delay {o.get('deregistration_delay')} s, verify window "
        f"{o.get('verify_seconds')} s, poll {o.get('poll_seconds')} s. Times in seconds, memory in MiB.",
        "",
        "| N per color | initial deploy | release wall | in waits | wall excl. waits | ↳ Terraform | ↳ AWS calls | bluegreen AWS calls | moto-served calls (incl. Terraform) | EnterStandby / ExitStandby (ceil(N/20)) | detach calls | tracemalloc peak (max step growth) | ru_maxrss bluegreen | moto host RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|",
    ]
    for r in doc["results"]:
        timed, traced = _measured(r)
        if timed is None:
            why = r.get("error") or (r.get("releases") or [{}])[-1].get("error")
            lines.append(f"| {r['size']} | failed: {why} |" + " |" * 12)
            continue
        c = timed["bluegreen_calls"]
        tm = _get(traced, "memory", "tracemalloc_peak_bytes")
        growth = _get(traced, "memory", "tracemalloc_max_step_growth_bytes")
        lines.append(
            f"| {r['size']} | {r['deploy_initial']['seconds']:.1f} | {timed['wall_s']:.1f} | {timed['sleep_s']:.1f} | "
            f"{timed['wall_excluding_waits_s']:.1f} | {timed['terraform_s']:.1f} | {timed['aws_client_s']:.1f} | "
            f"{timed['bluegreen_calls_total']} | {timed['moto_calls_total']} | "
            f"{c.get('EnterStandby', 0)} / {c.get('ExitStandby', 0)} ({expected_batches(r['size'])}) | "
            f"{sum(c.get(n, 0) for n in DETACH_CALLS)} | "
            f"{f'{mib(tm)} ({mib(growth or 0)})' if tm else '–'} | "
            f"{mib(_get(timed, 'memory', 'ru_maxrss_bytes') or 0)} | {mib(r.get('host_maxrss_bytes') or 0)} |"
        )
    lines += ["", "Calls by API (bluegreen's own, timed release) and instances/targets those describes returned:", ""]
    ok = [r for r in doc["results"] if _measured(r)[0] is not None]
    ops = sorted(set().union(*(_measured(r)[0]["bluegreen_calls"].keys() for r in ok))) if ok else []
    lines.append("| API | " + " | ".join(f"N={r['size']}" for r in ok) + " |")
    lines.append("|---|" + "---:|" * len(ok))
    for op in ops:
        cells = []
        for r in ok:
            t = _measured(r)[0]
            n = t["bluegreen_calls"].get(op, 0)
            recs = t.get("bluegreen_records_returned", {}).get(op)
            secs = t.get("bluegreen_call_seconds", {}).get(op, 0)
            cells.append(f"{n}" + (f" ({recs} records)" if recs else "") + (f", {secs:.1f} s" if secs >= 0.5 else ""))
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    analysis = doc["analysis"]
    lines += ["", "Assertions: " + ("passed: EnterStandby = ExitStandby = ceil(N/20) in every release, in bluegreen's "
                                     "counter and in what moto served; one detach call." if not analysis["problems"]
                                     else "FAILED:")]
    lines += [f"- {p}" for p in analysis["problems"]]
    if analysis["superlinear"]:
        lines += ["", "Faster than linear between the two largest sizes (exponent = log(value ratio) / log(N ratio); 1 = linear):", ""]
        for name, g in list(analysis["superlinear"].items())[:12]:
            values = ", ".join(f"{v:g}" for v in g["values"])
            lines.append(f"- `{name}`: {values} (exponent {g['exponent_last_step']})")
    if ok:
        big = ok[-1]
        t = _measured(big)[0]
        lines += ["", f"Where the release's time goes at N={big['size']} (timed release; steps by wall time):", "",
                  "| step | wall | in waits | Terraform | AWS calls (s) | calls by API |", "|---|---:|---:|---:|---:|---|"]
        for step in sorted(t["steps"], key=lambda x: -x["wall_s"])[:8]:
            by_api = ", ".join(f"{k} {v}" for k, v in sorted(step.get("aws_calls_by_api", {}).items(), key=lambda kv: -kv[1]))
            lines.append(f"| {step['step']} | {step['wall_s']:.1f} | {step['sleep_s']:.1f} | {step['terraform_s']:.1f} | "
                         f"{step['aws_s']:.1f} | {by_api} |")
        di = t.get("bluegreen_records_returned", {}).get("DescribeInstances", 0)
        busy = t.get("moto_seconds", {}).get("DescribeInstances", 0)
        if di:
            lines += ["", f"DescribeInstances returned {di} instance records = {di / big['size']:g} full sweeps of the "
                      f"{big['size']}-instance fleet; moto spent {busy:.1f} s serving them "
                      f"({1000 * busy / di:.2f} ms per record)."]
    notes = list(METHOD_NOTES) + list(doc.get("notes") or [])
    lines += ["", "Method notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def run_driver(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bg-scale-"))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    started_at = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.monotonic()
    results = []
    for size in sizes:
        workdir = root / f"n{size}"
        workdir.mkdir(parents=True, exist_ok=True)
        result_file = workdir / "host.json"
        argv = [sys.executable, "-m", "bench.scale", "--host", "--size", str(size), "--workdir", str(workdir),
                "--result", str(result_file), "--releases", str(args.releases),
                "--release-timeout", str(args.release_timeout)]
        print(f"[scale] N={size}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
        t = time.monotonic()
        try:
            with open(workdir / "host.log", "w", encoding="utf-8") as log:
                code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=args.size_timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        if result_file.exists():
            result = json.loads(result_file.read_text())
        else:
            result = {"size": size, "error": f"host exited {code} without a result; see {workdir / 'host.log'}"}
        result["host_process_s"] = round(time.monotonic() - t, 1)
        results.append(result)
        timed, traced = _measured(result)
        if timed:
            c = timed["bluegreen_calls"]
            print(f"[scale] N={size}: deploy {result['deploy_initial']['seconds']:.1f}s, release {timed['wall_s']:.1f}s "
                  f"({timed['wall_excluding_waits_s']:.1f}s excl. waits, Terraform {timed['terraform_s']:.1f}s), "
                  f"{timed['bluegreen_calls_total']} bluegreen calls, {timed['moto_calls_total']} served by moto, "
                  f"EnterStandby {c.get('EnterStandby', 0)}, ExitStandby {c.get('ExitStandby', 0)} "
                  f"(expected {expected_batches(size)}); host {result['host_process_s']:.0f}s",
                  file=sys.stderr, flush=True)
        else:
            print(f"[scale] N={size}: FAILED: {result.get('error') or [r.get('error') for r in result.get('releases', [])]}",
                  file=sys.stderr, flush=True)
    total = time.monotonic() - t0
    options = next((r.get("options") for r in results if r.get("options")), {})
    doc = {
        "benchmark": "scale (issue 3)",
        "command": "python -m bench.scale" + (f" --sizes {args.sizes}" if args.sizes != ",".join(map(str, DEFAULT_SIZES)) else ""),
        "started": started_at,
        "total_s": round(total, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "versions": _versions(),
        "git": _git_state(),
        "workdir": str(root),
        "options": options,
        "method": {
            "processes": "driver -> one host per size (fresh Lab: moto server + fidelity, Terraform deploy of blue at N) "
                         "-> one worker per release (the bluegreen process: App + commands.release)",
            "bluegreen_calls": "app.clients.calls (botocore before-call: one per API call, each page of a paginator counts)",
            "moto_calls": "fid.add_listener over the release's worker lifetime: every call moto served, Terraform's included",
            "wall_excluding_waits_s": "release wall time minus the seconds spent in app.clock.sleep (poll intervals, verify window)",
            "tracemalloc_peak_bytes": "peak of Python allocations made during commands.release in the worker (second release)",
            "ru_maxrss_bytes": "worker (bluegreen) process max RSS; terraform_children_maxrss_bytes: largest Terraform child",
            "subnets": "the lab's copy of the example stack gets /20 subnets instead of /24 (see notes)",
        },
        "results": results,
    }
    doc["analysis"] = analyse(results)
    doc["notes"] = list(args.note or [])
    (out_dir / "scale.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (out_dir / "scale.md").write_text(render_markdown(doc), encoding="utf-8")
    print(render_markdown(doc))
    print(f"[scale] wrote {out_dir / 'scale.json'} and {out_dir / 'scale.md'} in {total:.0f}s", file=sys.stderr)
    problems = doc["analysis"]["problems"]
    for p in problems:
        print(f"[scale] ASSERTION FAILED: {p}", file=sys.stderr)
    for b in doc["analysis"]["batches"]:
        print(f"[scale] N={b['size']} {b['release']}: EnterStandby {b['EnterStandby']} (moto {b['moto_EnterStandby']}), "
              f"ExitStandby {b['ExitStandby']} (moto {b['moto_ExitStandby']}), ceil(N/20) = {b['expected']}; "
              f"detach calls {b['detach']}", file=sys.stderr)
    assert not problems, problems
    print("[scale] asserted: EnterStandby == ExitStandby == ceil(N/20), never N, in every release", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _git_state() -> dict[str, Any]:
    """The commit measured, and files that differed from it (other work in progress)."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], capture_output=True, text=True, timeout=10,
                                  cwd=Path(__file__).resolve().parent.parent).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"head": git("rev-parse", "HEAD"), "modified": git("status", "--porcelain").splitlines()}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("moto", "boto3", "botocore"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="instances per color, comma-separated")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="where scale.json and scale.md go")
    parser.add_argument("--workdir", default=None, help="lab work dirs (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dirs (logs, Terraform state)")
    parser.add_argument("--releases", type=int, default=2, help="releases per size (1: timed only)")
    parser.add_argument("--release-timeout", type=float, default=900)
    parser.add_argument("--size-timeout", type=float, default=1800)
    parser.add_argument("--note", action="append", help="a note for the results (repeatable)")
    # internal roles
    parser.add_argument("--host", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--ami", help=argparse.SUPPRESS)
    parser.add_argument("--service", default="web", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.worker:
        return run_worker(args)
    if args.host:
        return run_host(args)
    return run_driver(args)


if __name__ == "__main__":
    sys.exit(main())
