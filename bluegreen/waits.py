"""One polling loop for every wait in a release: bounded by a timeout, printed on change plus a
heartbeat, stoppable by a verdict that says waiting longer cannot help, and by a stop request
(a signal, a lost lease): every tick is a safe point, and the system clock's sleep wakes at once."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

from .errors import WaitFailed, WaitTimeout  # WaitFailed re-exported: release.py imports it here
from .health import Verdict
from .report import Reporter, WaitPrinter
from .stop import StopToken


class SystemClock:
    """Real monotonic time. With a ``stop`` token, ``sleep`` returns as soon as a stop is
    requested, so a Ctrl-C or a lost lease never waits out a 10 s poll; the caller then checks
    the token (``Waiter`` does on every tick)."""

    def __init__(self, stop: StopToken | None = None) -> None:
        self.stop = stop

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self.stop is not None:
            self.stop.wait(seconds)
        else:
            time.sleep(seconds)


@dataclass
class Waiter:
    clock: object  # ports.Clock
    reporter: Reporter
    poll_seconds: float
    on_tick: Callable[[], None] | None = None  # e.g. renew the release lease
    jitter: float = 0.2  # AWS asks clients to poll with jitter; the lab sets 0 for determinism
    # Checked on every tick, before the probe: a requested stop raises its RunStopped there.
    stop: StopToken = field(default_factory=StopToken)

    def until(
        self,
        what: str,
        probe: Callable[[], Verdict],
        *,
        timeout: float,
        color: str | None = None,
    ) -> Verdict:
        printer = WaitPrinter(self.reporter, what, color=color)
        deadline = self.clock.now() + timeout
        while True:
            self.stop.check()
            if self.on_tick is not None:
                self.on_tick()
            verdict = probe()
            printer.update(verdict.reason)
            if verdict.ok:
                return verdict
            if verdict.failed:
                raise WaitFailed(what, verdict)
            if self.clock.now() >= deadline:
                raise WaitTimeout(f"{what}: gave up after {timeout:.0f}s: {verdict.reason}")
            self.clock.sleep(self._interval())

    def hold(
        self,
        what: str,
        probe: Callable[[], Verdict],
        *,
        seconds: float,
        color: str | None = None,
    ) -> None:
        """The opposite of ``until``: ``probe`` must stay ok for ``seconds`` (a verify window)."""
        printer = WaitPrinter(self.reporter, what, color=color)
        end = self.clock.now() + seconds
        while True:
            self.stop.check()
            if self.on_tick is not None:
                self.on_tick()
            verdict = probe()
            printer.update(verdict.reason)
            if not verdict.ok:
                raise WaitFailed(what, verdict)
            if self.clock.now() >= end:
                return
            self.clock.sleep(min(self._interval(), max(end - self.clock.now(), 0.0)))

    def _interval(self) -> float:
        if not self.jitter:
            return self.poll_seconds
        return self.poll_seconds * (1 + random.uniform(-self.jitter, self.jitter))
