"""The pure parts of `bluegreen rehearse`: which plan resources the emulation cannot run, how the
stack's variables are filled, and the scratch copy (the stack with its local modules, nothing
written into the user's files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen.errors import ConfigError, ExitCode
from bluegreen.terraform import hcl
from bluegreen_lab import rehearse
from bluegreen_lab.rehearse import Network

NET = Network("vpc-1", ("subnet-a", "subnet-b"), "sg-1")
REPO = Path(__file__).resolve().parents[2]


def test_unsupported_resources_are_named_from_the_plan():
    plan = {"resource_changes": [
        {"address": "aws_elb.web", "type": "aws_elb", "mode": "managed"},
        {"address": "aws_rds_cluster.db", "type": "aws_rds_cluster", "mode": "managed"},
        {"address": "data.aws_ami.base", "type": "aws_ami", "mode": "data"},
        {"address": "data.aws_availability_zones.all", "type": "aws_availability_zones", "mode": "data"},
        {"address": "module.app[\"blue\"].aws_autoscaling_group.this", "type": "aws_autoscaling_group"},
    ]}
    found = rehearse.unsupported(plan)
    assert found == [("aws_rds_cluster.db", "aws_rds_cluster"), ("data.aws_ami.base", "aws_ami")]
    message = rehearse.unsupported_message(found, Path("/src/stack"))
    assert message.startswith("/src/stack: aws_rds_cluster.db is a aws_rds_cluster, which the lab's "
                              "emulation cannot run (and 1 more: data.aws_ami.base); nothing was applied")
    assert "\n" not in message
    assert rehearse.unsupported({"resource_changes": plan["resource_changes"][:1]}) == []


def test_variables_are_filled_from_the_lab_and_the_flags():
    values, missing = rehearse.variable_values(
        ["vpc_id", "subnet_ids", "private_subnet", "security_group_ids", "base_ami", "region",
         "service_name", "colors", "live_color", "instance_type"],
        ["vpc_id", "deregistration_delay", "health_check_interval", "instance_type", "colors"],
        {"instance_type": "t3.small", "health_check_interval": 30},
        network=NET, ami="ami-1", service="shop")
    assert values == {"vpc_id": "vpc-1", "subnet_ids": ["subnet-a", "subnet-b"], "private_subnet": "subnet-a",
                      "security_group_ids": ["sg-1"], "base_ami": "ami-1", "region": "us-east-1",
                      "service_name": "shop", "instance_type": "t3.small", "deregistration_delay": 3,
                      "health_check_interval": 30}
    assert missing == []
    _, missing = rehearse.variable_values(["ssh_key", "vpc_id", "db_password"], [], {}, network=NET,
                                          ami="ami-1", service="shop")
    assert missing == ["ssh_key", "db_password"]


def test_var_flags_parse_as_json_or_text():
    assert rehearse.parse_var("size=3") == ("size", 3)
    assert rehearse.parse_var('zones=["a","b"]') == ("zones", ["a", "b"])
    assert rehearse.parse_var("kind=elb") == ("kind", "elb")
    with pytest.raises(ConfigError) as error:
        rehearse.parse_var("novalue")
    assert error.value.exit_code == ExitCode.CONFIG


def test_variable_blocks_and_local_module_sources():
    text = '''
variable "a" {
  type = string
}
variable "b" { default = "x" }
variable "c" {
  validation {
    condition     = var.c != "default = 1"
    error_message = "no"
  }
}
module "m" {
  source = "../../modules/color"
}
module "r" {
  source  = "terraform-aws-modules/vpc/aws"
}
# module "commented" { source = "./nope" }
'''
    assert [(v.name, v.has_default) for v in hcl.variable_blocks(text)] == [("a", False), ("b", True), ("c", False)]
    assert hcl.local_module_sources(text) == ["../../modules/color"]


def test_the_scratch_copy_keeps_module_paths_and_leaves_state_behind(tmp_path):
    src = tmp_path / "src"
    stack = src / "stacks" / "web"
    module = src / "modules" / "color"
    stack.mkdir(parents=True)
    module.mkdir(parents=True)
    (src / "unrelated").mkdir()
    (src / "unrelated" / "big.bin").write_text("x")
    (stack / "main.tf").write_text('module "blue" {\n  source = "../../modules/color"\n}\n')
    (stack / "terraform.tfstate").write_text("{}")
    (stack / ".terraform").mkdir()
    (module / "main.tf").write_text("# module\n")
    copied = rehearse.copy_stack(stack, tmp_path / "scratch")
    assert copied == tmp_path / "scratch" / "stacks" / "web"
    assert (copied / "main.tf").is_file() and (copied / "../../modules/color/main.tf").resolve().is_file()
    assert not (copied / "terraform.tfstate").exists() and not (copied / ".terraform").exists()
    assert not (tmp_path / "scratch" / "unrelated").exists()


def test_the_override_points_terraform_at_the_emulation():
    text = rehearse.render_override("http://127.0.0.1:5000", local_backend=True)
    assert 'region                      = "us-east-1"' in text
    assert 'ec2         = "http://127.0.0.1:5000"' in text
    assert 'backend "local" {}' in text
    assert 'backend "local"' not in rehearse.render_override("http://127.0.0.1:5000", local_backend=False)


def test_the_example_layouts_declare_what_bluegreen_writes():
    for layout in ("web", "foreach", "plain"):
        _, declared = rehearse.root_variables(REPO / "terraform" / "examples" / layout)
        assert set(rehearse.OWNED_VARIABLES) <= set(declared), layout


def test_variables_the_stacks_own_tfvars_files_set_are_not_missing(tmp_path):
    (tmp_path / "terraform.tfvars.json").write_text('{"vpc_name": "x", "service_name": "y"}')
    (tmp_path / "prod.auto.tfvars").write_text('ssh_key = "k"\n# other = 1\n')
    (tmp_path / "ignored.tfvars").write_text('db_password = "p"\n')  # only read with -var-file
    assert rehearse.tfvars_names(tmp_path) == {"vpc_name", "service_name", "ssh_key"}
