"""Stopping a run without undoing it: a signal (Ctrl-C, a CI cancel's SIGTERM) or a lost release
lease. Both mean "stop now, journal why, leave the rest to `resume` or `abort`": never compensate,
because after a signal the operator (or CI) asked us to stop, and after a lost lease another
process may already be acting on the same groups.

``RunStopped`` is a ``BaseException`` on purpose: every ``except Exception`` in the executor (the
one that starts compensation, retries, the state line) must let it through.

A ``StopToken`` is shared by everything a run does. The first SIGINT/SIGTERM while a run is in
progress only *requests* the stop; the run notices it at the next safe point (a step boundary, a
wait's tick, the Terraform runner's poll, which forwards SIGINT to Terraform and gives it a bounded
time to stop cleanly). A second signal raises at once, still without undoing anything. Outside a
run (``status``, ``plan``) a signal raises at once: there is nothing to keep consistent.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from .errors import ExitCode, OneLine


class RunStopped(OneLine, BaseException):
    """The run must stop now, without undoing anything. ``exit_code`` says why to the shell."""

    exit_code: ExitCode = ExitCode.INTERRUPTED


class Interrupted(RunStopped):
    """SIGINT or SIGTERM: exit 13, `resume` or `abort` continues."""

    exit_code = ExitCode.INTERRUPTED


class LeaseLost(RunStopped):
    """The release lease was taken over or broken: exit 9; another process may be acting."""

    exit_code = ExitCode.LOCKED


class StopToken:
    """One per process run. Thread-safe: the lease heartbeat thread requests stops too."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason: RunStopped | None = None
        self._lock = threading.Lock()
        self.deferring = False  # True while a run is in progress: the first signal only requests
        self.signals = 0

    @property
    def reason(self) -> RunStopped | None:
        return self._reason

    @property
    def stopped(self) -> bool:
        return self._event.is_set()

    def request(self, reason: RunStopped) -> None:
        """Ask the run to stop; the first reason wins (a lost lease after a Ctrl-C stays a Ctrl-C)."""
        with self._lock:
            if self._reason is None:
                self._reason = reason
            self._event.set()

    def check(self) -> None:
        """Raise the stop reason if a stop was requested: call at every safe point."""
        if self._reason is not None:
            raise self._reason

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; ``True`` as soon as a stop is requested."""
        return self._event.wait(max(0.0, seconds))

    @contextlib.contextmanager
    def deferred(self) -> Iterator["StopToken"]:
        """While in this block, the first signal requests a stop instead of raising."""
        previous = self.deferring
        self.deferring = True
        try:
            yield self
        finally:
            self.deferring = previous

    # -- signals -----------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: object = None) -> None:
        name = signal.Signals(signum).name
        self.signals += 1
        stop = Interrupted(
            f"interrupted by {name}",
            hint="`bluegreen resume` continues the run, `bluegreen abort` puts traffic back",
        )
        if self.deferring and self.signals == 1:
            self.request(stop)
            return
        # A second signal, or no run to keep consistent: stop at once (still never undo).
        self.request(stop)
        raise stop

    def install(self) -> None:
        """Route SIGINT and SIGTERM (a CI cancel) to this token. Main thread only."""
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)
