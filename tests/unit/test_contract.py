"""`bluegreen check`'s contract points, judged on Terraform's own JSON.

The fixtures are the lab's example stack (Terraform 1.15.5, AWS provider 3.39), trimmed: the
`output -json` of the applied stack and the `show -json` of check's dry plan (blue live, green
getting blue's image with the label bluegreen-check). Each broken case changes one fact the way a
real stack would and asserts the exact fix a person is told.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bluegreen import contract
from bluegreen.contract import Facts, IgnoreFact, LocationFact
from bluegreen.model import Color

FIXTURES = Path(__file__).parent / "fixtures" / "check"
MODULE_FILE = "../../modules/color/main.tf"
ALL_IGNORED = ("load_balancers", "target_group_arns", "suspended_processes")


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def facts(**changes: Any) -> Facts:
    base = dict(
        patterns=("module.{color}",),
        location=LocationFact("/stack/.bluegreen", "local"),
        validate={"valid": True, "diagnostics": []},
        outputs=load("outputs.json"),
        plan=load("plan.json"),
        idle=Color.GREEN,
        groups_hcl={
            f"module.{c}.aws_autoscaling_group.this": IgnoreFact(MODULE_FILE, 24, ALL_IGNORED)
            for c in ("blue", "green")
        },
    )
    base.update(changes)
    return Facts(**base)


def by_name(checks: list[contract.Check]) -> dict[str, contract.Check]:
    return {c.name: c for c in checks}


def failed(checks: list[contract.Check]) -> dict[str, contract.Check]:
    return {c.name: c for c in checks if not c.ok}


def asg(plan: dict, address: str) -> dict:
    for section in (plan["planned_values"], plan["prior_state"]["values"]):
        for resource in contract.module_resources(section["root_module"]):
            if resource["address"] == address:
                yield resource


# -- the passing stack -------------------------------------------------------------------------


def test_the_example_stack_passes_every_point():
    checks = contract.evaluate(facts())
    assert failed(checks) == {}
    names = [c.name for c in checks]
    assert names == [
        "terraform validate",
        "output service", "output asg_names", "output launch_template_ids", "output traffic_kind",
        "output target_group_arn", "output elb_name", "output lb_dns_name", "output live_color",
        "color addresses",
        "launch template version (blue)", "launch template version (green)",
        "tags (blue)", "tags (green)",
        "ignore_changes (module.blue.aws_autoscaling_group.this)",
        "ignore_changes (module.green.aws_autoscaling_group.this)",
        "dry plan",
        "lock and journal",
    ]
    got = by_name(checks)
    assert got["launch template version (blue)"].detail == "module.blue.aws_autoscaling_group.this = 1"
    # Green's template gets a new version in the dry plan: known after apply, pinned by reference.
    assert got["launch template version (green)"].detail == (
        "module.green.aws_autoscaling_group.this = aws_launch_template.this.latest_version (known after apply)"
    )
    assert got["dry plan"].detail == (
        "a release onto green changes only green: update module.green.aws_autoscaling_group.this, "
        "update module.green.aws_launch_template.this"
    )


# -- terraform ---------------------------------------------------------------------------------


def test_terraform_failing_to_start_skips_the_stack_points():
    checks = contract.evaluate(facts(terraform_error="terraform init failed in /s (exit 1): no provider"))
    assert [(c.name, c.ok) for c in checks] == [("terraform", False), ("lock and journal", True)]
    assert checks[0].fix == "fix what Terraform reports (run `terraform init` in the stack directory to see it)"


def test_an_invalid_configuration_names_file_and_line():
    validate = {"valid": False, "diagnostics": [{
        "severity": "error", "summary": "Unsupported argument",
        "detail": 'An argument named "lifecycle_x" is not expected here.\nmore',
        "range": {"filename": "main.tf", "start": {"line": 12, "column": 3}},
    }]}
    check = contract.check_terraform(facts(validate=validate))
    assert not check.ok
    assert check.detail == 'main.tf line 12: Unsupported argument: An argument named "lifecycle_x" is not expected here.'
    assert check.fix == "fix main.tf line 12, then run `terraform validate` in the stack directory"


# -- outputs -----------------------------------------------------------------------------------


def test_an_output_missing_from_the_configuration():
    plan = load("plan.json")
    del plan["configuration"]["root_module"]["outputs"]["live_color"]
    bad = failed(contract.check_outputs(facts(plan=plan)))
    assert list(bad) == ["output live_color"]
    assert bad["output live_color"].detail == "not declared in the root module"
    assert bad["output live_color"].fix == (
        'add to the root module: output "live_color" { value = var.live_color } ("blue" or "green")'
    )


def test_an_output_of_the_wrong_shape():
    outputs = load("outputs.json")
    outputs["asg_names"]["value"] = {"blue": "web-blue"}
    outputs["traffic_kind"]["value"] = "nlb"
    bad = failed(contract.check_outputs(facts(outputs=outputs)))
    assert bad["output asg_names"].detail == (
        "has no value for green; expected a map with each color's Auto Scaling group name under "
        '"blue" and "green"'
    )
    assert bad["output asg_names"].fix == (
        'define it as output "asg_names" { value = { blue = <blue group>.name, green = <green group>.name } }'
    )
    assert bad["output traffic_kind"].fix == 'define it as output "traffic_kind" { value = "alb" }'


def test_a_null_target_group_with_an_alb():
    outputs = load("outputs.json")
    del outputs["target_group_arn"]  # Terraform leaves null outputs out of `output -json`
    bad = failed(contract.check_outputs(facts(outputs=outputs)))
    assert list(bad) == ["output target_group_arn"]
    assert bad["output target_group_arn"].detail.startswith("is empty but traffic_kind is 'alb'")


def test_a_stack_never_applied_has_no_outputs_and_no_dry_plan():
    bad = failed(contract.evaluate(facts(outputs={})))
    assert not any(name.startswith("output ") for name in bad)  # declared: one point, not eight
    assert bad["outputs"].detail == "the state has no outputs: the stack has not been applied"
    assert bad["outputs"].fix == "run `terraform apply` in the stack directory, then `bluegreen bootstrap`"
    assert bad["dry plan"].fix == "run `terraform apply` in the stack directory, then `bluegreen bootstrap`"


# -- color addresses ---------------------------------------------------------------------------


def test_patterns_that_miss_the_colors_suggest_the_right_ones():
    check = contract.check_addresses(facts(patterns=("aws_autoscaling_group.{color}",)))
    assert not check.ok
    assert check.detail.startswith(
        "no aws_autoscaling_group matches blue's patterns (\"aws_autoscaling_group.{color}\"); "
        "no aws_autoscaling_group matches green's patterns"
    )
    assert check.fix == 'set [terraform] color_addresses = ["module.{color}"] in bluegreen.toml'


def test_asg_names_that_name_another_group():
    outputs = load("outputs.json")
    outputs["asg_names"]["value"] = {"blue": "web-blue", "green": "legacy-green"}
    check = contract.check_addresses(facts(outputs=outputs))
    assert not check.ok
    assert check.detail == "output asg_names.green is 'legacy-green' but green's group is named web-green"
    assert check.fix == "make output asg_names.green the name of module.green.aws_autoscaling_group.this"


def test_root_resources_and_for_each_layouts():
    assert contract.suggest_patterns([
        "aws_autoscaling_group.blue", "aws_autoscaling_group.green", "aws_launch_template.blue",
        'module.app["green"].aws_autoscaling_group.this', "module.traffic.aws_lb.this",
    ]) == ("aws_autoscaling_group.{color}", "aws_launch_template.{color}", 'module.app["{color}"]')
    patterns = ("aws_autoscaling_group.{color}", "aws_launch_template.{color}", 'module.app["{color}"]')
    assert contract.color_of("aws_launch_template.green", patterns) is Color.GREEN
    assert contract.color_of('module.app["blue"].aws_autoscaling_group.this[0]', patterns) is Color.BLUE
    assert contract.color_of("aws_autoscaling_group.bluegreen", patterns) is None
    assert contract.config_key('module.app["blue"].aws_autoscaling_group.this[0]') == (
        "module.app.aws_autoscaling_group.this")


# -- pinned launch template version ------------------------------------------------------------


def test_latest_in_the_live_group():
    plan = load("plan.json")
    for resource in asg(plan, "module.blue.aws_autoscaling_group.this"):
        resource["values"]["launch_template"][0]["version"] = "$Latest"
    bad = failed(contract.check_pinned_versions(facts(plan=plan)))
    assert list(bad) == ["launch template version (blue)"]
    assert bad["launch template version (blue)"].detail == (
        "module.blue.aws_autoscaling_group.this: launch_template.version = '$Latest'")
    assert bad["launch template version (blue)"].fix == (
        "pin the version in module.blue.aws_autoscaling_group.this: launch_template { version = "
        "aws_launch_template.<name>.latest_version } ($Latest/$Default resolve at each launch, so "
        "the live group would launch the new image)"
    )


def test_default_configured_where_the_planned_value_is_unknown():
    """The color module written with "$Default": both colors share the config block."""
    plan = load("plan.json")
    module = plan["configuration"]["root_module"]["module_calls"]["green"]["module"]
    group = next(r for r in module["resources"] if r["type"] == "aws_autoscaling_group")
    group["expressions"]["launch_template"][0]["version"] = {"constant_value": "$Default"}
    bad = failed(contract.check_pinned_versions(facts(plan=plan)))
    assert bad["launch template version (green)"].detail == (
        "module.green.aws_autoscaling_group.this: launch_template.version = '$Default'")


def test_a_group_without_a_launch_template():
    plan = load("plan.json")
    for resource in asg(plan, "module.blue.aws_autoscaling_group.this"):
        del resource["values"]["launch_template"]
    module = plan["configuration"]["root_module"]["module_calls"]["blue"]["module"]
    group = next(r for r in module["resources"] if r["type"] == "aws_autoscaling_group")
    del group["expressions"]["launch_template"]
    bad = failed(contract.check_pinned_versions(facts(plan=plan)))
    assert bad["launch template version (blue)"].detail == (
        "module.blue.aws_autoscaling_group.this has no launch template (a launch configuration?)")


# -- tags --------------------------------------------------------------------------------------


def test_a_group_tagged_with_the_wrong_color():
    plan = load("plan.json")
    for resource in asg(plan, "module.green.aws_autoscaling_group.this"):
        for tag in resource["values"]["tag"]:
            if tag["key"] == "Color":
                tag["value"] = "blue"
    bad = failed(contract.check_tags(facts(plan=plan)))
    assert list(bad) == ["tags (green)"]
    assert bad["tags (green)"].fix == (
        'tag module.green.aws_autoscaling_group.this with tag { key = "Color", value = "green", '
        'propagate_at_launch = true } and tag { key = "Service", value = "web", propagate_at_launch = true }'
    )


# -- ignore_changes ----------------------------------------------------------------------------


def test_a_group_that_does_not_ignore_its_attachments():
    hcl_facts = {
        "module.blue.aws_autoscaling_group.this": IgnoreFact(MODULE_FILE, 24, ("target_group_arns",)),
        "module.green.aws_autoscaling_group.this": IgnoreFact(MODULE_FILE, 24, None),
    }
    bad = failed(contract.check_ignore_changes(facts(groups_hcl=hcl_facts)))
    blue = bad["ignore_changes (module.blue.aws_autoscaling_group.this)"]
    assert blue.detail == f'{MODULE_FILE}:24 resource "aws_autoscaling_group" "this" does not ignore load_balancers'
    assert blue.fix == (
        'add lifecycle { ignore_changes = [load_balancers, target_group_arns] } to resource '
        f'"aws_autoscaling_group" "this" in {MODULE_FILE}: bluegreen attaches and detaches the groups, '
        "and the next apply would undo it"
    )
    green = bad["ignore_changes (module.green.aws_autoscaling_group.this)"]
    assert green.detail.endswith("does not ignore load_balancers, target_group_arns")


def test_ignore_all_passes_and_an_unreadable_block_fails():
    hcl_facts = {
        "module.blue.aws_autoscaling_group.this": IgnoreFact(MODULE_FILE, 24, ("all",)),
        "module.green.aws_autoscaling_group.this": None,
    }
    checks = by_name(contract.check_ignore_changes(facts(groups_hcl=hcl_facts)))
    assert checks["ignore_changes (module.blue.aws_autoscaling_group.this)"].ok
    green = checks["ignore_changes (module.green.aws_autoscaling_group.this)"]
    assert not green.ok
    assert green.detail == "resource \"aws_autoscaling_group\" \"this\" not found in the module's .tf files"


def test_a_stack_that_attaches_groups_itself():
    plan = load("plan.json")
    plan["configuration"]["root_module"]["resources"].append(
        {"address": "aws_autoscaling_attachment.blue", "mode": "managed",
         "type": "aws_autoscaling_attachment", "name": "blue"})
    bad = failed(contract.check_ignore_changes(facts(plan=plan)))
    assert bad["attachments"].detail == "the stack attaches to the load balancer itself: aws_autoscaling_attachment.blue"
    assert bad["attachments"].fix == (
        "remove these resources: bluegreen attaches the color it releases and detaches the old one")


# -- the dry plan ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "actions", "listed"),
    [
        ("module.blue.aws_launch_template.this", ["update"], "update module.blue.aws_launch_template.this"),
        ("module.traffic.aws_lb_listener.this[0]", ["delete", "create"], "replace module.traffic.aws_lb_listener.this[0]"),
        ("module.green.aws_launch_template.this", ["delete"], "delete module.green.aws_launch_template.this"),
    ],
)
def test_a_dry_plan_that_touches_more_than_the_idle_color(address, actions, listed):
    plan = load("plan.json")
    plan["resource_changes"] = [rc for rc in plan["resource_changes"] if rc["address"] != address]
    plan["resource_changes"].append({"address": address, "change": {"actions": actions}})
    check = contract.check_dry_plan(facts(plan=plan))
    assert not check.ok
    assert check.detail == f"a release onto green would also change: {listed}"
    assert check.fix == (
        "a release may change only green's addresses: if these belong to a color, add their prefix "
        "to [terraform] color_addresses; if they are shared, make them independent of the colors' "
        "variables; if they are drift, apply or revert it first (`terraform plan`)"
    )


def test_a_plan_that_failed_is_reported_first_not_raised():
    checks = contract.evaluate(facts(plan=None, idle=None, plan_fix="create it",
                                     plan_error="/s/bluegreen.auto.tfvars.json: tfvars file not found"))
    assert [c.name for c in checks][:2] == ["terraform validate", "dry plan"]  # the cause first
    bad = failed(checks)
    assert bad["dry plan"].detail == "did not run: /s/bluegreen.auto.tfvars.json: tfvars file not found"
    assert bad["dry plan"].fix == "create it"
    assert bad["color addresses"].detail == "not checked: the dry plan did not run"
    assert bad["color addresses"].fix == "fix that first, then re-run `bluegreen check`"
    assert [c.name for c in checks].count("dry plan") == 1


# -- lock and journal --------------------------------------------------------------------------


def test_an_unreachable_lock_location():
    local = contract.check_location(facts(location=LocationFact("/ro/.bluegreen", "local", "Read-only file system")))
    assert (local.ok, local.detail) == (False, "/ro/.bluegreen: Read-only file system")
    assert local.fix == "make /ro/.bluegreen a writable directory (bluegreen keeps the release lock and journal there)"
    s3 = contract.check_location(facts(location=LocationFact("s3://tf/web.tfstate.bluegreen-", "s3", "AccessDenied")))
    assert s3.fix == (
        "give this identity s3:GetObject, s3:PutObject and s3:DeleteObject on "
        "s3://tf/web.tfstate.bluegreen-* (beside the Terraform state), and check [aws] region/profile"
    )


def test_fixture_is_what_terraform_emitted():
    """Guards the fixtures against hand edits that would make the passing case meaningless."""
    plan = load("plan.json")
    assert plan["terraform_version"] == "1.15.5"
    changed = [rc["address"] for rc in plan["resource_changes"] if rc["change"]["actions"] != ["no-op"]]
    assert changed == ["module.green.aws_autoscaling_group.this", "module.green.aws_launch_template.this"]


# -- other layouts -----------------------------------------------------------------------------


def as_root_resources(plan: dict) -> dict:
    """The fixture rewritten as the "plain root resources" layout: aws_launch_template.blue,
    aws_autoscaling_group.blue, ... (how the Datawire sample and many teams write it)."""
    text = json.dumps(plan)
    for color in ("blue", "green"):
        for type_ in ("aws_autoscaling_group", "aws_launch_template"):
            text = text.replace(f"module.{color}.{type_}.this", f"{type_}.{color}")
    plan = json.loads(text)
    root = plan["configuration"]["root_module"]
    for color in ("blue", "green"):
        call = root["module_calls"].pop(color)
        for resource in call["module"]["resources"]:
            root["resources"].append({**resource, "address": f"{resource['type']}.{color}", "name": color})
    return plan


def test_root_resources_pass_with_a_pattern_per_type():
    plan = as_root_resources(load("plan.json"))
    patterns = ("aws_autoscaling_group.{color}", "aws_launch_template.{color}")
    groups_hcl = {f"aws_autoscaling_group.{c}": IgnoreFact("main.tf", 40, ALL_IGNORED) for c in ("blue", "green")}
    checks = contract.evaluate(facts(plan=plan, patterns=patterns, groups_hcl=groups_hcl))
    assert failed(checks) == {}
    assert by_name(checks)["dry plan"].detail == (
        "a release onto green changes only green: update aws_autoscaling_group.green, "
        "update aws_launch_template.green")


def test_root_resources_with_the_single_module_pattern_fail_with_the_patterns_to_use():
    plan = as_root_resources(load("plan.json"))
    groups_hcl = {f"aws_autoscaling_group.{c}": IgnoreFact("main.tf", 40, ALL_IGNORED) for c in ("blue", "green")}
    bad = failed(contract.evaluate(facts(plan=plan, groups_hcl=groups_hcl)))
    assert bad["color addresses"].fix == (
        'set [terraform] color_addresses = ["aws_autoscaling_group.{color}", '
        '"aws_launch_template.{color}"] in bluegreen.toml')
    assert bad["dry plan"].detail == (
        "a release onto green would also change: update aws_autoscaling_group.green, "
        "update aws_launch_template.green")


# -- the weighted mode's outputs ----------------------------------------------------------------


def weighted_outputs(**values: Any) -> dict[str, Any]:
    outputs = load("outputs.json")
    base = {"traffic_mode": "weighted", "listener_arn": "arn:aws:elasticloadbalancing:listener/app/web/1/2",
            "target_group_arns": {"blue": "arn:tg/web-blue", "green": "arn:tg/web-green"}}
    base.update(values)
    for name, value in base.items():
        if value is None:
            outputs.pop(name, None)
        else:
            outputs[name] = {"sensitive": False, "type": "string", "value": value}
    return outputs


def test_a_weighted_stack_passes_with_its_three_outputs():
    checks = by_name(contract.check_outputs(facts(outputs=weighted_outputs())))
    assert checks["output traffic_mode"].ok and checks["output listener_arn"].ok
    assert checks["output target_group_arns"].ok
    assert not failed(list(checks.values()))


def test_a_weighted_stack_without_a_listener_or_own_target_groups_is_told_the_fix():
    outputs = weighted_outputs(listener_arn=None, target_group_arns={"blue": "arn:tg/web", "green": "arn:tg/web"})
    bad = failed(contract.check_outputs(facts(outputs=outputs)))
    assert bad["output listener_arn"].fix == 'define it as output "listener_arn" { value = aws_lb_listener.<name>.arn }'
    assert bad["output target_group_arns"].detail.startswith("names one target group for both colors")


def test_an_attach_stack_never_needs_the_weighted_outputs():
    assert not failed(contract.check_outputs(facts(outputs=weighted_outputs(
        traffic_mode="attach", listener_arn=None, target_group_arns=None))))
    bad = failed(contract.check_outputs(facts(outputs=weighted_outputs(traffic_mode="canary"))))
    assert list(bad) == ["output traffic_mode"]
