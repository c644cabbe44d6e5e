"""status / plan rendering from hand-built values."""

from __future__ import annotations

import datetime as dt

import json
from pathlib import Path

import pytest

from bluegreen import views
from bluegreen.blast_radius import PlanSummary, ResourceChange, check, summarize
from bluegreen.commands import Situation
from bluegreen.journal import RunView
from bluegreen.plan import Mode
from bluegreen.runstate import NEXT, RunHeader, RunState
from bluegreen.model import (
    HEALTHY,
    INITIAL,
    PENDING,
    Color,
    ColorVars,
    Instance,
    StackOutputs,
    TargetHealth,
    TfVars,
    TrafficKind,
)
from bluegreen.plan import Step, assess_live
from bluegreen.stack import Preview

BLUE, GREEN = Color.BLUE, Color.GREEN
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
OLD = "ami-0123456789abcdef0"
NEW = "ami-0fedcba9876543210"


def outputs(live: Color = BLUE) -> StackOutputs:
    return StackOutputs(
        service="web",
        asg_names={BLUE: "web-blue", GREEN: "web-green"},
        launch_template_ids={BLUE: "lt-blue", GREEN: "lt-green"},
        traffic_kind=TrafficKind.ALB,
        target_group_arn=TG,
        elb_name=None,
        lb_dns_name="web-123.us-east-1.elb.amazonaws.com",
        live_color=live,
    )


def tfvars(live: Color = BLUE) -> TfVars:
    return TfVars(live, {BLUE: ColorVars(OLD, 3, "r41"), GREEN: ColorVars(NEW, 0, "")})


def situation(obs, tfvars_live: Color = BLUE, outputs_live: Color = BLUE) -> Situation:
    return Situation(
        outputs=outputs(outputs_live),
        tfvars=tfvars(tfvars_live),
        observed=obs,
        assessment=assess_live(obs, tfvars_live, outputs_live),
    )


@pytest.fixture
def clean_situation(group, observed):
    return situation(observed(group(BLUE, 3, attached=True, ami=OLD), group(GREEN, 0)))


# -- status ---------------------------------------------------------------------------------------


def test_status_document_of_a_clean_stack(clean_situation):
    doc = views.status_document(clean_situation, "web", None)
    json.dumps(doc)  # JSON-ready
    assert doc["live"] == "blue" and doc["clean"] is True and doc["problems"] == []
    assert doc["serving"] == ["blue"]
    assert doc["traffic"] == {"kind": "alb", "name": TG}
    assert doc["in_flight"] is None
    blue = doc["colors"]["blue"]
    assert blue["asg"] == "web-blue"
    assert blue["ami_configured"] == OLD and blue["amis_running"] == [OLD]
    assert blue["instances"] == {"InService": 3}
    assert blue["targets"] == {"healthy": 3}
    assert blue["attached"] is True
    assert doc["colors"]["green"]["attached"] is False
    assert list(doc["colors"]) == ["blue", "green"]


def test_status_text_of_a_clean_stack(clean_situation):
    text = views.status_text(views.status_document(clean_situation, "web", None))
    lines = text.splitlines()
    assert lines[0] == "web: blue is live (load balancer web-123.us-east-1.elb.amazonaws.com)"
    assert "problem" not in text and "NOT ONE CLEAN" not in text
    assert "tfvars live_color=blue, output live_color=blue" in text
    blue_row = next(line for line in lines if line.strip().startswith("blue "))
    green_row = next(line for line in lines if line.strip().startswith("green "))
    assert "web-blue" in blue_row and "3 InService" in blue_row and "3 healthy" in blue_row
    assert blue_row.rstrip().endswith("yes")
    assert "lt-blue v3" in blue_row
    assert green_row.rstrip().endswith("no")
    assert "in flight" not in text


def test_status_text_of_an_unclean_stack(group, observed):
    obs = observed(group(BLUE, 2, attached=True), group(GREEN, 2, attached=True, ami=NEW))
    doc = views.status_document(situation(obs, GREEN, BLUE), "web", None)
    text = views.status_text(doc)
    assert doc["clean"] is False and doc["live"] is None
    assert text.splitlines()[0] == "web: NOT ONE CLEAN LIVE COLOR"
    assert "  problem: both colors are attached to the load balancer" in text
    assert "is live" not in text
    assert "tfvars live_color=green, output live_color=blue" in text


