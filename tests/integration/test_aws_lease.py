"""The release lease, S3 (moto, in-process) and file backends, with an injected clock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from moto import mock_aws

from bluegreen.aws.lease import FileLease, Identity, Lease, S3Lease
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
    holder = make_lease()
    lease = holder.acquire("7f3a", "alice@ci", ttl_seconds=1800)
    me = holder.identity
    assert lease == Lease(
        owner="alice@ci", run_id="7f3a", service="web",
        started_at="2026-11-21T20:00:00Z", expires_at="2026-11-21T20:30:00Z",
        host=socket.gethostname(), pid=os.getpid(), pid_ns=me.pid_ns, nonce=me.nonce,
    )
    assert len(me.nonce) == 12 and me.nonce != make_lease().identity.nonce  # one per lease object
    assert make_lease().read() == lease


def test_second_acquirer_is_refused_with_the_holder(make_lease, clock):
    make_lease().acquire("7f3a", "alice@ci", ttl_seconds=1800)
    clock.advance(60)
    with pytest.raises(LockedError) as caught:
        make_lease().acquire("9b1c", "bob@laptop", ttl_seconds=1800)
    assert caught.value.exit_code is ExitCode.LOCKED
    assert str(caught.value) == (
        f"release lock held by alice@ci run 7f3a (pid {os.getpid()} on {socket.gethostname()}) "
        "since 2026-11-21T20:00Z (expires 2026-11-21T20:30Z); wait, or `bluegreen unlock 7f3a` if it is stale"
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


def test_same_run_is_refused_while_its_holder_lives(make_lease, clock):
    """`bluegreen resume` (or abort) while the release still runs must not drive the run twice."""
    alice = make_lease()
    alice.acquire("7f3a", "alice@ci", ttl_seconds=600)
    clock.advance(30)
    with pytest.raises(LockedError) as caught:
        make_lease().acquire("7f3a", "alice@ci", ttl_seconds=600)
    assert caught.value.exit_code is ExitCode.LOCKED
    assert str(caught.value) == (
        f"run 7f3a is still driven by alice@ci (pid {os.getpid()} on {socket.gethostname()}) since "
        "2026-11-21T20:00Z (lock expires 2026-11-21T20:10Z); wait for it to finish or stop that "
        "process, or `bluegreen unlock 7f3a` if it is gone"
    )
    assert make_lease().read() == alice.held  # untouched
    assert alice.acquire("7f3a", "alice@ci", ttl_seconds=600).nonce == alice.identity.nonce  # itself: fine


def test_same_run_is_taken_over_at_once_after_a_crash(make_lease, clock):
    """A killed holder (same pid, its lease object gone) is dead: no waiting for the TTL."""
    crashed = make_lease()
    crashed.acquire("7f3a", "alice@ci", ttl_seconds=600)
    crashed.abandon()  # what SIGKILL leaves: the body, and nobody behind it
    clock.advance(30)
    again = make_lease().acquire("7f3a", "alice@ci", ttl_seconds=600)
    assert again.started_at == "2026-11-21T20:00:30Z"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    return child.pid


def _plant(make_lease, request, lease: Lease) -> None:
    """Write ``lease`` as another process would have."""
    handle = make_lease()
    if isinstance(handle, S3Lease):
        request.getfixturevalue("s3").put_object(Bucket=BUCKET, Key=KEY, Body=lease.to_json())
    else:
        handle.path.parent.mkdir(parents=True, exist_ok=True)
        handle.path.write_bytes(lease.to_json())


def _foreign(**changes) -> Lease:
    me = Identity.current()
    body = dict(owner="alice@ci", run_id="7f3a", service="web", started_at="2026-11-21T20:00:00Z",
                expires_at="2026-11-21T20:10:00Z", host=me.host, pid=os.getppid(), pid_ns=me.pid_ns,
                nonce="0123456789ab")
    return Lease(**{**body, **changes})


def test_holder_on_this_host_with_a_dead_pid_is_taken_over_at_once(make_lease, clock, request):
    _plant(make_lease, request, _foreign(pid=_dead_pid()))
    for run_id in ("7f3a", "9b1c"):  # its own run (resume) or any other: nobody drives it
        taken = make_lease().acquire(run_id, "bob@laptop", ttl_seconds=600)
        assert taken.pid == os.getpid() and make_lease().read() == taken
        make_lease().break_(run_id)
        _plant(make_lease, request, _foreign(pid=_dead_pid()))


def test_holder_with_a_live_pid_is_refused_naming_it(make_lease, clock, request):
    _plant(make_lease, request, _foreign())  # our parent process: alive
    with pytest.raises(LockedError, match=rf"run 7f3a is still driven by alice@ci \(pid {os.getppid()} on "):
        make_lease().acquire("7f3a", "bob@laptop", ttl_seconds=600)


@pytest.mark.parametrize("elsewhere", [{"host": "ci-runner-7"}, {"pid_ns": "pid:[1]"}, {"pid": 0, "host": ""}],
                         ids=["other-host", "other-pid-namespace", "no-identity"])
def test_holder_that_cannot_be_checked_is_honoured_until_it_expires(make_lease, clock, request, elsewhere):
    _plant(make_lease, request, _foreign(**{"pid": _dead_pid(), **elsewhere}))
    with pytest.raises(LockedError, match="run 7f3a is still driven by alice@ci"):
        make_lease().acquire("7f3a", "bob@laptop", ttl_seconds=600)
    clock.advance(600)
    assert make_lease().acquire("7f3a", "bob@laptop", ttl_seconds=600).owner == "bob@laptop"


def test_pid_reused_by_this_process_is_a_dead_holder(make_lease, clock, request):
    _plant(make_lease, request, _foreign(pid=os.getpid(), nonce="notmine00000"))
    assert make_lease().acquire("7f3a", "bob@laptop", ttl_seconds=600).owner == "bob@laptop"


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
    assert set(body) == {"owner", "run_id", "service", "started_at", "expires_at", "host", "pid", "pid_ns", "nonce"}
    assert body["pid"] == os.getpid()


def test_lease_written_before_identities_still_reads(tmp_path, clock):
    old = b'{"owner": "a@b", "run_id": "7f3a", "service": "web", "started_at": "2026-11-21T20:00:00Z", "expires_at": "2026-11-21T20:10:00Z"}'
    (tmp_path / "web.lock").write_bytes(old)
    lease = FileLease(tmp_path / "web.lock", now=clock).read()
    assert (lease.run_id, lease.pid, lease.host, lease.where) == ("7f3a", 0, "", "")


def test_default_owner_is_user_at_host(tmp_path, clock):
    lease = FileLease(tmp_path / "web.lock", now=clock).acquire("7f3a", ttl_seconds=60)
    assert "@" in lease.owner
