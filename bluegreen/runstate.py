"""The life of one run (a release, rollback or swap) as a typed state machine, rebuilt from its
journal. Pure: no I/O. The journal writes events; ``replay`` folds them through ``advance``, which
knows the only allowed transitions, so a run can never be in a state nobody planned for.

States, and the one command that moves each forward (``NEXT``):

    in-flight ──commit──> committed ──completed──> COMPLETED
        │                     │
        ├─ failure ─> rolling-back ──> ROLLED-BACK (automatic) / ABORTED (bluegreen abort)
        │                     │            └─ undo failed ─> needs-operator
        ├─ signal ──> interrupted        (resume / abort)
        ├─ lease taken ─> lease-lost     (resume / abort)
        └─ failure after commit ─> needs-operator (resume / abort)

A process that dies without a word (SIGKILL, a lost CI runner) leaves its run ``in-flight`` or
``committed``: ``resume`` and ``abort`` treat that exactly like ``interrupted``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Iterable

from .errors import StateMismatchError
from .plan import Mode, ReleasePlan, Step, commit_point
from .model import Color


class RunState(StrEnum):
    IN_FLIGHT = "in-flight"
    COMMITTED = "committed"  # past the commit point: the new color serves alone
    # Weighted mode, an approval pause: the driving process holds the lease and waits for
    # `bluegreen promote` or `bluegreen abort` (journal requests) or the approval timeout.
    PAUSED = "paused"
    ROLLING_BACK = "rolling-back"
    INTERRUPTED = "interrupted"
    LEASE_LOST = "lease-lost"
    NEEDS_OPERATOR = "needs-operator"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({RunState.COMPLETED, RunState.ROLLED_BACK, RunState.ABORTED})


class Event(StrEnum):
    """What the journal records about a run as a whole (``step = "run"``)."""

    BEGIN = "begin"
    COMMIT = "commit"  # derived: the commit point's step completed
    PAUSED = "paused"  # an approval pause began
    INTERRUPTED = "interrupted"
    LEASE_LOST = "lease-lost"
    ROLLING_BACK = "rolling-back"
    RESUMED = "resumed"
    NEEDS_OPERATOR = "needs-operator"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"


_S = RunState
_STOPPABLE = {_S.IN_FLIGHT, _S.COMMITTED, _S.ROLLING_BACK, _S.PAUSED}
# A run nobody drives any more: what `resume` and `abort` start from (a paused run whose process
# died too: its wait survives in the journal).
_STALLED = {_S.IN_FLIGHT, _S.COMMITTED, _S.ROLLING_BACK, _S.INTERRUPTED, _S.LEASE_LOST,
            _S.NEEDS_OPERATOR, _S.PAUSED}

TRANSITIONS: dict[Event, tuple[frozenset[RunState], RunState | None]] = {
    # event: (states it may happen in, resulting state; None = decided by the commit flag)
    Event.COMMIT: (frozenset({_S.IN_FLIGHT}), _S.COMMITTED),
    # An approval pause; it ends with RESUMED (promote, the approval timeout, or `resume` after
    # the waiting process died), or ROLLING_BACK (abort, a gate).
    Event.PAUSED: (frozenset({_S.IN_FLIGHT}), _S.PAUSED),
    Event.INTERRUPTED: (frozenset(_STOPPABLE), _S.INTERRUPTED),
    Event.LEASE_LOST: (frozenset(_STOPPABLE), _S.LEASE_LOST),
    Event.ROLLING_BACK: (frozenset(_STALLED - {_S.COMMITTED}), _S.ROLLING_BACK),
    Event.RESUMED: (frozenset(_STALLED), None),
    Event.NEEDS_OPERATOR: (frozenset(_STOPPABLE), _S.NEEDS_OPERATOR),
    Event.COMPLETED: (frozenset({_S.COMMITTED}), _S.COMPLETED),
    Event.ROLLED_BACK: (frozenset({_S.ROLLING_BACK}), _S.ROLLED_BACK),
    # A committed run is aborted by a rollback run that puts the old color back (see
    # recovery.py); a run before the commit point by undoing its steps (rolling-back first).
    Event.ABORTED: (frozenset(_STALLED), _S.ABORTED),
}


def advance(state: RunState, event: Event, *, committed: bool) -> RunState:
    """The state after ``event``; ``StateMismatchError`` for a transition the machine forbids."""
    allowed, result = TRANSITIONS[event]
    if state not in allowed:
        raise StateMismatchError(
            f"a run in state {state} cannot take the event {event}",
            hint="the release journal was edited or written by another bluegreen version",
        )
    if result is None:
        return _S.COMMITTED if committed else _S.IN_FLIGHT
    return result


# What moves a run forward from each state: `status` prints it, errors end with it.
NEXT: dict[RunState, str] = {
    _S.IN_FLIGHT: "a release is in progress (or its process died): `bluegreen resume` continues it, "
    "`bluegreen abort` puts traffic back",
    _S.COMMITTED: "the new color serves alone; `bluegreen resume` finishes the run, "
    "`bluegreen abort` switches back to the old color",
    _S.PAUSED: "the release waits at an approval pause: `bluegreen promote` goes on, "
    "`bluegreen abort` flips all traffic back (if its process died, `bluegreen resume` waits again)",
    _S.ROLLING_BACK: "`bluegreen abort` finishes the undo, `bluegreen resume` goes forward again",
    _S.INTERRUPTED: "`bluegreen resume` continues the run, `bluegreen abort` puts traffic back",
    _S.LEASE_LOST: "another process took the release lock: check `bluegreen status`; when it is done, "
    "`bluegreen resume` or `bluegreen abort` finishes this run",
    _S.NEEDS_OPERATOR: "fix the cause in the message, then `bluegreen resume` (forward) or "
    "`bluegreen abort` (back)",
    _S.COMPLETED: "nothing to do",
    _S.ROLLED_BACK: "nothing to do; the old color serves",
    _S.ABORTED: "nothing to do; the old color serves",
}


# -- typed data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunHeader:
    """Everything needed to continue a run without its original command line."""

    mode: Mode
    live: Color
    target: Color
    size: int
    ami: str
    steps: tuple[Step, ...]
    restore_text: str  # the tfvars a run before the commit point returns to
    release_label: str
    keep_old_seconds: int = 0
    saved_plan: dict[str, Any] | None = None  # release --plan: which reviewed plan file it applied
    # Weighted mode: {"steps": "10:2m,100", "bake_seconds", "approval_timeout_seconds",
    # "on_timeout"}, so `resume` continues the same strategy without the original command line.
    traffic: dict[str, Any] | None = None

    def plan(self) -> ReleasePlan:
        return ReleasePlan(mode=self.mode, live=self.live, target=self.target, size=self.size,
                           ami=self.ami, steps=self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value, "live": self.live.value, "target": self.target.value,
            "size": self.size, "ami": self.ami, "steps": [s.value for s in self.steps],
            "restore_text": self.restore_text, "release_label": self.release_label,
            "keep_old_seconds": self.keep_old_seconds,
            **({"saved_plan": self.saved_plan} if self.saved_plan else {}),
            **({"traffic": self.traffic} if self.traffic else {}),
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "RunHeader":
        try:
            return cls(
                mode=Mode(body["mode"]), live=Color(body["live"]), target=Color(body["target"]),
                size=int(body["size"]), ami=str(body["ami"]),
                steps=tuple(Step(s) for s in body["steps"]),
                restore_text=str(body["restore_text"]), release_label=str(body["release_label"]),
                keep_old_seconds=int(body.get("keep_old_seconds") or 0),
                saved_plan=body.get("saved_plan"),
                traffic=body.get("traffic"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise StateMismatchError(
                f"the release journal's run header is not readable ({type(exc).__name__}: {exc})",
                hint="finish the run with the bluegreen version that started it",
            ) from None


@dataclass
class RunData:
    """What steps learned and journaled before acting, so an undo or a resume after a crash in the
    middle of a step still knows it. Each field names the step that writes it."""

    suspended: dict[str, list[str]] = field(default_factory=dict)  # SUSPEND: ours, per color
    applying: bool = False  # APPLY_IDLE: the apply started, so the undo must restore the tfvars
    old_min: int | None = None  # LOWER_MIN: the old color's MinSize before we lowered it
    standby_ids: list[str] = field(default_factory=list)  # STANDBY: instances we put on Standby
    # SHIFT (weighted mode): the index of the weight step whose weights were last set, and the
    # new color's share then; an undo or resume after a crash knows where traffic stood.
    shift_index: int | None = None
    shift_percent: int | None = None
    # SHIFT: the approval pause the run waits at (what `status` and `promote` name), else None.
    paused_at: int | None = None

    def merge(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key in known:
                setattr(self, key, value)

    def copy(self) -> "RunData":
        return RunData(suspended={k: list(v) for k, v in self.suspended.items()},
                       applying=self.applying, old_min=self.old_min,
                       standby_ids=list(self.standby_ids), shift_index=self.shift_index,
                       shift_percent=self.shift_percent, paused_at=self.paused_at)


@dataclass
class RunView:
    """One run as its journal tells it."""

    run_id: str
    kind: str  # release, rollback, swap
    header: RunHeader
    state: RunState = RunState.IN_FLIGHT
    started: list[Step] = field(default_factory=list)
    completed: list[Step] = field(default_factory=list)
    compensated: list[Step] = field(default_factory=list)
    undoing: list[Step] = field(default_factory=list)  # undo started, not confirmed: maybe half undone
    data: RunData = field(default_factory=RunData)
    error: str | None = None  # why the run stopped or failed, as last recorded
    finish_data: dict[str, Any] = field(default_factory=dict)
    finished_at: str | None = None  # ISO time of the final event
    # `bluegreen promote` / `abort` asked of a paused (or pausing) weighted run by any process:
    # {"action": "promote"|"abort", "at_step": index, "by": who}; the driving process polls them.
    requests: list[dict[str, Any]] = field(default_factory=list)
    began_at: str | None = None

    @property
    def outcome(self) -> str | None:
        """The final state's name, or ``None`` while the run is not final."""
        return self.state.value if self.state.final else None

    @property
    def in_flight(self) -> bool:
        """Not final: the run still needs `resume` or `abort` (whatever stopped it)."""
        return not self.state.final

    @property
    def committed(self) -> bool:
        point = commit_point(self.header.steps)
        return point in self.completed and point not in self.compensated

    @property
    def done(self) -> list[Step]:
        """Steps whose effect stands: completed, and no undo of them started since (an undo that
        failed half way, e.g. after the first of two ExitStandby batches, leaves the step neither
        done nor undone: `resume` runs it again, `abort` undoes it again; both re-read AWS)."""
        return [s for s in self.completed if s not in self.compensated and s not in self.undoing]

    @property
    def at(self) -> str:
        """Where the run stopped, for messages."""
        return self.started[-1].value if self.started else "start"

    @property
    def next_command(self) -> str:
        return NEXT[self.state]

    @property
    def warm_until(self) -> datetime | None:
        """When the window of a completed ``--keep-old`` release ends (UTC), else ``None``."""
        if self.state is not RunState.COMPLETED or not self.header.keep_old_seconds or not self.finished_at:
            return None
        finished = datetime.fromisoformat(self.finished_at.replace("Z", "+00:00"))
        if finished.tzinfo is None:
            finished = finished.replace(tzinfo=timezone.utc)
        return finished + timedelta(seconds=self.header.keep_old_seconds)

    def touched(self) -> list[Step]:
        """Steps that started (complete or not), in order: what compensation must consider."""
        return list(self.started)


