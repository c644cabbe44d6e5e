"""bluegreen.toml -> Settings: defaults, the shipped example, path resolution, and one-line errors
that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen.config import Settings, load_settings, parse_settings, timing_bounds
from bluegreen.errors import ConfigError, ExitCode

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, text: str, name: str = "bluegreen.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message, "config errors are one line"
    assert str(path) in message, "config errors name the file"
    assert info.value.exit_code is ExitCode.CONFIG
    return message


# -- defaults and a complete file ---------------------------------------------------------------


def test_defaults():
    s = Settings()
    assert s.service.name == "web"
    assert s.service.region == "us-east-1"
    assert s.terraform.tfvars == "bluegreen.auto.tfvars.json"
    assert s.terraform.binary == "auto"
    assert s.terraform.color_addresses == ("module.{color}",)
    assert s.terraform.plugin_dir is None
    assert s.release.healthy_threshold == 1.0
    assert s.release.verify_seconds == 30
    assert s.release.keep_old_seconds == 0
    assert s.timeouts.poll_seconds == 10.0
    assert s.timeouts.unhealthy_grace_seconds == 60
    assert s.timeouts.terraform_apply_seconds == 3600
    assert s.timeouts.terraform_interrupt_seconds == 60


def test_missing_optional_file_gives_defaults(tmp_path):
    s = load_settings(tmp_path / "bluegreen.toml", required=False)
    assert s == Settings()


def test_empty_file_gives_defaults_with_source(tmp_path):
    path = write_config(tmp_path, "")
    s = load_settings(path)
    assert s.source == path
    assert s.service == Settings().service
    assert s.release == Settings().release
    assert s.timeouts == Settings().timeouts


def test_shipped_example_parses(tmp_path):
    example = (REPO_ROOT / "bluegreen.toml").read_text(encoding="utf-8")
    path = write_config(tmp_path, example)
    s = load_settings(path)
    assert s.service.name == "web"
    assert s.terraform.dir == tmp_path.resolve() / "terraform/examples/web"
    assert s.release.verify_seconds == 60
    assert s.timeouts.poll_seconds == 10.0
    assert isinstance(s.timeouts.poll_seconds, float)
    assert [h.point for h in s.hooks] == ["pre-traffic"] and s.hooks[0].cwd == tmp_path.resolve()
    assert [(n.kind, n.url_env) for n in s.notify] == [("slack", "SLACK_WEBHOOK_URL")]


def test_complete_file_parses(tmp_path):
    path = write_config(
        tmp_path,
        """
[service]
name = "shop"
region = "eu-west-1"

[terraform]
dir = "infra/stack"
tfvars = "colors.auto.tfvars.json"
binary = "tofu"
lock_timeout_seconds = 120
color_address = 'module.app["{color}"]'
plugin_dir = "mirror"

[aws]
endpoint_url = "http://127.0.0.1:5000"
profile = "prod"

[release]
verify_seconds = 90
healthy_threshold = 0.75
keep_old_seconds = 600
smoke_url = "http://lb/health"
lock_ttl_seconds = 1800

