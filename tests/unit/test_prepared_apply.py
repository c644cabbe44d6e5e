"""The apply step's seam for a plan made before the run's first AWS change (``PreparedApply``):
applied as it is, never planned again; a saved (reviewed) plan is never replaced by a new one.
Fakes record what the step asks of Terraform; no AWS, no Terraform."""

from __future__ import annotations

import importlib.util

from pathlib import Path

import pytest

from bluegreen.blast_radius import PlanSummary, ResourceChange, check
from bluegreen.config import Settings
from bluegreen.errors import StateMismatchError
from bluegreen.model import Color, ColorVars, StackOutputs, TfVars, TrafficKind
from bluegreen.plan import Mode, ReleasePlan, Step, release_vars
from bluegreen.release import Deps, PreparedApply, Switch
from bluegreen.report import Reporter
from bluegreen.stack import Preview

# Not `from conftest import ...`: under xdist another tier's conftest may already own that name.
_spec = importlib.util.spec_from_file_location("unit_conftest", Path(__file__).with_name("conftest.py"))
_unit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_unit)
AMI_NEW, AMI_OLD, TG_ARN, make_group = _unit.AMI_NEW, _unit.AMI_OLD, _unit.TG_ARN, _unit.make_group

VARS = TfVars(Color.BLUE, {Color.BLUE: ColorVars(AMI_OLD, 2, "v1"), Color.GREEN: ColorVars(AMI_OLD, 0, "")})
SUMMARY = PlanSummary((ResourceChange("module.green.aws_autoscaling_group.this", "update"),))


def preview(live_size: int, label: str = "saved") -> Preview:
    vars_ = release_vars(VARS, Color.GREEN, ColorVars(AMI_NEW, 2, "release-x"), live_size)
    return Preview(label, vars_, f"text-{label}", Path(f"/s/{label}.tfplan"), SUMMARY,
                   check(SUMMARY, Color.GREEN, "module.{color}"))


class FakeStack:
    def __init__(self) -> None:
        self.planned: list[TfVars] = []
        self.applied: list[Preview] = []

    def read_vars(self):
        return VARS, {}

    def preview(self, new_vars, allowed, label):
        self.planned.append(new_vars)
        return Preview(label, new_vars, "text-replanned", Path(f"/s/{label}.tfplan"), SUMMARY,
                       check(SUMMARY, allowed, "module.{color}"))

    def apply(self, p: Preview) -> None:
        self.applied.append(p)


class FakeAutoScaling:
    def __init__(self, live_desired: int) -> None:
        self.live_desired = live_desired

    def describe_group(self, name):
        color = Color.BLUE if name.endswith("blue") else Color.GREEN
        if color is Color.BLUE:
            return make_group(Color.BLUE, self.live_desired, attached=True)
        return make_group(Color.GREEN, 0)


class FakeJournal:
    def __init__(self) -> None:
        self.notes: list[tuple[Step, dict]] = []

    def note(self, step, **data):
        self.notes.append((step, data))


def switch(live_desired: int, prepared: PreparedApply | None) -> tuple[Switch, FakeStack, FakeJournal]:
    stack, journal = FakeStack(), FakeJournal()
    deps = Deps(settings=Settings(), autoscaling=FakeAutoScaling(live_desired), traffic=None,  # type: ignore[arg-type]
                stack=stack, journal=journal, waiter=None, reporter=Reporter(service="web", quiet=True))  # type: ignore[arg-type]
    outputs = StackOutputs("web", {c: f"web-{c.value}" for c in Color}, {c: f"lt-{c.value}" for c in Color},
                           TrafficKind.ALB, TG_ARN, None, "lb", Color.BLUE)
    plan = ReleasePlan(Mode.RELEASE, Color.BLUE, Color.GREEN, 2, AMI_NEW, (Step.SUSPEND, Step.APPLY_IDLE))
    return Switch(deps, plan, outputs, run_id="r1", restore_text="", release_label="release-x",
                  prepared=prepared), stack, journal  # type: ignore[arg-type]


@pytest.mark.parametrize("reviewed", [True, False])
def test_a_prepared_plan_is_applied_as_it_is(reviewed: bool):
    prepared = preview(2)
    s, stack, journal = switch(2, PreparedApply(prepared, reviewed=reviewed))
    s.do_apply_idle()
    assert stack.applied == [prepared] and stack.planned == []  # no second plan
    assert journal.notes == [(Step.APPLY_IDLE, {"applying": True})]  # the undo knows AWS may change


def test_a_reviewed_plan_is_never_replaced_when_the_live_color_moved():
    s, stack, journal = switch(3, PreparedApply(preview(2), reviewed=True))
    with pytest.raises(StateMismatchError) as info:
        s.do_apply_idle()
    assert "blue's desired capacity moved 2 -> 3" in str(info.value)
    assert stack.applied == [] and stack.planned == [] and journal.notes == []


def test_an_unreviewed_plan_is_made_again_when_the_live_color_moved():
    s, stack, _ = switch(3, PreparedApply(preview(2)))
    s.do_apply_idle()
    assert [v.colors[Color.BLUE].size for v in stack.planned] == [3]
    assert [p.text for p in stack.applied] == ["text-replanned"]


def test_without_a_prepared_plan_the_step_plans_as_before():
    s, stack, _ = switch(2, None)
    s.do_apply_idle()
    assert stack.planned == [release_vars(VARS, Color.GREEN, ColorVars(AMI_NEW, 2, "release-x"), 2)]
    assert len(stack.applied) == 1
