"""The release lease's heartbeat: a daemon thread that renews the lease every ``ttl / 3`` whatever
the run is doing, so a 20-minute ``terraform apply`` (no wait ticks, no step boundary) never lets the
lease expire under a live run, and a lost lease stops the run at its next safe point.

Renewal outcomes:

- renewed: next beat in ``interval`` seconds;
- lost (``LockedError`` from ``renew``: the lease was taken over or broken): the run must stop at
  once, because another process may already act on the same groups; ``stop.request(LeaseLost)``
  with a message naming who holds the lock now, and the thread ends;
- any other failure (throttling, a network blip, a full disk): retried every ``retry_seconds``
  until ``margin_seconds`` before the lease would expire, then treated as lost: better to stop
  while the lease is still ours than to run on after another process may have taken it.

The clock and the waiting are injectable: unit tests call :meth:`Heartbeat.beat` with a fake clock.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Protocol

from .errors import LockedError
from .stop import LeaseLost, StopToken

LOST_HINT = (
    "the run stopped where it was, nothing undone; when the other holder is done, "
    "`bluegreen status`, then `bluegreen resume` or `bluegreen abort`"
)


class RenewableLease(Protocol):
    def renew(self, ttl_seconds: float | None = None) -> object: ...


class Heartbeat:
    def __init__(
        self,
        lease: RenewableLease,
        ttl_seconds: float,
        stop: StopToken,
        *,
        run_id: str = "",
        interval: float | None = None,
        retry_seconds: float | None = None,
        margin_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.ttl = float(ttl_seconds)
        self.stop_token = stop
        self.run_id = run_id
        self.interval = interval if interval is not None else self.ttl / 3
        self.retry_seconds = retry_seconds if retry_seconds is not None else max(0.05, min(5.0, self.interval / 4))
        # Give up this long before expiry: enough for the stop to be noticed while still ours.
        self.margin_seconds = margin_seconds if margin_seconds is not None else min(30.0, self.ttl / 10)
        self._clock = clock
        self._last_ok = clock()  # the caller has just acquired (or renewed) the lease
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0
        self.failures = 0
        self.lost: LeaseLost | None = None

    # -- one beat (pure apart from the lease call) -------------------------------------------

    def beat(self) -> float | None:
        """Renew once. Seconds until the next beat, or ``None`` when the lease is lost (the stop
        has been requested) and the heartbeat is over."""
        attempted = self._clock()
        try:
            self.lease.renew(self.ttl)
        except LockedError as error:  # taken over or broken: never retry, someone else holds it
            self._lose(str(error))
            return None
        except Exception as error:  # noqa: BLE001 - transient until the deadline says otherwise
            self.failures += 1
            deadline = self._last_ok + self.ttl - self.margin_seconds
            if attempted >= deadline:
                self._lose(
                    f"could not renew the release lock{self._of_run} for "
                    f"{attempted - self._last_ok:.0f}s of its {self.ttl:.0f}s (last error: {error}); "
                    "stopping before it expires and another process may take it"
                )
                return None
            return max(0.0, min(self.retry_seconds, deadline - attempted))
        # Counted from before the call: the lease's new expiry was computed no earlier than that.
        self._last_ok = attempted
        self.renewals += 1
        return self.interval

    @property
    def _of_run(self) -> str:
        return f" of run {self.run_id}" if self.run_id else ""

    def _lose(self, message: str) -> None:
        if self._halt.is_set():
            return  # the run already ended and is releasing the lease: nothing left to stop
        self.lost = LeaseLost(message, hint=LOST_HINT)
        self.stop_token.request(self.lost)

    # -- the thread ---------------------------------------------------------------------------

    def start(self) -> "Heartbeat":
        self._thread = threading.Thread(target=self._run, name="bluegreen-lease-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        wait: float | None = self.interval
        while wait is not None and not self._halt.wait(wait):
            wait = self.beat()

    def stop(self, timeout: float = 30.0) -> None:
        """End the heartbeat; waits for a renewal in progress (bounded) so the caller's release of
        the lease does not race it."""
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