def test_status_lists_every_problem(group, observed):
    obs = observed(group(BLUE, 2, attached=True), group(GREEN, 0))
    text = views.status_text(views.status_document(situation(obs, GREEN, GREEN), "web", None))
    assert text.count("  problem: ") == 2
    assert "the tfvars say live_color = green but blue serves" in text
    assert "Terraform's output live_color = green but blue serves" in text


def test_status_shows_an_in_flight_run_and_mixed_amis(group, observed):
    blue = group(BLUE, 2, attached=True)
    green_instances = (
        Instance("i-g1", "InService", image_id=NEW),
        Instance("i-g2", PENDING, image_id=OLD),
    )
    from dataclasses import replace

    green = replace(group(GREEN, 0), instances=green_instances, desired_capacity=2,
                    suspended_processes=frozenset({"AZRebalance", "ScheduledActions"}))
    targets = (TargetHealth("i-blue-0", HEALTHY), TargetHealth("i-blue-1", HEALTHY), TargetHealth("i-g1", INITIAL))
    obs = observed(blue, green, targets=targets)
    run = RunView(run_id="run-7", kind="release", header=_header(), started=[Step.SUSPEND, Step.APPLY_IDLE],
                  state=RunState.INTERRUPTED, error="interrupted by SIGTERM")
    doc = views.status_document(situation(obs), "web", run)
    assert doc["in_flight"] == {"run_id": "run-7", "kind": "release", "last_step": "apply-idle",
                                "state": "interrupted", "error": "interrupted by SIGTERM",
                                "next": NEXT[RunState.INTERRUPTED]}
    assert doc["colors"]["green"]["targets"] == {"initial": 1, "not registered": 1}
    assert doc["colors"]["green"]["amis_running"] == sorted([NEW, OLD])
    text = views.status_text(doc)
    assert "run: release run run-7 is interrupted at apply-idle (interrupted by SIGTERM)" in text
    assert "next: `bluegreen resume` continues the run, `bluegreen abort` puts traffic back" in text
    assert "suspended: AZRebalance, ScheduledActions" in text
    assert f"(runs {','.join(sorted([NEW, OLD]))})" in text



# -- plan -----------------------------------------------------------------------------------------

CHANGES = (
    ResourceChange("module.green.aws_launch_template.this", "update"),
    ResourceChange("module.green.aws_autoscaling_group.this", "update"),
    ResourceChange("module.green.aws_instance.canary[0]", "replace"),
)


def preview(changes=CHANGES, color_address="module.{color}") -> Preview:
    summary = PlanSummary(changes=tuple(changes))
    vars_ = tfvars().with_color(GREEN, ColorVars(NEW, 3, "r42"))
    return Preview(
        label="release",
        vars=vars_,
        text="{}",
        plan_file=Path("/stack/.bluegreen/release.tfplan"),
        summary=summary,
        verdict=check(summary, GREEN, color_address),
    )


def test_plan_document():
    doc = views.plan_document(preview(), BLUE, GREEN)
    json.dumps(doc)
    assert doc["live"] == "blue" and doc["target"] == "green"
    assert doc["ami"] == NEW and doc["size"] == 3 and doc["release"] == "r42"
    assert doc["live_color"] == {"color": "blue", "ami": OLD, "release": "r41", "size": 3}
    assert doc["plan_file"] == "/stack/.bluegreen/release.tfplan"
    assert doc["counts"] == {"create": 0, "update": 2, "replace": 1, "delete": 0}
    assert doc["changes"][2] == {
        "address": "module.green.aws_instance.canary[0]", "action": "replace",
        "diffs": [], "other_attributes": [], "forces_replacement": [],
    }
    assert doc["blast_radius"]["ok"] is True and doc["blast_radius"]["violations"] == []
    assert doc["blast_radius"]["fix"] == ""


def test_plan_text_lists_addresses():
    text = views.plan_text(views.plan_document(preview(), BLUE, GREEN))
    lines = text.splitlines()
    assert lines[0] == f"Plan: release {NEW} x3 onto green (blue stays live)"
    assert lines[1] == f"  live blue   AMI {OLD}  release r41  3 instance(s)"
    assert lines[2] == f"  new  green  AMI {NEW}  release r42  3 instance(s)"
    assert "  ~ module.green.aws_launch_template.this (update)" in lines
    assert "  ~ module.green.aws_autoscaling_group.this (update)" in lines
    assert "  -/+ module.green.aws_instance.canary[0] (replace)" in lines
    assert "0 to create, 2 to update, 1 to replace, 0 to delete" in text
    assert lines[-1] == "Blast radius OK: the plan changes only green addresses"