RUN = "run"  # the pseudo-step of records about the run as a whole


def replay(records: Iterable[Any]) -> RunView | None:
    """The last run in ``records`` (objects with .step, .status, .data, .time)."""
    run: RunView | None = None
    for record in records:
        data = dict(record.data or {})
        run_id = data.pop("run_id", None)
        time = getattr(record, "time", None) or None
        if record.step == RUN and record.status == Event.BEGIN:
            run = RunView(run_id=run_id, kind=data["kind"], header=RunHeader.from_json(data["header"]),
                          began_at=time)
            continue
        if run is None or run_id != run.run_id:
            continue
        if record.step == RUN:
            _run_event(run, record.status, data, time)
            continue
        step = _step(record.step)
        lists = {"started": run.started, "completed": run.completed, "compensated": run.compensated,
                 "undoing": run.undoing}
        target = lists.get(record.status)
        if record.status in ("started", "completed"):
            for undone in (run.compensated, run.undoing):
                if step in undone:
                    undone.remove(step)  # resumed forward after an undo: the step stands again
        if record.status == "compensated" and step in run.undoing:
            run.undoing.remove(step)
        if target is not None and step not in target:
            target.append(step)
        if data:
            run.data.merge(data)
        if record.status == "completed" and step is commit_point(run.header.steps) and run.state is RunState.IN_FLIGHT:
            run.state = advance(run.state, Event.COMMIT, committed=True)
    return run


def _run_event(run: RunView, status: str, data: dict[str, Any], time: str | None) -> None:
    if status == "finish":  # the final record of a run (also "needs-operator", which is not final)
        event = Event(data.pop("outcome", "completed"))
        run.finish_data = data
    elif status == "state":
        event = Event(data.pop("state"))
    elif status == "request":
        run.requests.append(dict(data))
        return
    else:
        return  # a record type this version does not know: informative only
    if event is Event.ROLLED_BACK and run.state is not RunState.ROLLING_BACK:
        # Journals written before the state machine: compensation left no rolling-back record.
        run.state = RunState.ROLLING_BACK
    run.state = advance(run.state, event, committed=run.committed)
    run.error = data.get("error", run.error)
    if run.state.final:
        run.finished_at = time


def _step(name: str) -> Step:
    try:
        return Step(name)
    except ValueError:
        raise StateMismatchError(
            f"the release journal names a step {name!r} this bluegreen does not know",
            hint="finish the run with the bluegreen version that started it",
        ) from None
