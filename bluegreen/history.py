"""Release history: what one run's journal records say happened, as values. Pure: no I/O.

``summarize(records)`` folds a run's records (``journal.JournalRecord``: step, status, data, time)
into a ``RunHistory``: when and by whom it ran, from which color and AMI to which, how (traffic
mode and strategy), its result and duration, each step's time (every attempt: a ``resume`` runs a
step again), the undo steps, the hooks' verdicts, the notifications sent and the run's own events
(interrupted, resumed, rolling back ...). ``bluegreen history`` renders it (``views.py``);
``status --watch`` shows the running step from it.

It reads the records as data, never through ``replay`` alone: a journal written by a newer
bluegreen (a step this one does not know) must still be listed, not refused, and the state it
shows is ``replay``'s when ``replay`` can read the run, else the index's reading of the records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from .errors import BluegreenError
from .journal import HOOK, NOTIFIED, RUN, entries_of, parse_time
from .runstate import NEXT, RunState, replay

DEFAULT_STRATEGY = "all-at-once"  # a run whose header names no strategy moved all traffic at once
DEFAULT_TRAFFIC = "attach"  # ... by attaching the new group to the serving target group / ELB
SLOWEST = 3  # phases named in the list view


@dataclass(frozen=True)
class Phase:
    """One attempt of one step (or of its undo)."""

    step: str
    started_at: str
    seconds: float | None  # None: it never ended (the run stopped or failed in it)
    outcome: str  # "done", "failed", "stopped", "running", "undone"
    undo: bool = False

    def document(self) -> dict[str, Any]:
        return {"step": self.step, "undo": self.undo, "started_at": self.started_at,
                "seconds": None if self.seconds is None else round(self.seconds, 3), "outcome": self.outcome}


@dataclass(frozen=True)
class HookRun:
    time: str
    point: str
    hook: str
    ok: bool
    reason: str
    seconds: float
    last_output: str = ""

    def document(self) -> dict[str, Any]:
        return {"time": self.time, "point": self.point, "hook": self.hook, "ok": self.ok,
                "reason": self.reason, "seconds": self.seconds,
                **({"last_output": self.last_output} if self.last_output else {})}


@dataclass(frozen=True)
class RunEvent:
    """A change of the run as a whole: interrupted, resumed, rolling-back, the final outcome."""

    time: str
    event: str
    detail: str = ""

    def document(self) -> dict[str, Any]:
        return {"time": self.time, "event": self.event, "detail": self.detail}


@dataclass(frozen=True)
class RunHistory:
    run_id: str
    kind: str  # release, rollback, swap
    state: str  # replay's state (in-flight, completed, rolled-back, ...)
    final: bool
    started_at: str
    finished_at: str | None
    seconds: float | None  # begin to the final record; for a run not final, to its last record
    caller: str  # the AWS identity (ARN) that began it; "" when not recorded
    owner: str  # user@host of the process that began it
    from_color: str
    to_color: str
    from_ami: str
    to_ami: str
    size: int | None
    release_label: str
    traffic: str
    strategy: str
    planned: tuple[str, ...] = ()  # the steps the run's plan has, in order
    phases: tuple[Phase, ...] = ()
    hooks: tuple[HookRun, ...] = ()
    notifications: tuple[str, ...] = ()
    events: tuple[RunEvent, ...] = ()
    error: str = ""
    failed_at: str = ""
    last_record_at: str = ""

    @property
    def who(self) -> str:
        return self.caller or self.owner or "unknown"

    def step_seconds(self) -> dict[str, float]:
        """Total time per forward step over all its attempts, in the order steps first ran."""
        totals: dict[str, float] = {}
        for phase in self.phases:
            if not phase.undo and phase.seconds is not None:
                totals[phase.step] = totals.get(phase.step, 0.0) + phase.seconds
        return totals

    def slowest(self, count: int = SLOWEST) -> list[tuple[str, float]]:
        """The longest steps (at least a twentieth of a second: an instant step is not slow)."""
        timed = [(step, s) for step, s in self.step_seconds().items() if s >= 0.05]
        return sorted(timed, key=lambda item: -item[1])[:count]

    @property
    def next_command(self) -> str:
        """What moves the run on (``runstate.NEXT``), as ``status`` says it."""
        try:
            return NEXT[RunState(self.state)]
        except ValueError:
            return ""

    def last_attempt(self, step: str, *, undo: bool = False) -> Phase | None:
        found = [p for p in self.phases if p.step == step and p.undo == undo]
        return found[-1] if found else None

    @property
    def current(self) -> Phase | None:
        """The step running now (started, not ended), for a run that is not final."""
        if self.final:
            return None
        open_ = [p for p in self.phases if p.outcome == "running"]
        return open_[-1] if open_ else None


def summarize(records: Iterable[Any], *, owner: str = "") -> RunHistory | None:
    """The history of the run whose ``begin`` is among ``records`` (one run's object); ``None``
    when there is no begin (an unknown or foreign run)."""
    records = list(records)
    begin = next((r for r in records if r.step == RUN and r.status == "begin"), None)
    if begin is None:
        return None
    data = dict(begin.data or {})
    run_id = str(data.get("run_id") or "")
    mine = [r for r in records if str((r.data or {}).get("run_id") or "") == run_id]
    header = data.get("header") if isinstance(data.get("header"), Mapping) else {}
    state, final, error, failed_at = _state(mine)
    started_at = begin.time
    finish = next((r for r in reversed(mine) if r.step == RUN and r.status == "finish"
                   and (r.data or {}).get("outcome") != "needs-operator"), None)
    finished_at = finish.time if finish is not None and final else None
    last_at = mine[-1].time if mine else started_at
    seconds = _between(started_at, finished_at or last_at)
    caller = data.get("caller")
    return RunHistory(
        run_id=run_id,
        kind=str(data.get("kind") or ""),
        state=state,
        final=final,
        started_at=started_at,
        finished_at=finished_at,
        seconds=seconds,
        caller=str(caller.get("arn") or "") if isinstance(caller, Mapping) else str(caller or ""),
        owner=str(data.get("owner") or owner or ""),
        from_color=str(header.get("live") or ""),
        to_color=str(header.get("target") or ""),
        from_ami=_from_ami(header),
        to_ami=str(header.get("ami") or ""),
        size=_int(header.get("size")),
        release_label=str(header.get("release_label") or ""),
        traffic=str(header.get("traffic_mode") or header.get("traffic") or DEFAULT_TRAFFIC),
        strategy=_strategy(header.get("strategy") or data.get("strategy")),
        planned=tuple(str(step) for step in (header.get("steps") or ()) if isinstance(step, str)),
        phases=tuple(_phases(mine, final)),
        hooks=tuple(_hooks(mine)),
        notifications=tuple(str((r.data or {}).get("key")) for r in mine
                            if r.step == RUN and r.status == NOTIFIED),
        events=tuple(_events(mine)),
        error=error,
        failed_at=failed_at,
        last_record_at=last_at,
    )


def _state(records: list[Any]) -> tuple[str, bool, str, str]:
    """(state, final, error, failed_at)."""
    error = failed_at = ""
    for record in records:
        if record.step == RUN and record.status in ("finish", "state", "interrupted", "lease-lost"):
            data = record.data or {}
            error = str(data.get("error") or error)
            failed_at = str(data.get("failed_at") or data.get("undo_failed_at") or data.get("at") or failed_at)
    try:
        run = replay(records)
    except BluegreenError:
        run = None
    if run is not None:
        return run.state.value, run.state.final, run.error or error, failed_at
    entries = entries_of(records)
    if not entries:
        return "unknown", False, error, failed_at
    entry = entries[0]
    return entry.state, entry.finished, error, failed_at


def _phases(records: list[Any], final: bool) -> list[Phase]:
    """Each step's attempts, in the order they started: from ``started`` to ``completed`` (or
    ``undoing`` to ``compensated``). A run-level record ends every attempt still open: a failure
    (rolling-back, needs-operator) as ``failed``, a signal or a lost lease as ``stopped``, and a
    ``resume`` after a crash as ``stopped`` at an unknown time. An attempt still open at the end is
    ``running`` while the run is not final."""
    phases: list[Phase] = []
    open_: dict[tuple[str, bool], int] = {}  # (step, undo) -> index in phases

    def close(index: int, end: str | None, outcome: str) -> None:
        phase = phases[index]
        seconds = None if end is None else _between(phase.started_at, end)
        phases[index] = Phase(phase.step, phase.started_at, seconds, outcome, phase.undo)

    for record in records:
        if record.step == RUN:
            ends = _ends_attempts(record)
            if ends is not None:
                outcome, timed = ends
                for index in open_.values():
                    close(index, record.time if timed else None, outcome)
                open_.clear()
            continue
        if record.status in ("started", "undoing"):
            key = (record.step, record.status == "undoing")
            if key in open_:  # started again without an end: the earlier attempt's process died
                close(open_.pop(key), None, "stopped")
            open_[key] = len(phases)
            phases.append(Phase(record.step, record.time, None, "running", key[1]))
        elif record.status in ("completed", "compensated"):
            undo = record.status == "compensated"
            index = open_.pop((record.step, undo), None)
            if index is not None:  # (a step with nothing to undo writes `compensated` alone: skipped)
                close(index, record.time, "undone" if undo else "done")
    for index in open_.values():
        close(index, None, "stopped" if final else "running")
    return phases


def _ends_attempts(record: Any) -> tuple[str, bool] | None:
    """(outcome, timed) when a run-level record ends the open attempts, else ``None``."""
    data = record.data or {}
    status = record.status
    if status == "state":
        status = str(data.get("state") or "")
    if status in ("interrupted", "lease-lost"):
        return "stopped", True
    if status == "resumed":
        return "stopped", False  # a resume of a run whose process died mid-step: when is unknown
    if status in ("finish", "rolling-back", "needs-operator"):
        return "failed", True
    return None


def _hooks(records: list[Any]) -> list[HookRun]:
    runs = []
    for record in records:
        if record.step != RUN or record.status != HOOK:
            continue
        data = record.data or {}
        runs.append(HookRun(time=record.time, point=str(data.get("point") or ""), hook=str(data.get("hook") or ""),
                            ok=bool(data.get("ok")), reason=str(data.get("reason") or ""),
                            seconds=float(data.get("seconds") or 0.0),
                            last_output=str(data.get("last_output") or "")))
    return runs


def _events(records: list[Any]) -> list[RunEvent]:
    events = []
    for record in records:
        if record.step != RUN or record.status in ("begin", HOOK, NOTIFIED):
            continue
        data = dict(record.data or {})
        if record.status == "finish":
            name = str(data.get("outcome") or "completed")
        elif record.status == "state":
            name = str(data.get("state") or "state")
        else:
            name = record.status
        parts = []
        if data.get("by"):
            parts.append(f"by {data['by']}")
        if data.get("caller"):
            parts.append(f"as {data['caller']}")
        if data.get("error"):
            parts.append(str(data["error"]))
        events.append(RunEvent(record.time, name, "; ".join(parts)))
    return events


def _from_ami(header: Mapping[str, Any]) -> str:
    """The AMI the live color ran when the run began: the run's restore point (the tfvars it
    returns to on failure) has it."""
    try:
        restore = json.loads(str(header.get("restore_text") or ""))
        return str(restore["colors"][str(header.get("live"))]["ami"])
    except (ValueError, KeyError, TypeError):
        return ""


def _strategy(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("name") or DEFAULT_STRATEGY)
    return str(value or DEFAULT_STRATEGY)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _between(start: str, end: str | None) -> float | None:
    a, b = parse_time(start), parse_time(end or "")
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def age_seconds(moment: str, now: datetime) -> float | None:
    """Seconds from ``moment`` (a record time) to ``now``."""
    then = parse_time(moment)
    return None if then is None else max(0.0, (now - then).total_seconds())


@dataclass(frozen=True)
class HistoryList:
    """``bluegreen history``: the runs, newest first (``unreadable``: runs whose object could not
    be read, with why, so one torn journal does not hide the rest)."""

    runs: tuple[RunHistory, ...]
    unreadable: tuple[tuple[str, str], ...] = field(default_factory=tuple)
