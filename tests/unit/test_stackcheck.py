"""`bluegreen check`/`init` around the pure contract: which patterns a config means, where each
group's .tf block is, the report, the starting bluegreen.toml and the color module."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from bluegreen import cli, contract, stackcheck
from bluegreen.config import TerraformSettings, parse_settings
from bluegreen.contract import Check

REPO = Path(__file__).resolve().parents[2]
PLAN = json.loads((Path(__file__).parent / "fixtures" / "check" / "plan.json").read_text())


def test_patterns_come_from_the_single_key_or_the_list():
    assert stackcheck.color_patterns(TerraformSettings()) == ("module.{color}",)

    class WithList:  # the shape of [terraform] once color_addresses exists
        color_address = "module.{color}"
        color_addresses = ("aws_autoscaling_group.{color}", "aws_launch_template.{color}")

    assert stackcheck.color_patterns(WithList()) == ("aws_autoscaling_group.{color}", "aws_launch_template.{color}")


def test_without_a_manifest_local_module_sources_are_followed():
    stack = REPO / "terraform" / "examples" / "web"
    found = stackcheck.read_groups_hcl(stack, PLAN, env={"TF_DATA_DIR": "/nonexistent"})
    blue = found["module.blue.aws_autoscaling_group.this"]
    assert blue is not None and blue.file == "../../modules/color/main.tf" and blue.line == 24


def test_each_group_block_is_found_through_the_module_manifest(tmp_path):
    stack = tmp_path / "stack"
    (stack / ".terraform" / "modules").mkdir(parents=True)
    color = REPO / "terraform" / "modules" / "color"
    (stack / ".terraform" / "modules" / "modules.json").write_text(json.dumps({"Modules": [
        {"Key": "", "Dir": "."},
        {"Key": "blue", "Dir": str(color)},
        {"Key": "green", "Dir": str(color)},
    ]}))
    found = stackcheck.read_groups_hcl(stack, PLAN, env={})
    assert set(found) == {"module.blue.aws_autoscaling_group.this", "module.green.aws_autoscaling_group.this"}
    blue = found["module.blue.aws_autoscaling_group.this"]
    assert blue is not None and blue.file.endswith("terraform/modules/color/main.tf") and blue.line == 24
    assert blue.names == ("load_balancers", "target_group_arns", "suspended_processes")


def test_the_report_lists_fixes_and_the_verdict():
    checks = [Check("output service", True, "'web'"),
              Check("dry plan", False, "a release onto green would also change: update x", "do y")]
    assert stackcheck.checks_text(checks, Path("/s")) == (
        "bluegreen check: /s\n"
        "  ok    output service: 'web'\n"
        "  FAIL  dry plan: a release onto green would also change: update x\n"
        "        fix: do y\n"
        "1 passed, 1 failed: a release cannot run until the failures are fixed"
    )
    assert stackcheck.checks_document(checks, Path("/s"))["ok"] is False


def test_init_writes_a_config_that_loads(tmp_path):
    discovery = stackcheck.Discovery(
        service="shop", patterns=("aws_autoscaling_group.{color}", "aws_launch_template.{color}"),
        outputs_missing=(), applied=True, notes=("a note",))
    stack = tmp_path / "infra" / "prod"
    stack.mkdir(parents=True)
    config = tmp_path / "bluegreen.toml"
    text = stackcheck.render_config(discovery, stack, config, binary="auto", region="eu-west-1")
    assert "# note: a note" in text
    data = tomllib.loads(text)
    assert data["terraform"]["dir"] == "infra/prod"
    settings = parse_settings(data, source=config)
    assert settings.service.name == "shop" and settings.service.region == "eu-west-1"
    assert settings.terraform.dir == stack
    assert stackcheck.color_patterns(settings.terraform)[0] == "aws_autoscaling_group.{color}"


def test_addresses_from_files_of_each_layout(tmp_path):
    (tmp_path / "main.tf").write_text(
        'resource "aws_launch_template" "blue" {}\nresource "aws_autoscaling_group" "blue" {}\n'
        'resource "aws_autoscaling_group" "green" {}\nmodule "traffic" {\n  source = "./t"\n}\n')
    addresses = stackcheck._addresses_from_files(tmp_path)
    assert contract.suggest_patterns(sorted(addresses)) == (
        "aws_autoscaling_group.{color}", "aws_launch_template.{color}")


def test_the_module_init_writes_is_the_repository_color_module(tmp_path):
    written = stackcheck.write_module(tmp_path / "color", force=False)
    for path in written:
        assert path.read_text() == (REPO / "terraform" / "modules" / "color" / path.name).read_text()


def test_init_refuses_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "main.tf").write_text("")
    (tmp_path / "bluegreen.toml").write_text("# mine\n")
    result = CliRunner().invoke(cli.app, ["init", "--dir", "."])
    assert result.exit_code == 3
    assert "bluegreen.toml already exists; pass --force to overwrite it" in result.output
    assert (tmp_path / "bluegreen.toml").read_text() == "# mine\n"
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "main.tf").write_text("# mine\n")
    monkeypatch.setattr(stackcheck, "discover", lambda *a, **k: stackcheck.Discovery(
        "web", ("module.{color}",), (), True, ()))
    result = CliRunner().invoke(cli.app, ["init", "--dir", ".", "--config", "new.toml", "--write-module", "mod"])
    assert result.exit_code == 3
    assert "main.tf already exists; pass --force to overwrite it" in result.output
    assert not (tmp_path / "new.toml").exists()
    result = CliRunner().invoke(cli.app, ["init", "--dir", ".", "--config", "new.toml", "--write-module", "mod", "--force"])
    assert result.exit_code == 0, result.output
    assert 'color_address' in (tmp_path / "new.toml").read_text()
    assert "ignore_changes" in (tmp_path / "mod" / "main.tf").read_text()


def test_init_needs_a_stack(tmp_path):
    result = CliRunner().invoke(cli.app, ["init", "--dir", str(tmp_path)])
    assert result.exit_code == 3
    assert f"--dir {tmp_path}: no Terraform files (*.tf) there; point --dir at the stack" in result.output


class FakeTerraform:
    """The runner as `gather` uses it: records the dry plan's variables."""

    env: dict[str, str] = {}

    def __init__(self, outputs):
        self.outputs_doc = outputs
        self.planned_vars = None

    def run(self, argv, ok=(0,)):
        assert argv == ["validate", "-json", "-no-color"] and ok == (0, 1)
        return type("R", (), {"stdout": '{"valid": true, "diagnostics": []}'})()

    def raw_outputs(self):
        return self.outputs_doc

    def plan(self, var_file, out):
        self.planned_vars = json.loads(Path(var_file).read_text())
        return True

    def show_plan(self, plan_file):
        return PLAN


