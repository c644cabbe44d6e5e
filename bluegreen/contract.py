"""The Terraform contract (README "The Terraform contract") as pure checks: facts about a stack in,
one ``Check`` per contract point out, each failing one with the fix a person can apply.

The facts come from Terraform's own JSON (``validate -json``, ``output -json``, ``show -json`` of a
dry plan) plus what the JSON does not carry: each group's ``lifecycle.ignore_changes``, read from
the ``.tf`` files (``terraform/hcl.py``), and whether the lock/journal location is reachable.
``stackcheck.py`` gathers them; nothing here runs Terraform or AWS.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from . import blast_radius
from .model import Color

ASG = "aws_autoscaling_group"
LAUNCH_TEMPLATE = "aws_launch_template"
# Resources that attach groups or instances to a load balancer: attachment is bluegreen's job.
ATTACHMENT_TYPES = (
    "aws_autoscaling_attachment",
    "aws_autoscaling_traffic_source_attachment",
    "aws_lb_target_group_attachment",
    "aws_alb_target_group_attachment",
    "aws_elb_attachment",
)
REQUIRED_IGNORES = ("load_balancers", "target_group_arns")
DRY_RUN_RELEASE = "bluegreen-check"  # the release label of check's dry plan


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # empty when ok

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class IgnoreFact:
    """One ``aws_autoscaling_group`` block as read from the ``.tf`` files."""

    file: str  # as shown to the user (relative to the stack directory when inside it)
    line: int
    names: tuple[str, ...] | None  # None: no ignore_changes argument


@dataclass(frozen=True)
class LocationFact:
    where: str  # e.g. "/stack/.bluegreen" or "s3://bucket/key.bluegreen-lock"
    kind: str  # "local" or "s3"
    error: str | None = None


@dataclass(frozen=True)
class Facts:
    patterns: tuple[str, ...]  # color address patterns, "{color}" in each
    location: LocationFact
    terraform_error: str | None = None  # init / version failed: nothing else could be read
    validate: Mapping[str, Any] | None = None  # `validate -json`
    outputs: Mapping[str, Any] | None = None  # `output -json` ({} before the first apply)
    outputs_error: str | None = None
    plan: Mapping[str, Any] | None = None  # `show -json` of the dry plan
    plan_error: str | None = None  # why the dry plan did not run (one line)
    plan_fix: str = ""  # what to do about it
    idle: Color | None = None  # the color the dry plan releases onto
    # config key of each aws_autoscaling_group (module path + type.name, no instance keys) ->
    # its block in the .tf files; None when the block was not found.
    groups_hcl: Mapping[str, IgnoreFact | None] = field(default_factory=dict)


# -- addresses -------------------------------------------------------------------------------------

_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|[0-9]+)\]')


def config_key(address: str) -> str:
    """``module.app["blue"].aws_autoscaling_group.this[0]`` -> ``module.app.aws_autoscaling_group.this``:
    the address of the block in the configuration, whatever count/for_each made of it."""
    return _KEY.sub("", address)


def color_prefixes(patterns: Sequence[str], color: Color) -> tuple[str, ...]:
    return tuple(p.format(color=color.value) for p in patterns)


def color_of(address: str, patterns: Sequence[str]) -> Color | None:
    """The one color whose patterns own ``address``; ``None`` for shared (or ambiguous) ones."""
    owners = [
        color
        for color in Color
        if any(blast_radius.belongs_to(address, p) for p in color_prefixes(patterns, color))
    ]
    return owners[0] if len(owners) == 1 else None


_COLOR_SEGMENT = re.compile(
    r'^(?P<head>.*?)(?:(?P<word>\.)(?P<c1>blue|green)(?=$|[.\[])|\["(?P<c2>blue|green)"\])'
)


def suggest_pattern(address: str) -> str | None:
    """The shortest address prefix naming a color, with the color as ``{color}``:
    ``module.blue.aws_x.this`` -> ``module.{color}``, ``aws_autoscaling_group.green`` ->
    ``aws_autoscaling_group.{color}``, ``module.app["blue"].aws_x.this`` -> ``module.app["{color}"]``."""
    m = _COLOR_SEGMENT.match(address)
    if m is None:
        return None
    if m.group("c1"):
        return f"{m.group('head')}.{{color}}"
    return f'{m.group("head")}["{{color}}"]'


def suggest_patterns(addresses: Iterable[str]) -> tuple[str, ...]:
    found: list[str] = []
    for address in addresses:
        pattern = suggest_pattern(address)
        if pattern and pattern not in found:
            found.append(pattern)
    return tuple(found)


# -- plan JSON ------------------------------------------------------------------------------------


def module_resources(module: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    """Every resource of a ``planned_values``/``prior_state`` module, child modules included."""
    if not module:
        return
    yield from module.get("resources") or []
    for child in module.get("child_modules") or []:
        yield from module_resources(child)


def state_resources(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Managed resources by address: what the dry plan would leave (planned values), and for
    what it would delete, what is there now."""
    found: dict[str, Mapping[str, Any]] = {}
    prior = (plan.get("prior_state") or {}).get("values") or {}
    for resource in module_resources(prior.get("root_module")):
        if resource.get("mode", "managed") == "managed":
            found[resource["address"]] = resource
    for resource in module_resources((plan.get("planned_values") or {}).get("root_module")):
        if resource.get("mode", "managed") == "managed":
            found[resource["address"]] = resource
    return found


