"""History from the S3 journal store (moto in-process): several runs written through ``Journal``
as the executor writes them are listed back newest first by ``history.summarize``, with who began
them and millisecond phase timings that survive the store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from moto import mock_aws

from bluegreen.aws.journal_store import S3JournalStore
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.history import summarize
from bluegreen.journal import Journal
from bluegreen.model import Color
from bluegreen.plan import Mode, Step
from bluegreen.runstate import Event, RunHeader

BUCKET = "bluegreen-state"


class Clock:
    """Advances 250 ms per record: timings in whole seconds would read 0 or 1."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 12, 5, 14, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.moment += timedelta(milliseconds=250)
        return self.moment


@pytest.fixture
def clients(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        made = AwsClients(ClientSettings(region="us-east-1"))
        made.client("s3").create_bucket(Bucket=BUCKET)
        yield made


def header(live: Color, ami: str) -> RunHeader:
    restore = json.dumps({"live_color": live.value, "colors": {
        live.value: {"ami": "ami-0old", "size": 2, "release": "v1"}, live.other().value: {"ami": "ami-0old", "size": 0, "release": ""}}})
    return RunHeader(mode=Mode.RELEASE, live=live, target=live.other(), size=2, ami=ami,
                     steps=(Step.SUSPEND, Step.APPLY_IDLE, Step.ATTACH, Step.DETACH), restore_text=restore,
                     release_label="release-x")


def test_several_runs_listed_from_s3_with_caller_and_timings(clients):
    identity = clients.preflight()  # moto's STS: what a run records as its caller
    assert clients.identity == identity and identity["arn"].startswith("arn:aws:")
    store = S3JournalStore(clients.client("s3"), BUCKET, "envs/prod/web", now=Clock(), owner="ci@runner")
    journal = Journal(store)
    for number, (live, outcome) in enumerate([(Color.BLUE, Event.COMPLETED), (Color.GREEN, Event.ROLLED_BACK),
                                              (Color.GREEN, Event.COMPLETED)]):
        journal.begin(f"run{number}", "release", header(live, f"ami-0new{number}"), caller=identity)
        journal.started(Step.SUSPEND)
        journal.completed(Step.SUSPEND)
        journal.started(Step.APPLY_IDLE)
        journal.hook_ran(f"run{number}", {"point": "pre-traffic", "hook": "smoke", "ok": outcome is Event.COMPLETED,
                                          "reason": "exited 0", "seconds": 0.01})
        journal.completed(Step.APPLY_IDLE)
        if outcome is Event.COMPLETED:
            journal.started(Step.ATTACH)
            journal.completed(Step.ATTACH)
            journal.started(Step.DETACH)
            journal.completed(Step.DETACH)
        else:
            journal.event(Event.ROLLING_BACK, error="pre-traffic hook smoke exited 1")
        journal.event(outcome)
    reader = Journal(S3JournalStore(clients.client("s3"), BUCKET, "envs/prod/web"))
    runs = [summarize(reader.records(e.run_id), owner=e.owner) for e in reader.runs()]
    assert [(r.run_id, r.state, r.from_color, r.to_ami) for r in runs] == [
        ("run2", "completed", "green", "ami-0new2"), ("run1", "rolled-back", "green", "ami-0new1"),
        ("run0", "completed", "blue", "ami-0new0")]
    assert all(r.caller == identity["arn"] and r.owner == "ci@runner" and r.from_ami == "ami-0old" for r in runs)
    assert runs[2].step_seconds()[Step.APPLY_IDLE.value] == pytest.approx(0.5)  # started, hook, completed
    assert runs[2].seconds == pytest.approx(2.5)
    assert [h.ok for h in runs[1].hooks] == [False] and runs[1].error == "pre-traffic hook smoke exited 1"
