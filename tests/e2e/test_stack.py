"""The example stack under real Terraform, HashiCorp's AWS provider 3.39 from the offline mirror and
the emulation: its outputs, a clean plan after apply, the plan of a release that touches only the
idle color, and a deliberately wrong plan caught by the blast-radius check before anything applies."""

from __future__ import annotations

import pytest

from bluegreen import commands
from bluegreen.errors import BlastRadiusError
from bluegreen.model import Color, ColorVars, TrafficKind
from bluegreen.report import Reporter

pytestmark = pytest.mark.e2e


@pytest.fixture
def app(alb_lab):
    return alb_lab.app(Reporter(service="web", quiet=True))


def test_outputs_parse_into_stack_outputs(alb_lab, app):
    outputs = app.stack.outputs()
    assert outputs.asg_names == {Color.BLUE: "web-blue", Color.GREEN: "web-green"}
    assert outputs.traffic_kind is TrafficKind.ALB
    assert outputs.target_group_arn and outputs.target_group_arn.startswith("arn:aws:elasticloadbalancing:")
    assert outputs.lb_dns_name
    groups = {
        g["AutoScalingGroupName"]: g
        for g in alb_lab.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    }
    for color in Color:
        group = groups[f"web-{color}"]
        assert group["LaunchTemplate"]["LaunchTemplateId"] == outputs.launch_template_ids[color]
        assert group["LaunchTemplate"]["Version"].isdigit()  # pinned, never $Latest
        tags = {t["Key"]: t["Value"] for t in group["Tags"]}
        assert {"Service": "web", "Color": color.value}.items() <= tags.items()


def test_post_apply_plan_has_no_changes(app):
    assert app.stack.pending_changes().has_changes is False


def test_release_plan_touches_only_the_idle_color(alb_lab, app):
    tfvars_before = app.stack.committed_text()
    preview, live, idle = commands.plan(app, ami=alb_lab.bake("v2"), manifest=None, size=None)
    assert preview.ok
    addresses = sorted(c.address for c in preview.summary.changes)
    assert addresses == [f"module.{idle}.aws_autoscaling_group.this", f"module.{idle}.aws_launch_template.this"]
    assert app.stack.committed_text() == tfvars_before  # plan never writes the committed tfvars


def test_a_wrong_plan_is_caught_before_anything_applies(alb_lab, app):
    """Changing the live color's AMI in the same variables: the check lists the live color's
    addresses and nothing is applied."""
    situation = commands.observe(app)
    live = situation.assessment.live
    assert live is not None
    vars_ = situation.tfvars
    wrong = vars_.with_color(live.other(), ColorVars(alb_lab.bake("v2"), 2, "r2"))
    wrong = wrong.with_color(live, ColorVars(alb_lab.bake("v9"), vars_.colors[live].size, "oops"))
    tfvars_before = app.stack.committed_text()
    preview = app.stack.preview(wrong, live.other(), "wrong")
    assert not preview.ok
    assert {v.address for v in preview.verdict.violations} >= {
        f"module.{live}.aws_launch_template.this", f"module.{live}.aws_autoscaling_group.this"}
    with pytest.raises(BlastRadiusError) as caught:
        app.stack.apply(preview)
    assert f"module.{live}.aws_launch_template.this" in str(caught.value)
    assert app.stack.committed_text() == tfvars_before
    assert app.stack.pending_changes().has_changes is False  # nothing was applied
