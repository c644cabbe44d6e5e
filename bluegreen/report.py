"""Progress for people on stderr, events for machines on stdout.

Human lines are levelled and prefixed with the service (and color when there is one), carry the
elapsed time, and waits print when their state changes plus a heartbeat, so a CI log shows that
the tool is alive without a wall of identical lines. With ``--json`` every event is also one JSON
object per line on stdout.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from rich.console import Console

from .observe import Listeners

_STYLES = {"info": "", "ok": "green", "warn": "yellow", "error": "bold red", "step": "bold"}


@dataclass
class Reporter:
    service: str
    json_stream: TextIO | None = None  # stdout when --json
    console: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))
    clock: Callable[[], float] = time.monotonic
    quiet: bool = False

    def __post_init__(self) -> None:
        self._start = self.clock()
        self.events: list[dict[str, Any]] = []  # kept for the final summary and for tests
        self._subscribers: Listeners[dict[str, Any]] = Listeners()

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``listener`` with every event from now on (the record ``--json`` prints: ``event``,
        ``service``, ``elapsed`` and its fields; a release's steps are ``{"event": "step", "step":
        "attach-new", ...}``), after it was recorded. Returns the function that unsubscribes.
        The seam the lab and benchmarks use to mark phases; see ``bluegreen.observe``."""
        return self._subscribers.add(listener)

    def elapsed(self) -> float:
        return self.clock() - self._start

    def _line(self, level: str, message: str, color: str | None) -> None:
        if self.quiet:
            return
        prefix = f"{self.service}" + (f" {color}" if color else "")
        style = _STYLES.get(level, "")
        text = f"[{self.elapsed():7.1f}s] {prefix}: {message}"
        self.console.print(text, style=style or None, markup=False, soft_wrap=True)

    def event(self, kind: str, **fields: Any) -> None:
        record = {"event": kind, "service": self.service, "elapsed": round(self.elapsed(), 3)}
        record.update({k: v for k, v in fields.items() if v is not None})
        self.events.append(record)
        if self.json_stream is not None:
            self.json_stream.write(json.dumps(record, default=str) + "\n")
            self.json_stream.flush()
        self._subscribers.emit(record)

    def info(self, message: str, *, color: str | None = None, **fields: Any) -> None:
        self._line("info", message, color)
        self.event("info", message=message, color=color, **fields)

    def ok(self, message: str, *, color: str | None = None, **fields: Any) -> None:
        self._line("ok", message, color)
        self.event("ok", message=message, color=color, **fields)

    def warn(self, message: str, *, color: str | None = None, **fields: Any) -> None:
        self._line("warn", message, color)
        self.event("warning", message=message, color=color, **fields)

    def error(self, message: str, *, color: str | None = None, **fields: Any) -> None:
        self._line("error", message, color)
        self.event("error", message=message, color=color, **fields)

    def step(self, name: str, reason: str, *, color: str | None = None) -> None:
        self._line("step", f"{name}: {reason}", color)
        self.event("step", step=name, reason=reason, color=color)


class WaitPrinter:
    """Prints a wait's state when it changes, and a heartbeat every ``heartbeat`` seconds."""

    def __init__(self, reporter: Reporter, what: str, *, color: str | None, heartbeat: float = 30.0):
        self.reporter = reporter
        self.what = what
        self.color = color
        self.heartbeat = heartbeat
        self._last: str | None = None
        self._last_print = reporter.elapsed()
        self._started = reporter.elapsed()

    def update(self, state: str) -> None:
        now = self.reporter.elapsed()
        if state != self._last or now - self._last_print >= self.heartbeat:
            waited = now - self._started
            self.reporter.info(f"{self.what}: {state} (waited {waited:.0f}s)", color=self.color)
            self._last = state
            self._last_print = now
