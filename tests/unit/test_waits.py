"""Waiter.until / hold on virtual time: no real sleeping."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bluegreen.errors import ExitCode, WaitTimeout
from bluegreen.health import Verdict
from bluegreen.report import Reporter
from bluegreen.waits import SystemClock, Waiter, WaitFailed


class Probe:
    """Returns scripted verdicts (the last one repeats) and records when it was called."""

    def __init__(self, clock, *verdicts: Verdict) -> None:
        self.clock = clock
        self.verdicts = list(verdicts)
        self.calls: list[float] = []

    def __call__(self) -> Verdict:
        self.calls.append(self.clock.now())
        if len(self.verdicts) > 1:
            return self.verdicts.pop(0)
        return self.verdicts[0]


WAIT = Verdict(False, "1/2 healthy")
OK = Verdict(True, "2/2 healthy")
FAILED = Verdict(False, "1 InService instance(s) run another image", failed=True)


@pytest.fixture
def reporter(clock):
    return Reporter("web", json_stream=io.StringIO(), console=Console(file=io.StringIO()), clock=clock.now)


@pytest.fixture
def ticks():
    return []


@pytest.fixture
def waiter(clock, reporter, ticks):
    return Waiter(clock=clock, reporter=reporter, poll_seconds=10, on_tick=lambda: ticks.append(1), jitter=0)


def test_until_returns_at_once_when_ok(waiter, clock):
    probe = Probe(clock, OK)
    assert waiter.until("targets healthy", probe, timeout=60) is OK
    assert clock.sleeps == []
    assert len(probe.calls) == 1


def test_until_polls_until_ok(waiter, clock, ticks):
    start = clock.now()
    probe = Probe(clock, WAIT, WAIT, OK)
    verdict = waiter.until("targets healthy", probe, timeout=60)
    assert verdict.ok
    assert probe.calls == [start, start + 10, start + 20]
    assert clock.sleeps == [10, 10]
    assert len(ticks) == 3  # on_tick before every probe


def test_until_times_out_on_virtual_time(waiter, clock):
    start = clock.now()
    probe = Probe(clock, WAIT)
    with pytest.raises(WaitTimeout) as info:
        waiter.until("targets healthy", probe, timeout=35, color="green")
    assert str(info.value) == "targets healthy: gave up after 35s: 1/2 healthy"
    # Not 10 "rolled back": outside a release nothing was; the executor wraps it inside one.
    assert info.value.exit_code is ExitCode.STATE_MISMATCH
    assert probe.calls == [start, start + 10, start + 20, start + 30, start + 40]
    assert clock.now() - start == 40


def test_until_with_zero_timeout_probes_once(waiter, clock):
    probe = Probe(clock, WAIT)
    with pytest.raises(WaitTimeout):
        waiter.until("x", probe, timeout=0)
    assert len(probe.calls) == 1 and clock.sleeps == []


def test_until_stops_on_a_failed_verdict(waiter, clock):
    probe = Probe(clock, WAIT, FAILED, OK)
    with pytest.raises(WaitFailed) as info:
        waiter.until("instances ready", probe, timeout=600)
    assert info.value.verdict is FAILED
    assert str(info.value) == f"instances ready: {FAILED.reason}"
    assert len(probe.calls) == 2  # did not wait out the timeout


def test_hold_returns_after_the_window(waiter, clock, ticks):
    start = clock.now()
    probe = Probe(clock, OK)
    assert waiter.hold("verify", probe, seconds=25) is None
    assert clock.now() == start + 25
    assert clock.sleeps == [10, 10, 5]  # the last sleep is cut to the window's end
    assert probe.calls == [start, start + 10, start + 20, start + 25]
    assert len(ticks) == 4


def test_hold_fails_when_the_probe_turns_not_ok_mid_window(waiter, clock):
    start = clock.now()
    bad = Verdict(False, "1/2 healthy (1 unhealthy)")
    probe = Probe(clock, OK, OK, bad, OK)
    with pytest.raises(WaitFailed) as info:
        waiter.hold("verify", probe, seconds=60)
    assert info.value.verdict is bad
    assert clock.now() == start + 20


def test_hold_fails_at_once_when_not_ok_from_the_start(waiter, clock):
    with pytest.raises(WaitFailed):
        waiter.hold("verify", Probe(clock, WAIT), seconds=60)
    assert clock.sleeps == []


def test_hold_of_zero_seconds_probes_once(waiter, clock):
    probe = Probe(clock, OK)
    waiter.hold("verify", probe, seconds=0)
    assert len(probe.calls) == 1 and clock.sleeps == []


def test_waits_report_progress(waiter, clock, reporter):
    waiter.until("targets healthy", Probe(clock, WAIT, WAIT, OK), timeout=60, color="green")
    infos = [e for e in reporter.events if e["event"] == "info"]
    # Printed on change only: WAIT, (same WAIT suppressed), OK.
    assert [e["message"] for e in infos] == [
        "targets healthy: 1/2 healthy (waited 0s)",
        "targets healthy: 2/2 healthy (waited 20s)",
    ]
    assert all(e["color"] == "green" for e in infos)


def test_jitter_stays_within_bounds(clock, reporter):
    waiter = Waiter(clock=clock, reporter=reporter, poll_seconds=10, jitter=0.2)
    with pytest.raises(WaitTimeout):
        waiter.until("x", Probe(clock, WAIT), timeout=200)
    assert clock.sleeps and all(8 <= s <= 12 for s in clock.sleeps)


def test_system_clock_is_monotonic():
    clock = SystemClock()
    a = clock.now()
    clock.sleep(0)
    assert clock.now() >= a


# --- stopping ----------------------------------------------------------------------------------------

from bluegreen.stop import Interrupted, LeaseLost, StopToken  # noqa: E402


class StoppingClock:
    """A virtual clock on which a stop is requested during the ``at``-th sleep, as a signal
    arriving mid-wait does."""

    def __init__(self, clock, token: StopToken, at: int, reason) -> None:
        self.clock, self.token, self.at, self.reason = clock, token, at, reason

    def now(self) -> float:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)
        if len(self.clock.sleeps) == self.at:
            self.token.request(self.reason)


@pytest.mark.parametrize("method", ["until", "hold"])
def test_a_stop_during_a_wait_raises_at_the_next_tick_without_probing_again(clock, reporter, method):
    token = StopToken()
    reason = LeaseLost("release lease lost")
    waiter = Waiter(clock=StoppingClock(clock, token, 2, reason), reporter=reporter, poll_seconds=10,
                    jitter=0, stop=token)
    ok_or_wait = OK if method == "hold" else WAIT
    probe = Probe(clock, ok_or_wait)
    with pytest.raises(LeaseLost) as info:
        if method == "until":
            waiter.until("targets healthy", probe, timeout=600)
        else:
            waiter.hold("verify", probe, seconds=600)
    assert info.value is reason
    assert len(probe.calls) == 2 and clock.sleeps == [10, 10]  # stopped at the tick after sleep 2


def test_a_stop_already_requested_raises_before_the_first_probe(clock, reporter):
    token = StopToken()
    token.request(Interrupted("interrupted by SIGTERM"))
    ticks = []
    waiter = Waiter(clock=clock, reporter=reporter, poll_seconds=10, on_tick=lambda: ticks.append(1), stop=token)
    probe = Probe(clock, OK)
    with pytest.raises(Interrupted):
        waiter.until("x", probe, timeout=60)
    assert probe.calls == [] and ticks == []


def test_system_clock_sleep_wakes_at_once_on_a_stop():
    token = StopToken()
    clock = SystemClock(token)
    token.request(Interrupted("interrupted by SIGINT"))
    before = clock.now()
    clock.sleep(30)  # would block 30 s without the token
    assert clock.now() - before < 5
