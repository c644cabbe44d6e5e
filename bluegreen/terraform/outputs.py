"""The stack's outputs (``terraform output -json``) as ``model.StackOutputs``: a pure parse that
names the missing or malformed output, so a stack that breaks the contract fails on load."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from ..errors import TerraformError
from ..model import Color, StackOutputs, TrafficKind

REQUIRED_OUTPUTS = (
    "service",
    "asg_names",
    "launch_template_ids",
    "traffic_kind",
    "target_group_arn",
    "elb_name",
    "lb_dns_name",
    "live_color",
)

_HINT = "the stack must define the outputs of terraform/examples/web/outputs.tf"


def parse_outputs(raw: Mapping[str, Any]) -> StackOutputs:
    """``raw`` is the parsed ``terraform output -json`` document ({name: {"value": ...}})."""
    if not raw:
        raise TerraformError(
            "the Terraform state has no outputs: the stack has not been applied yet",
            hint="run `terraform apply` in the stack directory, then `bluegreen bootstrap`",
        )
    values: dict[str, Any] = {}
    for name in REQUIRED_OUTPUTS:
        entry = raw.get(name)
        if not isinstance(entry, Mapping) or "value" not in entry:
            # target_group_arn / elb_name are null for the other traffic kind; Terraform omits
            # null outputs from `output -json` entirely, so absence of those two means null.
            if name in ("target_group_arn", "elb_name") and entry is None:
                values[name] = None
                continue
            raise TerraformError(f"terraform output {name!r} is missing", hint=_HINT)
        values[name] = entry["value"]

    try:
        kind = TrafficKind(_text(values, "traffic_kind"))
    except ValueError:
        raise TerraformError(
            f"terraform output 'traffic_kind' is {values['traffic_kind']!r}: expected 'alb' or 'elb'"
        ) from None
    try:
        live = Color.parse(_text(values, "live_color"))
    except ValueError as exc:
        raise TerraformError(f"terraform output 'live_color': {exc}") from None

    outputs = StackOutputs(
        service=_text(values, "service"),
        asg_names=_per_color(values, "asg_names"),
        launch_template_ids=_per_color(values, "launch_template_ids"),
        traffic_kind=kind,
        target_group_arn=_optional_text(values, "target_group_arn"),
        elb_name=_optional_text(values, "elb_name"),
        lb_dns_name=_text(values, "lb_dns_name"),
        live_color=live,
    )
    mode = raw.get("traffic_mode", {}).get("value") if isinstance(raw.get("traffic_mode"), Mapping) else None
    if mode not in (None, "attach", "weighted"):
        raise TerraformError(f"terraform output 'traffic_mode' is {mode!r}: expected 'attach' or 'weighted'")
    if mode == "weighted":
        if kind is not TrafficKind.ALB:
            raise TerraformError("terraform output 'traffic_mode' is 'weighted' but traffic_kind is "
                                 f"{kind.value!r}: the weighted mode needs an ALB listener")
        for name in ("listener_arn", "target_group_arns"):
            if not isinstance(raw.get(name), Mapping) or raw[name].get("value") in (None, ""):
                raise TerraformError(f"terraform output {name!r} is missing but traffic_mode is 'weighted'",
                                     hint=_HINT)
        values["listener_arn"] = raw["listener_arn"]["value"]
        values["target_group_arns"] = raw["target_group_arns"]["value"]
        return dataclasses.replace(outputs, traffic_mode="weighted",
                                   listener_arn=_text(values, "listener_arn"),
                                   color_target_groups=_per_color(values, "target_group_arns"))
    needed = "target_group_arn" if kind is TrafficKind.ALB else "elb_name"
    if not getattr(outputs, needed):
        raise TerraformError(f"terraform output {needed!r} is empty but traffic_kind is {kind.value!r}")
    return outputs


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    if not isinstance(value, str) or not value:
        raise TerraformError(f"terraform output {name!r} must be a non-empty string, got {value!r}")
    return value


def _optional_text(values: Mapping[str, Any], name: str) -> str | None:
    value = values[name]
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TerraformError(f"terraform output {name!r} must be a string or null, got {value!r}")
    return value


def _per_color(values: Mapping[str, Any], name: str) -> dict[Color, str]:
    value = values[name]
    if not isinstance(value, Mapping):
        raise TerraformError(f"terraform output {name!r} must be a map of color to name, got {value!r}")
    result: dict[Color, str] = {}
    for color in Color:
        item = value.get(color.value)
        if not isinstance(item, str) or not item:
            raise TerraformError(f"terraform output {name!r} has no value for {color.value!r}")
        result[color] = item
    return result
