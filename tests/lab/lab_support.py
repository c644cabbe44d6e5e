"""Helpers for the lab tests: process liveness without psutil."""

from __future__ import annotations

import os
import time


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie (without psutil: os.kill(pid, 0) and /proc/<pid>/stat)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def assert_all_gone(pids, timeout_s: float = 5.0) -> None:
    pids = [p for p in pids if p]
    assert pids, "no pid recorded: the test did not see any process"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    alive = [p for p in pids if pid_alive(p)]
    assert not alive, f"processes left running: {alive}"


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` from /proc (alive or zombie)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def data_plane_story(lab, limit: int = 15) -> str:
    """What HAProxy and the data plane saw, for a failure message: HAProxy's last ``limit`` requests
    that were not a 2xx (when each ended, which server, the status, the server's response time) and
    the data plane's last errors. A failed request alone does not say which server stalled or why."""
    from bluegreen_lab.cloudwatch import parse_line  # the lab's own reader of HAProxy's request log

    dataplane = lab.dataplane
    if dataplane is None:
        return "no data plane"
    requests = (parse_line(line) for line in dataplane.haproxy.log_text().splitlines())
    not_2xx = [r for r in requests if r is not None and not 200 <= r.status < 300]
    errors = list(dataplane.errors)[-limit:]
    return (f"haproxy non-2xx (last {limit} of {len(not_2xx)}): {not_2xx[-limit:]}; "
            f"data plane errors: {errors}; servers now: {dataplane.servers()}")
