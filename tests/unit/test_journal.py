"""The release journal: records written through a real FileJournalStore, replayed into a RunView."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bluegreen.aws.journal_store import FileJournalStore, JournalRecord
from bluegreen.journal import RUN, Journal, RunView, replay
from bluegreen.model import Color
from bluegreen.plan import Mode, Step
from bluegreen.runstate import Event, RunData, RunHeader

HEADER = RunHeader(mode=Mode.RELEASE, live=Color.BLUE, target=Color.GREEN, size=3,
                   ami="ami-0fedcba9876543210", steps=(Step.SUSPEND, Step.APPLY_IDLE),
                   restore_text="{}", release_label="release-x")
SWAP_HEADER = RunHeader(mode=Mode.SWAP, live=Color.GREEN, target=Color.BLUE, size=2,
                        ami="ami-0fedcba9876543210", steps=(Step.WAIT_INSTANCES,),
                        restore_text="{}", release_label="swap-x")


class Ticks:
    def __init__(self) -> None:
        self.t = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


@pytest.fixture
def store(tmp_path):
    return FileJournalStore(tmp_path / ".bluegreen" / "journal.jsonl", now=Ticks())


@pytest.fixture
def journal(store):
    return Journal(store)


def test_no_records_no_run(journal):
    assert journal.last_run() is None
    assert replay([]) is None


def test_full_run_replays(journal, store):
    journal.begin("run-1", "release", HEADER)
    journal.started(Step.SUSPEND)
    journal.note(Step.SUSPEND, suspended={"web-blue": ["AZRebalance"]})
    journal.completed(Step.SUSPEND, suspended={"web-blue": ["AZRebalance"], "web-green": ["AZRebalance"]})
    journal.started(Step.APPLY_IDLE)
    journal.completed(Step.APPLY_IDLE)
    journal.started(Step.DETACH)
    journal.completed(Step.DETACH)
    journal.finish("completed", live="green")

    run = journal.last_run()
    assert isinstance(run, RunView)
    assert run.run_id == "run-1"
    assert run.kind == "release"
    assert run.header == HEADER
    assert run.started == [Step.SUSPEND, Step.APPLY_IDLE, Step.DETACH]
    assert run.completed == [Step.SUSPEND, Step.APPLY_IDLE, Step.DETACH]
    assert run.compensated == []
    assert run.data == RunData(suspended={"web-blue": ["AZRebalance"], "web-green": ["AZRebalance"]})
    assert run.outcome == "completed"
    assert run.finish_data == {"live": "green"}
    assert not run.in_flight

    # What the store holds on disk: one JSON object per line, each tagged with the run.
    lines = store.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 9
    first = json.loads(lines[0])
    assert first["step"] == RUN and first["status"] == "begin"
    assert first["data"] == {"run_id": "run-1", "kind": "release", "header": HEADER.to_json()}
    assert all(json.loads(line)["data"]["run_id"] == "run-1" for line in lines)


def test_in_flight_run(journal):
    journal.begin("run-1", "release", HEADER)
    journal.started(Step.SUSPEND)
    journal.completed(Step.SUSPEND)
    journal.started(Step.APPLY_IDLE)  # crashed here
    run = journal.last_run()
    assert run.in_flight
    assert run.outcome is None
    assert run.started == [Step.SUSPEND, Step.APPLY_IDLE]
    assert run.completed == [Step.SUSPEND]
    assert run.touched() == [Step.SUSPEND, Step.APPLY_IDLE]


def test_data_of_a_step_is_merged(journal):
    journal.begin("run-1", "release", HEADER)
    journal.note(Step.LOWER_MIN, old_min=3)
    journal.note(Step.STANDBY, standby_ids=["i-1"])
    journal.note(Step.STANDBY, standby_ids=["i-1", "i-2"])
    journal.completed(Step.LOWER_MIN, new_min=0)  # a key no step data knows: ignored
    run = journal.last_run()
    assert run.data.old_min == 3
    assert run.data.standby_ids == ["i-1", "i-2"]  # later note wins
    assert Step.STANDBY not in run.started  # a note is not a start


def test_compensation_and_rolled_back_outcome(journal):
    journal.begin("run-1", "release", HEADER)
    for step in (Step.SUSPEND, Step.APPLY_IDLE, Step.ATTACH):
        journal.started(step)
        journal.completed(step)
    journal.started(Step.WAIT_HEALTHY)
    journal.event(Event.ROLLING_BACK)
    journal.compensated(Step.ATTACH)
    journal.compensated(Step.SUSPEND)
    journal.finish("rolled-back", reason="targets unhealthy")
    run = journal.last_run()
    assert run.compensated == [Step.ATTACH, Step.SUSPEND]
    assert run.outcome == "rolled-back"
    assert run.finish_data == {"reason": "targets unhealthy"}


def test_repeated_records_are_listed_once(journal):
    journal.begin("run-1", "release", HEADER)
    journal.started(Step.WAIT_HEALTHY)
    journal.started(Step.WAIT_HEALTHY)  # resumed and ran again
    journal.completed(Step.WAIT_HEALTHY)
    run = journal.last_run()
    assert run.started == [Step.WAIT_HEALTHY]
    assert run.completed == [Step.WAIT_HEALTHY]


def test_later_run_supersedes_earlier(journal, store):
    journal.begin("run-1", "release", HEADER)
    journal.started(Step.SUSPEND)
    journal.completed(Step.SUSPEND, suspended={"web-blue": ["AZRebalance"]})
    journal.finish("aborted")

    journal.begin("run-2", "swap", SWAP_HEADER)
    journal.started(Step.WAIT_INSTANCES)
    run = Journal(store).last_run()  # a fresh process reading the same file
    assert run.run_id == "run-2"
    assert run.kind == "swap"
    assert run.header == SWAP_HEADER
    assert run.started == [Step.WAIT_INSTANCES]
    assert run.completed == []
    assert run.data == RunData()
    assert run.in_flight


def test_records_of_an_older_run_are_ignored(store):
    old, new = Journal(store), Journal(store)
    old.begin("run-1", "release", HEADER)
    new.begin("run-2", "rollback", HEADER)
    # A straggling writer of run-1 appends after run-2 began.
    old.started(Step.DETACH)
    old.completed(Step.DETACH, note="late")
    new.started(Step.SUSPEND)
    run = new.last_run()
    assert run.run_id == "run-2"
    assert run.started == [Step.SUSPEND]
    assert run.completed == []
    assert run.data == RunData()
    assert run.in_flight


def test_records_before_any_begin_are_ignored(store):
    orphan = Journal(store)
    orphan.run_id = "run-0"
    orphan.started(Step.SUSPEND)
    assert orphan.last_run() is None


def test_adopt_continues_an_existing_run(store):
    first = Journal(store)
    first.begin("run-1", "release", HEADER)
    first.started(Step.SUSPEND)
    first.completed(Step.SUSPEND)

    resumed = Journal(store)  # `bluegreen resume` in a new process
    run = resumed.last_run()
    resumed.adopt(run)
    resumed.started(Step.APPLY_IDLE)
    resumed.completed(Step.APPLY_IDLE)
    resumed.started(Step.DETACH)
    resumed.completed(Step.DETACH)
    resumed.finish("completed")
    run = resumed.last_run()
    assert run.completed == [Step.SUSPEND, Step.APPLY_IDLE, Step.DETACH]
    assert run.outcome == "completed"


def test_finish_without_outcome_defaults_to_completed():
    records = [
        JournalRecord(RUN, "begin", {"run_id": "r", "kind": "release", "header": HEADER.to_json()}),
        JournalRecord(Step.DETACH.value, "completed", {"run_id": "r"}),
        JournalRecord(RUN, "finish", {"run_id": "r"}),
    ]
    run = replay(records)
    assert run.outcome == "completed" and run.finish_data == {}


def test_torn_last_line_is_dropped(journal, store):
    journal.begin("run-1", "release", HEADER)
    journal.started(Step.SUSPEND)
    with open(store.path, "a", encoding="utf-8") as handle:
        handle.write('{"step": "suspend-processes", "status": "compl')
    run = journal.last_run()
    assert run.started == [Step.SUSPEND]
    assert run.completed == []
