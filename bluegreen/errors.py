"""Exit codes and the exception hierarchy.

Exactly one place (``cli.run_command``) maps a ``BluegreenError`` to its ``ExitCode``; everything
else raises. Each error's message is a single line that names the file, key or value at fault and
says what to do, because it is what a person reads at 3 a.m. or a CI log shows.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Process exit codes. Stable: CI pipelines branch on them. Documented in the README."""

    OK = 0
    INTERNAL = 1  # a bug in bluegreen: please report it with the --debug output
    USAGE = 2  # wrong command-line usage (typer/click uses 2 as well)
    CONFIG = 3  # bluegreen.toml, tfvars or flags are invalid
    INPUT = 4  # an AMI, Packer manifest or other input does not check out
    TERRAFORM = 5  # Terraform missing, too old, or a Terraform command failed
    AWS = 6  # AWS unreachable, no credentials, or an AWS call failed
    # What AWS serves disagrees with Terraform, or is not one clean live color, or a wait outside
    # a release gave up because AWS never reached the state Terraform describes (WaitError).
    STATE_MISMATCH = 7
    BLAST_RADIUS = 8  # the plan touches the live color or shared resources
    LOCKED = 9  # another release holds the release lock
    ROLLED_BACK = 10  # the release failed and traffic was put back where it was
    NEEDS_OPERATOR = 11  # the release failed and compensation failed too: read the message
    TOOLCHAIN = 12  # the offline toolchain failed an integrity check (provider hash)
    INTERRUPTED = 13  # stopped by a signal; `bluegreen resume` or `bluegreen abort` continues


class OneLine:
    """The one-line message a user reads: what happened, and in parentheses what to do. Shared by
    ``BluegreenError`` and ``stop.RunStopped`` (a BaseException, so it cannot inherit from it)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BluegreenError(OneLine, Exception):
    """Base of every error a user may see. ``str(error)`` is the one-line message."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(BluegreenError):
    exit_code = ExitCode.CONFIG


class InputError(BluegreenError):
    exit_code = ExitCode.INPUT


class TerraformError(BluegreenError):
    exit_code = ExitCode.TERRAFORM


class AwsError(BluegreenError):
    """An AWS call failed. ``code`` is the AWS ``Error.Code``: classify by it, never by text."""

    exit_code = ExitCode.AWS

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class StateMismatchError(BluegreenError):
    exit_code = ExitCode.STATE_MISMATCH


class BlastRadiusError(BluegreenError):
    exit_code = ExitCode.BLAST_RADIUS

    def __init__(self, message: str, *, addresses: tuple[str, ...] = (), hint: str | None = None):
        super().__init__(message, hint=hint)
        self.addresses = addresses


class LockedError(BluegreenError):
    exit_code = ExitCode.LOCKED


class RolledBackError(BluegreenError):
    """The release failed; compensation succeeded and traffic is where it was before."""

    exit_code = ExitCode.ROLLED_BACK


class NeedsOperatorError(BluegreenError):
    """The release failed and so did compensation. The message says what state AWS is in and
    which command finishes the job."""

    exit_code = ExitCode.NEEDS_OPERATOR


class ToolchainError(BluegreenError):
    exit_code = ExitCode.TOOLCHAIN


class ReleaseInterrupted(BluegreenError):
    exit_code = ExitCode.INTERRUPTED


class WaitError(StateMismatchError):
    """A wait gave up: AWS did not reach the state the command waits for (instances InService on
    the AMI Terraform describes, targets healthy, drained).

    Exit 7 when one escapes a command outside a release (``bootstrap``): what AWS runs disagrees
    with what Terraform describes, and nothing was rolled back. A dedicated code would tell CI
    nothing more than 7 does, and 10 would claim an undo that never happened. Inside a release the
    executor catches it like any failure, compensates, and raises ``RolledBackError`` (10) or
    ``NeedsOperatorError`` (11) instead, so a wait never decides a release's exit code itself."""


class WaitFailed(WaitError):
    """A verdict said the wait cannot succeed (e.g. an instance on the wrong image, a target that
    stays unhealthy): waiting longer would not help."""

    def __init__(self, what: str, verdict: Any, *, hint: str | None = None) -> None:
        super().__init__(f"{what}: {verdict.reason}", hint=hint)
        self.verdict = verdict  # health.Verdict (not imported: errors.py depends on nothing)


class WaitTimeout(WaitError):
    """A wait ran out of time."""
