"""Blast radius over ``terraform show -json PLAN``: only the target color's addresses may change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bluegreen.blast_radius import (
    SENSITIVE,
    UNKNOWN,
    PlanSummary,
    ResourceChange,
    belongs_to,
    check,
    color_prefix,
    owner,
    split_address,
    suggest_pattern,
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


# -- the three supported layouts (plans from `terraform show -json`, Terraform 1.15.5, AWS provider
# 3.39, against the lab; no-op entries trimmed to their address) ---------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
ISSUE_PATTERNS = [
    "module.{color}",
    "aws_launch_template.{color}",
    "aws_autoscaling_group.{color}",
    'module.app["{color}"]',
]
LAYOUTS = {
    # layout: (fixture, the patterns its README section gives, the changed addresses)
    "module per color": (
        "plan-module-layout.json",
        ["module.{color}"],
        ["module.green.aws_autoscaling_group.this", "module.green.aws_launch_template.this"],
    ),
    "for_each over colors": (
        "plan-foreach-layout.json",
        ['module.app["{color}"]'],
        ['module.app["green"].aws_autoscaling_group.this', 'module.app["green"].aws_launch_template.this'],
    ),
    "plain root resources": (
        "plan-root-layout.json",
        ["aws_launch_template.{color}", "aws_autoscaling_group.{color}"],
        ["aws_autoscaling_group.green", "aws_launch_template.green"],
    ),
}


def load_plan(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_releases_green_with_its_patterns(layout):
    fixture, patterns, changed = LAYOUTS[layout]
    summary = summarize(load_plan(fixture))
    assert [c.address for c in summary.changes] == changed
    assert all(c.action == "update" for c in summary.changes)
    assert check(summary, Color.GREEN, patterns).ok
    assert check(summary, Color.GREEN, ISSUE_PATTERNS).ok  # one list fits all three
    blue = check(summary, Color.BLUE, patterns)  # the same plan is refused for the other color
    assert not blue.ok and [v.address for v in blue.violations] == changed
    assert all(f.owner is Color.GREEN for f in blue.findings)
    assert "belongs to green, which a release of blue must not change" in blue.fix


def test_root_layout_with_the_module_pattern_says_which_pattern_to_add():
    verdict = check(summarize(load_plan("plan-root-layout.json")), Color.GREEN, ["module.{color}"])
    assert not verdict.ok
    assert verdict.reason == (
        "the plan changes addresses outside green: update aws_autoscaling_group.green, "
        "update aws_launch_template.green"
    )
    assert verdict.patterns_to_add == ("aws_autoscaling_group.{color}", "aws_launch_template.{color}")
    assert verdict.fix == (
        "aws_autoscaling_group.green, aws_launch_template.green are not recognised as green's: "
        'add "aws_autoscaling_group.{color}", "aws_launch_template.{color}" to [terraform] color_addresses'
    )


def test_the_issue_example_hint_for_one_root_address():
    plan = {"resource_changes": [rc("aws_launch_template.green", ["update"])]}
    assert check(summarize(plan), Color.GREEN, "module.{color}").fix == (
        "aws_launch_template.green is not recognised as green's: "
        'add "aws_launch_template.{color}" to [terraform] color_addresses'
    )


def test_for_each_layout_with_the_module_pattern_suggests_the_keyed_pattern():
    verdict = check(summarize(load_plan("plan-foreach-layout.json")), Color.GREEN, ["module.{color}"])
    assert verdict.patterns_to_add == ('module.app["{color}"]',)
    assert 'add "module.app[\\"{color}\\"]" to [terraform] color_addresses' in verdict.fix


def test_each_kind_of_violation_names_its_fix():
    plan = {
        "resource_changes": [
            rc("module.traffic.aws_lb_listener.http", ["update"]),
            rc("module.blue.aws_autoscaling_group.this", ["update"]),
            rc("module.green.aws_autoscaling_group.this", ["delete"]),
            rc("aws_autoscaling_group.blue", ["update"]),
        ]
    }
    verdict = check(summarize(plan), Color.GREEN, "module.{color}")
    whys = {f.change.address: (f.owner, f.pattern) for f in verdict.findings}
    assert whys == {
        "module.traffic.aws_lb_listener.http": (None, None),
        "module.blue.aws_autoscaling_group.this": (Color.BLUE, None),
        "module.green.aws_autoscaling_group.this": (Color.GREEN, None),
        "aws_autoscaling_group.blue": (None, "aws_autoscaling_group.{color}"),
    }
    fix = verdict.fix
    assert fix.startswith(
        "aws_autoscaling_group.blue is not recognised as blue's (and a release of green must not "
        'change it): add "aws_autoscaling_group.{color}" to [terraform] color_addresses; '
    )
    assert "module.traffic.aws_lb_listener.http is shared (no color in its address)" in fix
    assert "`terraform apply` on its own, outside a release" in fix
    assert "module.blue.aws_autoscaling_group.this belongs to blue" in fix
    assert "module.green.aws_autoscaling_group.this (delete): a release may create, update or replace" in fix
    assert "\n" not in fix


def test_an_ok_verdict_has_no_fix():
    assert check(summarize(RELEASE_PLAN), Color.GREEN, "module.{color}").fix == ""


@pytest.mark.parametrize(
    ("address", "pattern", "inside"),
    [
        ("module.blue.aws_autoscaling_group.this", "module.{color}", True),
        ("module.blueprint.aws_autoscaling_group.this", "module.{color}", False),
        ("module.blue_old.aws_autoscaling_group.this", "module.{color}", False),
        ("module.blue[0].aws_autoscaling_group.this", "module.{color}", True),
        ("aws_autoscaling_group.blue", "aws_autoscaling_group.{color}", True),
        ("aws_autoscaling_group.blue[0]", "aws_autoscaling_group.{color}", True),
        ('aws_autoscaling_group.blue["a"]', "aws_autoscaling_group.{color}", True),
        ("aws_autoscaling_group.blueprint", "aws_autoscaling_group.{color}", False),
        ("aws_autoscaling_group.blue_canary", "aws_autoscaling_group.{color}", False),
        ("module.x.aws_autoscaling_group.blue", "aws_autoscaling_group.{color}", False),
        ('module.app["blue"].aws_launch_template.this', 'module.app["{color}"]', True),
        ('module.app["blue"]', 'module.app["{color}"]', True),
        ('module.app["blueprint"].aws_launch_template.this', 'module.app["{color}"]', False),
        ('module.app["green"].aws_launch_template.this', 'module.app["{color}"]', False),
        ('aws_autoscaling_group.this["blue"]', 'aws_autoscaling_group.this["{color}"]', True),
    ],
)
def test_patterns_match_on_address_boundaries(address, pattern, inside):
    assert (owner(address, [pattern]) is Color.BLUE) is inside


@pytest.mark.parametrize(
    ("address", "color", "pattern"),
    [
        ("aws_launch_template.green", Color.GREEN, "aws_launch_template.{color}"),
        ("aws_autoscaling_group.green[0]", Color.GREEN, "aws_autoscaling_group.{color}"),
        ('module.app["green"].aws_autoscaling_group.this', Color.GREEN, 'module.app["{color}"]'),
        ('aws_autoscaling_group.this["green"]', Color.GREEN, 'aws_autoscaling_group.this["{color}"]'),
        ("module.green.aws_launch_template.this", Color.GREEN, "module.{color}"),
        ("module.web_green.aws_launch_template.this", Color.GREEN, "module.web_{color}"),
        ("module.svc.module.blue-pool.aws_x.y", Color.BLUE, "module.svc.module.blue-pool".replace("blue", "{color}")),
        ("module.evergreen.aws_launch_template.this", Color.GREEN, None),
        ("module.traffic.aws_lb.this", Color.GREEN, None),
        ("aws_launch_template.green[", Color.GREEN, None),  # not an address
    ],
)
def test_suggest_pattern(address, color, pattern):
    suggested = suggest_pattern(address, color)
    assert suggested == pattern
    if suggested is not None:
        assert owner(address, [suggested]) is color


def test_split_address():
    assert split_address('module.app["a.b"].aws_x.this[0]') == ["module", 'app["a.b"]', "aws_x", "this[0]"]
    assert split_address('module.app["a\\"]b"].x') == ["module", 'app["a\\"]b"]', "x"]
    for bad in ("module.", "module..x", "x[", "x]", 'x["a]'):
        with pytest.raises(ValueError):
            split_address(bad)


# -- attribute diffs -----------------------------------------------------------------------------


def diffs_of(summary: PlanSummary, address: str) -> dict[str, tuple]:
    change = next(c for c in summary.changes if c.address == address)
    return {d.path: (d.before, d.after) for d in change.diffs}


def test_module_layout_diffs_show_the_image_the_version_the_size_and_the_release_tag():
    summary = summarize(load_plan("plan-module-layout.json"))
    lt = diffs_of(summary, "module.green.aws_launch_template.this")
    old, new = "ami-81a68f64047b1e70b", "ami-324258708110a5bfb"
    assert lt == {
        "image_id": (old, new),
        "latest_version": ("1", UNKNOWN),
        "tag_specifications[0].tags.Release": ("", "planned"),
    }
    asg = diffs_of(summary, "module.green.aws_autoscaling_group.this")
    # Someone had set green's desired capacity to 1 by hand: the plan shows it, 1 -> 2.
    assert asg == {"launch_template[0].version": ("1", UNKNOWN), "desired_capacity": ("1", "2")}
    assert [d.path for d in summary.changes[0].diffs] == ["launch_template[0].version", "desired_capacity"]
    assert all(c.others == () and c.forces_replacement == () for c in summary.changes)


def test_for_each_layout_masks_sensitive_values_and_names_other_changes():
    plan = load_plan("plan-foreach-layout.json")
    # user_data is a sensitive variable in this stack; the fixture's after value was edited to
    # a new secret so that it changes.
    summary = summarize(plan)
    lt = next(c for c in summary.changes if c.address.endswith("aws_launch_template.this"))
    assert {d.path: (d.before, d.after) for d in lt.diffs} == {
        "image_id": ("ami-81a68f64047b1e70b", "ami-324258708110a5bfb"),
        "latest_version": ("1", UNKNOWN),
        "tags.Release": ("", "planned"),
    }
    assert lt.others == ("tags_all", "user_data")  # changed, not shown: not in MATTERS
    asg = diffs_of(summary, 'module.app["green"].aws_autoscaling_group.this')
    assert asg["tag.Release"] == ("", "planned")  # the ASG's tag blocks by key, not position
    assert "c2VjcmV0" not in repr(summary) and "bmV3LXNlY3JldA==" not in repr(summary)


def test_sensitive_and_unknown_values_in_attributes_that_matter():
    change = {
        "actions": ["update"],
        "before": {"image_id": "ami-old", "tags": {"Token": "s3cret", "Release": "r1"}, "min_size": 1},
        "after": {"image_id": "ami-new", "tags": {"Token": "s3cret2", "Release": "r2"}, "min_size": None},
        "after_unknown": {"min_size": True},
        "before_sensitive": {"image_id": True, "tags": {"Token": True}},
        "after_sensitive": {"tags": True},
    }
    plan = {"resource_changes": [{"address": "aws_launch_template.green", "change": change}]}
    diffs = diffs_of(summarize(plan), "aws_launch_template.green")
    assert diffs == {
        "image_id": (SENSITIVE, "ami-new"),  # sensitive before only: masked before only
        "min_size": ("1", UNKNOWN),
        "tags": (SENSITIVE, SENSITIVE),  # a whole map masked after: one line, masked both sides
    }
    assert "s3cret" not in repr(summarize(plan))


def test_a_block_unknown_as_a_whole_reads_as_one_line():
    change = {
        "actions": ["update"],
        "before": {"launch_template": [{"id": "lt-1", "version": "3"}]},
        "after": {"launch_template": None},
        "after_unknown": {"launch_template": True},
    }
    plan = {"resource_changes": [{"address": "module.green.aws_autoscaling_group.this", "change": change}]}
    assert diffs_of(summarize(plan), "module.green.aws_autoscaling_group.this") == {
        "launch_template": ('[{"id": "lt-1", "version": "3"}]', UNKNOWN),
    }


def test_unchanged_values_make_no_diff():
    same = {"image_id": "ami-1", "tags": {"a": "b"}, "min_size": 0, "secret": "x"}
    change = {"actions": ["update"], "before": same, "after": dict(same, description="new"),
              "before_sensitive": {"secret": True}, "after_sensitive": {"secret": True}}
    summary = summarize({"resource_changes": [{"address": "aws_launch_template.green", "change": change}]})
    assert summary.changes[0].diffs == () and summary.changes[0].others == ("description",)


def test_create_and_replace_show_what_matters():
    create = {
        "actions": ["create"],
        "before": None,
        "after": {"name": "web-green", "min_size": 0, "max_size": 10, "desired_capacity": 2,
                  "tag": [{"key": "Color", "value": "green", "propagate_at_launch": True},
                          {"key": "Service", "value": "web", "propagate_at_launch": False}],
                  "launch_template": [{"name": None, "version": None}]},
        "after_unknown": {"id": True, "arn": True, "launch_template": [{"id": True, "version": True}]},
        "before_sensitive": False,
        "after_sensitive": {},
    }
    replace = {
        "actions": ["create", "delete"],
        "before": {"image_id": "ami-old", "name": "web-green", "description": "a"},
        "after": {"image_id": "ami-new", "name": "web-green2", "description": "b"},
        "after_unknown": {},
        "replace_paths": [["name"]],
    }
    plan = {"resource_changes": [
        {"address": "aws_autoscaling_group.green", "change": create},
        {"address": "aws_launch_template.green", "change": replace},
    ]}
    summary = summarize(plan)
    assert diffs_of(summary, "aws_autoscaling_group.green") == {
        "launch_template[0].id": (None, UNKNOWN),
        "launch_template[0].version": (None, UNKNOWN),
        "min_size": (None, "0"),
        "desired_capacity": (None, "2"),
        "max_size": (None, "10"),
        "tag.Color": (None, "green"),
        "tag.Service": (None, "web (not propagated at launch)"),
    }
    assert summary.changes[0].others == ()  # a create lists only what matters
    assert summary.changes[1].action == "replace"
    assert summary.changes[1].others == ("description", "name")
    assert summary.changes[1].forces_replacement == ("name",)


# -- the refusal a release sees -----------------------------------------------------------------


class PlanOnlyTerraform:
    """A Terraform port whose plan is a stored ``show -json``; applying would be a bug here."""

    def __init__(self, plan: dict) -> None:
        self.plan_json = plan
        self.applied: list = []

    def plan(self, var_file, out) -> bool:
        return True

    def show_plan(self, plan_file) -> dict:
        return self.plan_json

    def apply_plan(self, plan_file) -> None:
        self.applied.append(plan_file)


def test_a_release_of_a_root_layout_with_the_default_pattern_is_refused_with_the_fix(tmp_path):
    from bluegreen.errors import BlastRadiusError, ExitCode
    from bluegreen.model import ColorVars, TfVars
    from bluegreen.stack import Stack

    tfvars_path = tmp_path / "bluegreen.auto.tfvars.json"
    ami = "ami-0123456789abcdef0"
    tfvars_path.write_text(json.dumps({"live_color": "blue", "colors": {
        "blue": {"ami": ami, "size": 2, "release": "v1"}, "green": {"ami": ami, "size": 0, "release": ""}}}))
    terraform = PlanOnlyTerraform(load_plan("plan-root-layout.json"))
    stack = Stack(terraform, tfvars_path, ("module.{color}",))
    new = TfVars(Color.BLUE, {Color.BLUE: ColorVars(ami, 2, "v1"), Color.GREEN: ColorVars(ami, 2, "v2")})
    with pytest.raises(BlastRadiusError) as info:
        stack.change(new, Color.GREEN, "release")
    message = str(info.value)
    assert info.value.exit_code is ExitCode.BLAST_RADIUS and "\n" not in message
    assert message == (
        "blast-radius check failed for release: the plan changes addresses outside green: update "
        "aws_autoscaling_group.green, update aws_launch_template.green (nothing was applied; "
        "aws_autoscaling_group.green, aws_launch_template.green are not recognised as green's: add "
        '"aws_autoscaling_group.{color}", "aws_launch_template.{color}" to [terraform] color_addresses)'
    )
    assert terraform.applied == []
    assert json.loads(tfvars_path.read_text())["colors"]["green"]["size"] == 0  # untouched
    # With the root layout's patterns the same plan goes through.
    ok = Stack(terraform, tfvars_path, ("aws_launch_template.{color}", "aws_autoscaling_group.{color}"))
    ok.change(new, Color.GREEN, "release")
    assert len(terraform.applied) == 1
