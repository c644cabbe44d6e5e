"""No orphans: whatever way the lab's owner process ends (normal exit without stop, Ctrl-C,
SIGKILL), HAProxy and the instance processes go too."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import assert_all_gone

pytestmark = pytest.mark.lab

SCRIPT = textwrap.dedent("""
    import json, sys, time
    from bluegreen.lab.dataplane import DataPlane
    state = {"instances": {"i-1": ("v1", None), "i-2": ("v2", None)},
             "targets": {"i-1": "registered", "i-2": "registered"}}
    dp = DataPlane(lambda: state, interval_s=0.1).start()
    dp.wait_until(lambda: len(dp.fleet.pids()) == 2 and len(dp.servers()) == 2, 10)
    print(json.dumps([dp.haproxy.pid, *dp.fleet.pids()]), flush=True)
    mode = sys.argv[1]
    if mode == "exit":
        sys.exit(0)                      # no stop(): atexit must clean up
    with dp:
        time.sleep(30)                   # Ctrl-C / SIGKILL arrives here
""")


@pytest.mark.parametrize("mode", ["exit", "sigint", "sigkill"])
def test_no_orphans(haproxy_bin, mode):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, "exit" if mode == "exit" else "wait"],
                            stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(proc.stdout.readline())
        assert len(pids) == 3
        if mode == "sigint":
            proc.send_signal(signal.SIGINT)
        elif mode == "sigkill":
            proc.kill()
        proc.wait(15)
        if mode == "sigkill":
            # HAProxy cannot watch its parent; the instances can (--parent-pid) and do.
            assert_all_gone(pids[1:], timeout_s=5)
            import os
            os.kill(pids[0], signal.SIGKILL)  # our own test's leftover, by pid
        else:
            assert_all_gone(pids, timeout_s=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