def config_resources(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Configuration resources by config key (``module.a.module.b.type.name``)."""
    found: dict[str, Mapping[str, Any]] = {}

    def walk(module: Mapping[str, Any], prefix: str) -> None:
        for resource in module.get("resources") or []:
            if resource.get("mode", "managed") == "managed":
                found[prefix + resource["address"]] = resource
        for name, call in (module.get("module_calls") or {}).items():
            walk(call.get("module") or {}, f"{prefix}module.{name}.")

    walk((plan.get("configuration") or {}).get("root_module") or {}, "")
    return found


def config_outputs(plan: Mapping[str, Any]) -> set[str]:
    root = (plan.get("configuration") or {}).get("root_module") or {}
    return set(root.get("outputs") or {})


def after_unknown(plan: Mapping[str, Any], address: str) -> Mapping[str, Any]:
    for rc in plan.get("resource_changes") or []:
        if rc.get("address") == address:
            return (rc.get("change") or {}).get("after_unknown") or {}
    return {}


# -- the checks ------------------------------------------------------------------------------------

_OUTPUT_SHAPES: dict[str, tuple[str, str]] = {
    # name: (what it must be, an example definition)
    "service": ("a non-empty string (the service name)", 'output "service" { value = var.service }'),
    "asg_names": (
        "a map with each color's Auto Scaling group name under \"blue\" and \"green\"",
        'output "asg_names" { value = { blue = <blue group>.name, green = <green group>.name } }',
    ),
    "launch_template_ids": (
        "a map with each color's launch template id under \"blue\" and \"green\"",
        'output "launch_template_ids" { value = { blue = <blue template>.id, green = <green template>.id } }',
    ),
    "traffic_kind": ('"alb" or "elb"', 'output "traffic_kind" { value = "alb" }'),
    "target_group_arn": (
        "the target group's ARN (null with a classic ELB)",
        'output "target_group_arn" { value = aws_lb_target_group.<name>.arn }',
    ),
    "elb_name": (
        "the classic ELB's name (null with an ALB)",
        'output "elb_name" { value = null }',
    ),
    "lb_dns_name": (
        "a non-empty string (the load balancer's DNS name)",
        'output "lb_dns_name" { value = <load balancer>.dns_name }',
    ),
    "live_color": ('"blue" or "green"', 'output "live_color" { value = var.live_color }'),
}


def _output_problem(name: str, value: Any, all_values: Mapping[str, Any]) -> str | None:
    """Why ``value`` does not fit output ``name``; ``None`` when it does."""
    if name in ("service", "lb_dns_name"):
        return None if isinstance(value, str) and value else f"is {value!r}"
    if name in ("asg_names", "launch_template_ids"):
        if not isinstance(value, Mapping):
            return f"is {value!r}, not a map"
        missing = [c.value for c in Color if not (isinstance(value.get(c.value), str) and value.get(c.value))]
        return f"has no value for {', '.join(missing)}" if missing else None
    if name == "traffic_kind":
        return None if value in ("alb", "elb") else f"is {value!r}"
    if name == "live_color":
        return None if value in ("blue", "green") else f"is {value!r}"
    if name in ("target_group_arn", "elb_name"):
        if value is not None and not isinstance(value, str):
            return f"is {value!r}, not a string or null"
        needed = "target_group_arn" if all_values.get("traffic_kind") == "alb" else "elb_name"
        if name == needed and all_values.get("traffic_kind") in ("alb", "elb") and not value:
            return f"is empty but traffic_kind is {all_values.get('traffic_kind')!r}"
        return None
    return None


def check_outputs(facts: Facts) -> list[Check]:
    from .terraform.outputs import REQUIRED_OUTPUTS

    if facts.outputs is None:
        return [Check("outputs", False, f"not read: {facts.outputs_error or 'terraform failed'}",
                      "fix what `terraform output` reports, then re-run `bluegreen check`")]
    declared = config_outputs(facts.plan) if facts.plan is not None else None
    applied = bool(facts.outputs)
    values = {
        name: entry.get("value")
        for name, entry in facts.outputs.items()
        if isinstance(entry, Mapping) and "value" in entry
    }
    checks = []
    for name in REQUIRED_OUTPUTS:
        shape, example = _OUTPUT_SHAPES[name]
        check_name = f"output {name}"
        if declared is not None and name not in declared:
            checks.append(Check(check_name, False, "not declared in the root module",
                                f"add to the root module: {example} ({shape})"))
            continue
        if not applied:
            continue  # one point for all of them, below
        # Terraform leaves null outputs out of `output -json`: for these two, absent means null.
        if name not in values and name not in ("target_group_arn", "elb_name"):
            checks.append(Check(check_name, False, "declared but not in the state",
                                "run `terraform apply` so the state has it"))
            continue
        value = values.get(name)
        problem = _output_problem(name, value, values)
        if problem:
            checks.append(Check(check_name, False, f"{problem}; expected {shape}", f"define it as {example}"))
        else:
            checks.append(Check(check_name, True, _short(value)))
    if not applied:
        checks.append(Check("outputs", False, "the state has no outputs: the stack has not been applied",
                            "run `terraform apply` in the stack directory, then `bluegreen bootstrap`"))
    elif "traffic_mode" in values:
        checks += check_weighted_outputs(values)
    return checks


_WEIGHTED_SHAPES = {
    "listener_arn": ("the ARN of the listener whose forward action carries the weights",
                     'output "listener_arn" { value = aws_lb_listener.<name>.arn }'),
    "target_group_arns": ("a map with each color's own target group ARN under \"blue\" and \"green\"",
                          'output "target_group_arns" { value = { blue = <blue tg>.arn, green = <green tg>.arn } }'),
}


def check_weighted_outputs(values: Mapping[str, Any]) -> list[Check]:
    """The weighted mode's outputs (README "Weighted mode"): checked only when the stack declares
    ``traffic_mode``, since the attach mode has none of them."""
    mode = values.get("traffic_mode")
    if mode not in ("attach", "weighted"):
        return [Check("output traffic_mode", False, f"is {mode!r}; expected \"attach\" or \"weighted\"",
                      'define it as output "traffic_mode" { value = "weighted" } (or "attach")')]
    checks = [Check("output traffic_mode", True, str(mode))]
    if mode == "attach":
        return checks
    if values.get("traffic_kind") != "alb":
        checks.append(Check("weighted mode", False,
                            f"traffic_mode is \"weighted\" but traffic_kind is {values.get('traffic_kind')!r}",
                            "the weighted mode needs an ALB listener: use traffic_mode = \"attach\" with a "
                            "classic ELB"))
    for name, (shape, example) in _WEIGHTED_SHAPES.items():
        value = values.get(name)
        if name == "listener_arn":
            problem = None if isinstance(value, str) and value else f"is {value!r}"
        else:
            problem = _output_problem("asg_names", value, values)  # the same per-color map shape
        if problem:
            checks.append(Check(f"output {name}", False, f"{problem}; expected {shape}", f"define it as {example}"))
        elif name == "target_group_arns" and value["blue"] == value["green"]:
            checks.append(Check(f"output {name}", False, "names one target group for both colors; the "
                                "weighted mode gives each color its own", f"define it as {example}"))
        else:
            checks.append(Check(f"output {name}", True, _short(value)))
    return checks


def _skipped(name: str, facts: Facts) -> Check:
    """A point that needs the dry plan when there is none."""
    why = ("the configuration is invalid" if not (facts.validate or {}).get("valid", True)
           else "the dry plan did not run")
    return Check(name, False, f"not checked: {why}", "fix that first, then re-run `bluegreen check`")


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, Mapping) else ", ".join(f"{k}={v}" for k, v in value.items())
    return text if len(text) <= 80 else text[:77] + "..."


def _colored(plan: Mapping[str, Any], patterns: Sequence[str], type_: str) -> dict[Color | None, list[str]]:
    by_color: dict[Color | None, list[str]] = {}
    for address, resource in state_resources(plan).items():
        if resource.get("type") == type_:
            by_color.setdefault(color_of(address, patterns), []).append(address)
    return by_color


def check_addresses(facts: Facts) -> Check:
    name = "color addresses"
    plan = facts.plan
    if plan is None:
        return _skipped(name, facts)
    shown = ", ".join(f'"{p}"' for p in facts.patterns)
    groups = _colored(plan, facts.patterns, ASG)
    templates = _colored(plan, facts.patterns, LAUNCH_TEMPLATE)
    everything = [a for addresses in list(groups.values()) + list(templates.values()) for a in addresses]
    suggested = suggest_patterns(sorted(everything))
    suggestion = ", ".join(f'"{p}"' for p in suggested) or '"module.{color}"'
    # Always the list key: it is what config.py reads first, and the older single key
    # `color_address` is read as a one-element list (setting both is an error).
    fix = f"set [terraform] color_addresses = [{suggestion}] in bluegreen.toml"
    problems = []
    for color in Color:
        if not groups.get(color):
            problems.append(f"no {ASG} matches {color}'s patterns ({shown})")
    stray = sorted(groups.get(None, []) + templates.get(None, []))
    if stray:
        problems.append(f"not any one color's: {', '.join(stray)}")
    asg_names = _output_value(facts, "asg_names")
    if isinstance(asg_names, Mapping):
        resources = state_resources(plan)
        for color in Color:
            names = {str((resources[a].get("values") or {}).get("name")) for a in groups.get(color, [])}
            wanted = asg_names.get(color.value)
            if names and wanted not in names:
                problems.append(
                    f"output asg_names.{color} is {wanted!r} but {color}'s group is named {', '.join(sorted(names))}"
                )
                fix = f"make output asg_names.{color} the name of {', '.join(sorted(groups[color]))}"
    if problems:
        return Check(name, False, "; ".join(problems), fix)
    found = "; ".join(f"{c}: {', '.join(sorted(groups[c] + templates.get(c, [])))}" for c in Color)
    return Check(name, True, found)


def _output_value(facts: Facts, name: str) -> Any:
    entry = (facts.outputs or {}).get(name)
    return entry.get("value") if isinstance(entry, Mapping) else None


def _launch_template_version(values: Mapping[str, Any]) -> tuple[bool, Any]:
    """(found, version) of a group's launch template, direct or in a mixed instances policy."""
    lt = values.get("launch_template")
    if isinstance(lt, list) and lt and isinstance(lt[0], Mapping):
        return True, lt[0].get("version")
    mip = values.get("mixed_instances_policy")
    try:
        spec = mip[0]["launch_template"][0]["launch_template_specification"][0]
        return True, spec.get("version")
    except (TypeError, KeyError, IndexError):
        return False, None


def _config_version(config: Mapping[str, Any] | None) -> tuple[str, Any]:
    """The configured ``launch_template.version``: ("constant", value), ("references", [...]) or
    ("absent", None)."""
    expressions = (config or {}).get("expressions") or {}
    blocks = expressions.get("launch_template")
    if not blocks:
        try:
            blocks = expressions["mixed_instances_policy"][0]["launch_template"][0]["launch_template_specification"]
        except (TypeError, KeyError, IndexError):
            return "absent", None
    version = blocks[0].get("version") if isinstance(blocks, list) and blocks else None
    if not isinstance(version, Mapping):
        return "absent", None
    if "constant_value" in version:
        return "constant", version["constant_value"]
    return "references", version.get("references") or []


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool) and str(value).isdigit()