def test_gather_plans_the_live_image_onto_the_idle_color(tmp_path):
    from bluegreen.app import App
    from bluegreen.config import Settings
    from bluegreen.report import Reporter

    committed = json.dumps({
        "live_color": "blue",
        "colors": {"blue": {"ami": "ami-0123456789abcdef0", "size": 3, "release": "r7"},
                   "green": {"ami": "ami-0123456789abcdef0", "size": 0, "release": ""}},
        "deregistration_delay": 3,
    })
    (tmp_path / "bluegreen.auto.tfvars.json").write_text(committed)
    settings = Settings().replace("terraform", dir=tmp_path)
    app = App(settings, Reporter(service="web", quiet=True))
    fake = FakeTerraform(json.loads((Path(__file__).parent / "fixtures/check/outputs.json").read_text()))
    app.__dict__["terraform"] = fake  # the cached adapter
    facts = stackcheck.gather(app)
    assert facts.idle is not None and facts.idle.value == "green"
    assert fake.planned_vars["colors"]["green"] == {"ami": "ami-0123456789abcdef0", "size": 3,
                                                    "release": "bluegreen-check"}
    assert fake.planned_vars["colors"]["blue"]["release"] == "r7"
    assert fake.planned_vars["deregistration_delay"] == 3  # the stack's other variables kept
    assert (tmp_path / "bluegreen.auto.tfvars.json").read_text() == committed
    assert facts.location.error is None and facts.location.where == str(tmp_path / ".bluegreen")
    assert [c.name for c in contract.evaluate(facts) if not c.ok] == [
        # no .terraform manifest in tmp_path: the group blocks cannot be located
        "ignore_changes (module.blue.aws_autoscaling_group.this)",
        "ignore_changes (module.green.aws_autoscaling_group.this)",
    ]