[timeouts]
instances_in_service_seconds = 300
targets_healthy_seconds = 200
drain_seconds = 100
unhealthy_grace_seconds = 30
poll_seconds = 2.5
""",
    )
    s = load_settings(path)
    base = tmp_path.resolve()
    assert s.service.name == "shop" and s.service.region == "eu-west-1"
    assert s.terraform.dir == base / "infra/stack"
    assert s.terraform.plugin_dir == base / "mirror"
    assert s.terraform.tfvars_path == base / "infra/stack/colors.auto.tfvars.json"
    assert s.terraform.binary == "tofu"
    assert s.terraform.lock_timeout_seconds == 120
    assert s.terraform.color_addresses == ('module.app["{color}"]',)  # the older single key
    assert s.aws.endpoint_url == "http://127.0.0.1:5000" and s.aws.profile == "prod"
    assert s.release.verify_seconds == 90
    assert s.release.healthy_threshold == 0.75
    assert s.release.keep_old_seconds == 600
    assert s.release.smoke_url == "http://lb/health"
    assert s.release.lock_ttl_seconds == 1800
    assert s.timeouts.instances_in_service_seconds == 300
    assert s.timeouts.targets_healthy_seconds == 200
    assert s.timeouts.drain_seconds == 100
    assert s.timeouts.unhealthy_grace_seconds == 30
    assert s.timeouts.poll_seconds == 2.5


def test_integer_where_a_number_is_expected_becomes_float(tmp_path):
    s = load_settings(write_config(tmp_path, "[release]\nhealthy_threshold = 1\n"))
    assert s.release.healthy_threshold == 1.0
    assert type(s.release.healthy_threshold) is float


def test_settings_are_frozen_and_replace_returns_a_copy(tmp_path):
    s = load_settings(write_config(tmp_path, "[terraform]\nbinary = \"auto\"\n"))
    changed = s.replace("terraform", binary="embedded")
    assert changed.terraform.binary == "embedded"
    assert s.terraform.binary == "auto"
    assert changed.terraform.dir == s.terraform.dir
    with pytest.raises(Exception):
        s.terraform.binary = "x"  # type: ignore[misc]


# -- paths ----------------------------------------------------------------------------------------


def test_paths_resolve_relative_to_the_config_file_not_the_cwd(tmp_path, monkeypatch):
    conf_dir = tmp_path / "repo" / "deploy"
    conf_dir.mkdir(parents=True)
    path = write_config(conf_dir, '[terraform]\ndir = "../terraform/web"\nplugin_dir = "mirror"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    s = load_settings(Path("..") / "repo" / "deploy" / "bluegreen.toml")
    assert s.terraform.dir.resolve() == (tmp_path / "repo" / "terraform" / "web").resolve()
    assert s.terraform.plugin_dir.resolve() == (conf_dir / "mirror").resolve()
    assert path.exists()


def test_default_dir_is_relative_to_the_config_file_too(tmp_path, monkeypatch):
    conf_dir = tmp_path / "repo"
    conf_dir.mkdir()
    write_config(conf_dir, '[service]\nname = "web"\n')
    monkeypatch.chdir(tmp_path)
    s = load_settings(Path("repo/bluegreen.toml"))
    assert s.terraform.dir.resolve() == (conf_dir / "terraform/examples/web").resolve()


def test_absolute_paths_are_kept(tmp_path):
    target = tmp_path / "abs" / "stack"
    s = load_settings(write_config(tmp_path, f'[terraform]\ndir = "{target}"\n'))
    assert s.terraform.dir == target


def test_tilde_expands(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = load_settings(write_config(tmp_path, '[terraform]\nplugin_dir = "~/mirror"\n'))
    assert s.terraform.plugin_dir == tmp_path / "home" / "mirror"


# -- errors: each names the file and the key ------------------------------------------------------


def test_missing_required_file(tmp_path):
    path = tmp_path / "nope" / "bluegreen.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)


def test_invalid_toml(tmp_path):
    message = config_error(tmp_path, "[service\nname = 'web'\n")
    assert "not valid TOML" in message
    assert "line 1" in message


def test_invalid_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "bluegreen.toml"
    path.write_bytes(b'[service]\nname = "w\xffeb"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(path) in str(info.value)
    assert "UTF-8" in str(info.value)


def test_directory_instead_of_file_is_a_config_error(tmp_path):
    path = tmp_path / "bluegreen.toml"
    path.mkdir()
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_unknown_section(tmp_path):
    message = config_error(tmp_path, "[servcie]\nname = 'web'\n")
    assert "unknown section [servcie]" in message
    assert "[service]" in message  # lists the known ones


def test_section_that_is_not_a_table(tmp_path):
    message = config_error(tmp_path, 'service = "web"\n')
    assert "service must be a table" in message


def test_unknown_key(tmp_path):
    message = config_error(tmp_path, "[release]\nverify_secs = 10\n")
    assert "unknown key release.verify_secs" in message
    assert "verify_seconds" in message  # lists the known keys


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('[release]\nverify_seconds = "60"\n', "release.verify_seconds", "an integer"),
        ("[release]\nverify_seconds = true\n", "release.verify_seconds", "an integer"),
        ("[release]\nverify_seconds = 1.5\n", "release.verify_seconds", "an integer"),
        ("[release]\nhealthy_threshold = true\n", "release.healthy_threshold", "a number"),
        ('[release]\nhealthy_threshold = "1"\n', "release.healthy_threshold", "a number"),
        ("[service]\nname = 5\n", "service.name", "a string"),
        ("[timeouts]\npoll_seconds = false\n", "timeouts.poll_seconds", "a number"),
    ],
)
def test_wrong_type(tmp_path, text, key, expected):
    message = config_error(tmp_path, text)
    assert f"{key} must be {expected}" in message
    assert "got " in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[terraform]\ndir = 5\n", "terraform.dir"),
        ('[terraform]\ndir = ""\n', "terraform.dir"),
        ("[terraform]\nplugin_dir = []\n", "terraform.plugin_dir"),
    ],
)
def test_bad_path_values(tmp_path, text, key):
    assert f"{key} must be a non-empty path string" in config_error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[release]\nhealthy_threshold = 0\n", "release.healthy_threshold"),
        ("[release]\nhealthy_threshold = 1.5\n", "release.healthy_threshold"),
        ("[release]\nhealthy_threshold = -0.5\n", "release.healthy_threshold"),
        ("[release]\nhealthy_threshold = nan\n", "release.healthy_threshold"),
        ("[release]\nverify_seconds = -1\n", "release.verify_seconds"),
        ("[release]\nkeep_old_seconds = -1\n", "release.keep_old_seconds"),
        ("[release]\nlock_ttl_seconds = 0\n", "release.lock_ttl_seconds"),
        ("[terraform]\nlock_timeout_seconds = -5\n", "terraform.lock_timeout_seconds"),
        ("[timeouts]\npoll_seconds = 0\n", "timeouts.poll_seconds"),
        ("[timeouts]\ndrain_seconds = -1\n", "timeouts.drain_seconds"),
        ("[timeouts]\ntargets_healthy_seconds = -1\n", "timeouts.targets_healthy_seconds"),
        ("[timeouts]\ninstances_in_service_seconds = -1\n", "timeouts.instances_in_service_seconds"),
        ("[timeouts]\nunhealthy_grace_seconds = -1\n", "timeouts.unhealthy_grace_seconds"),
        ("[timeouts]\nterraform_apply_seconds = -1\n", "timeouts.terraform_apply_seconds"),
        ("[timeouts]\nterraform_interrupt_seconds = -1\n", "timeouts.terraform_interrupt_seconds"),
        ('[service]\nname = ""\n', "service.name"),
        ('[terraform]\ncolor_address = "module.green"\n', "terraform.color_address"),
        ('[terraform]\nbinary = ""\n', "terraform.binary"),
        ('[terraform]\ntfvars = "bluegreen.tfvars.json"\n', "terraform.tfvars"),
        ('[terraform]\ntfvars = "bluegreen.auto.tfvars"\n', "terraform.tfvars"),
    ],
)
def test_out_of_range(tmp_path, text, key):
    assert key in config_error(tmp_path, text)


def test_threshold_boundaries_are_accepted(tmp_path):
    s = load_settings(write_config(tmp_path, "[release]\nhealthy_threshold = 1.0\n"))
    assert s.release.healthy_threshold == 1.0
    s = load_settings(write_config(tmp_path, "[release]\nhealthy_threshold = 0.01\n", "b.toml"))
    assert s.release.healthy_threshold == 0.01


def test_parse_settings_directly_names_the_source():
    with pytest.raises(ConfigError) as info:
        parse_settings({"release": {"verify_seconds": "x"}}, source=Path("/etc/bg/bluegreen.toml"))
    assert str(info.value).startswith("/etc/bg/bluegreen.toml: release.verify_seconds")


@pytest.mark.parametrize("text, seconds", [("600", 600), ("90s", 90), ("10m", 600), ("2h", 7200), (" 5M ", 300)])
def test_parse_duration(text, seconds):
    from bluegreen.config import parse_duration

    assert parse_duration(text, "--keep-old") == seconds


@pytest.mark.parametrize("text", ["", "ten", "10d", "-5m", "1.5h", "m"])
def test_parse_duration_refuses_with_the_flag_named(text):
    from bluegreen.config import parse_duration
    from bluegreen.errors import InputError

    with pytest.raises(InputError, match="--keep-old"):
        parse_duration(text, "--keep-old")


# -- terraform.color_addresses ------------------------------------------------------------------


def test_color_addresses_list(tmp_path):
    text = (
        '[terraform]\ncolor_addresses = ["module.{color}", "aws_launch_template.{color}", '
        '"aws_autoscaling_group.{color}", \'module.app["{color}"]\', "module.{color}"]\n'
    )
    s = load_settings(write_config(tmp_path, text))
    assert s.terraform.color_addresses == (
        "module.{color}",
        "aws_launch_template.{color}",
        "aws_autoscaling_group.{color}",
        'module.app["{color}"]',
    )  # in order, the repeat dropped


def test_older_single_key_is_a_one_element_list(tmp_path):
    s = load_settings(write_config(tmp_path, '[terraform]\ncolor_address = "module.web_{color}"\n'))
    assert s.terraform.color_addresses == ("module.web_{color}",)


def test_both_keys_is_one_line_error(tmp_path):
    message = config_error(
        tmp_path,
        '[terraform]\ncolor_address = "module.{color}"\ncolor_addresses = ["aws_autoscaling_group.{color}"]\n',
    )
    assert "terraform.color_address and terraform.color_addresses are set" in message
    assert "keep only color_addresses" in message and "'module.{color}'" in message


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("[]", "non-empty list"),
        ('"module.{color}"', "non-empty list"),
        ('["module.green"]', "'module.green' must be a string containing \"{color}\""),
        ('["module.{color}", 3]', "3 must be a string"),
        ('["module.{color}["]', "is not a Terraform address prefix"),
        ('["module..{color}"]', "is not a Terraform address prefix"),
    ],
)
def test_bad_color_addresses(tmp_path, value, needle):
    message = config_error(tmp_path, f"[terraform]\ncolor_addresses = {value}\n")
    assert "terraform.color_addresses" in message and needle in message


def test_bad_older_key_is_named_as_written(tmp_path):
    message = config_error(tmp_path, "[terraform]\ncolor_address = 7\n")
    assert "terraform.color_address must be a string" in message
# -- timing keys: finite and sane (TOML allows inf and nan) -------------------------------------


@pytest.mark.parametrize("value", ["inf", "+inf", "-inf", "nan", "0.01", "301", "1e300"])
def test_poll_seconds_must_be_finite_and_sane(tmp_path, value):
    # poll_seconds = inf used to pass, and a release then waited forever between polls.
    message = config_error(tmp_path, f"[timeouts]\npoll_seconds = {value}\n")
    assert "timeouts.poll_seconds must be a finite number of seconds in [0.1, 300]" in message
    assert "got " in message


@pytest.mark.parametrize("section, key", sorted(k for k in timing_bounds() if k != ("timeouts", "poll_seconds")))
def test_integer_timing_keys_have_an_upper_bound(tmp_path, section, key):
    # A TOML integer can be 2**63-1: a deadline that far away overflows datetime (internal error).
    message = config_error(tmp_path, f"[{section}]\n{key} = 9223372036854775807\n")
    assert f"{section}.{key} must be a finite number of seconds in" in message
    assert "got 9223372036854775807" in message


@pytest.mark.parametrize("section, key", [("release", "verify_seconds"), ("timeouts", "drain_seconds")])
def test_integer_timing_keys_refuse_inf_as_a_type_error(tmp_path, section, key):
    assert f"{section}.{key} must be an integer, got inf" in config_error(tmp_path, f"[{section}]\n{key} = inf\n")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_healthy_threshold_must_be_finite(tmp_path, value):
    assert "release.healthy_threshold must be in (0, 1]" in config_error(
        tmp_path, f"[release]\nhealthy_threshold = {value}\n")


def test_every_seconds_key_is_bounded():
    # Derived from the dataclasses: a timing key added later is checked without another edit.
    assert {("terraform", "lock_timeout_seconds"), ("release", "verify_seconds"), ("release", "keep_old_seconds"),
            ("release", "lock_ttl_seconds"), ("timeouts", "instances_in_service_seconds"),
            ("timeouts", "targets_healthy_seconds"), ("timeouts", "drain_seconds"),
            ("timeouts", "unhealthy_grace_seconds"), ("timeouts", "poll_seconds")} <= set(timing_bounds())


def test_timing_bounds_are_accepted(tmp_path):
    text = ("[terraform]\nlock_timeout_seconds = 86400\n[release]\nkeep_old_seconds = 604800\n"
            "verify_seconds = 0\n[timeouts]\npoll_seconds = 0.1\ndrain_seconds = 0\n")
    s = load_settings(write_config(tmp_path, text))
    assert s.release.keep_old_seconds == 604800 and s.timeouts.poll_seconds == 0.1
    s = load_settings(write_config(tmp_path, "[timeouts]\npoll_seconds = 300\n", "b.toml"))
    assert s.timeouts.poll_seconds == 300.0


@pytest.mark.parametrize("text", ["8d", "169h", "999999999999999999999h", "²"])
def test_parse_duration_refuses_absurd_or_odd_values(text):
    from bluegreen.config import parse_duration
    from bluegreen.errors import InputError

    with pytest.raises(InputError, match="--keep-old"):
        parse_duration(text, "--keep-old")


def test_parse_duration_accepts_a_week():
    from bluegreen.config import parse_duration

    assert parse_duration("168h", "--keep-old") == 7 * 86400


# -- [aws] endpoint_url --------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["localhost:5000", "127.0.0.1:5000", "ftp://host", "http://", "http://a b",
                                 "http://host:99999", "http://host:abc", "http://user:pw@host", "http://host/path",
                                 "http://host?x=1"])
def test_bad_endpoint_url(tmp_path, url):
    # Before: botocore's ValueError at the first client ("internal error", exit 1), or accepted.
    message = config_error(tmp_path, f'[aws]\nendpoint_url = "{url}"\n')
    assert f"aws.endpoint_url {url!r} is not an http(s)://host[:port] URL" in message


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:5000", "https://s3.eu-west-1.amazonaws.com",
                                 "http://localhost:5000/", "http://[::1]:4566"])
def test_good_endpoint_url(tmp_path, url):
    assert load_settings(write_config(tmp_path, f'[aws]\nendpoint_url = "{url}"\n')).aws.endpoint_url == url


def test_endpoint_flag_is_named():
    from bluegreen.config import check_endpoint_url

    with pytest.raises(ConfigError, match=r"^--endpoint-url 'localhost:5000' is not an http\(s\)://host"):
        check_endpoint_url(Settings().replace("aws", endpoint_url="localhost:5000"), "--endpoint-url")
    assert check_endpoint_url(Settings(), "--endpoint-url") == Settings()
