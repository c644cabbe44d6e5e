"""One real local HTTP process per emulated EC2 instance (``lab/app/sample_app.py``).

Each process runs in its own process group on a free ``127.0.0.1`` port and watches its parent
(``--parent-pid``), so it exits on its own if this process is SIGKILLed. ``stop``/``stop_all``
send SIGTERM to the group (the app finishes in-flight requests), then SIGKILL after a timeout;
an atexit hook and the context manager stop whatever is left.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from .haproxy import HOST, free_port

APP_PATH = Path(__file__).with_name("app") / "sample_app.py"


@dataclass(frozen=True)
class Instance:
    instance_id: str
    version: str
    port: int
    pid: int
    broken: str | None
    boot_delay: float
    fault: str | None = None


_live: "weakref.WeakSet[InstanceFleet]" = weakref.WeakSet()


@atexit.register
def _stop_all_live() -> None:
    for fleet in list(_live):
        fleet.stop_all()


def _kill_group(proc: subprocess.Popen, timeout_s: float) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Reap stragglers of the group (the app has none today, but be strict about orphans).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class InstanceFleet:
    """Start/stop one sample-app process per instance id. Thread-safe."""

    def __init__(self, *, app_path: Path | str = APP_PATH, python: str = sys.executable,
                 latency_ms: float = 0.0, ready_timeout_s: float = 5.0,
                 stop_timeout_s: float = 5.0) -> None:
        self.app_path = str(app_path)
        self.python = python
        self.latency_ms = latency_ms
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._procs: dict[str, subprocess.Popen] = {}
        self._meta: dict[str, Instance] = {}
        self._ports_used: set[int] = set()
        self._lock = threading.RLock()
        self._dir: Path | None = None
        _live.add(self)

    @property
    def log_dir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="bluegreen-fleet-"))
        return self._dir

    def _pick_port(self) -> int:
        # Never hand out a port twice: an instance with a boot delay binds it only later.
        for _ in range(50):
            port = free_port()
            if port not in self._ports_used:
                self._ports_used.add(port)
                return port
        raise RuntimeError("no free port on 127.0.0.1")

    def start(self, instance_id: str, version: str, broken: str | None = None,
              boot_delay: float = 0.0, *, wait: bool | None = None, fault: str | None = None) -> int:
        """Start the instance's process (idempotent) and return its port.

        ``wait`` (default: when there is no boot delay) blocks until the port accepts connections.
        """
        with self._lock:
            if instance_id in self._procs and self._procs[instance_id].poll() is None:
                return self._meta[instance_id].port
            port = self._pick_port()
            argv = [self.python, self.app_path, "--port", str(port), "--version", version,
                    "--instance-id", instance_id, "--parent-pid", str(os.getpid())]
            if broken:
                argv += ["--broken", broken]
            if boot_delay:
                argv += ["--boot-delay", str(boot_delay)]
            if self.latency_ms:
                argv += ["--latency-ms", str(self.latency_ms)]
            if fault:
                argv += ["--fault", fault]
            log = open(self.log_dir / f"{instance_id}.log", "ab")
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        close_fds=True)
            finally:
                log.close()
            self._procs[instance_id] = proc
            self._meta[instance_id] = Instance(instance_id, version, port, proc.pid,
                                               broken, boot_delay, fault)
        if wait is None:
            wait = not boot_delay
        if wait:
            self.wait_listening(instance_id, self.ready_timeout_s + boot_delay)
        return port

    def wait_listening(self, instance_id: str, timeout_s: float | None = None) -> None:
        meta = self._meta[instance_id]
        proc = self._procs[instance_id]
        deadline = time.monotonic() + (timeout_s or self.ready_timeout_s)
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"instance {instance_id} exited with {proc.returncode}: "
                                   f"{self.log(instance_id)[-1000:]}")
            try:
                with socket.create_connection((HOST, meta.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"instance {instance_id} not listening on {meta.port}")
            time.sleep(0.02)

    def log(self, instance_id: str) -> str:
        path = self.log_dir / f"{instance_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, instance_id: str, timeout_s: float | None = None) -> None:
        """SIGTERM (graceful: in-flight requests finish), SIGKILL after ``timeout_s``."""
        with self._lock:
            proc = self._procs.pop(instance_id, None)
            meta = self._meta.pop(instance_id, None)
        if proc is not None:
            _kill_group(proc, self.stop_timeout_s if timeout_s is None else timeout_s)
        if meta is not None:
            with self._lock:
                self._ports_used.discard(meta.port)

    def stop_many(self, instance_ids, timeout_s: float | None = None) -> None:
        """Stop several instances for the price of one grace period: signal all, then wait."""
        ids = list(instance_ids)
        with self._lock:
            procs = [self._procs[i] for i in ids if i in self._procs]
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for i in ids:
            self.stop(i, timeout_s)

    def stop_all(self, timeout_s: float | None = None) -> None:
        with self._lock:
            ids = list(self._procs)
        self.stop_many(ids, timeout_s)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    close = stop_all

    def port_of(self, instance_id: str) -> int | None:
        meta = self._meta.get(instance_id)
        return meta.port if meta else None

    def pid_of(self, instance_id: str) -> int | None:
        meta = self._meta.get(instance_id)
        return meta.pid if meta else None

    def is_running(self, instance_id: str) -> bool:
        proc = self._procs.get(instance_id)
        return proc is not None and proc.poll() is None

    def instances(self) -> dict[str, Instance]:
        with self._lock:
            return dict(self._meta)

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs.values()]

    def __enter__(self) -> "InstanceFleet":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
