"""``bluegreen status --watch``: follow a run in progress anywhere, from its journal and AWS, so a
second engineer can watch the release a CI job drives. Read-only: it never takes the lease and
never writes the journal.

Three parts:

- ``Snapshot``: what one poll saw: the run's history (``history.RunHistory``, from its journal
  records) and the observed world (``model.Observed``: both groups and the traffic layer), or why
  AWS could not be read this time (a watcher survives a throttled call).
- ``draw(snapshot)`` (rich renderable, redrawn in place on a terminal) and ``line(snapshot)`` (one
  line, printed when it changes: CI logs and pipes), both pure.
- ``follow(read, show, sleep, interval)``: the loop, with the clock injected. It ends when the run
  reaches a final state, or stops where only a person moves it on (``ENDS``); ``exit_code`` maps
  that to the command's exit code. A stop request (Ctrl-C) ends it between polls.

Exit codes (README "Commands"): 0 completed (or no run in progress), 10 rolled back or aborted
(traffic is where it was), 11 needs-operator, 13 interrupted (or the watcher itself was stopped
with Ctrl-C: the run goes on), 9 lease-lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .errors import ExitCode
from .history import RunHistory, age_seconds
from .model import Color, Observed

# States in which the watch ends: final ones, and those that wait for a person (resume/abort).
ENDS: dict[str, ExitCode] = {
    "completed": ExitCode.OK,
    "rolled-back": ExitCode.ROLLED_BACK,
    "aborted": ExitCode.ROLLED_BACK,
    "needs-operator": ExitCode.NEEDS_OPERATOR,
    "interrupted": ExitCode.INTERRUPTED,
    "lease-lost": ExitCode.LOCKED,
}
DEFAULT_INTERVAL_SECONDS = 2.0
HOOKS_SHOWN = 4  # the last hook verdicts on screen

_MARKS = {"done": "✓", "running": "●", "failed": "✗", "stopped": "■", "undone": "↺", "pending": "·"}
_STYLES = {"done": "green", "running": "bold yellow", "failed": "bold red", "stopped": "red",
           "undone": "magenta", "pending": "dim"}


@dataclass(frozen=True)
class Snapshot:
    service: str
    now: datetime  # UTC, when the poll read the journal
    run: RunHistory | None
    observed: Observed | None = None
    world_error: str = ""  # why AWS could not be read this time

    @property
    def ended(self) -> bool:
        return self.run is None or self.run.state in ENDS


def exit_code(snapshot: Snapshot | None) -> ExitCode:
    """The exit code of a watch that ended on ``snapshot``: the run's outcome."""
    if snapshot is None or snapshot.run is None:
        return ExitCode.OK
    return ENDS.get(snapshot.run.state, ExitCode.OK)


# -- pure drawing ---------------------------------------------------------------------------------


def step_rows(run: RunHistory, now: datetime) -> list[tuple[str, str, str]]:
    """(mark-status, step, time) per planned step, then each undo, as the journal says."""
    rows: list[tuple[str, str, str]] = []
    steps = list(run.planned) + [p.step for p in run.phases if not p.undo and p.step not in run.planned]
    for step in steps:
        attempt = run.last_attempt(step)
        if attempt is None:
            rows.append(("pending", step, ""))
            continue
        rows.append((attempt.outcome, step, _time_of(attempt, now)))
    for phase in run.phases:
        if phase.undo:
            rows.append((phase.outcome if phase.outcome != "done" else "undone", f"undo {phase.step}",
                         _time_of(phase, now)))
    return rows


def _time_of(phase: Any, now: datetime) -> str:
    if phase.seconds is not None:
        return f"{phase.seconds:.1f}s"
    if phase.outcome == "running":
        running = age_seconds(phase.started_at, now)
        return f"{running:.0f}s…" if running is not None else "…"
    return "-"


def color_summary(observed: Observed, color: Color) -> dict[str, Any]:
    group = observed.group(color)
    targets: dict[str, int] = {}
    for instance in group.instances:
        state = observed.traffic.health_of(instance.id) or "not registered"
        targets[state] = targets.get(state, 0) + 1
    return {
        "asg": group.name,
        "attached": observed.attached(color),
        "instances": group.counts_by_state(),
        "targets": targets,
        "amis": sorted({i.image_id for i in group.instances if i.image_id}),
    }


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"


def headline(snapshot: Snapshot) -> str:
    run = snapshot.run
    if run is None:
        return f"{snapshot.service}: no run recorded"
    return (f"{snapshot.service} {run.kind} {run.from_color} -> {run.to_color} (AMI {run.to_ami or '?'}), "
            f"run {run.run_id}: {run.state}")


