"""The crash-point matrix (issue 7): every plan kind, every step, a crash (SIGKILL stand-in) before
and after each of its AWS / Terraform calls, then a new process runs ``resume`` or ``abort``.
Also: a fault (AwsError / TerraformError) at every call, the undo failing at every undo call, a
Ctrl-C at every call, and a second process trying to drive a live run.

Everything goes through ``bluegreen.commands`` and the ports (tests/unit/fakeworld.py), never the
executor's internals, so the matrix keeps working while the executor is rewritten. Cases that fail
on today's executor are marked ``xfail(strict=True)`` with the defect: flip them as it is fixed.

    PYTHONPATH=$PWD pytest -q tests/unit/test_crash_matrix.py
"""

from __future__ import annotations

import atexit
import http.server
import random
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from bluegreen import commands
from bluegreen.errors import ExitCode, LockedError, StateMismatchError, TerraformError
from bluegreen.model import Color, TrafficKind
from fakeworld import (
    COLOR_TG,
    AMI_V1,
    AMI_V2,
    AMI_V3,
    Call,
    Crash,
    FakeWorld,
    Trap,
    aws_error,
    last_run,
    outcome,
)

# -- a smoke endpoint on 127.0.0.1 (the smoke check is an HTTP GET through the load balancer) --------


class _Smoke(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path.startswith("/ok") else 500)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


_SMOKE: list[http.server.ThreadingHTTPServer] = []


def smoke_url() -> str:
    if not _SMOKE:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Smoke)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _SMOKE.append(server)
        atexit.register(_stop_smoke)  # also when the module's tests were all deselected
    return f"http://127.0.0.1:{_SMOKE[0].server_address[1]}/ok"


def _stop_smoke() -> None:
    while _SMOKE:
        server = _SMOKE.pop()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", autouse=True)
def _stop_smoke_server():
    yield
    _stop_smoke()


# -- plan kinds ---------------------------------------------------------------------------------------

OWN = {Color.BLUE: {"AlarmNotification"}}  # a suspension the group had before: must survive every run


@dataclass(frozen=True)
class Kind:
    name: str
    original: Color
    target: Color
    target_ami: str
    warm_old: bool | None  # the old color stays running (detached) after completion; None: warm or zero
    warm_start: bool  # set up by a --keep-old release first (both colors running)
    settings: dict[str, Any] = field(default_factory=dict)
    command: Callable[[Any], Any] = lambda app: None
    world: dict[str, Any] = field(default_factory=dict)  # FakeWorld options


def _release(ami: str, keep_old: bool = False) -> Callable[[Any], Any]:
    # keep-old with --no-wait: the run ends with the old color warm; the foreground window (watch,
    # flip back, scale to zero) is a command of its own after the run, tested in test_keep_old.py.
    return lambda app: commands.release(app, ami=ami, manifest=None, size=None, keep_old=keep_old,
                                        dry_run=False, wait=False)


KINDS = {
    k.name: k for k in (
        Kind("release", Color.BLUE, Color.GREEN, AMI_V2, False, False, command=_release(AMI_V2)),
        Kind("release-smoke", Color.BLUE, Color.GREEN, AMI_V2, False, False, {"smoke_url": "SMOKE"},
             command=_release(AMI_V2)),
        Kind("keep-old", Color.BLUE, Color.GREEN, AMI_V2, True, False, {"keep_old_seconds": 600},
             command=_release(AMI_V2, keep_old=True)),
        Kind("warm-rollback", Color.GREEN, Color.BLUE, AMI_V1, False, True,
             command=lambda app: commands.rollback(app, dry_run=False)),
        Kind("swap", Color.GREEN, Color.BLUE, AMI_V1, True, True, command=lambda app: commands.swap(app, dry_run=False)),
        Kind("release-clear-idle", Color.GREEN, Color.BLUE, AMI_V3, False, True, command=_release(AMI_V3)),
        # A classic ELB instead of a target group (AttachLoadBalancers / DetachLoadBalancers).
        Kind("release-elb", Color.BLUE, Color.GREEN, AMI_V2, False, False, command=_release(AMI_V2),
             world={"traffic_kind": TrafficKind.ELB}),
        # The weighted mode: a canary (10 %, 50 %, then 100 %) with timed pauses and a bake, through
        # the listener's weights; its commit point is the end of the bake.
        Kind("weighted-canary", Color.BLUE, Color.GREEN, AMI_V2, False, False, command=_release(AMI_V2),
             world={"weighted": True}),
        Kind("weighted-rollback", Color.GREEN, Color.BLUE, AMI_V1, False, True,
             command=lambda app: commands.rollback(app, dry_run=False), world={"weighted": True}),
        # 25 instances: EnterStandby / ExitStandby in batches of 20, a crash between batches.
        Kind("release-25", Color.BLUE, Color.GREEN, AMI_V2, False, False, command=_release(AMI_V2),
             world={"size": 25, "max_size": 30}),
    )
}


