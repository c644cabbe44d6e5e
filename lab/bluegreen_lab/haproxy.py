"""A real HAProxy as the lab's load balancer, driven through its runtime API.

One frontend on ``127.0.0.1:<free port>`` and one backend ``be_app`` with no static servers: every
server is added, drained and deleted at runtime over the admin unix socket (in a private temp dir).

HAProxy 2.6 runtime-API behaviour this module is built around (each seen on 2.6.12 here):

* ``add server be/NAME ADDR:PORT check ...`` creates the server in forced maintenance with its
  health check *configured but disabled*: ``enable health be/NAME`` is required or it is never checked.
* Leaving maintenance resets the check counter to ``rise`` and marks the server UP at once
  ("UP/READY (leaving forced maintenance)"): it would take traffic before a single check ran.
  ``set server be/NAME health down`` issued *while still in maint* is overwritten by that reset.
  So a new server goes maint -> ``state drain`` (UP, but no new traffic) -> ``health down`` ->
  ``state ready``: it then needs ``rise`` consecutive passing checks before it gets any request,
  which is what an ELB target in ``initial`` does.
* ``del server`` only works in maintenance ("Only servers in maintenance mode can be deleted.") and
  refuses while connections are attached, so removal is maint -> wait for 0 sessions -> del, with
  ``option http-server-close`` so no idle server-side keep-alive connection pins a server.
* ``chkfail`` only counts failures while the server is UP; a server that never came up keeps 0.
* Commands answer with free text; success is an empty answer ("set server ...") or a fixed sentence
  ("New server registered.", "Server deleted.").
"""

from __future__ import annotations

import atexit
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

BACKEND = "be_app"
HOST = "127.0.0.1"
# Prefix of HAProxy's per-request log lines: "<mark> ACCEPT_EPOCH.MS TOTAL_MS SERVER STATUS SERVER_MS"
# (SERVER "<NOSRV>" when HAProxy answered itself; SERVER_MS -1 when no response came).
REQUEST_LOG_MARK = "BGREQ"

# srv_admin_state bits (include/haproxy/server-t.h)
_ADMF_FMAINT, _ADMF_IMAINT, _ADMF_CMAINT = 0x01, 0x02, 0x04
_ADMF_FDRAIN, _ADMF_IDRAIN = 0x08, 0x10
_ADMF_RMAINT, _ADMF_HMAINT = 0x20, 0x40
_ADMF_MAINT = _ADMF_FMAINT | _ADMF_IMAINT | _ADMF_CMAINT | _ADMF_RMAINT | _ADMF_HMAINT
_ADMF_DRAIN = _ADMF_FDRAIN | _ADMF_IDRAIN
# srv_op_state (enum srv_state)
_OP_STATES = {0: "down", 1: "starting", 2: "up", 3: "stopping"}
_CHECK_OK = {"L4OK", "L6OK", "L7OK", "L7OKC"}

_MAX_CLI_REPLY = 8 * 1024 * 1024

# HAProxy cannot notice that its parent died. This sidecar does: if the Python process that
# started HAProxy goes away without stopping it (SIGKILL, crash), it stops HAProxy's group.
# Bounded: it gives up watching after a day.
_WATCHDOG = """
import os, shutil, signal, sys, time
parent, group, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for _ in range(24 * 3600 * 4):
    if os.getppid() != parent:
        try:
            os.killpg(group, signal.SIGTERM)
            time.sleep(2)
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(workdir, ignore_errors=True)
        break
    time.sleep(0.25)
"""


class HAProxyError(RuntimeError):
    """HAProxy could not be started, or a runtime API command failed."""


class HAProxyMissing(HAProxyError):
    """No haproxy binary (Debian: ``apt-get install haproxy``)."""