def draw(snapshot: Snapshot) -> RenderableType:
    """The screen of one poll (a rich renderable)."""
    run = snapshot.run
    parts: list[RenderableType] = [Text(headline(snapshot), style="bold")]
    if run is not None:
        started = age_seconds(run.started_at, snapshot.now)
        quiet = age_seconds(run.last_record_at, snapshot.now)
        parts.append(Text(
            f"by {run.who}, started {run.started_at} ({_ago(started)}); {run.strategy} via {run.traffic}; "
            f"last journal record {_ago(quiet)}", style="dim"))
        steps = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        steps.add_column("")
        steps.add_column("step")
        steps.add_column("time", justify="right")
        for status, step, took in step_rows(run, snapshot.now):
            steps.add_row(Text(_MARKS.get(status, "?"), style=_STYLES.get(status)), Text(step, style=_STYLES.get(status)),
                          took)
        parts.append(steps)
        for hook in run.hooks[-HOOKS_SHOWN:]:
            verdict = "passed" if hook.ok else "FAILED"
            parts.append(Text(f"hook {hook.point} {hook.hook}: {verdict} ({hook.reason}, {hook.seconds:.2f}s)",
                              style="green" if hook.ok else "bold red"))
        if run.error:
            parts.append(Text(f"error: {run.error}", style="red"))
    if snapshot.observed is not None:
        colors = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for name in ("color", "asg", "attached", "instances", "targets", "AMI"):
            colors.add_column(name)
        for color in Color:
            c = color_summary(snapshot.observed, color)
            colors.add_row(color.value, c["asg"], "yes" if c["attached"] else "no", _counts(c["instances"]),
                           _counts(c["targets"]), ",".join(c["amis"]) or "-")
        parts.append(colors)
    if snapshot.world_error:
        parts.append(Text(f"AWS not read this time: {snapshot.world_error}", style="yellow"))
    if run is not None and run.state in ENDS:
        parts.append(Text(f"ended: {run.state}; {run.next_command}", style="bold"))
    elif run is not None:
        parts.append(Text("Ctrl-C stops watching; the run goes on", style="dim"))
    return Group(*parts)


def line(snapshot: Snapshot) -> str:
    """One line for logs and pipes; printed whenever it changes (it holds no clock reading)."""
    run = snapshot.run
    if run is None:
        return f"{snapshot.service}: no run recorded"
    done = sum(1 for step in run.planned if (a := run.last_attempt(step)) is not None and a.outcome == "done")
    current = run.current
    at = f" at {current.step}" if current is not None else (f" at {run.failed_at}" if run.failed_at and not run.final else "")
    text = f"{snapshot.service} {run.kind} run {run.run_id} {run.from_color} -> {run.to_color}: {run.state}{at} " \
           f"({done}/{len(run.planned)} steps)"
    if run.hooks:
        last = run.hooks[-1]
        text += f"; hook {last.point} {'passed' if last.ok else 'FAILED'}"
    if snapshot.observed is not None:
        for color in Color:
            c = color_summary(snapshot.observed, color)
            text += (f"; {color.value}: {_counts(c['instances'])}, targets {_counts(c['targets'])}, "
                     f"{'attached' if c['attached'] else 'detached'}")
    if snapshot.world_error:
        text += f"; AWS not read: {snapshot.world_error}"
    if run.state in ENDS and run.error:
        text += f"; {run.error}"
    return text


def document(snapshot: Snapshot) -> dict[str, Any]:
    """``status --watch --json``: one JSON object per change."""
    run = snapshot.run
    doc: dict[str, Any] = {"service": snapshot.service, "line": line(snapshot),
                           "run": None if run is None else {
                               "run_id": run.run_id, "kind": run.kind, "state": run.state,
                               "current_step": run.current.step if run.current else None,
                               "steps": [{"status": s, "step": n} for s, n, _ in step_rows(run, snapshot.now)],
                               "error": run.error or None}}
    if snapshot.observed is not None:
        doc["colors"] = {c.value: color_summary(snapshot.observed, c) for c in Color}
    if snapshot.world_error:
        doc["world_error"] = snapshot.world_error
    return doc


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    return f"{seconds / 60:.0f}m ago"


# -- the loop ------------------------------------------------------------------------------------


def follow(read: Callable[[], Snapshot], show: Callable[[Snapshot], None], *,
           sleep: Callable[[float], bool], interval: float) -> tuple[Snapshot, bool]:
    """Poll until the run ends. ``sleep(seconds)`` returns ``True`` when a stop was requested
    (Ctrl-C): the loop then ends at once. Returns the last snapshot and whether it was stopped."""
    while True:
        snapshot = read()
        show(snapshot)
        if snapshot.ended:
            return snapshot, False
        if sleep(interval):
            return snapshot, True


class ChangePrinter:
    """``show`` for a pipe: prints ``render(snapshot)`` only when it differs from the last one."""

    def __init__(self, write: Callable[[str], None], render: Callable[[Snapshot], str] = line) -> None:
        self.write = write
        self.render = render
        self.last: str | None = None
        self.printed = 0

    def __call__(self, snapshot: Snapshot) -> None:
        text = self.render(snapshot)
        if text != self.last:
            self.write(text)
            self.last = text
            self.printed += 1
