"""The release lease, S3 (moto, in-process) and file backends, with an injected clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from moto import mock_aws

from bluegreen.aws.lease import FileLease, Lease, S3Lease
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.errors import AwsError, ExitCode, LockedError

BUCKET = "bluegreen-state"
KEY = "locks/web.json"


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 21, 20, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = AwsClients(ClientSettings(region="us-east-1")).client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(params=["s3", "file"])
def make_lease(request, clock, tmp_path):
    """Several handles on the same lease, as separate processes would have."""
    if request.param == "s3":
        s3 = request.getfixturevalue("s3")
        return lambda: S3Lease(s3, BUCKET, KEY, service="web", now=clock)
    return lambda: FileLease(tmp_path / "locks" / "web.lock", service="web", now=clock)


def test_acquire_writes_the_body(make_lease, clock):
    lease = make_lease().acquire("7f3a", "alice@ci", ttl_seconds=1800)
    assert lease == Lease(
        owner="alice@ci", run_id="7f3a", service="web",
        started_at="2026-11-21T20:00:00Z", expires_at="2026-11-21T20:30:00Z",
    )
    assert make_lease().read() == lease


def test_second_acquirer_is_refused_with_the_holder(make_lease, clock):
    make_lease().acquire("7f3a", "alice@ci", ttl_seconds=1800)
    clock.advance(60)
    with pytest.raises(LockedError) as caught:
        make_lease().acquire("9b1c", "bob@laptop", ttl_seconds=1800)
    assert caught.value.exit_code is ExitCode.LOCKED
    assert str(caught.value) == (
        "release lock held by alice@ci run 7f3a since 2026-11-21T20:00Z (expires 2026-11-21T20:30Z); "
        "wait, or `bluegreen unlock 7f3a` if it is stale"
    )


def test_expired_lease_is_taken_over_and_the_old_holder_notices(make_lease, clock):
    alice = make_lease()
    alice.acquire("7f3a", "alice@ci", ttl_seconds=600)
    clock.advance(601)
    bob = make_lease()
    taken = bob.acquire("9b1c", "bob@laptop", ttl_seconds=600)
    assert taken.run_id == "9b1c" and make_lease().read() == taken

    with pytest.raises(LockedError, match="release lock of run 7f3a was taken over by bob@laptop run 9b1c"):
        alice.renew()
    assert alice.release() is False  # nothing to release any more
    assert make_lease().read() == taken  # and bob's lease is untouched


def test_same_run_reacquires_after_a_crash(make_lease, clock):
    make_lease().acquire("7f3a", "alice@ci", ttl_seconds=600)
    clock.advance(30)
    again = make_lease().acquire("7f3a", "alice@ci", ttl_seconds=600)
    assert again.started_at == "2026-11-21T20:00:30Z"


def test_renew_extends_and_keeps_started_at(make_lease, clock):
    lease = make_lease()
    lease.acquire("7f3a", "alice@ci", ttl_seconds=600)
    clock.advance(500)
    renewed = lease.renew()
    assert renewed.started_at == "2026-11-21T20:00:00Z"
    assert renewed.expires_at == "2026-11-21T20:18:20Z"  # now + the same 600 s
    clock.advance(500)  # past the first expiry, within the renewed one
    with pytest.raises(LockedError):
        make_lease().acquire("9b1c", "bob@laptop", ttl_seconds=600)
    assert lease.renew(ttl_seconds=60).expires_at == "2026-11-21T20:17:40Z"


def test_release_frees_the_lease(make_lease, clock):
    lease = make_lease()
    lease.acquire("7f3a", "alice@ci", ttl_seconds=600)
    assert lease.release() is True
    assert make_lease().read() is None
    assert lease.release() is False
    make_lease().acquire("9b1c", "bob@laptop", ttl_seconds=600)


def test_renew_without_acquire_is_refused(make_lease):
    with pytest.raises(LockedError, match="not held by this process"):
        make_lease().renew()


def test_break_only_with_the_matching_run_id(make_lease, clock):
    make_lease().acquire("7f3a", "alice@ci", ttl_seconds=600)
    with pytest.raises(LockedError, match="held by alice@ci run 7f3a, not run 9b1c; nothing broken"):
        make_lease().break_("9b1c")
    assert make_lease().read().run_id == "7f3a"

    broken = make_lease().break_("7f3a")
    assert broken is not None and broken.owner == "alice@ci"
    assert make_lease().read() is None
    assert make_lease().break_("7f3a") is None  # nothing left to break


def test_broken_lease_is_noticed_on_renew(make_lease, clock):
    alice = make_lease()
    alice.acquire("7f3a", "alice@ci", ttl_seconds=600)
    make_lease().break_("7f3a")
    with pytest.raises(LockedError, match="release lock of run 7f3a was removed"):
        alice.renew()


def test_unreadable_lease_counts_as_expired(make_lease, clock, request, tmp_path):
    first = make_lease()
    first.acquire("7f3a", "alice@ci", ttl_seconds=600)
    if isinstance(first, S3Lease):
        request.getfixturevalue("s3").put_object(Bucket=BUCKET, Key=KEY, Body=b"{not json")
    else:
        first.path.write_text("{not json")
    assert make_lease().acquire("9b1c", "bob@laptop", ttl_seconds=600).run_id == "9b1c"


def test_s3_takeover_is_conditional_on_the_etag(s3, clock):
    """Two processes judge the same expired lease; only the first swap wins."""
    S3Lease(s3, BUCKET, KEY, now=clock).acquire("7f3a", "alice@ci", ttl_seconds=60)
    clock.advance(61)
    stale_etag = s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    S3Lease(s3, BUCKET, KEY, now=clock).acquire("9b1c", "bob@laptop", ttl_seconds=600)
    # carol read the stale lease before bob swapped it: her conditional overwrite must fail
    with pytest.raises(Exception) as caught:
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"{}", IfMatch=stale_etag)
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(LockedError, match="held by bob@laptop run 9b1c"):
        S3Lease(s3, BUCKET, KEY, now=clock).acquire("c4r0", "carol@ci", ttl_seconds=600)


def test_s3_missing_bucket_is_aws_error(s3, clock):
    with pytest.raises(AwsError) as caught:
        S3Lease(s3, "no-such-bucket", KEY, now=clock).acquire("7f3a", "alice@ci", ttl_seconds=60)
    assert caught.value.code == "NoSuchBucket"
    assert str(caught.value).startswith("failed to create the release lock s3://no-such-bucket/locks/web.json")


def test_file_lease_body_is_json(tmp_path, clock):
    FileLease(tmp_path / "web.lock", service="web", now=clock).acquire("7f3a", "alice@ci", ttl_seconds=60)
    body = json.loads((tmp_path / "web.lock").read_text())
    assert set(body) == {"owner", "run_id", "service", "started_at", "expires_at"}


def test_default_owner_is_user_at_host(tmp_path, clock):
    lease = FileLease(tmp_path / "web.lock", now=clock).acquire("7f3a", ttl_seconds=60)
    assert "@" in lease.owner
