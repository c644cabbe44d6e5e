"""Seams for whoever embeds bluegreen (the lab, the benchmarks, a CI wrapper): subscriptions to
what the product does, so that nothing has to patch product objects to watch it.

- ``TerraformRunner.events`` (``App.terraform_events``): a ``TerraformEvent`` when a Terraform
  command starts and one when it ends (argv, duration, exit code, the error it raised).
- ``AwsClients.events`` (``App.aws_events``): an ``AwsCallEvent`` per AWS API call, after
  botocore's retries (service, operation, duration, error code, the parsed response).
- ``Reporter.subscribe``: every progress event, as the record ``--json`` prints.

A listener runs synchronously in the thread that made the call (the lease heartbeat makes S3
calls from its own thread), so it must be quick and thread-safe. What it raises propagates into
the call it observes: a listener is the embedder's code, and a bug in it should be loud, not
silently dropped. Events are read-only facts: mutating one (or a parsed response) is a bug.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Mapping, TypeVar

E = TypeVar("E")


class Listeners(Generic[E]):
    """A list of callbacks for one kind of event. ``add`` returns the function that removes it
    again, so a measurement can be scoped to a block (``remove = events.add(f); ...; remove()``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[Callable[[E], None], ...] = ()

    def add(self, listener: Callable[[E], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._lock:
                kept = list(self._listeners)
                if listener in kept:
                    kept.remove(listener)
                self._listeners = tuple(kept)

        return remove

    def emit(self, event: E) -> None:
        for listener in self._listeners:  # a snapshot: adding or removing during emit is safe
            listener(event)

    def __len__(self) -> int:
        return len(self._listeners)


@dataclass(frozen=True)
class TerraformEvent:
    """One Terraform command: ``phase`` "start" (before Terraform is started) or "end" (after it
    ended, however it ended: the end event is emitted before the runner returns or raises)."""

    phase: str  # "start" | "end"
    argv: tuple[str, ...]  # without the binary: ("apply", "-input=false", ..., "plan.tfplan")
    stack_dir: Path
    seconds: float | None = None  # end: wall time of the command, on the runner's clock
    returncode: int | None = None  # end: Terraform's exit code; None when it never got one
    error: str | None = None  # end: "TerraformError: ..." / "Interrupted: ..." when run() raised

    @property
    def subcommand(self) -> str:
        return self.argv[0] if self.argv else "?"


@dataclass(frozen=True)
class AwsCallEvent:
    """One AWS API call as the caller saw it: ``seconds`` spans botocore's retries."""

    service: str  # the client's service: "autoscaling", "elbv2", "ec2", "s3", "sts", ...
    operation: str  # the API operation: "EnterStandby"
    seconds: float
    error: str | None = None  # AWS's Error.Code ("Throttling"), or the exception's class name
    status: int | None = None  # HTTP status; None when no response came back (unreachable, timeout)
    response: Mapping[str, Any] | None = None  # botocore's parsed response (read only)

    @property
    def ok(self) -> bool:
        return self.error is None
