"""bluegreen releases end to end in the lab: moto + fidelity layer, real Terraform, a real HAProxy
whose servers follow the target group, one real process per instance, steady load through HAProxy.

On the session lab (its first apply takes about 85 s, 60 of them the AWS provider's fixed waits
for a new aws_lb): a good release under load with zero failed requests, a broken AMI rolled back
with failures bounded; and, on a lab of its own, the teardown leaving no process behind.
"""

from __future__ import annotations


import pytest

from bluegreen import commands
from bluegreen.errors import RolledBackError
from bluegreen.health import Verdict
from bluegreen_lab.demo import TrafficWatch, rollback_metrics, switch_metrics
from bluegreen_lab.emulator import LAB_IMAGE_VERSION_TAG
from bluegreen_lab.lab import Lab, LabOptions
from bluegreen.model import Color
from bluegreen.observe import AwsCallEvent, TerraformEvent
from bluegreen.report import Reporter
from lab_support import assert_all_gone, data_plane_story

pytestmark = pytest.mark.lab

RATE = 200
SIZE = 2


@pytest.fixture
def lab(alb_lab):
    """The session lab (tests/conftest.py), with the data plane deciding health: whatever color
    and version the previous tests left live."""
    alb_lab.health = alb_lab.fidelity.health = alb_lab.dataplane
    return alb_lab


def _served_version(lab: Lab) -> str:
    situation = commands.observe(lab.app(Reporter(service="web", quiet=True)))
    ami = situation.tfvars.colors[situation.assessment.live].ami
    tags = lab.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [ami]}])["Tags"]
    return {t["Key"]: t["Value"] for t in tags}[LAB_IMAGE_VERSION_TAG]


def _release(lab: Lab, watch: TrafficWatch, ami: str, name: str, reporter: Reporter | None = None):
    app = lab.app(reporter or Reporter(service="web", quiet=True))
    error = None
    watch.settle(1.5)
    with watch.measure(name) as window:
        try:
            commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False)
        except RolledBackError as exc:
            error = exc
    watch.settle(2)
    return window, error


def _live(lab: Lab) -> Color | None:
    return commands.observe(lab.app(Reporter(service="web", quiet=True))).assessment.live


def test_release_under_load_has_zero_failed_requests(lab):
    live_before, old = _live(lab), _served_version(lab)
    new = lab.bake("lab-good")
    # The product's seams (bluegreen.observe), as the benchmarks use them: nothing patched.
    terraform: list[TerraformEvent] = []
    aws: list[AwsCallEvent] = []
    steps: list[str] = []
    reporter = Reporter(service="web", quiet=True)
    reporter.subscribe(lambda record: steps.append(record["step"]) if record["event"] == "step" else None)
    removes = [lab.terraform_events.add(terraform.append), lab.aws_events.add(aws.append)]
    try:
        with TrafficWatch(lab, rate_per_s=RATE) as watch:
            window, error = _release(lab, watch, new, f"release {old}->lab-good", reporter)
    finally:
        for remove in removes:
            remove()
    assert error is None
    ended = {e.subcommand: e for e in terraform if e.phase == "end"}
    assert ended["apply"].returncode == 0 and ended["apply"].seconds > 0, terraform
    assert ended["plan"].returncode in (0, 2) and ended["plan"].error is None
    assert [e.phase for e in terraform].count("start") == [e.phase for e in terraform].count("end")
    ops = [e.operation for e in aws]
    assert "EnterStandby" in ops and "AttachLoadBalancerTargetGroups" in ops, ops
    assert all(e.ok for e in aws if e.operation == "EnterStandby")
    assert {"attach-new", "detach-old"} <= set(steps), steps
    assert steps.index("attach-new") < steps.index("detach-old")
    m = switch_metrics(watch, window, old, "lab-good")
    everything = watch.records
    failed = [r for r in everything if not r.ok]
    # The whole recorded run (before, during and after the release), not only the window.
    story = data_plane_story(lab)  # read every time, so the helper itself is exercised
    assert len(everything) > RATE * 10 and not failed, f"{len(failed)} failed: {failed[:5]}; {story}"
    assert m["versions"].get(old) and m["versions"].get("lab-good"), m
    # Every request after the cutover is the new version, and the old color left rotation.
    last = [r for r in everything if r.start > window.end]
    assert last and all(r.version == "lab-good" for r in last)
    # Mixed window: both colors serve during the verify window (by design), then the old color is
    # put in Standby and drains: bounded by verify window + drain.
    o = lab.options
    assert m["mixed_version_window_s"] <= o.verify_seconds + o.deregistration_delay, m
    assert _live(lab) is live_before.other()


