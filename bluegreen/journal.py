"""The release journal: every step's start and completion, stored where every runner sees it, so
``resume`` and ``abort`` can decide what to do after a crash at any point.

Storage shape: one JSON-lines object per run plus a small index (``runs/<run_id>.jsonl`` and
``runs/index.json``, locally or in S3; ``bluegreen.aws.journal_store``). Appending to a run costs
that run's size, never the whole history; the index lists runs newest first and is updated only
when a record changes a run's state (:data:`INDEX_STATUSES`); the newest ``[state] keep_runs`` runs
are kept. The first record of a run holds everything needed to continue it without the original
command line. This module holds the pure parts: the record, the index entry and its updates, and
``replay``.
What the records mean (the run's state machine) is ``runstate.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol

from .plan import Step
from .runstate import RUN, Event, RunHeader, RunView, advance, replay

NOTIFIED = "notified"  # a notification of the run was sent (hooks.py dedupes by it)
HOOK = "hook"  # a hook ran: its point, name, verdict and time (``bluegreen history`` shows them)

__all__ = ["Journal", "JournalStore", "RUN", "RunView", "replay"]

# Statuses that change a run's state in the index (whatever the step): a run began, finished, was
# stopped by a signal or a lost lease, or the run-state machine recorded a new state.
INDEX_STATUSES = frozenset({"begin", "finish", "interrupted", "lease-lost", "state"})
RUNNING = "running"  # the state of a run from its begin until something else is recorded


@dataclass(frozen=True)
class JournalRecord:
    """One step transition: ``{"step": ..., "status": ..., "data": {...}, "time": ISO}``.
    ``data["run_id"]`` names the run, so a record read anywhere says which run it belongs to."""

    step: str
    status: str
    data: Mapping[str, Any] = field(default_factory=dict)
    time: str = ""

    def to_line(self) -> str:
        return json.dumps(
            {"step": self.step, "status": self.status, "data": dict(self.data), "time": self.time},
            sort_keys=True,
            default=str,
        )

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> "JournalRecord":
        return cls(
            step=str(body["step"]),
            status=str(body["status"]),
            data=dict(body.get("data") or {}),
            time=str(body.get("time", "")),
        )

    @property
    def run_id(self) -> str | None:
        value = (self.data or {}).get("run_id")
        return None if value is None else str(value)


@dataclass(frozen=True)
class RunIndexEntry:
    """One run in the index: enough to list history and find the newest run without reading it."""

    run_id: str
    kind: str = ""  # release, rollback, swap
    started_at: str = ""
    finished_at: str | None = None  # set by the finish record only: a stopped run is not finished
    state: str = RUNNING  # the outcome once finished (completed, rolled-back, ...), else the state
    owner: str = ""  # user@host that began it

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "kind": self.kind, "started_at": self.started_at,
                "finished_at": self.finished_at, "state": self.state, "owner": self.owner}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> "RunIndexEntry":
        finished = body.get("finished_at")
        return cls(
            run_id=str(body["run_id"]),
            kind=str(body.get("kind") or ""),
            started_at=str(body.get("started_at") or ""),
            finished_at=None if finished is None else str(finished),
            state=str(body.get("state") or RUNNING),
            owner=str(body.get("owner") or ""),
        )


class JournalStore(Protocol):
    """Where runs are kept: ``bluegreen.aws.journal_store.FileJournalStore`` (a local folder) or
    ``S3JournalStore`` (a prefix in a bucket)."""

    def append(self, run_id: str, step: str, status: str,
               data: Mapping[str, Any] | None = None) -> JournalRecord:
        """Append one record to ``run_id``'s object (durably, before returning); update the index
        when ``status`` is in ``INDEX_STATUSES``; on ``begin``, delete runs beyond retention."""
        ...

    def read_run(self, run_id: str) -> list[JournalRecord]:
        """The records of one run, in order ([] for an unknown run)."""
        ...

    def latest(self) -> str | None:
        """The newest run's id, or ``None`` when there is none."""
        ...

    def runs(self, limit: int | None = None) -> list[RunIndexEntry]:
        """Runs newest first, at most ``limit``."""
        ...


