"""One polling loop for every wait in a release: bounded by a timeout, printed on change plus a
heartbeat, and stoppable by a verdict that says waiting longer cannot help."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable

from .errors import WaitFailed, WaitTimeout  # WaitFailed re-exported: release.py imports it here
from .health import Verdict
from .report import Reporter, WaitPrinter


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Waiter:
    clock: object  # ports.Clock
    reporter: Reporter
    poll_seconds: float
    on_tick: Callable[[], None] | None = None  # e.g. renew the release lease
    jitter: float = 0.2  # AWS asks clients to poll with jitter; the lab sets 0 for determinism

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
