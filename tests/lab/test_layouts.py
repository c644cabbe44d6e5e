"""The three stack layouts in the lab, through `bluegreen rehearse` on copies outside the
repository: plain root resources (a release under load, 0 failed requests), for_each over colors
(`bluegreen check` passes it and fails a broken copy with each fix, then a release). Module per
color is the session lab's own stack (tests/e2e, tests/lab). Classic ELB stacks: about 35 s each.

Each rehearsal brings up its own emulation and data plane, in the "solo" xdist group (moto's
backends are process-global: never beside the session lab)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bluegreen.report import Reporter

pytestmark = [pytest.mark.lab, pytest.mark.e2e, pytest.mark.layouts]

EXAMPLES = Path(__file__).resolve().parents[2] / "terraform" / "examples"


@pytest.fixture(autouse=True)
def _haproxy(haproxy_bin: str) -> None:
    """Skips (fails under CI) without haproxy."""


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_rehearse_the_plain_root_layout_copied_outside_the_repository(tmp_path):
    from bluegreen_lab.rehearse import run_rehearsal

    stack = tmp_path / "user" / "cart-stack"
    shutil.copytree(EXAMPLES / "plain", stack)
    before = _tree(stack)
    code = run_rehearsal(stack, workdir=tmp_path / "work", reporter=Reporter(service="rehearse", quiet=True))
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    assert code == 0, results
    release = results["releases"][0]
    assert release["failed_requests"] == 0 and results["traffic"]["failed_requests"] == 0
    assert release["versions"].get("v2", 0) > 0 and release["versions"].get("v1", 0) > 0
    assert results["color_addresses"] == ["aws_launch_template.{color}", "aws_autoscaling_group.{color}"]
    assert (tmp_path / "work" / "timeline.png").stat().st_size > 0
    assert _tree(stack) == before  # nothing written into the user's stack


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def test_for_each_layout_checks_and_releases_and_a_broken_copy_fails_with_each_fix(tmp_path):
    from bluegreen import commands, contract, stackcheck
    from bluegreen.app import App
    from bluegreen.config import load_settings
    from bluegreen_lab.rehearse import Rehearsal

    src = tmp_path / "user"
    shutil.copytree(EXAMPLES.parent, src / "terraform")  # the stack reaches ../../modules
    reporter = Reporter(service="rehearse", quiet=True)
    rehearsal = Rehearsal(src / "terraform" / "examples" / "foreach", tmp_path / "work", reporter)
    try:
        rehearsal.prepare()
        lab = rehearsal.lab
        assert lab is not None and rehearsal.stack_dir is not None
        checks = rehearsal.check()
        assert all(c.ok for c in checks), [c for c in checks if not c.ok]
        assert "ignore_changes (module.app.aws_autoscaling_group.this)" in [c.name for c in checks]

        # A copy of the applied stack (its state too), broken the way adopters break theirs.
        broken_root = tmp_path / "broken"
        shutil.copytree(rehearsal.stack_dir.parents[1], broken_root, symlinks=True)
        broken = broken_root / "examples" / "foreach"
        module = broken_root / "modules" / "color" / "main.tf"
        _edit(module, "version = aws_launch_template.this.latest_version", 'version = "$Latest"')
        _edit(module, "ignore_changes = [load_balancers, target_group_arns, suspended_processes]",
              "ignore_changes = [target_group_arns]")
        outputs = broken / "outputs.tf"
        outputs.write_text(re.sub(r'output "live_color" \{[^}]*\}\n', "", outputs.read_text()))
        config = tmp_path / "broken.toml"
        config.write_text(lab.config_path.read_text().replace(str(rehearsal.stack_dir), str(broken)))
        bad = {c.name: c for c in contract.evaluate(stackcheck.gather(App(load_settings(config), reporter)))
               if not c.ok}
        assert set(bad) == {"output live_color", "launch template version (blue)", "launch template version (green)",
                            "ignore_changes (module.app.aws_autoscaling_group.this)", "dry plan"}, bad
        assert bad["output live_color"].fix == ('add to the root module: output "live_color" '
                                                '{ value = var.live_color } ("blue" or "green")')
        assert bad["launch template version (blue)"].fix == (
            "pin the version in module.app.aws_autoscaling_group.this: launch_template { version = "
            "aws_launch_template.<name>.latest_version } ($Latest/$Default resolve at each launch, so the live "
            "group would launch the new image)")
        assert bad["ignore_changes (module.app.aws_autoscaling_group.this)"].fix == (
            'add lifecycle { ignore_changes = [load_balancers, target_group_arns] } to resource '
            '"aws_autoscaling_group" "this" in ../../modules/color/main.tf: bluegreen attaches and detaches the groups, '
            "and the next apply would undo it")

        commands.release(lab.app(reporter), ami=lab.bake("v2"), manifest=None, size=None, keep_old=False,
                         dry_run=False)
        status = commands.observe(lab.app(reporter))
        assert status.assessment.live is not None and status.assessment.live.value == "green"
    finally:
        rehearsal.stop()


def test_a_resource_the_emulation_cannot_run_is_one_line_before_any_apply(tmp_path):
    from bluegreen.errors import ConfigError, ExitCode
    from bluegreen_lab.rehearse import run_rehearsal

    stack = tmp_path / "user" / "cart-stack"
    shutil.copytree(EXAMPLES / "plain", stack)
    (stack / "queue.tf").write_text('resource "aws_sqs_queue" "jobs" {\n  name = "cart-jobs"\n}\n')
    with pytest.raises(ConfigError) as error:
        run_rehearsal(stack, workdir=tmp_path / "work", reporter=Reporter(service="rehearse", quiet=True))
    assert error.value.exit_code == ExitCode.CONFIG
    assert str(error.value).startswith(f"{stack}: aws_sqs_queue.jobs is a aws_sqs_queue, which the lab's "
                                       "emulation cannot run; nothing was applied")
    assert not list((tmp_path / "work" / "stack").glob("*.tfstate"))
