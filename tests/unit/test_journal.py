"""The release journal: records written through a real FileJournalStore, replayed into a RunView."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bluegreen.aws.journal_store import FileJournalStore, JournalRecord
from bluegreen.journal import RUN, Journal, RunIndexEntry, RunView, entries_of, index_after, replay, retain
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
    return FileJournalStore(tmp_path / ".bluegreen" / "runs", now=Ticks(), owner="alice@ci")


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
    lines = store.run_path("run-1").read_text(encoding="utf-8").splitlines()
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
    assert orphan.runs() == []  # never indexed without a begin


def test_writing_without_a_run_is_a_bug(journal):
    with pytest.raises(RuntimeError, match="before begin"):
        journal.started(Step.SUSPEND)


def test_each_run_is_read_from_its_own_records(journal, store):
    journal.begin("run-1", "release", HEADER)
    journal.started(Step.SUSPEND)
    journal.finish("aborted")
    journal.begin("run-2", "swap", HEADER)
    journal.record(RUN, "interrupted", signal="SIGTERM")
    assert journal.run("run-1").outcome == "aborted"
    assert journal.run("run-2").in_flight and journal.last_run().run_id == "run-2"
    assert journal.run("nope") is None
    assert [r.status for r in journal.records("run-2")] == ["begin", "interrupted"]
    assert [(e.run_id, e.kind, e.state, e.finished_at is not None, e.owner) for e in journal.runs()] == [
        ("run-2", "swap", "interrupted", False, "alice@ci"),
        ("run-1", "release", "aborted", True, "alice@ci"),
    ]
    assert [e.run_id for e in journal.runs(1)] == ["run-2"]


# -- the index, pure -----------------------------------------------------------------------------


def _rec(status, time="2026-11-21T20:00:00Z", step=RUN, **data):
    return JournalRecord(step, status, {"run_id": "r2", **data}, time)


def test_index_begin_puts_the_run_first():
    old = RunIndexEntry("r1", "release", "2026-11-21T19:00:00Z", "2026-11-21T19:05:00Z", "completed", "a@b")
    entries = index_after([old], _rec("begin", kind="rollback"), "r2", "bob@ci")
    assert entries == [RunIndexEntry("r2", "rollback", "2026-11-21T20:00:00Z", None, "running", "bob@ci"), old]


@pytest.mark.parametrize(("record", "state", "finished"), [
    (_rec("finish", "2026-11-21T20:09:00Z", outcome="rolled-back", error="x"), "rolled-back", "2026-11-21T20:09:00Z"),
    (_rec("finish", "2026-11-21T20:09:00Z"), "completed", "2026-11-21T20:09:00Z"),
    (_rec("interrupted", signal="SIGINT"), "interrupted", None),
    (_rec("lease-lost"), "lease-lost", None),
    (_rec("state", state="committed"), "committed", None),
])
def test_index_follows_the_run_state(record, state, finished):
    begun = index_after([], _rec("begin", kind="release"), "r2")
    entry = index_after(begun, record, "r2")[0]
    assert (entry.state, entry.finished_at) == (state, finished)


@pytest.mark.parametrize("record", [_rec("started", step="suspend-processes"), _rec("completed"),
                                    _rec("data"), _rec("state")])
def test_index_ignores_records_that_do_not_change_the_state(record):
    begun = index_after([], _rec("begin", kind="release"), "r2")
    assert index_after(begun, record, "r2") is None


def test_index_ignores_a_run_it_does_not_list():
    assert index_after([], _rec("finish"), "r2") is None


def test_retention_keeps_the_newest_and_every_unfinished_run():
    def entry(n, finished=True):
        return RunIndexEntry(f"r{n}", "release", f"2026-11-21T20:0{n}:00Z", "x" if finished else None)
    entries = [entry(5), entry(4), entry(3, finished=False), entry(2), entry(1)]
    kept, dropped = retain(entries, 2)
    assert [e.run_id for e in kept] == ["r5", "r4", "r3"]
    assert [e.run_id for e in dropped] == ["r2", "r1"]
    assert retain(entries, 100) == (entries, [])


def test_entries_of_a_legacy_journal():
    records = [
        JournalRecord(RUN, "begin", {"run_id": "a", "kind": "release", "header": {}}, "2026-01-01T00:00:00Z"),
        JournalRecord(RUN, "finish", {"run_id": "a", "outcome": "completed"}, "2026-01-01T00:05:00Z"),
        JournalRecord(RUN, "begin", {"run_id": "b", "kind": "swap", "header": {}}, "2026-01-02T00:00:00Z"),
        JournalRecord("suspend-processes", "started", {"run_id": "b"}, "2026-01-02T00:00:01Z"),
    ]
    assert [(e.run_id, e.state, e.finished) for e in entries_of(records)] == [
        ("b", "running", False), ("a", "completed", True)]


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
    with open(store.run_path("run-1"), "a", encoding="utf-8") as handle:
        handle.write('{"step": "suspend-processes", "status": "compl')
    run = journal.last_run()
    assert run.started == [Step.SUSPEND]
    assert run.completed == []