def settings_of(kind: Kind) -> dict[str, Any]:
    return {k: (smoke_url() if v == "SMOKE" else v) for k, v in kind.settings.items()}


@dataclass
class Scenario:
    world: FakeWorld
    kind: Kind
    start: int  # calls before this index belong to the setup
    before: dict[Color, dict[str, Any]]
    vars_before: Any
    error: BaseException | None = None


def scenario(kind: Kind, root: Path) -> Scenario:
    random.seed(7)  # the waiter's poll jitter: reproducible cases
    # A warm start is built in the world (not by a --keep-old release), so it does not depend on
    # how long the executor keeps an old color warm.
    world = FakeWorld(root, own_suspensions=OWN, warm_start=kind.warm_start, **kind.world)
    return Scenario(world, kind, len(world.calls), {c: world.shape(c) for c in Color}, world.committed_vars())


def run(sc: Scenario, command: Callable[[Any], Any], **settings: Any) -> BaseException | None:
    """Run ``command`` in a new process; the exception it ended with (None: success)."""
    app = sc.world.app(**{**settings_of(sc.kind), **settings})
    try:
        command(app)
    except (Exception, KeyboardInterrupt, Crash) as exc:  # noqa: BLE001 - the case judges it
        return exc
    except BaseException as exc:  # RunStopped and friends
        return exc
    return None


def exit_code(exc: BaseException | None) -> int:
    if exc is None:
        return int(ExitCode.OK)
    if isinstance(exc, KeyboardInterrupt):
        return int(ExitCode.INTERRUPTED)  # what cli.run_command maps it to
    code = getattr(exc, "exit_code", None)
    return int(code) if code is not None else int(ExitCode.INTERNAL)


def recover(sc: Scenario, what: str) -> tuple[BaseException | None, list[str]]:
    """``resume`` or ``abort`` in a new process, as an operator would: if the lock of the crashed
    run is still held (a dead holder), ``bluegreen unlock RUN_ID`` first, as the message says."""
    notes = []
    command = commands.resume if what == "resume" else commands.abort
    exc = run(sc, command)
    if isinstance(exc, LockedError):
        run_id = getattr(last_run(sc.world), "run_id", None)
        notes.append(f"{what} refused with the lock held ({exc}); ran unlock {run_id}")
        unlock_exc = run(sc, lambda app: commands.unlock(app, run_id))
        assert unlock_exc is None, f"unlock failed: {unlock_exc!r}"
        exc = run(sc, command)
    return exc, notes


# -- what "finished" means ----------------------------------------------------------------------------


def lease_free(world: FakeWorld) -> bool:
    return not (world.stack_dir / ".bluegreen" / "release.lock").exists()