def record_time(moment: datetime) -> str:
    """A record's time: ISO 8601 UTC, with milliseconds when the moment has any, so the phase
    timings ``bluegreen history`` derives from records are not rounded to whole seconds (a whole
    second prints as ``...:05Z``, as records always did)."""
    moment = moment.astimezone(timezone.utc)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def parse_time(text: str) -> datetime | None:
    """A record's time back, or ``None`` when it is missing or unreadable."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- the index, as pure functions of its entries -----------------------------------------------


def index_after(entries: list[RunIndexEntry], record: JournalRecord, run_id: str,
                owner: str = "") -> list[RunIndexEntry] | None:
    """The index once ``record`` of ``run_id`` is written, or ``None`` when it does not change."""
    data = dict(record.data or {})
    if record.status == "begin":
        entry = RunIndexEntry(run_id=run_id, kind=str(data.get("kind") or ""), started_at=record.time,
                              state=RUNNING, owner=str(data.get("owner") or owner))
        return [entry, *(e for e in entries if e.run_id != run_id)]
    if record.status not in INDEX_STATUSES:
        return None
    position = next((i for i, e in enumerate(entries) if e.run_id == run_id), None)
    if position is None:
        return None  # no begin indexed (a stray record): nothing to list
    entry = entries[position]
    if record.status == "finish" and data.get("outcome") == "needs-operator":
        # Written as a finish record, but not final: resume or abort continues it, so it is
        # neither finished in the index nor ever dropped by retention.
        entry = replace(entry, state="needs-operator")
    elif record.status == "finish":
        entry = replace(entry, state=str(data.get("outcome") or "completed"), finished_at=record.time)
    elif record.status == "state":
        if not data.get("state"):
            return None
        entry = replace(entry, state=str(data["state"]))
    else:  # interrupted, lease-lost: stopped, not finished (resume or abort continues it)
        entry = replace(entry, state=record.status)
    if entry == entries[position]:
        return None
    return [*entries[:position], entry, *entries[position + 1:]]


def retain(entries: list[RunIndexEntry], keep: int) -> tuple[list[RunIndexEntry], list[RunIndexEntry]]:
    """(kept, dropped): the newest ``keep`` runs, plus any older run that is not finished (it may
    still be resumed or aborted, so its records must stay)."""
    kept: list[RunIndexEntry] = []
    dropped: list[RunIndexEntry] = []
    for number, entry in enumerate(entries):
        (kept if number < keep or not entry.finished else dropped).append(entry)
    return kept, dropped


def newest_first(entries: list[RunIndexEntry]) -> list[RunIndexEntry]:
    """Stable: runs begun in the same second keep their order."""
    return sorted(entries, key=lambda e: e.started_at, reverse=True)


def entries_of(records: list[JournalRecord]) -> list[RunIndexEntry]:
    """The index a list of records (a legacy single-file journal) implies, newest first."""
    entries: list[RunIndexEntry] = []
    for record in records:
        run_id = record.run_id
        if run_id is None:
            continue
        updated = index_after(entries, record, run_id)
        if updated is not None:
            entries = updated
    return newest_first(entries)


class Journal:
    """Writes one run's records and reads runs back; the store keeps a short release history."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.run_id: str | None = None

    def _write(self, step: str, status: str, data: Mapping[str, Any] | None = None) -> None:
        if self.run_id is None:
            raise RuntimeError("journal record before begin() or adopt(): no run to write to")
        self.store.append(self.run_id, step, status, {"run_id": self.run_id, **(data or {})})

    def begin(self, run_id: str, kind: str, header: RunHeader, **about: Any) -> None:
        """``about``: facts for people, not for ``replay`` (e.g. ``caller``, the AWS identity
        that started the run, which ``bluegreen history`` shows)."""
        self.run_id = run_id
        self._write(RUN, Event.BEGIN.value, {"kind": kind, "header": header.to_json(),
                                             **{k: v for k, v in about.items() if v}})

    def adopt(self, run: RunView) -> None:
        """Continue writing to an existing run (resume/abort)."""
        self.run_id = run.run_id

    def record(self, step: str, status: str, **data: Any) -> None:
        """Any record of the current run (``step`` may be ``RUN``); a status in
        ``INDEX_STATUSES`` also updates the run's entry in the index."""
        self._write(step, status, data)

    def started(self, step: Step) -> None:
        self._write(step.value, "started")

    def completed(self, step: Step, **data: Any) -> None:
        self._write(step.value, "completed", data)

    def undoing(self, step: Step) -> None:
        """An undo starts: until it is confirmed, the step is neither done nor undone."""
        self._write(step.value, "undoing")

    def compensated(self, step: Step) -> None:
        self._write(step.value, "compensated")

    def note(self, step: Step, **data: Any) -> None:
        """Data a step learned before completing (e.g. which processes it suspended): written
        first, so compensation after a crash mid-step still knows it."""
        self._write(step.value, "data", data)

    def event(self, event: Event, **data: Any) -> None:
        """A change of the run's state. Checked against the state machine before it is written,
        so the journal never records a transition ``replay`` would refuse."""
        run = self.run(self.run_id) if self.run_id is not None else None
        if run is not None:
            advance(run.state, event, committed=run.committed)
        if event in (Event.COMPLETED, Event.ROLLED_BACK, Event.ABORTED, Event.NEEDS_OPERATOR):
            self._write(RUN, "finish", {"outcome": event.value, **data})
        else:
            self._write(RUN, "state", {"state": event.value, **data})

    def finish(self, outcome: str, **data: Any) -> None:
        self.event(Event(outcome), **data)

    def request(self, run_id: str, action: str, **data: Any) -> None:
        """`bluegreen promote` / `abort` of a weighted run another process drives: a record in
        that run's own object, which the driving process polls during its pauses and the bake.
        Appends are safe across processes (a locked local append; a conditional S3 PUT)."""
        self.store.append(run_id, RUN, "request", {"run_id": run_id, "action": action, **data})

    def records(self, run_id: str) -> list[JournalRecord]:
        """One run's records, in order."""
        return self.store.read_run(run_id)

    def run(self, run_id: str) -> RunView | None:
        """One run, rebuilt from its own records only."""
        return replay(self.store.read_run(run_id))

    def runs(self, limit: int | None = None) -> list[RunIndexEntry]:
        """The index, newest first."""
        return self.store.runs(limit)

    # -- notifications sent (hooks.Ledger): informative "run" records that replay ignores ------

    def sent(self, run_id: str) -> set[str]:
        """The notification keys recorded for ``run_id`` (by any process: across ``resume``)."""
        return {str((r.data or {}).get("key")) for r in self.store.read_run(run_id)
                if r.step == RUN and r.status == NOTIFIED}

    def mark_sent(self, run_id: str, key: str) -> None:
        self.store.append(run_id, RUN, NOTIFIED, {"run_id": run_id, "key": key})

    def hook_ran(self, run_id: str, result: Mapping[str, Any]) -> None:
        """One hook's verdict (point, hook, ok, reason, seconds): informative, ``replay`` ignores it."""
        self.store.append(run_id, RUN, HOOK, {"run_id": run_id, **dict(result)})

    def last_run(self) -> RunView | None:
        run_id = self.store.latest()
        return None if run_id is None else self.run(run_id)
