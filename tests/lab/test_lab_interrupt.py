"""Issue 7: a CI cancel (SIGTERM) while `terraform apply` runs, under steady load through HAProxy.

The release runs as the real CLI in its own process. The signal is sent while the idle color's
apply is in progress (the provider is slowed by throttling, as AWS throttles under load, so the
apply lasts seconds). Terraform gets SIGINT and stops cleanly; nothing is undone; the process
exits 13 naming `resume` and `abort`; no Terraform or provider process is left behind; the state
is not left locked. Then `bluegreen resume` from another process finishes the release. Zero
failed requests over the whole run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bluegreen import commands
from bluegreen.errors import ExitCode
from bluegreen_lab.demo import TrafficWatch
from bluegreen_lab.lab import Lab
from bluegreen.model import Color
from bluegreen.plan import Step
from bluegreen.report import Reporter
from bluegreen.runstate import RunState

pytestmark = pytest.mark.lab

RATE = 200


@pytest.fixture
def lab(alb_lab):
    alb_lab.health = alb_lab.fidelity.health = alb_lab.dataplane
    yield alb_lab
    alb_lab.fidelity.clear_faults()


def _app(lab: Lab):
    return lab.app(Reporter(service="web", quiet=True))


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc), so the test can prove none survives."""
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == parent and int(entry) not in found:
                found.add(int(entry))
                frontier.append(int(entry))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.add(pid)
        except OSError:
            pass
    return alive


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_sigterm_during_terraform_apply_then_resume_under_load(lab):
    live = commands.observe(_app(lab)).assessment.live
    ami = lab.bake("lab-sigterm")
    # The provider retries throttled calls with backoff: the idle color's apply lasts seconds.
    lab.fidelity.inject("CreateLaunchTemplateVersion", "Throttling", times=4)
    with TrafficWatch(lab, rate_per_s=RATE) as watch:
        watch.settle(1.5)
        release = subprocess.Popen(
            [sys.executable, "-m", "bluegreen", "release", "--config", str(lab.config_path), "--ami", ami],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            def applying() -> bool:
                run = _app(lab).journal.last_run()
                return bool(run and run.data.applying and Step.APPLY_IDLE not in run.completed
                            and _children(release.pid))

            _wait_for(applying, 120, "the idle color's terraform apply to start")
            time.sleep(0.5)  # well inside the apply: the first throttled retry is still backing off
            spawned = _children(release.pid)
            release.send_signal(signal.SIGTERM)
            out, err = release.communicate(timeout=120)
        finally:
            if release.poll() is None:
                os.killpg(release.pid, signal.SIGKILL)
                release.wait()
        assert release.returncode == ExitCode.INTERRUPTED, err
        last_line = err.strip().splitlines()[-1]
        assert "interrupted by SIGTERM" in last_line and "bluegreen resume" in last_line, err
        assert "Traceback" not in err
        assert not _alive(spawned), f"left running: {_alive(spawned)}"

        run = _app(lab).journal.last_run()
        assert run.state is RunState.INTERRUPTED and run.at == Step.APPLY_IDLE.value, run
        assert not run.compensated  # nothing was undone
        assert commands.observe(_app(lab)).assessment.live is live  # the old color still serves alone

        lab.fidelity.clear_faults()
        commands.resume(_app(lab))  # another process; Terraform's state lock was released
        watch.settle(2)
    failed = [r for r in watch.records if not r.ok]
    assert len(watch.records) > RATE * 5 and not failed, f"{len(failed)} failed: {failed[:5]}"
    run = _app(lab).journal.last_run()
    assert run.state is RunState.COMPLETED
    situation = commands.observe(_app(lab))
    assert situation.assessment.clean and situation.assessment.live is live.other()
    assert situation.tfvars.colors[live.other()].ami == ami
    assert {c for c in Color if situation.observed.group(c).suspended_processes} == set()