def check_pinned_versions(facts: Facts) -> list[Check]:
    if facts.plan is None:
        return [_skipped("launch template version", facts)]
    plan = facts.plan
    resources = state_resources(plan)
    configs = config_resources(plan)
    groups = _colored(plan, facts.patterns, ASG)
    checks = []
    for color in Color:
        name = f"launch template version ({color})"
        addresses = sorted(groups.get(color, []))
        if not addresses:
            checks.append(Check(name, False, f"no {color} group found", "see the color addresses check"))
            continue
        problems = []
        shown = []
        for address in addresses:
            values = resources[address].get("values") or {}
            found, version = _launch_template_version(values)
            unknown = after_unknown(plan, address)
            kind, configured = _config_version(configs.get(config_key(address)))
            if not found and kind == "absent":
                problems.append(f"{address} has no launch template (a launch configuration?)")
                continue
            if found and version is not None and not _is_number(version):
                problems.append(f"{address}: launch_template.version = {version!r}")
            elif kind == "constant" and not _is_number(configured):
                problems.append(f"{address}: launch_template.version = {configured!r}")
            elif version is None and not unknown and kind == "absent":
                problems.append(f"{address}: launch_template.version is not set (AWS uses $Default)")
            elif version is not None:
                shown.append(f"{address} = {version}")
            else:
                ref = configured[0] if kind == "references" and configured else "a number"
                shown.append(f"{address} = {ref} (known after apply)")
        if problems:
            checks.append(Check(
                name, False, "; ".join(problems),
                f"pin the version in {', '.join(config_key(a) for a in addresses)}: launch_template "
                "{ version = aws_launch_template.<name>.latest_version } ($Latest/$Default resolve at "
                "each launch, so the live group would launch the new image)",
            ))
        else:
            checks.append(Check(name, True, "; ".join(shown)))
    return checks


