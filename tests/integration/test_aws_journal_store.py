"""Both journal stores: append, read back, torn last line, concurrent S3 writers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from moto import mock_aws

from bluegreen.aws.journal_store import FileJournalStore, JournalRecord, S3JournalStore
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.errors import AwsError, InputError

BUCKET = "bluegreen-state"
KEY = "journals/web/7f3a.jsonl"


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


@pytest.fixture(params=["file", "s3"])
def make_store(request, tmp_path):
    clock = Clock()
    if request.param == "s3":
        s3 = request.getfixturevalue("s3")
        return lambda: S3JournalStore(s3, BUCKET, KEY, now=clock)
    return lambda: FileJournalStore(tmp_path / "journals" / "7f3a.jsonl", now=clock)


def test_append_and_read_back(make_store):
    store = make_store()
    assert store.read() == []
    first = store.append("lower_min_size", "started", {"group": "web-green", "min_size": 0})
    store.append("lower_min_size", "done")
    assert first == JournalRecord(
        step="lower_min_size", status="started", data={"group": "web-green", "min_size": 0},
        time="2026-11-21T20:00:01Z",
    )
    assert make_store().read() == [
        first,
        JournalRecord(step="lower_min_size", status="done", data={}, time="2026-11-21T20:00:02Z"),
    ]


def test_a_second_writer_appends_after_the_first(make_store):
    one, two = make_store(), make_store()
    one.append("a", "done")
    two.append("b", "done")  # two never read before: it must not overwrite one's record
    one.append("c", "done")  # one's cached copy is stale now: it must re-read, not overwrite
    assert [r.step for r in make_store().read()] == ["a", "b", "c"]


def test_file_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "j.jsonl"
    store = FileJournalStore(path, now=Clock())
    store.append("a", "done")
    with open(path, "a") as handle:
        handle.write('{"step": "b", "sta')  # crash in the middle of an append
    assert [r.step for r in store.read()] == ["a"]


def test_file_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"step": "a", "status": "done", "data": {}, "time": ""}\nnot json\n')
    with pytest.raises(InputError, match=f"release journal {path} line 2 is not a journal record"):
        FileJournalStore(path).read()


def test_s3_appends_are_one_object(s3):
    store = S3JournalStore(s3, BUCKET, KEY, now=Clock())
    for n in range(3):
        store.append(f"step{n}", "done", {"n": n})
    body = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read().decode()
    assert body.count("\n") == 3 and body.endswith("\n")
    s3.bluegreen_calls.clear()
    store.append("step3", "done")
    assert s3.bluegreen_calls == {"PutObject": 1}  # the cached copy saves a GET per append


def test_s3_missing_bucket_is_aws_error(s3):
    with pytest.raises(AwsError) as caught:
        S3JournalStore(s3, "no-such-bucket", KEY).append("a", "done")
    assert caught.value.code == "NoSuchBucket"


def test_data_that_json_cannot_encode_is_stringified(make_store):
    store = make_store()
    store.append("a", "done", {"when": datetime(2026, 1, 1, tzinfo=timezone.utc)})
    assert store.read()[0].data == {"when": "2026-01-01 00:00:00+00:00"}
