"""The release journal: every step's start and completion, stored beside the Terraform state, so
``resume`` and ``abort`` can decide what to do after a crash at any point.

Records are JSON objects appended to a store (a local file or an S3 object). The first record of a
run holds everything needed to continue it without the original command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from .errors import StateMismatchError
from .plan import Step


class JournalStore(Protocol):
    """``bluegreen.aws.journal_store``: a local JSON-lines file or one S3 object."""

    def append(self, step: str, status: str, data: Mapping[str, Any] | None = None) -> Any: ...

    def read(self) -> list[Any]:  # records with .step, .status, .data, .time
        ...


@dataclass
class RunView:
    """What the journal says about the last run."""

    run_id: str
    kind: str  # release, rollback, swap
    header: dict[str, Any]
    started: list[Step] = field(default_factory=list)
    completed: list[Step] = field(default_factory=list)
    compensated: list[Step] = field(default_factory=list)
    data: dict[Step, dict[str, Any]] = field(default_factory=dict)
    outcome: str | None = None  # completed, rolled-back, aborted, needs-operator; None = in flight
    finish_data: dict[str, Any] = field(default_factory=dict)
    finished_at: str | None = None  # ISO time of the finish record

    @property
    def in_flight(self) -> bool:
        return self.outcome is None

    def touched(self) -> list[Step]:
        """Steps that started (complete or not), in order: what compensation must consider."""
        return list(self.started)


# Records about the run as a whole use this pseudo-step; the others name a ``Step``.
RUN = "run"


class Journal:
    """Appends a run's records; the store keeps earlier runs too (a short release history)."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.run_id: str | None = None

    def _write(self, step: str, status: str, data: Mapping[str, Any] | None = None) -> None:
        self.store.append(step, status, {"run_id": self.run_id, **(data or {})})

    def begin(self, run_id: str, kind: str, header: dict[str, Any]) -> None:
        self.run_id = run_id
        self._write(RUN, "begin", {"kind": kind, "header": header})

    def adopt(self, run: RunView) -> None:
        """Continue writing to an existing run (resume/abort)."""
        self.run_id = run.run_id

    def started(self, step: Step) -> None:
        self._write(step.value, "started")

    def completed(self, step: Step, **data: Any) -> None:
        self._write(step.value, "completed", data)

    def compensated(self, step: Step) -> None:
        self._write(step.value, "compensated")

    def note(self, step: Step, **data: Any) -> None:
        """Data a step learned before completing (e.g. which processes it suspended): written
        first, so compensation after a crash mid-step still knows it."""
        self._write(step.value, "data", data)

    def finish(self, outcome: str, **data: Any) -> None:
        self._write(RUN, "finish", {"outcome": outcome, **data})

    def last_run(self) -> RunView | None:
        return replay(self.store.read())


def replay(records: list[Any]) -> RunView | None:
    """The last run, rebuilt from the records: what began, started, completed, was undone."""
    run: RunView | None = None
    for record in records:
        data = dict(record.data or {})
        run_id = data.pop("run_id", None)
        if record.step == RUN and record.status == "begin":
            run = RunView(run_id=run_id, kind=data["kind"], header=data["header"])
            continue
        if run is None or run_id != run.run_id:
            continue
        if record.step == RUN:
            if record.status == "finish":
                run.outcome = data.pop("outcome", "completed")
                run.finish_data = data
                run.finished_at = getattr(record, "time", None) or None
            continue
        try:
            step = Step(record.step)
        except ValueError:
            raise StateMismatchError(
                f"the release journal names a step {record.step!r} this bluegreen does not know",
                hint="finish the run with the bluegreen version that started it",
            ) from None
        lists = {"started": run.started, "completed": run.completed, "compensated": run.compensated}
        target = lists.get(record.status)
        if target is not None and step not in target:
            target.append(step)
        if data:
            run.data.setdefault(step, {}).update(data)
    return run
