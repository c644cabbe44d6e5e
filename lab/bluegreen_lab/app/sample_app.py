#!/usr/bin/env python3
"""Sample application run once per emulated EC2 instance in the lab data plane.

Standalone script, standard library only::

    python sample_app.py --port P --version v2 [--instance-id i-123]
                         [--broken now|after:SECONDS] [--boot-delay S]
                         [--latency-ms MS] [--fault errors=F,latency_ms=MS]
                         [--parent-pid PID] [--max-lifetime S]

* ``GET /``        -> 200, JSON ``{"version": ..., "instance_id": ..., "pid": ...}``
                      (header ``X-App-Version`` carries the version too).
* ``GET /health``  -> 200 ``ok`` while healthy, 500 ``broken`` when broken
                      (``--broken now``: from the start; ``--broken after:N``: after N s of uptime).
* ``--boot-delay S`` sleeps before binding the port (connection refused while "booting").
* ``--latency-ms MS`` adds a small simulated latency to ``GET /``.
* ``--fault errors=F,latency_ms=MS``: the release that hurts users without failing its checks:
  ``/health`` stays 200 while a fraction F of ``GET /`` answers 500 (exactly every 1/F-th
  request, so a test knows the count) and/or every ``GET /`` takes MS longer.
* SIGTERM / SIGINT: stop accepting, finish in-flight requests (bounded), exit 0.
* ``--parent-pid``: exit by itself when that process disappears (no orphans if the
  supervisor is SIGKILLed).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
SHUTDOWN_GRACE_S = 5.0
PARENT_POLL_S = 0.5


def parse_fault(value: str | None) -> tuple[float, float]:
    """``"errors=0.05,latency_ms=300"`` -> (0.05, 0.3): the error fraction and added seconds."""
    errors, latency = 0.0, 0.0
    for part in (value or "").split(","):
        if not part.strip():
            continue
        key, _, number = part.partition("=")
        key = key.strip()
        if key == "errors":
            errors = float(number)
            if not 0 <= errors <= 1:
                raise ValueError("errors=F must be a fraction in [0, 1]")
        elif key == "latency_ms":
            latency = float(number) / 1000.0
            if latency < 0:
                raise ValueError("latency_ms must be >= 0")
        else:
            raise ValueError(f"--fault: unknown key {key!r} (errors=F, latency_ms=MS)")
    return errors, latency


def parse_broken(value: str | None) -> float | None:
    """Return the uptime (s) from which /health fails, or None if never broken."""
    if value is None or value in ("", "none", "never"):
        return None
    if value == "now":
        return 0.0
    if value.startswith("after:"):
        seconds = float(value.split(":", 1)[1])
        if seconds < 0:
            raise ValueError("after:SECONDS must be >= 0")
        return seconds
    raise ValueError(f"--broken must be 'now' or 'after:SECONDS', got {value!r}")


class AppServer(ThreadingHTTPServer):
    # Non-daemon request threads + block_on_close: server_close() joins in-flight requests.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog; socketserver's default of 5 overflows at 200 req/s

    def __init__(self, addr, handler, *, version: str, instance_id: str,
                 broken_after: float | None, latency_s: float, error_rate: float = 0.0,
                 fault_latency_s: float = 0.0):
        super().__init__(addr, handler)
        self.error_rate = error_rate
        self.fault_latency_s = fault_latency_s
        self._served = 0
        self._count_lock = threading.Lock()
        self.version = version
        self.instance_id = instance_id
        self.broken_after = broken_after
        self.latency_s = latency_s
        self.started = time.monotonic()
        self.stopping = threading.Event()

    def fails_next(self) -> bool:
        """Whether this ``GET /`` is one of the faulty fraction: request n fails when
        floor(n * rate) grows, so exactly rate x n of the first n requests fail."""
        if self.error_rate <= 0:
            return False
        with self._count_lock:
            self._served += 1
            n = self._served
        return int(n * self.error_rate) > int((n - 1) * self.error_rate)

    def is_broken(self) -> bool:
        if self.broken_after is None:
            return False
        return time.monotonic() - self.started >= self.broken_after


class Handler(BaseHTTPRequestHandler):
    server: AppServer
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at shutdown
    timeout = 5  # per-connection socket timeout: a slow client cannot block shutdown forever

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App-Version", self.server.version)
        self.send_header("X-Instance-Id", self.server.instance_id)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path == "/health":
            if self.server.is_broken():
                self._send(500, b"broken\n", "text/plain")
            else:
                self._send(200, b"ok\n", "text/plain")
            return
        if path == "/":
            delay = self.server.latency_s + self.server.fault_latency_s
            if delay > 0:
                time.sleep(delay)
            if self.server.fails_next():
                self._send(500, b"injected fault\n", "text/plain")
                return
            body = json.dumps({
                "version": self.server.version,
                "instance_id": self.server.instance_id,
                "pid": os.getpid(),
            }).encode() + b"\n"
            self._send(200, body, "application/json")
            return
        self._send(404, b"not found\n", "text/plain")

    do_HEAD = do_GET


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--instance-id", default="")
    p.add_argument("--broken", default=None)
    p.add_argument("--boot-delay", type=float, default=0.0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fault", default=None)
    p.add_argument("--parent-pid", type=int, default=0)
    p.add_argument("--max-lifetime", type=float, default=6 * 3600,
                   help="exit after this many seconds whatever happens (no immortal lab process)")
    args = p.parse_args(argv)
    broken_after = parse_broken(args.broken)
    error_rate, fault_latency_s = parse_fault(args.fault)
    instance_id = args.instance_id or f"port-{args.port}"

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    if args.parent_pid:
        def watch_parent() -> None:
            for _ in range(int(args.max_lifetime / PARENT_POLL_S) + 1):
                if stop.wait(PARENT_POLL_S):
                    return
                if os.getppid() != args.parent_pid:
                    stop.set()
                    return
        threading.Thread(target=watch_parent, daemon=True).start()

    if args.boot_delay > 0 and stop.wait(args.boot_delay):
        return 0

    httpd = AppServer((HOST, args.port), Handler, version=args.version,
                      instance_id=instance_id, broken_after=broken_after,
                      latency_s=args.latency_ms / 1000.0, error_rate=error_rate,
                      fault_latency_s=fault_latency_s)
    serve = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                             name="serve", daemon=True)
    serve.start()
    print(f"listening 127.0.0.1:{args.port} version={args.version} id={instance_id}",
          file=sys.stderr, flush=True)
    stop.wait(max(0.0, args.max_lifetime - args.boot_delay))
    httpd.shutdown()           # stop accepting (serve_forever returns)
    serve.join(SHUTDOWN_GRACE_S)
    # Join in-flight request threads, bounded: handlers have a 5 s socket timeout.
    closer = threading.Thread(target=httpd.server_close, daemon=True)
    closer.start()
    closer.join(SHUTDOWN_GRACE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
