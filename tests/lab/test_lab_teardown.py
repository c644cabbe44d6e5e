"""No orphans: whatever way the lab's owner process ends (normal exit without stop, Ctrl-C,
SIGKILL), HAProxy and the instance processes go too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from lab_support import assert_all_gone

pytestmark = pytest.mark.lab

SCRIPT = textwrap.dedent("""
    import json, signal, sys, time
    from bluegreen_lab.dataplane import DataPlane
    # The owner of a terminal: Ctrl-C raises KeyboardInterrupt. Set, not inherited: a suite started
    # in the background by a non-interactive shell (`make test &`) has SIGINT ignored, and Python
    # keeps an inherited SIG_IGN.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    state = {"instances": {"i-1": ("v1", None), "i-2": ("v2", None)},
             "targets": {"i-1": "registered", "i-2": "registered"}}
    dp = DataPlane(lambda: state, interval_s=0.1).start()
    dp.wait_until(lambda: len(dp.fleet.pids()) == 2 and len(dp.servers()) == 2, 10)
    pids = json.dumps([*dp.haproxy.pids, *dp.fleet.pids()])
    if sys.argv[1] == "exit":
        print(pids, flush=True)
        sys.exit(0)                      # no stop(): atexit must clean up
    with dp:
        print(pids, flush=True)          # only now: a signal sent on this line lands in the block
        time.sleep(30)                   # Ctrl-C / SIGKILL arrives here
""")


@pytest.fixture
def short_tmp():
    """A short own TMPDIR: HAProxy's admin socket path must stay under 97 characters, which
    pytest's tmp_path under an xdist worker (.../popen-gw1/test_no_orphans_sigkill_0/...) is not."""
    path = Path(tempfile.mkdtemp(prefix="bg-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("mode", ["exit", "sigint", "sigkill"])
def test_no_orphans(haproxy_bin, mode, short_tmp):
    # Own TMPDIR: a SIGKILLed owner cannot remove its instance logs; keep them out of /tmp.
    tmp_path = short_tmp
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, "exit" if mode == "exit" else "wait"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        pids = json.loads(proc.stdout.readline())
        assert len(pids) == 4  # haproxy, its watchdog, two instances
        if mode == "sigint":
            proc.send_signal(signal.SIGINT)
        elif mode == "sigkill":
            proc.kill()
        proc.wait(15)
        # sigkill: nothing ran in the dead process; the instances watch their parent
        # (--parent-pid) and HAProxy's watchdog sidecar stops it.
        assert_all_gone(pids, timeout_s=5)
        assert not list(tmp_path.glob("bluegreen-haproxy-*"))
        if mode != "sigkill":
            assert not list(tmp_path.glob("bluegreen-*"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