def assert_completed(sc: Scenario) -> None:
    w, k = sc.world, sc.kind
    w.settle()
    problems = []
    new, old = w.shape(k.target), w.shape(k.original)
    size = sc.before[k.original]["in_service"]
    if outcome(last_run(w)) != "completed":
        problems.append(f"journal outcome {outcome(last_run(w))!r}, expected 'completed'")
    if not (new["attached"] and new["healthy"] == new["in_service"] == size and new["images"] == [k.target_ami]):
        problems.append(f"new color {k.target} does not serve {k.target_ami} x{size}: {new}")
    if old["attached"]:
        problems.append(f"old color {k.original} still attached: {old}")
    warm = old["lifecycle"] == ["InService"] * size and old["desired"] == size
    zero = not old["lifecycle"] and not old["desired"]
    if k.warm_old and not warm:
        problems.append(f"old color {k.original} not kept warm x{size}: {old}")
    elif k.warm_old is False and not zero:
        problems.append(f"old color {k.original} not at zero: {old}")
    elif k.warm_old is None and not (warm or zero):
        problems.append(f"old color {k.original} neither kept warm x{size} nor at zero: {old}")
    for color in Color:
        suspended = set(w.shape(color)["suspended"])
        if suspended != set(OWN.get(color, ())):
            problems.append(f"{color} suspended processes {sorted(suspended)}, expected {sorted(OWN.get(color, ()))}")
    vars_ = w.committed_vars()
    if vars_.live_color != k.target or w.tf_outputs_live != k.target:
        problems.append(f"tfvars live_color {vars_.live_color}, output {w.tf_outputs_live}, expected {k.target}")
    if w.drift():
        problems.append(f"terraform plan not clean: {w.drift()}")
    if not lease_free(w):
        problems.append("release lock still held")
    problems += w.violations
    assert not problems, "; ".join(problems)


def assert_original_serves(sc: Scenario, outcomes: tuple[str, ...] = ("aborted",),
                           switched_back: bool = False) -> None:
    """``switched_back``: the abort came after the commit point, so a rollback run put the
    original color back and the aborted color was scaled to zero (its variables keep the aborted
    AMI at size 0, and no instance runs it)."""
    w, k = sc.world, sc.kind
    w.settle()
    problems = []
    got = outcome(last_run(w))
    if got not in outcomes:
        problems.append(f"journal outcome {got!r}, expected one of {outcomes}")
    orig, tgt = w.shape(k.original), w.shape(k.target)
    if orig != sc.before[k.original]:
        problems.append(f"original {k.original} not as before: {orig} != {sc.before[k.original]}")
    target_before = sc.before[k.target]
    cleared = dict(target_before, lifecycle=[], healthy=0, in_service=0, images=[], desired=0,
                   min=0)
    if tgt != target_before and not (k.name == "release-clear-idle" and tgt == cleared):
        problems.append(f"target {k.target} not as before: {tgt} != {target_before}")
    for color in Color:
        running = set(w.shape(color)["images"])
        configured = w.committed_vars().colors[color].ami
        if running - {configured}:
            problems.append(f"{color} runs {sorted(running)} but Terraform's tfvars say {configured}")
    if w.committed_vars().live_color != k.original or w.tf_outputs_live != k.original:
        problems.append("live_color in tfvars / outputs is not the original color")
    if w.drift():
        problems.append(f"terraform plan not clean: {w.drift()}")
    if not lease_free(w):
        problems.append("release lock still held")
    problems += w.violations
    assert not problems, "; ".join(problems)


# -- enumerating crash points from a dry run -----------------------------------------------------------


@dataclass(frozen=True)
class Point:
    kind: str
    label: str
    when: str  # before / after / during
    k: int  # k-th crashable call after the setup, or the step for "during"
    step: str | None
    op: str
    color: str | None
    committed: bool  # the commit point (detach of the old color) had completed before the crash

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.label}"


def _color_of_call(world: FakeWorld, call: Call) -> str | None:
    group = call.args.get("group")
    return world.groups[group].color.value if group in world.groups else None


def dry_run(kind: Kind) -> tuple[list[Call], list[str], FakeWorld, int]:
    with tempfile.TemporaryDirectory() as tmp:
        sc = scenario(kind, Path(tmp))
        exc = run(sc, kind.command)
        assert exc is None, f"{kind.name} does not complete without faults: {exc!r}"
        calls = [c for c in sc.world.calls[sc.start:] if c.crashable]
        records = sc.world.journal_records
        begin = max(n for n, r in enumerate(records) if r.step == "run" and r.status == "begin")
        steps: list[str] = []
        for record in records[begin:]:
            if record.status == "started" and record.step not in steps:
                steps.append(record.step)
        return calls, steps, sc.world, sc.start


