"""`bluegreen check` under real Terraform on the session lab's applied stack: it passes the example
stack, and on a copy broken the way adopters break theirs ($Latest, a missing output, attachments
not ignored, a shared resource that follows a color's variables) it exits 3 with each fix.

Runs `python -m bluegreen` in a subprocess (the lab's Terraform env is in os.environ)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bluegreen.errors import ExitCode

pytestmark = pytest.mark.e2e


def run_check(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bluegreen", "check", "--config", str(config), *extra],
        env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )


def test_check_passes_the_lab_stack(alb_lab):
    tfvars_before = (alb_lab.stack_dir / "bluegreen.auto.tfvars.json").read_text()
    result = run_check(alb_lab.config_path, "--json")
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    names = [c["name"] for c in doc["checks"]]
    assert "dry plan" in names and "launch template version (green)" in names
    assert "ignore_changes (module.blue.aws_autoscaling_group.this)" in names
    assert all(c["ok"] for c in doc["checks"]), [c for c in doc["checks"] if not c["ok"]]
    # The dry plan is a scratch plan: the committed variables and the state are untouched.
    assert (alb_lab.stack_dir / "bluegreen.auto.tfvars.json").read_text() == tfvars_before
    assert alb_lab.app().stack.pending_changes().has_changes is False


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def _edit_block(path: Path, header: str, old: str, new: str) -> None:
    """Replace ``old`` once inside the top-level block that starts with ``header`` (up to its
    closing brace at the start of a line): alignment-proof, unlike a match on the whole line."""
    text = path.read_text()
    start = text.index(header)
    end = text.index("\n}", start)
    block = text[start:end]
    assert block.count(old) == 1, (path, header, old)
    path.write_text(text[:start] + block.replace(old, new) + text[end:])


def test_check_fails_a_broken_copy_with_each_fix(alb_lab, tmp_path):
    root = tmp_path / "terraform"
    shutil.copytree(alb_lab.stack_dir.parents[1], root, symlinks=True)
    stack = root / "examples" / "web"
    module = root / "modules" / "color" / "main.tf"
    _edit(module, "version = aws_launch_template.this.latest_version", 'version = "$Latest"')
    _edit(module, "ignore_changes = [load_balancers, target_group_arns, suspended_processes]",
          "ignore_changes = [target_group_arns]")
    outputs = stack / "outputs.tf"
    text = outputs.read_text()
    outputs.write_text(re.sub(r'output "live_color" \{[^}]*\}\n', "", text))
    # A shared resource that follows a color's variables: every release would change it.
    _edit_block(stack / "main.tf", 'module "traffic"', "= local.tags",
                '= merge(local.tags, { Releases = join(",", [for c in values(var.colors) : c.release]) })')
    config = tmp_path / "bluegreen.toml"
    config.write_text(alb_lab.config_path.read_text().replace(str(alb_lab.stack_dir), str(stack)))

    live = json.loads((stack / "bluegreen.auto.tfvars.json").read_text())["live_color"]
    idle = "green" if live == "blue" else "blue"

    result = run_check(config)
    assert result.returncode == ExitCode.CONFIG, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    out = result.stdout
    failed = {line.split(":", 1)[0].strip()[len("FAIL  "):] for line in out.splitlines()
              if line.strip().startswith("FAIL")}
    assert failed == {
        "output live_color",
        "launch template version (blue)",
        "launch template version (green)",
        "ignore_changes (module.blue.aws_autoscaling_group.this)",
        "ignore_changes (module.green.aws_autoscaling_group.this)",
        "dry plan",
    }, out
    assert ('fix: add to the root module: output "live_color" { value = var.live_color } '
            '("blue" or "green")') in out
    assert "FAIL  launch template version (blue): module.blue.aws_autoscaling_group.this: launch_template.version = '$Latest'" in out
    assert ("fix: pin the version in module.blue.aws_autoscaling_group.this: launch_template { version = "
            "aws_launch_template.<name>.latest_version }") in out
    assert ('FAIL  ignore_changes (module.blue.aws_autoscaling_group.this): ../../modules/color/main.tf:24 '
            'resource "aws_autoscaling_group" "this" does not ignore load_balancers') in out
    assert ('fix: add lifecycle { ignore_changes = [load_balancers, target_group_arns] } to resource '
            '"aws_autoscaling_group" "this" in ../../modules/color/main.tf') in out
    dry = next(line for line in out.splitlines() if line.strip().startswith("FAIL  dry plan"))
    assert "update module.traffic." in dry and f"update module.{live}.aws_autoscaling_group.this" in dry
    assert f"fix: a release may change only {idle}'s addresses" in out
    assert out.rstrip().endswith("failed: a release cannot run until the failures are fixed")


def test_init_then_check_on_the_lab_stack(alb_lab, tmp_path):
    """`bluegreen init` reads the applied stack (state addresses, the service output) and writes a
    config that `bluegreen check` passes with (the stack's provider override reaches the lab)."""
    config = tmp_path / "bluegreen.toml"
    result = subprocess.run(
        [sys.executable, "-m", "bluegreen", "init", "--dir", str(alb_lab.stack_dir), "--config", str(config),
         "--terraform-bin", "embedded", "--write-module", str(tmp_path / "color")],
        env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == ExitCode.OK, result.stderr
    text = config.read_text()
    assert 'name = "web"' in text and '"module.{color}"' in text
    assert "# note:" not in text  # nothing guessed: Terraform read the stack
    assert (tmp_path / "color" / "main.tf").is_file()
    checked = run_check(config)
    assert checked.returncode == ExitCode.OK, checked.stdout + checked.stderr