def find_haproxy() -> str | None:
    for candidate in (shutil.which("haproxy"), "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(host: str = HOST) -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ServerState:
    """One dynamic server as HAProxy sees it (``show servers state`` + ``show stat``)."""

    name: str
    addr: str
    port: int
    admin: str          # "ready" | "drain" | "maint"
    operational: str    # "up" | "down" | "starting" | "stopping"
    check_status: str   # "INI" (never checked), "L7OK", "L7STS", "L4CON", ...
    check_code: str     # HTTP status of the last L7 check, "" otherwise
    check_health: int   # HAProxy's counter 0..rise+fall-1 (UP when >= rise)
    sessions: int       # current sessions (scur)
    total_sessions: int  # stot
    health: str         # "initial" | "healthy" | "unhealthy" (ELB vocabulary, see HAProxy.servers)
    weight: int = 1     # srv_uweight: the weighted mode's share of this server (0: no new requests)


def _render_config(*, port: int, sock: Path, backend: str, health_path: str,
                   connect_timeout_ms: int, server_timeout_s: float, retries: int) -> str:
    # Why each line:
    # - http-server-close: no idle server-side connections, so `del server` is never refused for them.
    # - retries + redispatch 1 + retry-on conn-failure empty-response: a connection refused/reset by a
    #   server that just went away is retried on another server (the zero-failure target).
    # - short connect timeout: a stopped backend fails fast instead of stalling clients.
    # - server timeout 10 s (an ALB waits up to its 60 s idle timeout): a busy test machine can hold
    #   an instance process for a second or two, and a slow answer is not a failed one; the load
    #   summary's latency max shows it. A stopped process is refused at once and retried elsewhere.
    # - one log line per request on stdout (REQUEST_LOG_MARK, accept time, total time, server,
    #   status, server response time): the lab's CloudWatch model reads them (lab/cloudwatch.py).
    return f"""\
global
    stats socket {sock} mode 600 level admin
    maxconn 4096
    log stdout format raw local0 info

defaults
    mode http
    timeout connect {connect_timeout_ms}ms
    timeout client 10s
    timeout server {int(server_timeout_s * 1000)}ms
    timeout queue 2s
    timeout http-request 5s
    timeout check 1s
    retries {retries}
    option redispatch 1
    retry-on conn-failure empty-response
    option http-server-close
    option dontlognull
    log global
    log-format "{REQUEST_LOG_MARK} %Ts.%ms %Ta %s %ST %Tr"

frontend fe_app
    bind {HOST}:{port}
    default_backend {backend}

backend {backend}
    balance roundrobin
    option httpchk GET {health_path}
    http-check expect status 200
"""


_live: "weakref.WeakSet[HAProxy]" = weakref.WeakSet()


@atexit.register
def _stop_all_live() -> None:
    for hp in list(_live):
        hp.stop()


class HAProxy:
    """HAProxy in the foreground (``-db``) as a child process, plus a runtime API client.

    Use as a context manager (or call ``start()``/``stop()``); an atexit hook stops leftovers.
    All methods are thread-safe: each command is its own short unix-socket connection.
    """

    def __init__(self, *, port: int = 0, backend: str = BACKEND, health_path: str = "/health",
                 check_inter_ms: int = 200, rise: int = 2, fall: int = 2,
                 connect_timeout_ms: int = 500, server_timeout_s: float = 10.0, retries: int = 3,
                 binary: str | None = None, start_timeout_s: float = 5.0,
                 cli_timeout_s: float = 2.0) -> None:
        self.binary = binary or find_haproxy()
        self.port = port or 0
        self.backend = backend
        self.health_path = health_path
        self.check_inter_ms = check_inter_ms
        self.rise = rise
        self.fall = fall
        self.connect_timeout_ms = connect_timeout_ms
        self.server_timeout_s = server_timeout_s
        self.retries = retries
        self.start_timeout_s = start_timeout_s
        self.cli_timeout_s = cli_timeout_s
        self._proc: subprocess.Popen | None = None
        self._watchdog: subprocess.Popen | None = None
        self._dir: Path | None = None
        self._log = None
        self._lock = threading.Lock()
        # Per-server memory the runtime API does not keep: when it was added, whether it was ever UP.
        self._added_at: dict[str, float] = {}
        self._ever_up: set[str] = set()

    # -- process -------------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        if self._dir is None:
            raise HAProxyError("haproxy is not started")
        return self._dir / "admin.sock"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def pids(self) -> list[int]:
        """HAProxy's pid and its watchdog's (for teardown checks)."""
        return [p.pid for p in (self._proc, self._watchdog) if p is not None]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        """HAProxy's stdout and stderr: messages and the per-request lines (``REQUEST_LOG_MARK``)."""
        return None if self._dir is None else self._dir / "haproxy.log"

    def log_text(self) -> str:
        if self._dir is None or not (self._dir / "haproxy.log").exists():
            return ""
        return (self._dir / "haproxy.log").read_text(errors="replace")

    def start(self) -> "HAProxy":
        if self._proc is not None:
            return self
        if not self.binary or not os.access(self.binary, os.X_OK):
            raise HAProxyMissing(f"haproxy not found ({self.binary or 'not on PATH'}): "
                                 "apt-get install haproxy")
        auto_port = not self.port
        for attempt in range(3):
            try:
                return self._start_once()
            except HAProxyError as exc:
                # The free port we picked can be taken before HAProxy binds it: pick another.
                if not auto_port or "cannot bind" not in str(exc) or attempt == 2:
                    raise
                self.port = 0
        raise AssertionError("unreachable")

    def _start_once(self) -> "HAProxy":
        self._dir = Path(tempfile.mkdtemp(prefix="bluegreen-haproxy-"))
        if not self.port:
            self.port = free_port()
        cfg = self._dir / "haproxy.cfg"
        cfg.write_text(_render_config(
            port=self.port, sock=self.socket_path, backend=self.backend,
            health_path=self.health_path, connect_timeout_ms=self.connect_timeout_ms,
            server_timeout_s=self.server_timeout_s, retries=self.retries))
        check = subprocess.run([self.binary, "-c", "-f", str(cfg)],
                               capture_output=True, text=True, timeout=10)
        if check.returncode != 0:
            self.stop()
            raise HAProxyError(f"invalid haproxy config: {check.stderr.strip() or check.stdout}")
        self._log = open(self._dir / "haproxy.log", "wb")
        # -db: stay in the foreground, one process we can signal; own session so a Ctrl-C on the
        # terminal reaches us first and we stop it in order.
        self._proc = subprocess.Popen([self.binary, "-db", "-f", str(cfg)],
                                      stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        _live.add(self)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self._proc.pid),
             str(self._dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self._proc.poll() is not None:
                log = self.log_text()
                self.stop()
                raise HAProxyError(f"haproxy exited at start: {log.strip()[-2000:]}")
            try:
                if "Name:" in self.command("show info"):
                    break
            except (OSError, HAProxyError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise HAProxyError(f"haproxy not answering on {self.socket_path} "
                                   f"after {self.start_timeout_s}s")
            time.sleep(0.05)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Hard-stop HAProxy (SIGTERM, then SIGKILL after ``timeout_s``) and remove its temp dir."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait(timeout=timeout_s)
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                try:
                    proc.terminate()
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout_s)
                except ProcessLookupError:
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        _live.discard(self)

    def __enter__(self) -> "HAProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- runtime API ---------------------------------------------------------------------------

    def command(self, cmd: str) -> str:
        """Send one runtime API command and return HAProxy's raw answer."""
        if "\n" in cmd:
            raise ValueError("one command per call")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.cli_timeout_s)
            s.connect(str(self.socket_path))
            s.sendall(cmd.encode() + b"\n")
            chunks, size = [], 0
            while size < _MAX_CLI_REPLY:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
                size += len(data)
        return b"".join(chunks).decode(errors="replace")

    def _expect(self, cmd: str, ok: str = "") -> None:
        answer = self.command(cmd).strip()
        if answer != ok:
            raise HAProxyError(f"haproxy refused {cmd!r}: {answer or '(empty answer)'}")

    def add(self, name: str, port: int, host: str = HOST) -> None:
        """Add a server, health-checked, that receives traffic only once ``rise`` checks passed."""
        sname = f"{self.backend}/{name}"
        self._expect(f"add server {sname} {host}:{port} check inter {self.check_inter_ms}ms "
                     f"rise {self.rise} fall {self.fall}", "New server registered.")
        # Order matters (see module docstring): leaving maint marks the server UP at once, so leave
        # it into drain (no new traffic), force its health down, then make it ready.
        self._expect(f"enable health {sname}")
        self._expect(f"set server {sname} state drain")
        self._expect(f"set server {sname} health down")
        self._expect(f"set server {sname} state ready")
        with self._lock:  # only now: the transient UP/DRAIN above must not count as "was UP"
            self._added_at[name] = time.monotonic()
            self._ever_up.discard(name)

    def set_weight(self, name: str, weight: int) -> None:
        """Server weight 0-256 (runtime API): the lab's model of an ALB listener's target group
        weights. Weight 0 takes no new requests; health checks go on."""
        answer = self.command(f"set server {self.backend}/{name} weight {int(weight)}").strip()
        if answer:
            raise HAProxyError(f"set weight {name} {weight}: {answer}")

    def ready(self, name: str) -> None:
        self._expect(f"set server {self.backend}/{name} state ready")

    def drain(self, name: str) -> None:
        """No new requests for this server; in-flight ones finish."""
        self._expect(f"set server {self.backend}/{name} state drain")

    def maint(self, name: str) -> None:
        """Out of rotation (first step of removal); established sessions are not cut."""
        self._expect(f"set server {self.backend}/{name} state maint")

    def delete(self, name: str) -> bool:
        """``del server``; ``False`` when HAProxy refuses (not in maint, connections attached)."""
        answer = self.command(f"del server {self.backend}/{name}").strip()
        if answer == "Server deleted.":
            self._forget(name)
            return True
        if answer == "No such server.":
            self._forget(name)
            return True
        return False

    def shutdown_sessions(self, name: str) -> None:
        self.command(f"shutdown sessions server {self.backend}/{name}")

    def remove(self, name: str, timeout_s: float = 10.0, poll_s: float = 0.05) -> bool:
        """maint, wait until the server has no session (at most ``timeout_s``), delete it.

        Returns ``True`` if it drained cleanly, ``False`` if sessions had to be cut at the timeout.
        """
        if name not in self.servers():
            self._forget(name)
            return True
        self.maint(name)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.servers().get(name)
            if st is None:
                return True
            if st.sessions == 0 and self.delete(name):
                return True
            time.sleep(poll_s)
        self.shutdown_sessions(name)
        for _ in range(20):
            if self.delete(name):
                return False
            time.sleep(poll_s)
        raise HAProxyError(f"could not delete server {name} after {timeout_s}s")

    def _forget(self, name: str) -> None:
        with self._lock:
            self._added_at.pop(name, None)
            self._ever_up.discard(name)

    def servers(self) -> dict[str, ServerState]:
        """Every server of the backend, by name.

        ``health`` uses ELB's vocabulary: ``initial`` from the add until ``rise`` checks first pass
        (``healthy``) or, never having been UP, the last check failed and ``fall`` check intervals
        went by (``unhealthy``, as a new ELB target failing its checks); a server that was UP and
        went DOWN is ``unhealthy``.
        """
        state_lines = self.command(f"show servers state {self.backend}").splitlines()
        stat_text = self.command("show stat -1 4 -1")
        stats: dict[str, dict[str, str]] = {}
        header = stat_text.lstrip("# ")
        for row in csv.DictReader(io.StringIO(header)):
            if row.get("pxname") == self.backend and row.get("svname"):
                stats[row["svname"]] = row
        now = time.monotonic()
        result: dict[str, ServerState] = {}
        with self._lock:
            for line in state_lines:
                if not line or line.startswith("#") or line.strip() == "1":
                    continue
                f = line.split()
                if len(f) < 19 or f[1] != self.backend:
                    continue
                name, addr = f[3], f[4]
                op = _OP_STATES.get(int(f[5]), "down")
                adm_bits = int(f[6])
                admin = ("maint" if adm_bits & _ADMF_MAINT
                         else "drain" if adm_bits & _ADMF_DRAIN else "ready")
                st = stats.get(name, {})
                check_status = st.get("check_status", "").lstrip("* ").strip() or "INI"
                is_up = op in ("up", "stopping", "starting") and admin != "maint"
                if is_up and name in self._added_at:
                    self._ever_up.add(name)
                if name in self._ever_up:
                    health = "healthy" if is_up else "unhealthy"
                else:
                    age = now - self._added_at.get(name, now)
                    failed = check_status not in _CHECK_OK and check_status != "INI"
                    health = ("unhealthy" if failed and age >= self.fall * self.check_inter_ms / 1000
                              else "initial")
                result[name] = ServerState(
                    name=name, addr=addr, port=int(f[18]), admin=admin, operational=op,
                    check_status=check_status, check_code=st.get("check_code", ""),
                    check_health=int(f[12]), sessions=int(st.get("scur") or 0),
                    total_sessions=int(st.get("stot") or 0), health=health, weight=int(f[7]))
        return result

    def backend_stats(self) -> dict[str, int]:
        """Cumulative counters of the backend (they outlive deleted servers): connection errors,
        response errors, retries, redispatches, 5xx answers, sessions."""
        for row in csv.DictReader(io.StringIO(self.command("show stat -1 2 -1").lstrip("# "))):
            if row.get("pxname") == self.backend and row.get("svname") == "BACKEND":
                keys = {"econ": "connect_errors", "eresp": "response_errors", "wretr": "retries",
                        "wredis": "redispatches", "hrsp_5xx": "http_5xx", "stot": "sessions"}
                return {out: int(row.get(k) or 0) for k, out in keys.items()}
        raise HAProxyError(f"no stats for backend {self.backend}")

    def health(self, name: str) -> str | None:
        st = self.servers().get(name)
        return st.health if st else None

    def wait_for(self, name: str, health: str, timeout_s: float = 10.0,
                 poll_s: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.health(name) == health:
                return True
            time.sleep(poll_s)
        return False
