"""The heartbeat thread against real leases (a file, and S3 in moto): it keeps the lease alive
with no help from the run, and stops the run when another "process" breaks or takes the lease."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from moto import mock_aws

from bluegreen.aws.lease import FileLease, S3Lease
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.heartbeat import Heartbeat
from bluegreen.stop import LeaseLost, StopToken

BUCKET = "bluegreen-state"
KEY = "web.tfstate.bluegreen-lock"
TTL = 3  # lease bodies have one-second resolution: a few seconds of TTL, beats every 50 ms


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = AwsClients(ClientSettings(region="us-east-1")).client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(params=["file", "s3"])
def make_lease(request, tmp_path):
    if request.param == "s3":
        s3 = request.getfixturevalue("s3")
        return lambda: S3Lease(s3, BUCKET, KEY, service="web")
    return lambda: FileLease(tmp_path / ".bluegreen" / "release.lock", service="web")


def _overwrite(lease, body: bytes) -> None:
    """Another process writing the lease behind the holder's back."""
    if isinstance(lease, S3Lease):
        lease._s3.put_object(Bucket=lease.bucket, Key=lease.key, Body=body)
    else:
        lease.path.write_bytes(body)


def test_heartbeat_keeps_renewing_and_stops_quietly(make_lease):
    lease, stop = make_lease(), StopToken()
    lease.acquire("7f3a", "alice@ci", ttl_seconds=TTL)
    with Heartbeat(lease, TTL, stop, run_id="7f3a", interval=0.05) as beat:
        deadline = time.monotonic() + 10
        while beat.renewals < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert beat.renewals >= 4
    assert not beat.alive and not stop.stopped
    assert make_lease().read() == lease.held  # the last renewal is what the store holds
    assert lease.release() is True


def test_broken_lease_stops_the_run(make_lease):
    lease, stop = make_lease(), StopToken()
    lease.acquire("7f3a", "alice@ci", ttl_seconds=TTL)
    with Heartbeat(lease, TTL, stop, run_id="7f3a", interval=0.05) as beat:
        make_lease().break_("7f3a")  # `bluegreen unlock 7f3a` from another process
        assert stop.wait(10), "the heartbeat never noticed"
        assert isinstance(stop.reason, LeaseLost)
        assert str(stop.reason).startswith("release lock of run 7f3a was removed")
        deadline = time.monotonic() + 5
        while beat.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not beat.alive  # a lost lease ends the heartbeat
    assert lease.held is None and lease.release() is False


def test_taken_over_lease_stops_the_run_naming_the_new_holder(make_lease):
    lease, stop = make_lease(), StopToken()
    held = lease.acquire("7f3a", "alice@ci", ttl_seconds=TTL)
    bob = replace(held, owner="bob@laptop", run_id="9b1c", pid=4242, host="ci-runner-7", nonce="b0b")
    with Heartbeat(lease, TTL, stop, run_id="7f3a", interval=0.05):
        _overwrite(lease, bob.to_json())
        assert stop.wait(10), "the heartbeat never noticed"
    assert str(stop.reason).startswith(
        "release lock of run 7f3a was taken over by bob@laptop run 9b1c (pid 4242 on ci-runner-7)")
    assert make_lease().read() == bob  # the new holder's lease is left alone


def test_held_lease_runs_the_heartbeat_and_stops_it(tmp_path):
    """commands.held_lease: acquire, heartbeat while the block runs, stop it and release after; a
    lease broken meanwhile surfaces as LeaseLost at the next check the block makes."""
    import threading

    from bluegreen.app import App
    from bluegreen.commands import held_lease
    from bluegreen.config import Settings
    from bluegreen.report import Reporter

    settings = Settings().replace("release", lock_ttl_seconds=3)  # beats every second
    # The real App, so its start_heartbeat seam starts the real Heartbeat thread.
    app = App(settings, Reporter(service="web", quiet=True))
    app.lease = FileLease(tmp_path / "release.lock", service="web")
    with held_lease(app, "7f3a") as check:
        assert app.lease.read().run_id == "7f3a"
        assert any(t.name == "bluegreen-lease-heartbeat" for t in threading.enumerate())
        FileLease(tmp_path / "release.lock").break_("7f3a")
        assert app.stop.wait(10), "the heartbeat never noticed"
        with pytest.raises(LeaseLost, match="release lock of run 7f3a was removed"):
            check()
    assert not any(t.name == "bluegreen-lease-heartbeat" for t in threading.enumerate())
    assert app.lease.read() is None and app.lease.held is None

    app.stop = StopToken()
    with held_lease(app, "9b1c") as check:
        check()  # nothing requested: no stop
    assert app.lease.read() is None  # released
