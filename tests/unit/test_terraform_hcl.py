"""The minimal HCL reader behind `bluegreen check`'s ignore_changes point: Terraform's JSON has no
lifecycle arguments, so they are read from the module's .tf files."""

from __future__ import annotations

from pathlib import Path

from bluegreen.terraform import hcl

REPO = Path(__file__).resolve().parents[2]

TRICKY = '''
# resource "aws_autoscaling_group" "commented" { lifecycle { ignore_changes = [x] } }
/* resource "aws_autoscaling_group" "block_commented" {} */
resource "aws_autoscaling_group" "blue" {
  name      = "a}{${var.x}\\"q"
  user_data = <<-EOT
    lifecycle { ignore_changes = [bogus] }
  EOT
  tag {
    key = "lifecycle"
  }
  lifecycle {
    create_before_destroy = true
    ignore_changes = [ load_balancers, // the attachment is bluegreen's
      target_group_arns[0], tag ]
  }
}

resource "aws_autoscaling_group" "green" {
  lifecycle { ignore_changes = all }
}

resource "aws_launch_template" "blue" {
  name = "x"
}

module "blue" {
  source = "./m"
}
'''


def test_blocks_skip_comments_strings_and_heredocs():
    blocks = hcl.resource_blocks(TRICKY)
    assert [(b.type, b.name, b.line) for b in blocks] == [
        ("aws_autoscaling_group", "blue", 4),
        ("aws_autoscaling_group", "green", 19),
        ("aws_launch_template", "blue", 23),
    ]
    assert [hcl.ignore_changes(b) for b in blocks] == [
        ("load_balancers", "target_group_arns", "tag"),
        ("all",),
        None,
    ]
    assert hcl.module_names(TRICKY) == ["blue"]


def test_lifecycle_without_ignore_changes_is_none():
    (block,) = hcl.resource_blocks('resource "a" "b" {\n  lifecycle {\n    prevent_destroy = true\n  }\n}\n')
    assert hcl.ignore_changes(block) is None


def test_the_example_color_module_ignores_the_attachments():
    found = hcl.find_resource(REPO / "terraform/modules/color", "aws_autoscaling_group", "this")
    assert found is not None and found.file.name == "main.tf"
    assert found.ignore_changes == ("load_balancers", "target_group_arns", "suspended_processes")
    assert hcl.find_resource(REPO / "terraform/modules/color", "aws_autoscaling_group", "nope") is None


def test_an_override_file_wins(tmp_path):
    (tmp_path / "main.tf").write_text(
        'resource "aws_autoscaling_group" "g" {\n  lifecycle { ignore_changes = [tag] }\n}\n')
    (tmp_path / "g_override.tf").write_text(
        'resource "aws_autoscaling_group" "g" {\n  lifecycle { ignore_changes = [load_balancers] }\n}\n')
    found = hcl.find_resource(tmp_path, "aws_autoscaling_group", "g")
    assert found is not None and found.file.name == "g_override.tf"
    assert found.ignore_changes == ("load_balancers",)
