"""Drift: where AWS differs from what Terraform's configuration says, each with the one step that
fixes it. Pure: ``status`` gathers the inputs and prints the result.

What is compared, and against what:

- desired capacity against the tfvars' ``size`` of the color: the configuration bluegreen owns
  (the contract maps ``colors.<color>.size`` onto the group's desired capacity);
- min and max size against Terraform's state (``terraform show -json``), that is, as the last
  apply set them. The stack computes them in HCL (the example: ``min_size = 0``, ``max_size =
  max(size, var.max_size)``), so bluegreen cannot derive them from the variables, and the state
  is what the last apply made of the configuration. A plan would compare with the configuration
  itself but takes the state lock and, on AWS, a refresh of every resource: too slow and too
  intrusive for ``status``;
- attachments against the live color, as the tfvars and Terraform's outputs name it.

While a run is in flight its own steps move capacity and attachments on purpose, so only the
attachment of both colors is judged then (with ``resume``/``abort`` as the fix).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from .model import Color, Observed, StackOutputs, TfVars, TrafficKind
from .plan import LiveAssessment


@dataclass(frozen=True)
class Capacity:
    min_size: int
    desired: int
    max_size: int


@dataclass(frozen=True)
class Drift:
    kind: str  # "capacity", "attachment" or "stray"
    color: Color | None  # None when the fix is a choice between the colors
    what: str
    fix: str

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind, "color": self.color.value if self.color else None,
                "what": self.what, "fix": self.fix}


@dataclass(frozen=True)
class Where:
    """How the fixes name things: the stack directory as the user would type it, the region."""

    stack_dir: str
    region: str


@dataclass(frozen=True)
class InFlight:
    run_id: str
    committed: bool  # past the point where the new color serves alone: resume, never abort

    @classmethod
    def of(cls, run: Any) -> "InFlight | None":
        """From a journal ``RunView`` (or ``None``)."""
        if run is None:
            return None
        return cls(run.run_id, run.committed)


def applied_capacity(state: Mapping[str, Any], asg_names: Mapping[Color, str]) -> dict[Color, Capacity]:
    """Each color's Auto Scaling group in ``terraform show -json`` (the state), found by the name
    the outputs give, wherever the stack declares it (a module per color, ``for_each``, the root).
    A color missing from the state is missing from the result."""
    by_name = {name: color for color, name in asg_names.items()}
    found: dict[Color, Capacity] = {}
    root = ((state.get("values") or {}).get("root_module")) or {}
    for resource in _resources(root):
        if resource.get("type") != "aws_autoscaling_group" or resource.get("mode", "managed") != "managed":
            continue
        values = resource.get("values") or {}
        color = by_name.get(values.get("name"))
        if color is None:
            continue
        try:
            found[color] = Capacity(int(values["min_size"]), int(values["desired_capacity"]), int(values["max_size"]))
        except (KeyError, TypeError, ValueError):
            continue  # a value the state does not hold (unknown): nothing to compare with
    return found


def _resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from module.get("resources") or []
    for child in module.get("child_modules") or []:
        yield from _resources(child)


def find(
    observed: Observed,
    assessment: LiveAssessment,
    tfvars: TfVars,
    outputs: StackOutputs,
    applied: Mapping[Color, Capacity] | None,
    in_flight: InFlight | None,
    where: Where,
) -> tuple[Drift, ...]:
    """Every drift, the stray color first: while both colors are attached nothing else can be
    released, so its fix comes before any capacity fix."""
    drifts: list[Drift] = []
    terraform_live = tfvars.live_color if tfvars.live_color == outputs.live_color else None
    if len(assessment.attached) == 2:
        drifts.append(_stray(assessment, tfvars, outputs, in_flight, where))
    if in_flight is not None:
        return tuple(drifts)
    if terraform_live is not None and len(assessment.attached) < 2:
        drifts += _attachment(assessment, terraform_live, outputs, where)
    for color in Color:
        drifts += _capacity(color, observed, tfvars, applied, terraform_live, where)
    return tuple(drifts)


def _stray(assessment: LiveAssessment, tfvars: TfVars, outputs: StackOutputs,
           in_flight: InFlight | None, where: Where) -> Drift:
    serving = assessment.serving
    terraform_live = tfvars.live_color if tfvars.live_color == outputs.live_color else None
    # Which color to take out, in order: the one without a healthy target (detaching it cannot
    # drop a request), else the one Terraform does not call live.
    if len(serving) == 1:
        stray: Color | None = serving[0].other()
        why = f"{stray} has no healthy InService target"
    elif terraform_live is not None:
        stray = terraform_live.other()
        why = f"the tfvars and Terraform's outputs call {terraform_live} live"
    else:
        stray, why = None, ""
    if in_flight is not None:
        command = "`bluegreen resume`" if in_flight.committed else "`bluegreen abort`"
        verb = "finishes" if in_flight.committed else "undoes"
        fix = f"{command} {verb} run {in_flight.run_id}, which left both attached"
        if stray is None:
            return Drift("stray", None, "both colors are attached to the load balancer", fix)
        return Drift("stray", stray, f"both colors are attached; {stray} is the stray one ({why})", fix)
    if stray is None:
        what = (f"both colors are attached and serve, and Terraform does not say which is live: "
                f"the tfvars call {tfvars.live_color} live, its output {outputs.live_color}")
        fix = (f"decide which color serves and detach the other: {detach_command(outputs, Color.BLUE, where)}"
               f" or {detach_command(outputs, Color.GREEN, where)}")
        return Drift("stray", None, what, fix)
    return Drift(
        "stray", stray,
        f"both colors are attached and no run is in flight; {stray} is the stray one ({why})",
        f"{detach_command(outputs, stray, where)} (its targets drain first; no bluegreen command "
        "runs while both are attached)",
    )


def _attachment(assessment: LiveAssessment, live: Color, outputs: StackOutputs, where: Where) -> list[Drift]:
    attached = assessment.attached
    if live in attached:
        return []
    if not attached:
        return [Drift(
            "attachment", live,
            f"{live} is live in Terraform but no color is attached to the load balancer",
            f"`bluegreen bootstrap` attaches {live} and waits until its targets are healthy",
        )]
    other = live.other()
    return [Drift(
        "attachment", live,
        f"{live} is live in Terraform but {other} is the color attached to the load balancer",
        f"attach {live} ({attach_command(outputs, live, where)}), wait until its targets are "
        f"healthy, then detach {other} ({detach_command(outputs, other, where)})",
    )]


def _capacity(color: Color, observed: Observed, tfvars: TfVars, applied: Mapping[Color, Capacity] | None,
              terraform_live: Color | None, where: Where) -> list[Drift]:
    group = observed.group(color)
    apply = f"`terraform -chdir={shlex.quote(where.stack_dir)} apply` sets it back"
    drifts = []
    size = tfvars.colors[color].size
    if group.desired_capacity != size:
        fix = f"{apply} to {size}"
        if color is terraform_live:
            # "Size follows reality": a release sizes the new color from the live one's desired
            # capacity, so keeping a hand-made scale-out is a release away.
            fix += (f"; or keep {group.desired_capacity}: the next `bluegreen release` sizes the new "
                    f"color {group.desired_capacity} and records it")
        drifts.append(Drift(
            "capacity", color,
            f"{color} desired capacity is {group.desired_capacity}, Terraform's configuration says "
            f"{size} (tfvars colors.{color}.size)",
            fix,
        ))
    capacity = (applied or {}).get(color)
    if capacity is not None:
        for name, actual, expected in (("min size", group.min_size, capacity.min_size),
                                       ("max size", group.max_size, capacity.max_size)):
            if actual != expected:
                drifts.append(Drift(
                    "capacity", color,
                    f"{color} {name} is {actual}, Terraform's last apply set {expected}",
                    f"{apply} to {expected}",
                ))
    return drifts


def detach_command(outputs: StackOutputs, color: Color, where: Where) -> str:
    return _aws_command("detach", outputs, color, where)


def attach_command(outputs: StackOutputs, color: Color, where: Where) -> str:
    return _aws_command("attach", outputs, color, where)


def _aws_command(verb: str, outputs: StackOutputs, color: Color, where: Where) -> str:
    group = shlex.quote(outputs.asg_names[color])
    name = shlex.quote(outputs.traffic_name)
    if outputs.traffic_kind is TrafficKind.ALB:
        what = f"{verb}-load-balancer-target-groups --auto-scaling-group-name {group} --target-group-arns {name}"
    else:
        what = f"{verb}-load-balancers --auto-scaling-group-name {group} --load-balancer-names {name}"
    return f"`aws autoscaling {what} --region {shlex.quote(where.region)}`"