def test_plan_text_marks_a_violation_and_names_the_fix():
    bad = CHANGES + (ResourceChange("module.traffic.aws_lb_listener.http", "update"),
                     ResourceChange("aws_launch_template.green", "update"))
    lines = views.plan_text(views.plan_document(preview(bad), BLUE, GREEN)).splitlines()
    assert "  ~ module.traffic.aws_lb_listener.http (update)" in lines
    assert lines[-2].startswith("BLAST RADIUS VIOLATION: ")
    assert "update module.traffic.aws_lb_listener.http" in lines[-2]
    assert lines[-1].startswith(
        "  fix: aws_launch_template.green is not recognised as green's: "
        'add "aws_launch_template.{color}" to [terraform] color_addresses; '
        "module.traffic.aws_lb_listener.http is shared"
    )


def change_rows(md: str) -> list[str]:
    table = md.split("| action | address | changes |\n|---|---|---|\n", 1)[1]
    return [line for line in table.splitlines() if line.startswith("| ")]


def test_plan_markdown_has_a_row_per_change():
    md = views.plan_markdown(views.plan_document(preview(), BLUE, GREEN))
    assert change_rows(md) == [
        "| update | `module.green.aws_launch_template.this` |  |",
        "| update | `module.green.aws_autoscaling_group.this` |  |",
        "| replace | `module.green.aws_instance.canary[0]` |  |",
    ]
    assert "✅" in md and "❌" not in md and "violation" not in md
    assert md.splitlines()[0] == f"### bluegreen plan: `{NEW}` onto **green** (blue stays live)"
    assert f"| live | blue | `{OLD}` | `r41` | 3 |" in md
    assert f"| new | green | `{NEW}` | `r42` | 3 |" in md


def test_plan_markdown_marks_a_violation():
    bad = (ResourceChange("module.blue.aws_autoscaling_group.this", "update"),) + CHANGES
    md = views.plan_markdown(views.plan_document(preview(bad), BLUE, GREEN))
    assert "❌ **blast-radius violation**" in md
    assert "| update | `module.blue.aws_autoscaling_group.this` |  |" in md
    assert "> the plan changes addresses outside green: update module.blue.aws_autoscaling_group.this" in md
    assert "> **fix:** module.blue.aws_autoscaling_group.this belongs to blue" in md
    assert len(change_rows(md)) == 4  # one per change, the violation included


def test_plan_markdown_without_changes():
    md = views.plan_markdown(views.plan_document(preview(()), BLUE, GREEN))
    assert "| (none) | | |" in md


def test_plan_document_without_verdict():
    p = preview(())
    p = Preview(p.label, p.vars, p.text, p.plan_file, p.summary, verdict=None)
    doc = views.plan_document(p, BLUE, GREEN)
    assert doc["blast_radius"] == {"ok": True, "reason": "", "fix": "", "violations": []}


# -- plan of a real `terraform show -json` (tests/unit/fixtures) ----------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
LAB_OLD, LAB_NEW = "ami-81a68f64047b1e70b", "ami-324258708110a5bfb"


def fixture_preview(name: str, patterns: list[str]) -> Preview:
    summary = summarize(json.loads((FIXTURES / name).read_text(encoding="utf-8")))
    vars_ = TfVars(BLUE, {BLUE: ColorVars(LAB_OLD, 2, "v1"), GREEN: ColorVars(LAB_NEW, 2, "planned")})
    return Preview("plan", vars_, "{}", Path("/stack/.bluegreen/plan.tfplan"), summary,
                   check(summary, GREEN, patterns))


def test_plan_text_of_a_real_plan_shows_what_a_reviewer_judges():
    text = views.plan_text(views.plan_document(fixture_preview("plan-module-layout.json", ["module.{color}"]), BLUE, GREEN))
    assert text == "\n".join([
        f"Plan: release {LAB_NEW} x2 onto green (blue stays live)",
        f"  live blue   AMI {LAB_OLD}  release v1  2 instance(s)",
        f"  new  green  AMI {LAB_NEW}  release planned  2 instance(s)",
        "  0 to create, 2 to update, 0 to replace, 0 to delete",
        "  ~ module.green.aws_autoscaling_group.this (update)",
        "      launch_template[0].version: 1 -> (known after apply)",
        "      desired_capacity: 1 -> 2",
        "  ~ module.green.aws_launch_template.this (update)",
        f"      image_id: {LAB_OLD} -> {LAB_NEW}",
        "      latest_version: 1 -> (known after apply)",
        '      tag_specifications[0].tags.Release: "" -> planned',
        "Blast radius OK: the plan changes only green addresses",
    ])


