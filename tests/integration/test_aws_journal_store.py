"""Both journal stores (a local folder, an S3 prefix in moto): one object per run plus an index,
appends that cost one run, retention, the legacy single journal, torn and edited objects, and
concurrent writers."""

from __future__ import annotations

from bluegreen.runstate import RunHeader

import json
from datetime import datetime, timedelta, timezone

import pytest
from moto import mock_aws

from bluegreen.aws.journal_store import FileJournalStore, JournalRecord, S3JournalStore
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.errors import AwsError, InputError
from bluegreen.journal import RUN, Journal
from bluegreen.plan import Step

BUCKET = "bluegreen-state"
PREFIX = "envs/prod/web.tfstate.bluegreen"
LEGACY_KEY = "envs/prod/web.tfstate.bluegreen-journal.jsonl"


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 21, 20, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        clients = AwsClients(ClientSettings(region="us-east-1"))
        client = clients.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.bluegreen_calls = clients.calls  # the counter the session attached to this client
        yield client


class Backend:
    """One storage location seen by several store objects (as separate processes would)."""

    def __init__(self, kind: str, tmp_path, s3=None) -> None:
        self.kind, self.tmp_path, self.s3 = kind, tmp_path, s3
        self.clock = Clock()

    def store(self, keep_runs: int = 100, owner: str = "alice@ci"):
        if self.kind == "s3":
            return S3JournalStore(self.s3, BUCKET, PREFIX, legacy_key=LEGACY_KEY, keep_runs=keep_runs,
                                  now=self.clock, owner=owner)
        return FileJournalStore(self.tmp_path / ".bluegreen" / "runs", legacy_path=self.tmp_path / ".bluegreen" / "journal.jsonl",
                                keep_runs=keep_runs, now=self.clock, owner=owner)

    def names(self) -> set[str]:
        """Every object the store keeps (run objects and the index)."""
        if self.kind == "s3":
            listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX + "/runs/").get("Contents", [])
            return {item["Key"].rsplit("/", 1)[1] for item in listed}
        folder = self.tmp_path / ".bluegreen" / "runs"
        return {p.name for p in folder.iterdir() if not p.name.startswith(".")} if folder.exists() else set()

    def read(self, name: str) -> str:
        if self.kind == "s3":
            return self.s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/runs/{name}")["Body"].read().decode()
        return (self.tmp_path / ".bluegreen" / "runs" / name).read_text()

    def write(self, name: str, text: str) -> None:
        if self.kind == "s3":
            self.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/runs/{name}", Body=text.encode())
        else:
            (self.tmp_path / ".bluegreen" / "runs" / name).write_text(text)

    def write_legacy(self, text: str) -> None:
        if self.kind == "s3":
            self.s3.put_object(Bucket=BUCKET, Key=LEGACY_KEY, Body=text.encode())
        else:
            (self.tmp_path / ".bluegreen").mkdir(exist_ok=True)
            (self.tmp_path / ".bluegreen" / "journal.jsonl").write_text(text)


@pytest.fixture(params=["file", "s3"])
def backend(request, tmp_path):
    s3 = request.getfixturevalue("s3") if request.param == "s3" else None
    return Backend(request.param, tmp_path, s3)


def _begin(store, run_id: str, kind: str = "release") -> None:
    store.append(run_id, RUN, "begin", {"kind": kind, "header": {"ami": "ami-1"}})


def test_append_and_read_back(backend):
    store = backend.store()
    assert store.read_run("7f3a") == [] and store.latest() is None and store.runs() == []
    first = store.append("7f3a", "lower-min-size", "started", {"group": "web-green", "min_size": 0})
    store.append("7f3a", "lower-min-size", "completed")
    assert first == JournalRecord(
        step="lower-min-size", status="started", data={"run_id": "7f3a", "group": "web-green", "min_size": 0},
        time="2026-11-21T20:00:01Z",
    )
    assert backend.store().read_run("7f3a") == [
        first,
        JournalRecord(step="lower-min-size", status="completed", data={"run_id": "7f3a"}, time="2026-11-21T20:00:02Z"),
    ]


def test_one_object_per_run_and_an_index(backend):
    store = backend.store()
    _begin(store, "r1")
    store.append("r1", "suspend-processes", "started")
    store.append("r1", RUN, "finish", {"outcome": "completed"})
    _begin(backend.store(owner="bob@laptop"), "r2", kind="swap")
    assert backend.names() == {"r1.jsonl", "r2.jsonl", "index.json"}
    assert [json.loads(line)["status"] for line in backend.read("r1.jsonl").splitlines()] == ["begin", "started", "finish"]
    assert len(backend.read("r2.jsonl").splitlines()) == 1
    index = json.loads(backend.read("index.json"))
    assert index == {"version": 1, "runs": [
        {"run_id": "r2", "kind": "swap", "started_at": "2026-11-21T20:00:04Z", "finished_at": None,
         "state": "running", "owner": "bob@laptop"},
        {"run_id": "r1", "kind": "release", "started_at": "2026-11-21T20:00:01Z",
         "finished_at": "2026-11-21T20:00:03Z", "state": "completed", "owner": "alice@ci"},
    ]}
    reader = backend.store()
    assert reader.latest() == "r2"
    assert [e.run_id for e in reader.runs(1)] == ["r2"]