def _journal_completed_before(world: FakeWorld, step: str, call: Call, start: int) -> bool:
    seen = [c for c in world.calls[start:] if c.service == "journal" and c.op == "append" and c.index < call.index
            and c.args.get("step") == step and c.args.get("status") == "completed"]
    return bool(seen)


def commit_step(kind: Kind) -> str:
    return "bake" if kind.world.get("weighted") else "detach-old"


def crash_points(kind_name: str) -> list[Point]:
    kind = KINDS[kind_name]
    point_of_no_return = commit_step(kind)
    calls, steps, world, start = dry_run(kind)
    points = []
    with_calls = set()
    for n, call in enumerate(calls, start=1):
        color = _color_of_call(world, call)
        with_calls.add(call.step)
        for when in ("before", "after"):
            committed = _journal_completed_before(world, point_of_no_return, call, start)
            label = f"{n:02d}-{call.step}-{call.op}{'-' + color if color else ''}-{when}"
            points.append(Point(kind_name, label, when, n, call.step, call.op, color, committed))
    for step in steps:
        if step in with_calls:
            continue
        # No AWS call in this step (a wait, the verify window, the smoke check, the final plan):
        # crash in the middle of it, right after the journal says it started.
        started = [c for c in world.calls[start:] if c.service == "journal" and c.args.get("step") == step
                   and c.args.get("status") == "started"]
        committed = bool(started) and _journal_completed_before(world, point_of_no_return, started[-1], start)
        points.append(Point(kind_name, f"in-{step}-during", "during", 0, step, "wait", None, committed))
    return points


def trap_for(sc: Scenario, point: Point, action: Any = "crash", times: int | None = 1) -> Trap:
    start = sc.start
    if point.when == "during":
        return Trap(lambda c: c.index > start and c.service == "journal" and c.op == "append"
                    and c.args.get("step") == point.step and c.args.get("status") == "started",
                    when="after", action=action, times=times)
    return Trap(lambda c: c.index > start and c.crashable, when=point.when, occurrence=point.k,
                action=action, times=times)


def _collect(name: str, fn: Callable[..., list[Any]], *args: Any) -> list[Any]:
    """Enumerate at collection time; a kind whose undisturbed run breaks gets no cases (and
    ``test_undisturbed_run_completes`` says why) instead of breaking the whole module."""
    try:
        return fn(name, *args)
    except (Exception, Crash) as exc:  # noqa: BLE001
        COLLECT_ERRORS.setdefault(name, f"{fn.__name__}: {exc!r}")
        return []


COLLECT_ERRORS: dict[str, str] = {}
POINTS = {name: _collect(name, crash_points) for name in KINDS}
RAN: dict[str, int] = {}


def ran(matrix: str) -> None:
    RAN[matrix] = RAN.get(matrix, 0) + 1


# -- known defects of today's executor (strict xfail: flip as they are fixed) -------------------------

EXIT11_DEAD_END = (
    "exit 11 is a dead end: the journal's outcome needs-operator makes the run not in flight, so "
    "`resume` and `abort` both refuse 'no run is in flight' although the message names them"
)
INTERRUPT_UNDOES = (
    "Ctrl-C/SIGTERM during terraform apply becomes ReleaseInterrupted, an ordinary Exception: execute "
    "compensates (exit 10 before the commit point, exit 11 after it) instead of stopping with exit 13"
)
DETACH_GAP = (
    "crash right after the old color's Detach call, before the journal records detach-old completed: "
    "abort is allowed (not past the commit point) but nothing re-attaches the old color; the undo of "
    "standby-old exits Standby and waits 600 s for health on a detached group, ends in exit 11 with the "
    "new color serving alone"
)
WARM_IDLE_KEEPS_NEW_AMI = (
    "undoing a release over a warm idle color (clear-idle, then apply-idle) restores the idle color's "
    "tfvars (old AMI, old size) but not its instances: the size is already right, so Terraform only "
    "rolls the launch template back and the idle color keeps running the aborted AMI while Terraform "
    "says the old one; a later warm rollback would serve the aborted image"
)
CLEAR_IDLE_NO_UNDO = (
    "scale-idle-to-zero has no undo: a crash after its terraform apply and before the tfvars write, "
    "then abort, leaves the idle color at zero in AWS while the tfvars still give it its old size "
    "(terraform plan not clean after the abort)"
)