def test_broken_ami_is_rolled_back_with_bounded_failures(lab):
    live_before, old = _live(lab), _served_version(lab)
    broken = lab.bake("lab-broken", broken="now")
    with TrafficWatch(lab, rate_per_s=RATE) as watch:
        window, error = _release(lab, watch, broken, "release broken")
    assert isinstance(error, RolledBackError), error
    rb = rollback_metrics(watch, window, "lab-broken")
    m = switch_metrics(watch, window, old, "lab-broken")
    assert rb["rollback_s"] is not None, rb
    # The broken servers never pass `rise` checks, so HAProxy sends them no request: no response
    # may come from v3. Failures: HAProxy retries connection failures elsewhere (retries 3,
    # redispatch), and the old color is never touched during a rollback before the commit point,
    # so the only requests at risk are ones caught in a reconcile race on a server being removed;
    # allow at most 2 of the ~1,000 sent during the rollback (0 measured).
    assert rb["new_version_responses"] == 0, rb
    assert rb["failed_requests_during"] <= 2, rb
    assert m["failed_requests"] <= 2, m
    # First failed check -> broken color detached and drained: the health check's window (interval
    # × unhealthy threshold + unhealthy_grace_seconds) plus the deregistration delay plus polling.
    o = lab.options
    assert rb["rollback_s"] <= o.unhealthy_fails_after + o.deregistration_delay + 2, rb
    assert _live(lab) is live_before


@pytest.mark.slow
def test_release_gone_bad_is_rolled_back_to_the_warm_color(lab):
    """Issue 7: a release with --keep-old completes, then the new version's health checks fail
    (its AMI breaks after 30 s of uptime; the release detached the old color about 6 s and
    completed about 13 s after launch) and it serves nothing; `bluegreen rollback` attaches
    the warm old color, waits until it is healthy, then takes the bad one out. Measured: the
    requests that fail during the rollback (the outage it ends) and after it (none)."""
    live_before, old = _live(lab), _served_version(lab)
    bad = lab.bake("lab-goes-bad", broken="after:30")
    settings = lab.settings().replace("release", keep_old_seconds=600)
    quiet = Reporter(service="web", quiet=True)
    with TrafficWatch(lab, rate_per_s=RATE) as watch:
        watch.settle(1.5)
        # --no-wait: the release returns with the old color warm and nobody watching the new one
        # (the foreground window would itself flip back when the AMI breaks).
        commands.release(lab.app(quiet, settings), ami=bad, manifest=None, size=None, keep_old=True,
                         dry_run=False, wait=False)
        app = lab.app(quiet, settings)
        app.waiter().until(
            "the new color serving nothing",
            lambda: Verdict(commands.observe(app).assessment.down is not None, "waiting"),
            timeout=90,
        )
        watch.settle(1)
        with watch.measure("rollback") as window:
            commands.rollback(lab.app(quiet, settings), dry_run=False)
        watch.settle(2)
    assert _live(lab) is live_before
    during = watch.records_between(window.start, window.end)
    after = [r for r in watch.records if r.start >= window.end]
    first_old = min(r.start for r in during if r.ok and r.version == old)
    failed_during = [r for r in during if not r.ok]
    failed_once_back = [r for r in during if not r.ok and r.start > first_old + 0.5]
    print(f"\nrollback of a release gone bad: {window.end - window.start:.1f}s, {len(during)} requests, "
          f"{len(failed_during)} failed (all before {first_old - window.start:.2f}s, when {old} was back), "
          f"{len(after)} after it, {sum(not r.ok for r in after)} failed")
    # Failures end once the warm color is healthy (attach + HAProxy's rise checks + one poll):
    # the bad color leaves only after that, and nothing fails after the rollback.
    assert first_old - window.start < 5, first_old - window.start
    assert not failed_once_back, failed_once_back[:5]
    assert after and all(r.ok and r.version == old for r in after), [r for r in after if not r.ok][:5]


class _OneInstanceLab(Lab):
    """A lab whose desired state is one instance: the data plane's own reconcile starts it."""

    def _desired_state(self):
        return {"instances": {"i-teardown0000001": ("v1", None)}, "targets": {}}


def test_lab_teardown_leaves_no_processes(tmp_path):
    """A lab of its own (the session's must outlive this test): HAProxy, its watchdog and an
    instance process are all gone after stop."""
    own = _OneInstanceLab(tmp_path, LabOptions(dataplane=True, service="teardown")).start()
    try:
        fleet = own.dataplane.fleet
        assert own.dataplane.wait_until(lambda: fleet.is_running("i-teardown0000001"), 10)
        pids = [*own.dataplane.haproxy.pids, *fleet.pids()]
        assert len(pids) >= 3  # haproxy, its watchdog, the instance
    finally:
        own.stop()
    assert_all_gone(pids, timeout_s=10)
    assert own.dataplane is None
