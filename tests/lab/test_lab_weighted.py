"""The weighted traffic mode end to end in the lab: the example stack's weighted variant applied by
real Terraform (a target group per color, a listener forwarding to both with weights), HAProxy's
server weights following the listener's, one real process per instance, steady load.

One module lab (its own ALB deploy, ~85 s) on the "solo" xdist worker (tests/conftest.py), the
other worker holding the session lab: a canary release under load, and an approval pause released
by `bluegreen promote` from a second process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bluegreen_lab.demo import TrafficWatch, switch_metrics

from bluegreen import commands
from bluegreen.model import Color
from bluegreen.report import Reporter
from bluegreen.runstate import RunState

pytestmark = pytest.mark.lab

RATE = 100
REPO = Path(__file__).resolve().parents[2]
# Its own resource names ("wtd-green", ...): moto's backends are shared by every lab in the
# process, and the session lab's are "web".
SERVICE = "wtd"


@pytest.fixture(scope="module")
def weighted_lab(tmp_path_factory):
    from bluegreen_lab.haproxy import find_haproxy
    from bluegreen_lab.lab import Lab, LabOptions

    if find_haproxy() is None:
        message = "haproxy not found: apt-get install haproxy (Debian package, 2.6)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    options = LabOptions.named(SERVICE, dataplane=True, deregistration_delay=2, verify_seconds=1,
                               unhealthy_grace_seconds=2, poll_seconds=0.2, traffic_mode="weighted",
                               traffic_toml='steps = "10:3s,100"\nbake_seconds = 1\napproval_timeout_seconds = 60\n')
    lab = Lab(Path(tmp_path_factory.mktemp("weighted-lab")), options).start()
    try:
        lab.versions = {"v1": lab.bake("v1")}  # type: ignore[attr-defined]
        lab.deploy_initial(lab.versions["v1"], size=2, reporter=Reporter(service=SERVICE, quiet=True))
        lab.health = lab.fidelity.health = lab.dataplane
        yield lab
    finally:
        lab.stop()


def _situation(lab):
    return commands.observe(lab.app(Reporter(service=SERVICE, quiet=True)))


def test_canary_release_under_load(weighted_lab):
    lab = weighted_lab
    before = _situation(lab)
    live = before.assessment.live
    assert live is Color.BLUE and before.shares == {Color.BLUE: 100, Color.GREEN: 0}
    new = lab.bake("w2")
    with TrafficWatch(lab, rate_per_s=RATE) as watch:
        watch.settle(1.0)
        with watch.measure("canary v1->w2") as window:
            commands.release(lab.app(Reporter(service=SERVICE, quiet=True)), ami=new, manifest=None, size=None,
                             keep_old=False, dry_run=False)
        watch.settle(1.5)
    m = switch_metrics(watch, window, "v1", "w2")
    print(f"\nweighted canary 10:3s,100 + bake 1s: {m['requests']} requests, {m['failed_requests']} failed, "
          f"mixed-version window {m['mixed_version_window_s']}s, total {m['total_s']}s, versions {m['versions']}",
          file=sys.stderr)
    failed = [r for r in watch.records if not r.ok]
    assert not failed, f"{len(failed)} failed: {failed[:5]}"
    # The canary step served both versions (the new one at about 10 %), then only the new one.
    assert m["versions"].get("v1") and m["versions"].get("w2"), m
    assert m["mixed_version_window_s"] >= 2.0, m  # the 3 s canary pause mixed versions, by design
    last = [r for r in watch.records if r.start > window.end]
    assert last and all(r.version == "w2" for r in last)
    # During the canary step HAProxy follows the listener's weights: about 10 % to the new color.
    first_new = min(r.start for r in watch.records if r.version == "w2")
    canary = [r for r in watch.records if first_new <= r.start < first_new + 2.0]
    share = sum(r.version == "w2" for r in canary) / len(canary)
    print(f"canary share of w2 in the first 2 s: {share:.1%} of {len(canary)}", file=sys.stderr)
    assert 0.02 <= share <= 0.3, share
    after = _situation(lab)
    assert after.assessment.live is Color.GREEN and after.assessment.clean
    assert after.shares == {Color.BLUE: 0, Color.GREEN: 100}
    # The release's last step proved `terraform plan` clean (ignore_changes on the listener's action).
    assert not lab.app(Reporter(service=SERVICE, quiet=True)).stack.pending_changes().has_changes


def test_approval_pause_released_by_promote_from_another_process(weighted_lab):
    lab = weighted_lab
    app = lab.app(Reporter(service=SERVICE, quiet=True))
    live = _situation(lab).assessment.live
    new = lab.bake("w3")
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            commands.release(lab.app(Reporter(service=SERVICE, quiet=True)), ami=new, manifest=None, size=None,
                             keep_old=False, dry_run=False)
            outcome["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    # The approval pause from the command line's steps (as --steps does through the settings).
    lab_settings = lab.settings().replace("traffic", steps="30:pause,100")
    original = lab.app
    lab.app = lambda reporter=None, settings=None: original(reporter, settings or lab_settings)  # type: ignore[method-assign]
    thread = threading.Thread(target=run, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 120
        paused = None
        while time.monotonic() < deadline and "error" not in outcome:
            paused = app.journal.last_run()
            if paused is not None and paused.state is RunState.PAUSED:
                break
            time.sleep(0.2)
        assert paused is not None and paused.state is RunState.PAUSED, outcome
        status = _situation(lab)
        assert status.shares == {live: 70, live.other(): 30}
        from bluegreen.views import waiting_for
        assert "bluegreen promote" in (waiting_for(paused) or "")
        held = time.monotonic()
        env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'lab'}")
        promote = subprocess.run([sys.executable, "-m", "bluegreen", "promote", "--config", str(lab.config_path)],
                                 env=env, capture_output=True, text=True, timeout=60)
        assert promote.returncode == 0, promote.stderr
        thread.join(60)
        assert not thread.is_alive() and outcome.get("ok"), outcome
        print(f"\napproval pause released by promote {time.monotonic() - held:.1f}s after it was sent", file=sys.stderr)
    finally:
        lab.app = original  # type: ignore[method-assign]
    after = _situation(lab)
    assert after.assessment.live is live.other() and after.shares == {live: 0, live.other(): 100}
    assert app.journal.last_run().state is RunState.COMPLETED
