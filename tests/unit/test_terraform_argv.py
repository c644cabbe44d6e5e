from pathlib import Path

from bluegreen.terraform import argv


def test_init_without_plugin_dirs():
    assert argv.init_argv() == ["init", "-input=false", "-no-color"]


def test_init_with_plugin_dirs():
    assert argv.init_argv(plugin_dirs=[Path("/m/a"), "/m/b"]) == [
        "init",
        "-input=false",
        "-no-color",
        "-plugin-dir=/m/a",
        "-plugin-dir=/m/b",
    ]


def test_plan_passes_variables_only_through_a_var_file():
    assert argv.plan_argv(Path("/s/next.tfvars.json"), Path("/s/release.tfplan"), lock_timeout="90s") == [
        "plan",
        "-input=false",
        "-lock-timeout=90s",
        "-detailed-exitcode",
        "-json",
        "-var-file=/s/next.tfvars.json",
        "-out=/s/release.tfplan",
    ]


def test_apply_applies_exactly_the_saved_plan():
    assert argv.apply_argv("/s/release.tfplan") == [
        "apply",
        "-input=false",
        "-lock-timeout=5m",
        "-auto-approve",
        "-json",
        "/s/release.tfplan",
    ]


def test_show_output_version():
    assert argv.show_plan_argv(Path("p.tfplan")) == ["show", "-json", "-no-color", "p.tfplan"]
    assert argv.output_argv() == ["output", "-json", "-no-color"]
    assert argv.show_state_argv() == ["show", "-json", "-no-color"]
    assert argv.version_argv() == ["version", "-json"]


def test_state_pull_reads_the_state_of_any_backend():
    assert argv.state_pull_argv() == ["state", "pull"]
def test_validate_and_show_state():
    assert argv.validate_argv() == ["validate", "-json", "-no-color"]
    assert argv.show_state_argv() == ["show", "-json", "-no-color"]
