"""The release journal: every step's start and completion and every change of the run's state,
stored beside the Terraform state, so ``resume`` and ``abort`` can decide what to do after a crash
at any point.

Records are JSON objects appended to a store (a local file or an S3 object). The first record of a
run holds everything needed to continue it without the original command line. What the records
mean (the run's state machine) is ``runstate.py``; this module only writes and reads them.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

from .plan import Step
from .runstate import RUN, Event, RunHeader, RunView, advance, replay

NOTIFIED = "notified"  # a notification of the run was sent (hooks.py dedupes by it)

__all__ = ["Journal", "JournalStore", "RUN", "RunView", "replay"]


class JournalStore(Protocol):
    """``bluegreen.aws.journal_store``: a local JSON-lines file or one S3 object."""

    def append(self, step: str, status: str, data: Mapping[str, Any] | None = None) -> Any: ...

    def read(self) -> list[Any]:  # records with .step, .status, .data, .time
        ...


class Journal:
    """Appends a run's records; the store keeps earlier runs too (a short release history)."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.run_id: str | None = None

    def _write(self, step: str, status: str, data: Mapping[str, Any] | None = None) -> None:
        self.store.append(step, status, {"run_id": self.run_id, **(data or {})})

    def begin(self, run_id: str, kind: str, header: RunHeader) -> None:
        self.run_id = run_id
        self._write(RUN, Event.BEGIN.value, {"kind": kind, "header": header.to_json()})

    def adopt(self, run: RunView) -> None:
        """Continue writing to an existing run (resume/abort)."""
        self.run_id = run.run_id

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
        run = self.last_run()
        if run is not None and run.run_id == self.run_id:
            advance(run.state, event, committed=run.committed)
        if event in (Event.COMPLETED, Event.ROLLED_BACK, Event.ABORTED, Event.NEEDS_OPERATOR):
            self._write(RUN, "finish", {"outcome": event.value, **data})
        else:
            self._write(RUN, "state", {"state": event.value, **data})

    def finish(self, outcome: str, **data: Any) -> None:
        self.event(Event(outcome), **data)

    # -- notifications sent (hooks.Ledger): informative "run" records that replay ignores ------

    def sent(self, run_id: str) -> set[str]:
        """The notification keys recorded for ``run_id`` (by any process: across ``resume``)."""
        return {str((r.data or {}).get("key")) for r in self.store.read()
                if r.step == RUN and r.status == NOTIFIED and (r.data or {}).get("run_id") == run_id}

    def mark_sent(self, run_id: str, key: str) -> None:
        self.store.append(RUN, NOTIFIED, {"run_id": run_id, "key": key})

    def last_run(self) -> RunView | None:
        return replay(self.store.read())
