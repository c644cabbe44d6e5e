from pathlib import Path

import pytest

from bluegreen.errors import ExitCode, TerraformError
from bluegreen.terraform.version import check_version, read_required_versions, translate_constraint


@pytest.mark.parametrize(
    "constraint, inside, outside",
    [
        ("~> 1.5", ["1.5.0", "1.9.9"], ["1.4.9", "2.0.0"]),
        ("~> 1.5.0", ["1.5.0", "1.5.9"], ["1.4.9", "1.6.0"]),
        ("~> 1", ["1.0.0", "7.1.0"], ["0.15.5"]),
        (">= 1.3.0", ["1.3.0", "1.15.5"], ["1.2.9"]),
        ("= 1.11.4", ["1.11.4"], ["1.11.5"]),
        ("1.11.4", ["1.11.4"], ["1.11.3"]),
        (">= 1.3, < 2.0, != 1.5.1", ["1.3.0", "1.5.0", "1.9.0"], ["1.5.1", "2.0.0", "1.2.0"]),
        ("> 1.10", ["1.10.1"], ["1.10.0"]),
    ],
)
def test_translation(constraint, inside, outside):
    spec = translate_constraint(constraint)
    for version in inside:
        assert spec.contains(version, prereleases=True), (constraint, version)
    for version in outside:
        assert not spec.contains(version, prereleases=True), (constraint, version)


def test_pessimistic_bounds_are_explicit():
    assert str(translate_constraint("~> 1.5")) in ("<2.0,>=1.5", ">=1.5,<2.0")
    assert set(str(translate_constraint("~> 1.5.0")).split(",")) == {">=1.5.0", "<1.6.0"}


def test_unsupported_constraint_is_named():
    with pytest.raises(ValueError, match="'=> 1.3'"):
        translate_constraint("=> 1.3")


def test_reads_required_version_and_ignores_comments(tmp_path: Path):
    (tmp_path / "versions.tf").write_text(
        'terraform {\n  # required_version = ">= 9.0"\n  required_version = ">= 1.3.0"\n}\n'
    )
    (tmp_path / "other.tf").write_text('/* required_version = "= 0.1" */\nlocals {}\n')
    assert read_required_versions(tmp_path) == [">= 1.3.0"]


def test_example_stack_constraint_is_readable():
    stack = Path(__file__).resolve().parents[2] / "terraform" / "examples" / "web"
    constraints = read_required_versions(stack)
    assert constraints == [">= 1.3.0"]
    check_version("1.15.5", constraints, binary="embedded", stack_dir=stack)
    check_version("1.11.4", constraints, binary="/usr/local/bin/terraform", stack_dir=stack)


def test_too_old_names_binary_version_and_constraint():
    with pytest.raises(TerraformError) as info:
        check_version("1.2.9", [">= 1.3.0"], binary="/opt/terraform", stack_dir=Path("/s"))
    message = str(info.value)
    assert "/opt/terraform" in message and "1.2.9" in message and ">= 1.3.0" in message
    assert info.value.exit_code is ExitCode.TERRAFORM