def _tags(values: Mapping[str, Any]) -> dict[str, str] | None:
    """A group's tags from ``tag`` blocks (or the 3.x ``tags`` list of maps); None if unknown."""
    found: dict[str, str] = {}
    blocks = values.get("tag")
    legacy = values.get("tags") if isinstance(values.get("tags"), list) else None
    if blocks is None and legacy is None:
        return None
    for entry in (blocks or []) + (legacy or []):
        if isinstance(entry, Mapping) and isinstance(entry.get("key"), str):
            found[entry["key"]] = str(entry.get("value"))
    return found


def check_tags(facts: Facts) -> list[Check]:
    """Each group carries ``Service`` and ``Color``: ``status`` and the release read a group's
    color from its tag."""
    if facts.plan is None:
        return []
    resources = state_resources(facts.plan)
    groups = _colored(facts.plan, facts.patterns, ASG)
    service = _output_value(facts, "service")
    checks = []
    for color in Color:
        addresses = sorted(groups.get(color, []))
        if not addresses:
            continue
        problems = []
        for address in addresses:
            tags = _tags(resources[address].get("values") or {})
            if tags is None:
                continue  # known only after apply: nothing to judge yet
            if tags.get("Color") != color.value:
                problems.append(f"{address} has Color={tags.get('Color')!r}")
            if isinstance(service, str) and tags.get("Service") != service:
                problems.append(f"{address} has Service={tags.get('Service')!r}")
        name = f"tags ({color})"
        if problems:
            checks.append(Check(
                name, False, "; ".join(problems),
                f'tag {", ".join(config_key(a) for a in addresses)} with tag {{ key = "Color", value = '
                f'"{color}", propagate_at_launch = true }} and tag {{ key = "Service", value = '
                f'"{service}", propagate_at_launch = true }}',
            ))
        else:
            checks.append(Check(name, True, f"Service={service}, Color={color}"))
    return checks


