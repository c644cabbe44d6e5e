from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from bluegreen_lab.haproxy import free_port
from bluegreen_lab.instances import APP_PATH, InstanceFleet

from lab_support import assert_all_gone

pytestmark = pytest.mark.lab


def get(port: int, path: str = "/", timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_version_and_health_and_broken_after():
    with InstanceFleet() as fleet:
        ok = fleet.start("i-ok", "v2")
        late = fleet.start("i-late", "v2", broken="after:0.5")
        now = fleet.start("i-now", "v1", broken="now")
        status, body = get(ok)
        assert status == 200
        doc = json.loads(body)
        assert doc["version"] == "v2" and doc["instance_id"] == "i-ok"
        assert get(ok, "/health")[0] == 200
        assert get(now, "/health")[0] == 500
        assert get(now, "/")[0] == 200  # broken health, app still answers
        assert get(late, "/health")[0] == 200
        time.sleep(0.6)
        assert get(late, "/health")[0] == 500
        pids = fleet.pids()
    assert_all_gone(pids)


def test_sigterm_finishes_in_flight_request():
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(APP_PATH), "--port", str(port), "--version", "v1",
                             "--latency-ms", "600"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if get(port, "/health", 0.5)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", get(port, "/", 3)))
        t.start()
        time.sleep(0.2)  # request in flight (600 ms latency)
        proc.send_signal(signal.SIGTERM)
        t.join(5)
        assert result["r"][0] == 200
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_boot_delay_refuses_then_serves():
    with InstanceFleet() as fleet:
        port = fleet.start("i-slow", "v1", boot_delay=0.5)
        with pytest.raises(OSError):
            get(port, "/health", 0.3)
        fleet.wait_listening("i-slow", 3)
        assert get(port, "/health")[0] == 200


def test_app_exits_when_parent_dies():
    # The fleet passes --parent-pid: kill an intermediate parent and the app must go by itself.
    port = free_port()
    code = (f"import subprocess,sys,os,time;"
            f"p=subprocess.Popen([sys.executable,{str(APP_PATH)!r},'--port','{port}','--version','v1',"
            f"'--parent-pid',str(os.getpid())]);print(p.pid,flush=True);time.sleep(30)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(5)
        assert_all_gone([child], timeout_s=5)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()