def test_index_follows_state_changes(backend):
    store = backend.store()
    _begin(store, "r1")
    for status, data, state in [("interrupted", {"signal": "SIGTERM"}, "interrupted"),
                                ("state", {"state": "draining"}, "draining"),
                                ("lease-lost", {}, "lease-lost"),
                                ("finish", {"outcome": "aborted"}, "aborted")]:
        store.append("r1", RUN, status, data)
        entry = backend.store().runs()[0]
        assert entry.state == state
        assert entry.finished == (status == "finish")


def test_s3_appends_cost_one_put_of_that_run(s3, tmp_path):
    backend = Backend("s3", tmp_path, s3)
    store = backend.store()
    for n in range(30):  # history: 30 finished runs
        _begin(store, f"old{n}")
        store.append(f"old{n}", RUN, "finish", {"outcome": "completed"})
    _begin(store, "r1")
    s3.bluegreen_calls.clear()
    store.append("r1", "suspend-processes", "started")
    store.append("r1", "suspend-processes", "completed", {"suspended": {"web-blue": ["AZRebalance"]}})
    assert s3.bluegreen_calls == {"PutObject": 2}  # no GET, no index write, no other run touched
    assert len(backend.read("r1.jsonl").splitlines()) == 3
    s3.bluegreen_calls.clear()
    store.append("r1", RUN, "finish", {"outcome": "completed"})
    assert s3.bluegreen_calls == {"PutObject": 2}  # the run's object, then the index (ETag cached)

    resumed = backend.store()  # another process continuing r1: one GET, then PUTs only
    s3.bluegreen_calls.clear()
    resumed.append("r1", "confirm", "started")
    resumed.append("r1", "confirm", "completed")
    assert s3.bluegreen_calls == {"GetObject": 1, "PutObject": 2}


def test_file_appends_do_not_touch_other_runs(tmp_path):
    store = Backend("file", tmp_path).store()
    _begin(store, "r1")
    store.append("r1", RUN, "finish", {"outcome": "completed"})
    folder = tmp_path / ".bluegreen" / "runs"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    _begin(store, "r2")
    index_mtime = (folder / "index.json").stat().st_mtime_ns
    store.append("r2", "suspend-processes", "started")
    assert (folder / "r1.jsonl").stat().st_mtime_ns == before["r1.jsonl"]
    assert (folder / "index.json").stat().st_mtime_ns == index_mtime  # not a state change


def test_retention_deletes_old_runs_when_a_new_one_begins(backend):
    store = backend.store(keep_runs=3)
    _begin(store, "r1")  # never finished: kept however old
    for n in range(2, 7):
        _begin(store, f"r{n}")
        store.append(f"r{n}", RUN, "finish", {"outcome": "completed"})
    assert [e.run_id for e in store.runs()] == ["r6", "r5", "r4", "r1"]
    assert backend.names() == {"index.json", "r1.jsonl", "r4.jsonl", "r5.jsonl", "r6.jsonl"}
    assert store.read_run("r2") == []
    assert store.read_run("r1")[0].status == "begin"


# The header bluegreen 0.1 wrote (a dict with every field of today's RunHeader).
def _legacy_header(ami: str, mode: str) -> dict:
    return {"mode": mode, "live": "blue", "target": "green", "size": 2, "ami": ami,
            "steps": ["suspend-processes", "apply-idle", "detach-old"], "restore_text": "{}",
            "release_label": "r", "keep_old_seconds": 0}


LEGACY = "".join(json.dumps(line) + "\n" for line in [
    {"step": "run", "status": "begin", "data": {"run_id": "old1", "kind": "release", "header": _legacy_header("ami-1", "release")},
     "time": "2026-11-20T10:00:00Z"},
    {"step": "run", "status": "finish", "data": {"run_id": "old1", "outcome": "aborted"}, "time": "2026-11-20T10:05:00Z"},
    {"step": "run", "status": "begin", "data": {"run_id": "old2", "kind": "swap", "header": _legacy_header("ami-2", "swap")},
     "time": "2026-11-20T11:00:00Z"},
    {"step": "suspend-processes", "status": "started", "data": {"run_id": "old2"}, "time": "2026-11-20T11:00:01Z"},
    {"step": "suspend-processes", "status": "completed", "data": {"run_id": "old2"}, "time": "2026-11-20T11:00:02Z"},
])