def check_ignore_changes(facts: Facts) -> list[Check]:
    if facts.plan is None:
        return [_skipped("ignore_changes on attachments", facts)]
    checks = []
    configured = config_resources(facts.plan)
    keys = sorted(k for k, r in configured.items() if r.get("type") == ASG)
    for key in keys:
        name = f"ignore_changes ({key})"
        fact = facts.groups_hcl.get(key)
        type_name = key.rsplit(".", 2)
        block = f'resource "{type_name[-2]}" "{type_name[-1]}"'
        wanted = "lifecycle { ignore_changes = [load_balancers, target_group_arns] }"
        if fact is None:
            checks.append(Check(name, False, f"{block} not found in the module's .tf files",
                                f"add {wanted} to {block} (bluegreen could not read it)"))
            continue
        names = fact.names or ()
        if "all" in names:
            checks.append(Check(name, True, f"{fact.file}:{fact.line} ignore_changes = all"))
            continue
        missing = [n for n in REQUIRED_IGNORES if n not in names]
        if missing:
            checks.append(Check(
                name, False,
                f"{fact.file}:{fact.line} {block} does not ignore {', '.join(missing)}",
                f"add {wanted} to {block} in {fact.file}: bluegreen attaches and detaches the "
                "groups, and the next apply would undo it",
            ))
        else:
            checks.append(Check(name, True, f"{fact.file}:{fact.line} ignores {', '.join(names)}"))
    attachments = sorted(
        k for k, r in configured.items() if r.get("type") in ATTACHMENT_TYPES
    )
    if attachments:
        checks.append(Check(
            "attachments", False, f"the stack attaches to the load balancer itself: {', '.join(attachments)}",
            "remove these resources: bluegreen attaches the color it releases and detaches the old one",
        ))
    return checks


