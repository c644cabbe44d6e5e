"""Blast radius over ``terraform show -json PLAN``: only the target color's addresses may change."""

from __future__ import annotations

import pytest

from bluegreen.blast_radius import (
    PlanSummary,
    ResourceChange,
    belongs_to,
    check,
    color_prefix,
    summarize,
)
from bluegreen.model import Color


def rc(address: str, actions: list[str], **extra) -> dict:
    """One ``resource_changes`` entry shaped like Terraform 1.x ``show -json`` output."""
    type_, name = address.split(".")[-2:]
    entry = {
        "address": address,
        "mode": "managed",
        "type": type_,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {"actions": actions, "before": {}, "after": {}, "after_unknown": {}},
    }
    if address.startswith("module."):
        entry["module_address"] = ".".join(address.split(".")[:2])
    entry.update(extra)
    return entry


RELEASE_PLAN = {
    "format_version": "1.2",
    "terraform_version": "1.7.5",
    "planned_values": {"root_module": {}},
    "resource_changes": [
        rc("aws_lb.web", ["no-op"]),
        rc("data.aws_ami.base", ["read"], mode="data"),
        rc("module.blue.aws_autoscaling_group.this", ["no-op"]),
        rc("module.green.aws_launch_template.this", ["update"]),
        rc("module.green.aws_autoscaling_group.this", ["update"]),
        rc("module.green.aws_instance.canary[0]", ["delete", "create"], action_reason="replace_because_cannot_update"),
        rc("module.green.random_id.release", ["create", "delete"]),
        rc('module.green.aws_ssm_parameter.tag["release"]', ["create"]),
    ],
    "output_changes": {"live_color": {"actions": ["no-op"]}},
}


def test_summarize_keeps_real_changes_in_order():
    summary = summarize(RELEASE_PLAN)
    assert summary.changes == (
        ResourceChange("module.green.aws_launch_template.this", "update"),
        ResourceChange("module.green.aws_autoscaling_group.this", "update"),
        ResourceChange("module.green.aws_instance.canary[0]", "replace"),
        ResourceChange("module.green.random_id.release", "replace"),  # create_before_destroy
        ResourceChange('module.green.aws_ssm_parameter.tag["release"]', "create"),
    )
    assert summary.counts == {"create": 1, "update": 2, "replace": 2, "delete": 0}
    assert summary.has_changes


def test_release_plan_touching_only_green_is_ok():
    verdict = check(summarize(RELEASE_PLAN), Color.GREEN, "module.{color}")
    assert verdict.ok
    assert verdict.violations == ()
    assert verdict.allowed_color is Color.GREEN
    assert verdict.reason == "the plan changes only green addresses"


def test_same_plan_is_a_violation_when_blue_is_the_target():
    verdict = check(summarize(RELEASE_PLAN), Color.BLUE, "module.{color}")
    assert not verdict.ok
    assert len(verdict.violations) == 5


def test_empty_and_missing_resource_changes():
    assert summarize({}).changes == ()
    assert summarize({"resource_changes": None}).changes == ()
    assert not summarize({"resource_changes": []}).has_changes
    assert check(summarize({}), Color.GREEN, "module.{color}").ok


def test_entry_without_actions_counts_as_no_op():
    assert summarize({"resource_changes": [{"address": "aws_vpc.main", "change": {}}]}).changes == ()


@pytest.mark.parametrize(
    ("address", "actions", "action"),
    [
        ("module.blue.aws_autoscaling_group.this", ["update"], "update"),
        ("module.blue.aws_launch_template.this", ["delete", "create"], "replace"),
        ("module.traffic.aws_lb_listener.http", ["update"], "update"),
        ("module.traffic.aws_lb_target_group.web", ["delete", "create"], "replace"),
        ("aws_vpc.main", ["update"], "update"),
        ("aws_security_group.web", ["create"], "create"),
        ("module.green.aws_autoscaling_group.this", ["delete"], "delete"),
        ("module.greenish.aws_autoscaling_group.this", ["update"], "update"),
        ("module.green_old.aws_launch_template.this", ["create"], "create"),
    ],
)
def test_violations(address, actions, action):
    plan = {"resource_changes": RELEASE_PLAN["resource_changes"] + [rc(address, actions)]}
    verdict = check(summarize(plan), Color.GREEN, "module.{color}")
    assert not verdict.ok
    assert verdict.violations == (ResourceChange(address, action),)
    assert f"{action} {address}" in verdict.reason
    assert "outside green" in verdict.reason


def test_violations_are_listed_in_plan_order():
    plan = {
        "resource_changes": [
            rc("module.traffic.aws_lb_listener.http", ["update"]),
            rc("module.green.aws_launch_template.this", ["update"]),
            rc("module.blue.aws_autoscaling_group.this", ["update"]),
            rc("aws_vpc.main", ["delete"]),
        ]
    }
    verdict = check(summarize(plan), Color.GREEN, "module.{color}")
    assert [v.address for v in verdict.violations] == [
        "module.traffic.aws_lb_listener.http",
        "module.blue.aws_autoscaling_group.this",
        "aws_vpc.main",
    ]
    assert verdict.reason == (
        "the plan changes addresses outside green: update module.traffic.aws_lb_listener.http, "
        "update module.blue.aws_autoscaling_group.this, delete aws_vpc.main"
    )


def test_unusual_action_combinations_are_not_allowed():
    plan = {"resource_changes": [rc("module.green.aws_instance.x", ["create", "update"])]}
    summary = summarize(plan)
    assert summary.changes == (ResourceChange("module.green.aws_instance.x", "create+update"),)
    assert not check(summary, Color.GREEN, "module.{color}").ok


def test_custom_color_address_with_for_each_keys():
    plan = {
        "resource_changes": [
            rc('module.app["green"].aws_autoscaling_group.this', ["update"]),
            rc('module.app["blue"].aws_autoscaling_group.this', ["update"]),
        ]
    }
    verdict = check(summarize(plan), Color.GREEN, 'module.app["{color}"]')
    assert [v.address for v in verdict.violations] == ['module.app["blue"].aws_autoscaling_group.this']


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("module.green", True),
        ("module.green.aws_autoscaling_group.this", True),
        ("module.green[0].aws_autoscaling_group.this", True),
        ('module.green["a"].x', True),
        ("module.greenish.x", False),
        ("module.green_x.y", False),
        ("module.gree", False),
        ("amodule.green.x", False),
        ("module.blue.module.green.x", False),
    ],
)
def test_belongs_to(address, inside):
    assert belongs_to(address, color_prefix("module.{color}", Color.GREEN)) is inside


def test_color_prefix():
    assert color_prefix("module.{color}", Color.BLUE) == "module.blue"
    assert color_prefix("module.web_{color}", Color.GREEN) == "module.web_green"


def test_plan_summary_counts_unknown_actions_too():
    summary = PlanSummary(changes=(ResourceChange("a.b", "create+update"), ResourceChange("c.d", "delete")))
    assert summary.counts == {"create": 0, "update": 0, "replace": 0, "delete": 1, "create+update": 1}
