"""The lease heartbeat's decisions, one beat at a time, on a fake clock (no thread, no sleeping)."""

from __future__ import annotations

import pytest

from bluegreen.errors import AwsError, ExitCode, LockedError
from bluegreen.heartbeat import Heartbeat
from bluegreen.stop import LeaseLost, StopToken


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class ScriptedLease:
    """``renew`` answers from a script: None (renewed) or an exception to raise."""

    def __init__(self, *answers: BaseException | None) -> None:
        self.answers = list(answers)
        self.calls: list[float | None] = []

    def renew(self, ttl_seconds: float | None = None) -> None:
        self.calls.append(ttl_seconds)
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer


def throttled() -> AwsError:
    return AwsError("failed to renew the release lock s3://b/k: Rate exceeded", code="Throttling")


def test_renews_every_third_of_the_ttl():
    lease, stop, clock = ScriptedLease(), StopToken(), Clock()
    beat = Heartbeat(lease, 900, stop, clock=clock)
    assert beat.interval == 300
    assert beat.beat() == 300 and beat.beat() == 300
    assert lease.calls == [900, 900] and beat.renewals == 2
    assert not stop.stopped


def test_lost_lease_requests_a_stop_naming_the_new_holder():
    taken = LockedError("release lock of run 7f3a was taken over by bob@laptop run 9b1c (pid 42 on ci-7) "
                        "(it had expired, or was broken); stop: another release may be running")
    lease, stop = ScriptedLease(taken), StopToken()
    beat = Heartbeat(lease, 900, stop, run_id="7f3a", clock=Clock())
    assert beat.beat() is None  # the heartbeat is over
    assert isinstance(stop.reason, LeaseLost) and stop.reason.exit_code is ExitCode.LOCKED
    assert "taken over by bob@laptop run 9b1c (pid 42 on ci-7)" in str(stop.reason)
    assert "nothing undone" in str(stop.reason)
    with pytest.raises(LeaseLost):
        stop.check()


def test_transient_errors_are_retried_until_shortly_before_expiry():
    clock = Clock()
    lease = ScriptedLease(*[throttled()] * 100)
    stop = StopToken()
    beat = Heartbeat(lease, 90, stop, run_id="7f3a", retry_seconds=5, margin_seconds=9, clock=clock)
    clock.t += 30  # the first beat, one interval after the acquire
    waits = []
    while (wait := beat.beat()) is not None:
        waits.append(wait)
        clock.t += wait
    # retried every 5 s from t+30 until t+81 (90 s of lease minus the 9 s margin), then lost
    assert waits[:3] == [5, 5, 5] and clock.t == 1000 + 81
    assert beat.failures == len(waits) + 1
    assert str(stop.reason).startswith(
        "could not renew the release lock of run 7f3a for 81s of its 90s (last error: failed to renew "
        "the release lock s3://b/k: Rate exceeded); stopping before it expires")


def test_a_success_after_transient_errors_moves_the_deadline():
    clock = Clock()
    lease = ScriptedLease(throttled(), None, *[throttled()] * 100)
    stop = StopToken()
    beat = Heartbeat(lease, 90, stop, retry_seconds=5, margin_seconds=9, clock=clock)
    clock.t += 30
    assert beat.beat() == 5
    clock.t += 5
    assert beat.beat() == 30  # renewed at t+35: the lease now runs to t+125
    clock.t += 30
    while (wait := beat.beat()) is not None:
        clock.t += wait
    assert clock.t == 1000 + 35 + 81


def test_no_stop_is_requested_after_the_heartbeat_was_stopped():
    """The run ended and released the lease: a renewal racing that sees it gone stops nothing."""
    lease, stop = ScriptedLease(LockedError("release lock of run 7f3a was removed")), StopToken()
    beat = Heartbeat(lease, 900, stop, clock=Clock())
    beat.stop()
    assert beat.beat() is None
    assert not stop.stopped


def test_the_first_stop_reason_wins():
    stop = StopToken()
    from bluegreen.stop import Interrupted

    stop.request(Interrupted("interrupted by SIGINT"))
    Heartbeat(ScriptedLease(LockedError("removed")), 900, stop, clock=Clock()).beat()
    assert isinstance(stop.reason, Interrupted)