def check_dry_plan(facts: Facts) -> Check:
    name = "dry plan"
    if facts.plan is None or facts.idle is None:
        if not (facts.validate or {}).get("valid", True):
            return Check(name, False, "not run: the configuration is invalid",
                         "fix what terraform validate reports above")
        return Check(name, False, f"did not run: {facts.plan_error or 'no plan'}",
                     facts.plan_fix or "fix what `terraform plan` reports, then re-run `bluegreen check`")
    if facts.outputs is not None and not facts.outputs:
        return Check(name, False, "the stack has not been applied: a release plans against its state",
                     "run `terraform apply` in the stack directory, then `bluegreen bootstrap`")
    idle = facts.idle
    summary = blast_radius.summarize(dict(facts.plan))
    prefixes = color_prefixes(facts.patterns, idle)
    violations = [
        change for change in summary.changes
        if not (any(blast_radius.belongs_to(change.address, p) for p in prefixes)
                and change.action in ("create", "update", "replace"))
    ]
    if violations:
        listed = ", ".join(f"{v.action} {v.address}" for v in violations)
        return Check(
            name, False,
            f"a release onto {idle} would also change: {listed}",
            f"a release may change only {idle}'s addresses: if these belong to a color, add their "
            "prefix to [terraform] color_addresses; if they are shared, make them independent of "
            "the colors' variables; if they are drift, apply or revert it first (`terraform plan`)",
        )
    changed = ", ".join(f"{c.action} {c.address}" for c in summary.changes) or "nothing"
    return Check(name, True, f"a release onto {idle} changes only {idle}: {changed}")


def check_location(facts: Facts) -> Check:
    loc = facts.location
    name = "lock and journal"
    if loc.error is None:
        return Check(name, True, f"{loc.where} is reachable")
    if loc.kind == "s3":
        fix = (f"give this identity s3:GetObject, s3:PutObject and s3:DeleteObject on {loc.where}* "
               "(beside the Terraform state), and check [aws] region/profile")
    else:
        fix = f"make {loc.where} a writable directory (bluegreen keeps the release lock and journal there)"
    return Check(name, False, f"{loc.where}: {loc.error}", fix)


def check_terraform(facts: Facts) -> Check:
    if facts.terraform_error is not None:
        return Check("terraform", False, facts.terraform_error,
                     "fix what Terraform reports (run `terraform init` in the stack directory to see it)")
    validate = facts.validate or {}
    if validate.get("valid", True):
        return Check("terraform validate", True, "the configuration is valid")
    errors = [d for d in validate.get("diagnostics") or [] if d.get("severity") == "error"]
    first = errors[0] if errors else {}
    where = ""
    rng = first.get("range") or {}
    if rng.get("filename"):
        where = f"{rng['filename']} line {(rng.get('start') or {}).get('line', '?')}: "
    summary = str(first.get("summary", "invalid configuration")).strip()
    detail = str(first.get("detail", "")).strip().splitlines()
    text = f"{where}{summary}" + (f": {detail[0]}" if detail and detail[0] else "")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Check("terraform validate", False, text + more, f"fix {where.rstrip(': ') or 'the configuration'}, "
                 "then run `terraform validate` in the stack directory")


def evaluate(facts: Facts) -> list[Check]:
    """Every contract point, in the order a person would fix them."""
    checks = [check_terraform(facts)]
    if facts.terraform_error is None:
        if facts.plan is None:  # its cause first: the points after it depend on it
            checks.append(check_dry_plan(facts))
        checks += check_outputs(facts)
        checks.append(check_addresses(facts))
        checks += check_pinned_versions(facts)
        checks += check_tags(facts)
        checks += check_ignore_changes(facts)
        if facts.plan is not None:
            checks.append(check_dry_plan(facts))
    checks.append(check_location(facts))
    return checks