ABORT_REENTRY = (
    "abort is not idempotent: killed right after its own ExitStandby call (undo of standby-old), "
    "the next abort finds no Standby instance and no InService one yet (they are Pending), so it "
    "waits for the health of zero targets, which never counts as healthy: 600 s, then exit 11"
)


def _last_exit_standby_batch(point: Point) -> bool:
    batches = 2 if point.kind == "release-25" else 1  # 25 instances: ExitStandby in 20 + 5
    return point.when == "after" and "-ExitStandby-" in point.label and point.k == batches


def _after_apply_idle(point: Point) -> bool:
    order = ["scale-idle-to-zero", "apply-idle", "wait-instances", "attach-new", "wait-healthy",
             "verify-window", "lower-old-min", "standby-old", "wait-drained", "detach-old"]
    if point.step not in order or point.committed:
        return False
    if point.step == "scale-idle-to-zero":
        return False
    if point.step == "apply-idle":
        return point.when == "after"
    return True


# Defects the matrix found in the 0.1 executor, each fixed since (the reasons above say what they
# were); a new defect is listed here as (matrix, predicate(point, extra), reason) with a strict
# xfail until it is fixed.
DEFECTS: list[tuple[str, Callable[..., bool], str]] = []


def defect_for(matrix: str, point: Point, extra: str = "") -> str | None:
    for name, predicate, reason in DEFECTS:
        if name == matrix and predicate(point, extra):
            return reason
    return None


def params(matrix: str, extras: tuple[str, ...]) -> list[Any]:
    out = []
    for name in KINDS:
        for point in POINTS[name]:
            for extra in extras:
                reason = defect_for(matrix, point, extra)
                marks = [pytest.mark.xfail(strict=True, reason="defect: " + reason)] if reason else []
                out.append(pytest.param(point, extra, id=f"{point.id}:{extra}" if extra else point.id, marks=marks))
    return out


# -- 1. crash, then resume / abort ---------------------------------------------------------------------


@pytest.mark.parametrize(("point", "recovery"), params("crash", ("resume", "abort")))
def test_crash_then_recover(point: Point, recovery: str, tmp_path: Path) -> None:
    ran("crash")
    kind = KINDS[point.kind]
    sc = scenario(kind, tmp_path)
    sc.world.traps.append(trap_for(sc, point))
    exc = run(sc, kind.command)
    assert isinstance(exc, Crash), f"expected the injected crash, got {exc!r}"
    assert outcome(last_run(sc.world)) is None, "a crashed run must stay in flight"
    exc, _ = recover(sc, recovery)
    if recovery == "resume":
        assert exc is None, f"resume failed: {exc!r}"
        assert_completed(sc)
        return
    if point.committed:
        # Past the commit point abort finishes the run keeping the old color warm, then a rollback
        # run switches back to it and the aborted color is scaled to zero.
        assert exc is None, f"abort past the commit point failed: {exc!r}"
        # warm: a rollback run; when the old color was already scaled to zero, a release of its AMI
        assert last_run(sc.world).kind in ("rollback", "release"), last_run(sc.world)
        assert_original_serves(sc, outcomes=("completed",), switched_back=True)
        return
    if isinstance(exc, StateMismatchError) and "point of no return" in str(exc):
        # Documented: past the commit point abort refuses and names resume, which must finish.
        assert point.committed, f"abort refused before the commit point: {exc}"
        exc, _ = recover(sc, "resume")
        assert exc is None, f"resume after the refused abort failed: {exc!r}"
        assert_completed(sc)
        return
    assert exc is None, f"abort failed: {exc!r}"
    assert_original_serves(sc)


# -- 2. a fault at every call: rolled back before the commit point, resumable after it ----------------


def _fault(point: Point) -> BaseException:
    return TerraformError("terraform apply failed: injected") if point.op == "apply" else aws_error()


