"""Drift: AWS against Terraform's configuration (capacity) and against the live color
(attachments), each with the step that fixes it; and how ``status`` shows it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from types import SimpleNamespace

from bluegreen import drift, views
from bluegreen.commands import Situation
from bluegreen.drift import Capacity, InFlight, Where, applied_capacity
from bluegreen.journal import RunView
from bluegreen.model import (
    HEALTHY,
    IN_SERVICE,
    UNHEALTHY,
    Color,
    ColorVars,
    GroupState,
    Instance,
    Observed,
    StackOutputs,
    TargetHealth,
    TfVars,
    TrafficKind,
    TrafficState,
)
from bluegreen.plan import Step, assess_live

BLUE, GREEN = Color.BLUE, Color.GREEN
FIXTURES = Path(__file__).parent / "fixtures"
WHERE = Where(stack_dir="terraform/examples/web", region="us-east-1")
APPLY = "`terraform -chdir=terraform/examples/web apply` sets it back"
NAMES = {BLUE: "web-blue", GREEN: "web-green"}
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
AMI_OLD = "ami-0123456789abcdef0"


def outputs(live: Color = BLUE, kind: TrafficKind = TrafficKind.ALB) -> StackOutputs:
    return StackOutputs(
        service="web",
        asg_names=dict(NAMES),
        launch_template_ids={BLUE: "lt-blue", GREEN: "lt-green"},
        traffic_kind=kind,
        target_group_arn=TG_ARN if kind is TrafficKind.ALB else None,
        elb_name="web" if kind is TrafficKind.ELB else None,
        lb_dns_name="web-1.us-east-1.elb.amazonaws.com",
        live_color=live,
    )


def tfvars(live: Color = BLUE, blue: int = 2, green: int = 0) -> TfVars:
    return TfVars(live, {BLUE: ColorVars(AMI_OLD, blue, "r1"), GREEN: ColorVars(AMI_OLD, green, "")})


def group(color: Color, count: int, *, attached: bool = False, desired: int | None = None,
          min_size: int = 0, max_size: int = 10) -> GroupState:
    return GroupState(
        color=color, name=NAMES[color], min_size=min_size, max_size=max_size,
        desired_capacity=count if desired is None else desired,
        instances=tuple(Instance(f"i-{color}-{k}", IN_SERVICE, image_id=AMI_OLD) for k in range(count)),
        target_group_arns=(TG_ARN,) if attached else (),
    )


def make_observed(blue: GroupState, green: GroupState, *, targets=None) -> Observed:
    """Every instance of an attached group registered healthy, unless ``targets`` is given."""
    if targets is None:
        targets = tuple(TargetHealth(i.id, HEALTHY) for g in (blue, green) if g.target_group_arns
                        for i in g.instances)
    return Observed(groups={BLUE: blue, GREEN: green},
                    traffic=TrafficState(kind=TrafficKind.ALB, name=TG_ARN, targets=targets))


APPLIED = {BLUE: Capacity(0, 2, 10), GREEN: Capacity(0, 0, 10)}


def find(observed, *, vars_=None, outs=None, applied=APPLIED, in_flight=None):
    vars_ = vars_ or tfvars()
    outs = outs or outputs()
    assessment = assess_live(observed, vars_.live_color, outs.live_color)
    return drift.find(observed, assessment, vars_, outs, applied, in_flight, WHERE)


def clean_observed(**blue_changes):
    return make_observed(dataclasses.replace(group(BLUE, 2, attached=True), **blue_changes), group(GREEN, 0))


# -- Terraform's state --------------------------------------------------------------------------


def test_applied_capacity_from_a_real_state():
    state = json.loads((FIXTURES / "state-module-layout.json").read_text(encoding="utf-8"))
    assert applied_capacity(state, NAMES) == APPLIED


@pytest.mark.parametrize(
    "root",
    [
        {"resources": [  # plain root resources
            {"address": "aws_autoscaling_group.blue", "mode": "managed", "type": "aws_autoscaling_group",
             "values": {"name": "web-blue", "min_size": 1, "desired_capacity": 2, "max_size": 4}},
            {"address": "aws_launch_template.blue", "mode": "managed", "type": "aws_launch_template",
             "values": {"name": "web-green"}},
        ]},
        {"child_modules": [{"address": 'module.app["blue"]', "resources": [  # for_each
            {"address": 'module.app["blue"].aws_autoscaling_group.this', "mode": "managed",
             "type": "aws_autoscaling_group",
             "values": {"name": "web-blue", "min_size": 1, "desired_capacity": 2, "max_size": 4}},
        ]}]},
    ],
    ids=["root", "for_each"],
)
def test_applied_capacity_finds_groups_by_name_in_any_layout(root):
    found = applied_capacity({"values": {"root_module": root}}, NAMES)
    assert found == {BLUE: Capacity(1, 2, 4)}  # green is not in this state: not compared


def test_applied_capacity_of_an_empty_state():
    assert applied_capacity({"format_version": "1.0"}, NAMES) == {}
    unknown = {"values": {"root_module": {"resources": [{"type": "aws_autoscaling_group",
               "values": {"name": "web-blue", "min_size": None}}]}}}
    assert applied_capacity(unknown, NAMES) == {}


# -- capacity -----------------------------------------------------------------------------------


def test_a_clean_stack_has_no_drift():
    assert find(clean_observed()) == ()


def test_hand_set_desired_capacity_on_the_live_color():
    (d,) = find(clean_observed(desired_capacity=3))
    assert (d.kind, d.color) == ("capacity", BLUE)
    assert d.what == "blue desired capacity is 3, Terraform's configuration says 2 (tfvars colors.blue.size)"
    assert d.fix == (f"{APPLY} to 2; or keep 3: the next `bluegreen release` sizes the new color 3 "
                     "and records it")


def test_hand_set_desired_capacity_on_the_idle_color():
    observed = make_observed(group(BLUE, 2, attached=True), group(GREEN, 0, desired=1))
    (d,) = find(observed)
    assert (d.kind, d.color) == ("capacity", GREEN)
    assert d.what.startswith("green desired capacity is 1, Terraform's configuration says 0")
    assert d.fix == f"{APPLY} to 0"


def test_min_and_max_against_the_last_apply():
    drifts = find(clean_observed(min_size=1, max_size=3))
    assert [(d.color, d.what, d.fix) for d in drifts] == [
        (BLUE, "blue min size is 1, Terraform's last apply set 0", f"{APPLY} to 0"),
        (BLUE, "blue max size is 3, Terraform's last apply set 10", f"{APPLY} to 10"),
    ]


def test_without_the_state_only_desired_capacity_is_compared():
    assert find(clean_observed(min_size=1, max_size=3), applied=None) == ()
    assert len(find(clean_observed(min_size=1, desired_capacity=3), applied={})) == 1


def test_a_stack_dir_with_a_space_is_quoted():
    observed = make_observed(group(BLUE, 2, attached=True), group(GREEN, 0, desired=1))
    assessment = assess_live(observed, BLUE, BLUE)
    (d,) = drift.find(observed, assessment, tfvars(), outputs(), APPLIED, None, Where("my stack", "eu-west-1"))
    assert d.fix == "`terraform -chdir='my stack' apply` sets it back to 0"


# -- attachments --------------------------------------------------------------------------------


def test_both_attached_no_run_names_the_color_terraform_does_not_call_live():
    observed = make_observed(group(BLUE, 2, attached=True), group(GREEN, 2, attached=True))
    drifts = find(observed, vars_=tfvars(blue=2, green=2))
    assert [d.kind for d in drifts] == ["stray"]
    (d,) = drifts
    assert d.color is GREEN
    assert d.what == ("both colors are attached and no run is in flight; green is the stray one "
                      "(the tfvars and Terraform's outputs call blue live)")
    assert d.fix == (
        "`aws autoscaling detach-load-balancer-target-groups --auto-scaling-group-name web-green "
        f"--target-group-arns {TG_ARN} --region us-east-1` (its targets drain first; no bluegreen "
        "command runs while both are attached)"
    )


def test_both_attached_the_unhealthy_color_is_the_stray_one():
    blue, green = group(BLUE, 2, attached=True), group(GREEN, 2, attached=True)
    targets = tuple(TargetHealth(i.id, UNHEALTHY) for i in blue.instances) + tuple(
        TargetHealth(i.id, HEALTHY) for i in green.instances)
    observed = make_observed(blue, green, targets=targets)
    (d,) = find(observed, vars_=tfvars(blue=2, green=2))
    assert d.color is BLUE  # Terraform calls blue live, but only green can serve
    assert "blue has no healthy InService target" in d.what
    assert "--auto-scaling-group-name web-blue" in d.fix


def test_both_attached_and_serving_while_terraform_disagrees_with_itself():
    observed = make_observed(group(BLUE, 2, attached=True), group(GREEN, 2, attached=True))
    (d,) = find(observed, vars_=tfvars(BLUE, 2, 2), outs=outputs(GREEN))
    assert d.color is None
    assert d.what == ("both colors are attached and serve, and Terraform does not say which is live: "
                      "the tfvars call blue live, its output green")
    assert "--auto-scaling-group-name web-blue" in d.fix and "--auto-scaling-group-name web-green" in d.fix
    assert d.fix.startswith("decide which color serves and detach the other: ")


def test_both_attached_classic_elb_hand_step():
    blue, green = group(BLUE, 2), group(GREEN, 2)
    blue = dataclasses.replace(blue, load_balancer_names=("web",))
    green = dataclasses.replace(green, load_balancer_names=("web",))
    targets = tuple(TargetHealth(i.id, HEALTHY) for g in (blue, green) for i in g.instances)
    observed = dataclasses.replace(
        make_observed(blue, green), traffic=TrafficState(kind=TrafficKind.ELB, name="web", targets=targets))
    (d,) = find(observed, vars_=tfvars(blue=2, green=2), outs=outputs(kind=TrafficKind.ELB))
    assert d.fix.startswith("`aws autoscaling detach-load-balancers --auto-scaling-group-name web-green "
                            "--load-balancer-names web --region us-east-1`")


@pytest.mark.parametrize(("completed", "fix"), [
    ({Step.ATTACH}, "`bluegreen abort` undoes run r7, which left both attached"),
    ({Step.ATTACH, Step.DETACH}, "`bluegreen resume` finishes run r7, which left both attached"),
])
def test_both_attached_with_a_run_in_flight(completed, fix):
    observed = make_observed(group(BLUE, 2, attached=True), group(GREEN, 3, attached=True))
    run = RunView(run_id="r7", kind="release", header=SimpleNamespace(steps=()), completed=list(completed))
    drifts = find(observed, in_flight=InFlight.of(run))
    # green's 3 instances against a size of 0 is the run's own doing: not reported as drift
    assert [(d.kind, d.color, d.fix) for d in drifts] == [("stray", GREEN, fix)]


def test_nothing_attached_is_a_bootstrap():
    (d,) = find(make_observed(group(BLUE, 2), group(GREEN, 0)))
    assert (d.kind, d.color) == ("attachment", BLUE)
    assert d.fix == "`bluegreen bootstrap` attaches blue and waits until its targets are healthy"


def test_the_other_color_attached_alone():
    observed = make_observed(group(BLUE, 2), group(GREEN, 2, attached=True))
    (d,) = find(observed, vars_=tfvars(blue=2, green=2))
    assert d.what == "blue is live in Terraform but green is the color attached to the load balancer"
    assert d.fix.startswith("attach blue (`aws autoscaling attach-load-balancer-target-groups "
                            "--auto-scaling-group-name web-blue")
    assert "then detach green (`aws autoscaling detach-load-balancer-target-groups" in d.fix


# -- status -------------------------------------------------------------------------------------


def situation(observed, vars_=None) -> Situation:
    vars_ = vars_ or tfvars()
    return Situation(outputs(), vars_, observed, assess_live(observed, vars_.live_color, BLUE))


def test_status_with_drift_is_not_clean_and_shows_each_fix():
    observed = clean_observed(desired_capacity=3)
    drifts = find(observed)
    doc = views.status_document(situation(observed), "web", None, None, drifts)
    assert doc["clean"] is False and doc["live"] == "blue" and doc["problems"] == []
    assert doc["drift"] == [{"kind": "capacity", "color": "blue", "what": drifts[0].what, "fix": drifts[0].fix}]
    json.dumps(doc)
    lines = views.status_text(doc).splitlines()
    assert lines[0] == ("web: blue is live (load balancer web-1.us-east-1.elb.amazonaws.com), but AWS has "
                        "drifted from Terraform")
    assert lines[1] == f"  drift: {drifts[0].what}"
    assert lines[2] == f"    fix: {drifts[0].fix}"


def test_status_without_drift_stays_clean():
    observed = clean_observed()
    doc = views.status_document(situation(observed), "web", None, None, find(observed))
    assert doc["clean"] is True and doc["drift"] == []
    assert "drift" not in views.status_text(doc)


def test_status_names_the_stray_color():
    observed = make_observed(group(BLUE, 2, attached=True), group(GREEN, 2, attached=True))
    s = situation(observed, tfvars(blue=2, green=2))
    text = views.status_text(views.status_document(s, "web", None, None, find(observed, vars_=s.tfvars)))
    assert "  problem: both colors are attached to the load balancer" in text
    assert "  drift: both colors are attached and no run is in flight; green is the stray one" in text
    assert "    fix: `aws autoscaling detach-load-balancer-target-groups --auto-scaling-group-name web-green" in text
