"""The fidelity layer's time. Every timed behaviour (initial health checks, draining, EnteringStandby)
is computed from a clock read at the moment AWS state is observed, so a test that advances a
``ManualClock`` sees exactly what AWS would show that many seconds later, without sleeping."""

from __future__ import annotations

import threading
import time
from typing import Callable

ClockFn = Callable[[], float]
"""Seconds, monotonic. ``time.monotonic`` in the demo; a ``ManualClock`` in tests."""

DEFAULT_CLOCK: ClockFn = time.monotonic


class ManualClock:
    """A clock that moves only when told to. Callable, so it can be passed wherever a ``ClockFn``
    is expected; also has ``now()``/``sleep()`` so it satisfies ``bluegreen.ports.Clock`` (a
    product loop driven by it advances the emulation's time when it "sleeps")."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        with self._lock:
            self._now += seconds
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now})"