@pytest.mark.parametrize(("point", "extra"), [p for p in params("fault", ("",)) if p.values[0].when == "before"])
def test_fault_once(point: Point, extra: str, tmp_path: Path) -> None:
    ran("fault")
    kind = KINDS[point.kind]
    sc = scenario(kind, tmp_path)
    sc.world.traps.append(trap_for(sc, point, action=_fault(point)))
    exc = run(sc, kind.command)
    if not point.committed:
        assert exit_code(exc) == ExitCode.ROLLED_BACK, f"expected exit 10, got {exc!r}"
        assert_original_serves(sc, outcomes=("rolled-back",))
        return
    assert exit_code(exc) == ExitCode.NEEDS_OPERATOR, f"expected exit 11 past the commit point, got {exc!r}"
    exc, _ = recover(sc, "resume")
    assert exc is None, f"resume after exit 11 failed: {exc!r}"
    assert_completed(sc)


# -- 3. the undo failing at every undo call: exit 11, then resume and abort both finish -----------------


def undo_points(kind_name: str) -> list[tuple[str, int, str]]:
    """The crashable calls of a rollback triggered by a failed detach of the old color (the last
    call before the commit point, so every undo runs): (label, k, op)."""
    kind = KINDS[kind_name]
    with tempfile.TemporaryDirectory() as tmp:
        sc = scenario(kind, Path(tmp))
        fail = _detach_fault(sc)
        sc.world.traps.append(fail)
        exc = run(sc, kind.command)
        assert exit_code(exc) == ExitCode.ROLLED_BACK, f"{kind_name}: a failed detach must roll back: {exc!r}"
        after = [c for c in sc.world.calls[sc.start:] if c.crashable and fail.fired and c.index > fail_index(sc)]
        return [(f"undo{n:02d}-{c.op}{'-' + _color_of_call(sc.world, c) if _color_of_call(sc.world, c) else ''}", n, c.op)
                for n, c in enumerate(after, start=1)]


def _is_old_detach(sc: Scenario, c: Call) -> bool:
    if sc.kind.world.get("weighted"):
        # The weighted mode's last forward change: all weight onto the target color's group.
        return (c.index > sc.start and c.op == "ModifyListener"
                and c.args["weights"].get(COLOR_TG[sc.kind.target]) == 100)
    return (c.index > sc.start and c.op in ("DetachLoadBalancerTargetGroups", "DetachLoadBalancers")
            and c.args.get("group") == sc.world.asg_name(sc.kind.original))


def _detach_fault(sc: Scenario) -> Trap:
    return Trap(lambda c: _is_old_detach(sc, c), when="before", action=aws_error("ValidationError", "injected detach failure"),
                times=None)


def fail_index(sc: Scenario) -> int:
    return next(c.index for c in sc.world.calls if _is_old_detach(sc, c))


UNDO = {name: _collect(name, undo_points) for name in KINDS}


def undo_params() -> list[Any]:
    out = []
    for name in KINDS:
        for label, k, op in UNDO[name]:
            for recovery in ("resume", "abort"):
                point = Point(name, label, "undo", k, None, op, None, False)
                reason = defect_for("undo", point, recovery)
                marks = [pytest.mark.xfail(strict=True, reason="defect: " + reason)] if reason else []
                out.append(pytest.param(point, recovery, id=f"{name}:{label}:{recovery}", marks=marks))
    return out


@pytest.mark.parametrize(("point", "recovery"), undo_params())
def test_undo_fails_then_recover(point: Point, recovery: str, tmp_path: Path) -> None:
    ran("undo")
    kind = KINDS[point.kind]
    sc = scenario(kind, tmp_path)
    forward = _detach_fault(sc)
    armed = lambda: forward.fired > 0  # noqa: E731 - only calls after the forward failure are undo calls
    undo = Trap(lambda c: c.index > sc.start and c.crashable, when="before", occurrence=point.k,
                action=TerraformError("terraform apply failed: injected") if point.op == "apply" else aws_error(),
                times=None, armed=armed)
    sc.world.traps += [forward, undo]
    exc = run(sc, kind.command)
    assert exit_code(exc) == ExitCode.NEEDS_OPERATOR, f"expected exit 11 when the undo fails, got {exc!r}"
    assert undo.fired, "the undo call was never made"
    sc.world.traps.clear()  # the operator fixed the cause
    exc, _ = recover(sc, recovery)
    assert exc is None, f"{recovery} after exit 11 failed: {exc!r}"
    if recovery == "abort":
        assert_original_serves(sc)
    elif outcome(last_run(sc.world)) == "completed":
        assert_completed(sc)
    else:  # resume may finish the undo the run was doing: then the original serves
        assert_original_serves(sc, outcomes=("rolled-back", "aborted"))