def test_plan_markdown_of_a_real_plan_masks_sensitive_values():
    doc = views.plan_document(fixture_preview("plan-foreach-layout.json", ['module.app["{color}"]']), BLUE, GREEN)
    md = views.plan_markdown(doc)
    rows = change_rows(md)
    assert rows[1] == (
        '| update | `module.app["green"].aws_launch_template.this` | '
        f"`image_id`: `{LAB_OLD}` → `{LAB_NEW}`<br>"
        "`latest_version`: `1` → (known after apply)<br>"
        '`tags.Release`: `""` → `planned`<br>'
        "also: `tags_all`, `user_data` |"
    )
    assert "`tag.Release`: `\"\"` → `planned`" in rows[0]
    for rendered in (md, views.plan_text(doc), json.dumps(doc)):
        assert "c2VjcmV0" not in rendered and "bmV3LXNlY3JldA==" not in rendered


def test_plan_text_shows_masked_values_as_terraform_does():
    from bluegreen.blast_radius import AttributeDiff

    change = ResourceChange(
        "module.green.aws_launch_template.this", "replace",
        diffs=(AttributeDiff("image_id", None, "ami-1"), AttributeDiff("tags.Token", "(sensitive)", "(sensitive)"),
               AttributeDiff("latest_version", "4", "(known after apply)")),
        others=("name",), forces_replacement=("name",),
    )
    lines = views.plan_text(views.plan_document(preview((change,)), BLUE, GREEN)).splitlines()
    i = lines.index("  -/+ module.green.aws_launch_template.this (replace)")
    assert lines[i + 1:i + 6] == [
        "      image_id: (none) -> ami-1",
        "      tags.Token: (sensitive) -> (sensitive)",
        "      latest_version: 4 -> (known after apply)",
        "      forces replacement: name",
        "      also changes: name",
    ]


def _header(seconds: int = 0) -> RunHeader:
    return RunHeader(mode=Mode.RELEASE, live=BLUE, target=GREEN, size=2, ami=NEW, steps=(Step.SUSPEND,),
                     restore_text="{}", release_label="release-x", keep_old_seconds=seconds)


def _kept_warm_run(outcome: str = "completed", seconds: int = 600) -> RunView:
    run = RunView(run_id="r1", kind="release", header=_header(seconds), state=RunState(outcome))
    run.finished_at = "2026-11-21T21:00:00+00:00"
    return run


def test_status_says_until_when_the_old_color_is_kept_warm(group, observed):
    # green serves; blue still runs, detached, after a --keep-old release
    s = situation(observed(group(BLUE, 2), group(GREEN, 2, attached=True, ami=NEW)), GREEN, GREEN)
    doc = views.status_document(s, "web", None, _kept_warm_run())
    assert doc["kept_warm"] == {"color": "blue", "run_id": "r1", "until": "2026-11-21T21:10:00+00:00",
                                "overdue": True}  # that date has passed
    assert "blue's window ended at 2026-11-21T21:10:00+00:00; the next release, rollback or swap scales it" \
        in views.status_text(doc)
    during = dt.datetime(2026, 11, 21, 21, 5, tzinfo=dt.timezone.utc)
    doc["kept_warm"] = views.kept_warm(s, _kept_warm_run(), now=during)
    assert doc["kept_warm"]["overdue"] is False
    assert "kept warm: blue runs detached for an instant `bluegreen rollback` until 2026-11-21T21:10:00+00:00" \
        in views.status_text(doc)


def test_nothing_kept_warm_without_keep_old_or_when_the_idle_color_is_at_zero(group, observed):
    warm = situation(observed(group(BLUE, 2), group(GREEN, 2, attached=True, ami=NEW)), GREEN, GREEN)
    assert views.kept_warm(warm, _kept_warm_run(seconds=0)) is None
    assert views.kept_warm(warm, _kept_warm_run(outcome="rolled-back")) is None
    cold = situation(observed(group(BLUE, 0), group(GREEN, 2, attached=True, ami=NEW)), GREEN, GREEN)
    assert views.kept_warm(cold, _kept_warm_run()) is None
