"""Issue 3, scenario 10: the classic ELB variant of the example stack (``traffic_kind = "elb"``):
the groups attach with AttachLoadBalancers, health comes from DescribeInstanceHealth, draining
from the ELB's connection draining. Its own lab (a second stack), deployed once for this module.
"""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

from bluegreen import commands
from bluegreen_lab.lab import Lab, LabOptions
from bluegreen.model import TrafficKind
from bluegreen.plan import Step
from bluegreen.report import Reporter

from scenario_support import (
    assert_one_live,
    assert_plan_clean,
    last_run,
    live_of,
    serving_invariant,
    start_lab,
    steps_of,
)

# The classic ELB's own lab costs about 70 s of the suite: `make test-slow` (the unit tier's fake
# world runs the crash matrix on a classic ELB, and tests/fidelity its AWS semantics).
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVICE = "relelb"  # resource names derive from it; unique among the session's labs


@pytest.fixture(scope="module")
def elb_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab, seconds = start_lab(tmp_path_factory.mktemp("release-elb"), LabOptions.named(SERVICE, traffic_kind="elb"))
    print(f"\nclassic ELB: lab deployed in {seconds:.1f}s", file=sys.stderr)
    try:
        yield lab
    finally:
        lab.stop()


def test_classic_elb_release_then_keep_old_and_finalize(elb_lab: Lab) -> None:
    lab = elb_lab
    app = lab.app(Reporter(service=SERVICE))
    outputs = app.stack.outputs()
    assert outputs.traffic_kind is TrafficKind.ELB and outputs.traffic_name == SERVICE
    live = live_of(app)
    size = commands.observe(app).observed.group(live).desired_capacity

    ami = lab.bake("v-elb")
    with serving_invariant(lab, app, size) as invariant:
        plan = commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False)
    assert len(invariant.log) > 10
    run = last_run(app)
    assert run.outcome == "completed" and run.completed == steps_of(run)
    s = assert_one_live(app, plan.target)
    assert SERVICE in s.observed.group(plan.target).load_balancer_names
    assert SERVICE not in s.observed.group(plan.live).load_balancer_names
    assert {i.image_id for i in s.observed.group(plan.target).instances} == {ami}
    assert_plan_clean(app)

    # --keep-old, then finalize scales the old color to zero through Terraform.
    app = lab.app(Reporter(service=SERVICE), settings=lab.settings().replace("release", keep_old_seconds=600))
    ami2 = lab.bake("v-elb-2")
    with serving_invariant(lab, app, size):
        plan2 = commands.release(app, ami=ami2, manifest=None, size=None, keep_old=True, dry_run=False,
                                 wait=False)
        assert Step.KEEP_OLD in steps_of(last_run(app))
        s = assert_one_live(app, plan2.target, idle_at_zero=False)
        assert len(s.observed.group(plan2.live).in_service) == size  # warm, detached
        assert_plan_clean(app)
        assert commands.finalize(app) is True
    assert_one_live(app, plan2.target)
    assert_plan_clean(app)