# -- 4. Ctrl-C at every call: exit 13, nothing undone, resume finishes ---------------------------------


def _sigint(sc: Scenario, point: Point) -> Callable[[Call], None]:
    def deliver(call: Call) -> None:
        proc = next(p for p in sc.world.processes if p.pid == call.process)
        if call.op == "apply":
            proc.app.terraform.interrupt_next_apply = True  # Terraform gets SIGINT, stops cleanly
            return
        token = getattr(proc.app, "stop", None)
        if token is not None and hasattr(token, "on_signal"):
            token.on_signal(signal.SIGINT)
        else:
            signal.default_int_handler(signal.SIGINT, None)
    return deliver


@pytest.mark.parametrize(("point", "extra"), [p for p in params("interrupt", ("",)) if p.values[0].when != "after"])
def test_interrupt_then_resume(point: Point, extra: str, tmp_path: Path) -> None:
    ran("interrupt")
    kind = KINDS[point.kind]
    sc = scenario(kind, tmp_path)
    sc.world.traps.append(trap_for(sc, point, action=_sigint(sc, point)))
    exc = run(sc, kind.command)
    if exc is None:
        # The stop was requested after the last safe point: finishing the run is as good.
        assert_completed(sc)
        return
    assert exit_code(exc) == ExitCode.INTERRUPTED, f"expected exit 13, got {exc!r}"
    undone = [r for r in sc.world.journal_records if r.status == "compensated"
              and r.data.get("run_id") == getattr(last_run(sc.world), "run_id", None)]
    assert not undone, f"an interrupt undid steps: {[r.step for r in undone]}"
    assert outcome(last_run(sc.world)) is None, "an interrupted run stays resumable"
    exc, _ = recover(sc, "resume")
    assert exc is None, f"resume after the interrupt failed: {exc!r}"
    assert_completed(sc)


# -- 5. one live process drives a run ---------------------------------------------------------------------


@pytest.mark.parametrize("recovery", ["resume", "abort"])
def test_second_process_cannot_drive_a_live_run(recovery: str, tmp_path: Path) -> None:
    ran("lease")
    kind = KINDS["release"]
    sc = scenario(kind, tmp_path)
    seen: list[BaseException | None] = []

    def intruder(call: Call) -> None:
        sc.world.traps.clear()
        seen.append(run(sc, commands.resume if recovery == "resume" else commands.abort))
        raise Crash("the first process is killed after the intruder ran")

    sc.world.traps.append(Trap(lambda c: c.index > sc.start and c.op == "EnterStandby", action=intruder))
    run(sc, kind.command)
    assert seen, "the intruder never ran"
    assert exit_code(seen[0]) == ExitCode.LOCKED, (
        f"{recovery} from a second process during a live run must refuse with exit 9, got {seen[0]!r}")


# -- coverage and the count ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_undisturbed_run_completes(name: str, tmp_path: Path) -> None:
    assert name not in COLLECT_ERRORS, COLLECT_ERRORS[name]
    sc = scenario(KINDS[name], tmp_path)
    exc = run(sc, sc.kind.command)
    assert exc is None, f"{name} failed without any fault: {exc!r}"
    assert_completed(sc)


def test_every_step_of_every_kind_has_crash_points() -> None:
    for name, points in POINTS.items():
        if name in COLLECT_ERRORS:
            continue  # test_undisturbed_run_completes fails for it
        calls, steps, _, _ = dry_run(KINDS[name])
        covered = {p.step for p in points}
        assert set(steps) <= covered, f"{name}: steps without a crash point: {set(steps) - covered}"
        assert {p.when for p in points} >= {"before", "after"}