def test_an_unfinished_run_of_the_legacy_journal_is_found_and_continued(backend):
    """A run the previous version started (one journal for every run) can still be resumed or aborted."""
    backend.write_legacy(LEGACY)
    journal = Journal(backend.store())
    run = journal.last_run()
    assert run.run_id == "old2" and run.kind == "swap" and run.in_flight
    assert run.completed == [Step.SUSPEND]
    assert [(e.run_id, e.state) for e in journal.runs()] == [("old2", "running"), ("old1", "aborted")]

    journal.adopt(run)  # `bluegreen resume` in the new version
    journal.started(Step.APPLY_IDLE)
    journal.finish("aborted")
    assert backend.names() == {"old2.jsonl", "index.json"}  # the run moved to its own object
    assert len(backend.read("old2.jsonl").splitlines()) == 3 + 2  # its legacy records, then the new ones
    fresh = Journal(backend.store())
    assert fresh.last_run().outcome == "aborted" and fresh.last_run().completed == [Step.SUSPEND]
    assert [(e.run_id, e.state, e.kind, e.started_at) for e in fresh.runs()] == [
        ("old2", "aborted", "swap", "2026-11-20T11:00:00Z"), ("old1", "aborted", "release", "2026-11-20T10:00:00Z")]

    fresh.begin("new1", "release", RunHeader.from_json(_legacy_header("ami-3", "release")))  # a new run is newer than every legacy one
    assert fresh.last_run().run_id == "new1"
    assert [e.run_id for e in fresh.runs()] == ["new1", "old2", "old1"]


def test_a_second_writer_appends_after_the_first(backend):
    one, two = backend.store(), backend.store()
    _begin(one, "r1")
    two.append("r1", "a", "completed")  # two never read before: it must not overwrite one's record
    one.append("r1", "b", "completed")  # one's cached copy is stale now: it must re-read, not overwrite
    assert [r.step for r in backend.store().read_run("r1")] == [RUN, "a", "b"]


def test_two_runs_begun_by_two_writers_are_both_indexed(backend):
    one, two = backend.store(), backend.store()
    _begin(one, "r1")
    one.runs()  # one has the index cached
    _begin(two, "r2")
    one.append("r1", RUN, "finish", {"outcome": "completed"})  # its cached index is stale: re-apply
    assert [(e.run_id, e.state) for e in backend.store().runs()] == [("r2", "running"), ("r1", "completed")]


def test_torn_last_line_is_ignored(backend):
    store = backend.store()
    _begin(store, "r1")
    backend.write("r1.jsonl", backend.read("r1.jsonl") + '{"step": "b", "sta')  # crash mid-append
    assert [r.status for r in backend.store().read_run("r1")] == ["begin"]


def test_corrupt_middle_line_is_an_error(backend):
    store = backend.store()
    _begin(store, "r1")
    backend.write("r1.jsonl", "not json\n" + backend.read("r1.jsonl"))
    with pytest.raises(InputError, match=r"release journal \S+/runs/r1.jsonl line 1 is not a journal record"):
        backend.store().read_run("r1")


def test_corrupt_index_is_an_error(backend):
    _begin(backend.store(), "r1")
    backend.write("index.json", "{")
    with pytest.raises(InputError, match=r"release journal index \S+/runs/index.json is not a journal index"):
        backend.store().latest()


@pytest.mark.parametrize("run_id", ["../x", "a/b", "", ".hidden"])
def test_run_ids_that_are_not_names_are_refused(backend, run_id):
    with pytest.raises(InputError, match="is not a run id"):
        backend.store().read_run(run_id)


def test_s3_missing_bucket_is_aws_error(s3):
    with pytest.raises(AwsError) as caught:
        S3JournalStore(s3, "no-such-bucket", PREFIX).append("r1", RUN, "begin", {"kind": "release"})
    assert caught.value.code == "NoSuchBucket"


def test_s3_empty_prefix(s3):
    store = S3JournalStore(s3, BUCKET, "", now=Clock())
    _begin(store, "r1")
    assert s3.get_object(Bucket=BUCKET, Key="runs/r1.jsonl")["ContentLength"] > 0
    assert store.latest() == "r1"


def test_data_that_json_cannot_encode_is_stringified(backend):
    store = backend.store()
    store.append("r1", "a", "completed", {"when": datetime(2026, 1, 1, tzinfo=timezone.utc)})
    assert store.read_run("r1")[0].data == {"run_id": "r1", "when": "2026-01-01 00:00:00+00:00"}
