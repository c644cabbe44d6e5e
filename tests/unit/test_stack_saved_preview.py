"""``Stack.saved_preview``: a saved plan (``plan --out``) is judged by the blast-radius check with
the stack's own ``[terraform] color_addresses`` patterns, like a plan made by the release itself.
(It read an attribute that no longer existed, so every ``release --plan`` ended in an internal
error; only the session lab's e2e test saw it.) A stored ``show -json``; no Terraform."""

from __future__ import annotations

import json
from pathlib import Path

from bluegreen.model import Color
from bluegreen.stack import Stack

FIXTURES = Path(__file__).parent / "fixtures"
AMI = "ami-0123456789abcdef0"
SAVED_VARS = json.dumps({"live_color": "blue", "colors": {
    "blue": {"ami": AMI, "size": 2, "release": "v1"}, "green": {"ami": AMI, "size": 2, "release": "v2"}}})


class ShowOnlyTerraform:
    """A Terraform port that only reads a plan file back (``show -json``): a stored one."""

    def __init__(self, plan: dict) -> None:
        self.plan_json = plan
        self.shown: list[bytes] = []

    def show_plan(self, plan_file: Path) -> dict:
        self.shown.append(plan_file.read_bytes())
        return self.plan_json


def _stack(tmp_path: Path, patterns: tuple[str, ...]) -> tuple[Stack, ShowOnlyTerraform]:
    terraform = ShowOnlyTerraform(json.loads((FIXTURES / "plan-root-layout.json").read_text(encoding="utf-8")))
    return Stack(terraform, tmp_path / "bluegreen.auto.tfvars.json", patterns), terraform  # type: ignore[arg-type]


def test_a_saved_plan_is_checked_with_the_configured_color_patterns(tmp_path: Path) -> None:
    stack, terraform = _stack(tmp_path, ("aws_launch_template.{color}", "aws_autoscaling_group.{color}"))
    preview = stack.saved_preview(b"saved plan bytes", SAVED_VARS, Color.GREEN, "run-apply-idle", "release.plan")
    assert terraform.shown == [b"saved plan bytes"]  # the saved bytes themselves were shown
    assert preview.ok and preview.verdict is not None and preview.verdict.ok
    assert preview.vars.colors[Color.GREEN].release == "v2"


def test_a_saved_plan_outside_the_patterns_is_refused(tmp_path: Path) -> None:
    stack, _ = _stack(tmp_path, ("module.{color}",))
    preview = stack.saved_preview(b"saved plan bytes", SAVED_VARS, Color.GREEN, "run-apply-idle", "release.plan")
    assert not preview.ok
    assert preview.verdict is not None and not preview.verdict.ok