# -- 6. recovery crashing itself: resume / abort are idempotent --------------------------------------------


def _first_crash(sc: Scenario) -> Trap:
    """The run dies in the middle of wait-drained: everything before the commit point has run, so
    an abort has every undo to do and a resume has the whole switch to finish."""
    # The weighted mode: in the middle of the bake (all traffic on the new color, the old warm).
    label = "in-bake-during" if sc.kind.world.get("weighted") else "in-wait-drained-during"
    point = next(p for p in POINTS[sc.kind.name] if p.label == label)
    return trap_for(sc, point)


def recovery_points(kind_name: str, recovery: str) -> list[tuple[str, int, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        sc = scenario(KINDS[kind_name], Path(tmp))
        sc.world.traps.append(_first_crash(sc))
        assert isinstance(run(sc, sc.kind.command), Crash)
        mark = len(sc.world.calls)
        exc, _ = recover(sc, recovery)
        calls = [c for c in sc.world.calls[mark:] if c.crashable]
        return [(f"{recovery}{n:02d}-{c.step}-{c.op}-{when}", n, when)
                for n, c in enumerate(calls, start=1) for when in ("before", "after")]


def recovery_params() -> list[Any]:
    out = []
    for name in KINDS:
        for recovery in ("resume", "abort"):
            for label, k, when in _collect(name, recovery_points, recovery):
                point = Point(name, label, when, k, None, "", None, False)
                reason = defect_for("recovery-crash", point, recovery)
                marks = [pytest.mark.xfail(strict=True, reason="defect: " + reason)] if reason else []
                out.append(pytest.param(point, recovery, id=f"{name}:{label}", marks=marks))
    return out


@pytest.mark.parametrize(("point", "recovery"), recovery_params())
def test_recovery_crashes_then_runs_again(point: Point, recovery: str, tmp_path: Path) -> None:
    ran("recovery-crash")
    sc = scenario(KINDS[point.kind], tmp_path)
    sc.world.traps.append(_first_crash(sc))
    assert isinstance(run(sc, sc.kind.command), Crash)
    mark = len(sc.world.calls)
    sc.world.traps = [Trap(lambda c: c.index > mark and c.crashable, when=point.when, occurrence=point.k)]
    exc, _ = recover(sc, recovery)
    assert isinstance(exc, Crash), f"expected the injected crash of {recovery}, got {exc!r}"
    exc, _ = recover(sc, recovery)
    assert exc is None, f"{recovery} after its own crash failed: {exc!r}"
    if recovery == "resume":
        assert_completed(sc)
    else:
        assert_original_serves(sc)


# -- 7. a lost lease stops the run without undoing it --------------------------------------------------------


@pytest.mark.parametrize("op,when", [
    ("apply", "before"),  # taken while Terraform applies: only the heartbeat can notice
    ("EnterStandby", "after"),
    ("AttachLoadBalancerTargetGroups", "after"),
])
def test_lost_lease_stops_without_undo(tmp_path: Path, op: str, when: str) -> None:
    """The lease taken over by another runner mid-run (``bluegreen unlock`` then a new holder):
    the heartbeat notices on the world's clock, the run stops at its next safe point with exit 9
    and undoes nothing (the new holder may already act on the same groups)."""
    ran("lease")
    sc = scenario(KINDS["release"], tmp_path)

    def steal(call: Call) -> None:
        other = sc.world.app()
        other.lease.break_(last_run(sc.world).run_id)  # `bluegreen unlock RUN_ID` from another runner
        other.lease.acquire("intruder", ttl_seconds=900)

    sc.world.traps.append(Trap(lambda c: c.index > sc.start and c.op == op, when=when, action=steal))
    exc = run(sc, sc.kind.command, lock_ttl_seconds=60)  # renewed every 20 s of waiting
    undone = [r.step for r in sc.world.journal_records if r.status == "compensated"]
    assert exit_code(exc) == ExitCode.LOCKED and not undone, f"got {exc!r}, undid {undone}"
