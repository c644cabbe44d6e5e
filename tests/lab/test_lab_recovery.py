"""Issue 7: the paths after something already went wrong, under steady load through HAProxy, with
zero failed requests: a release whose undo fails too (exit 11), then `resume` or `abort` from a
new process once the cause is fixed.

How the undo is made to fail: the new color's health reads fail (AccessDenied, not retried), so
the release rolls back; the rollback's first undo (detach the new color) fails the same way. Both
colors are then attached and healthy, which serves every request, and the run is needs-operator.
"""

from __future__ import annotations

import pytest

from bluegreen import commands
from bluegreen.errors import ExitCode, NeedsOperatorError
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


def _live(lab: Lab) -> Color | None:
    return commands.observe(_app(lab)).assessment.live


def _release_until_exit_11(lab: Lab, ami: str) -> None:
    app = _app(lab)
    _arm_faults_after_attach(lab, app)
    with pytest.raises(NeedsOperatorError) as info:
        commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False)
    assert info.value.exit_code == ExitCode.NEEDS_OPERATOR
    assert "undo of attach-new failed" in str(info.value)
    run = app.journal.last_run()
    assert run.state is RunState.NEEDS_OPERATOR and run.in_flight
    lab.fidelity.clear_faults()  # the operator fixed the permissions


def _arm_faults_after_attach(lab: Lab, app) -> None:
    """DescribeTargetHealth is read all through a release: fail it only once the new color is
    attached, so the failure lands in wait-healthy; then every detach fails, so the undo does."""
    original = app.journal.completed

    def completed(step, **data):
        original(step, **data)
        if step is Step.ATTACH:
            lab.fidelity.inject("DescribeTargetHealth", "AccessDenied", times=1, http_status=403,
                                message="injected: health reads denied")
            lab.fidelity.inject("DetachLoadBalancerTargetGroups", "AccessDenied", times=50,
                                http_status=403, message="injected: detach denied")

    app.journal.completed = completed  # type: ignore[method-assign]


@pytest.mark.parametrize("recovery", ["resume", "abort"])
def test_exit_11_then_recovery_under_load_has_zero_failed_requests(lab, recovery):
    live = _live(lab)
    ami = lab.bake(f"lab-exit11-{recovery}")
    with TrafficWatch(lab, rate_per_s=RATE) as watch:
        watch.settle(1.5)
        _release_until_exit_11(lab, ami)
        assert {c for c in Color if commands.observe(_app(lab)).observed.attached(c)} == set(Color)
        operator = _app(lab)  # a new process, after the cause was fixed
        getattr(commands, recovery)(operator)
        watch.settle(2)
    failed = [r for r in watch.records if not r.ok]
    assert len(watch.records) > RATE * 5 and not failed, f"{len(failed)} failed: {failed[:5]}"
    run = _app(lab).journal.last_run()
    expected = live.other() if recovery == "resume" else live
    assert run.state is (RunState.COMPLETED if recovery == "resume" else RunState.ABORTED), run.state
    assert _live(lab) is expected
    situation = commands.observe(_app(lab))
    assert situation.assessment.clean, situation.assessment.problems
    idle = situation.observed.group(expected.other())
    assert not idle.suspended_processes and not situation.observed.group(expected).suspended_processes
    # Every request after the recovery is served by the color that is live now.
    versions = {r.version for r in watch.records if r.start > watch.records[-1].start - 1.0}
    assert len(versions) == 1, versions
