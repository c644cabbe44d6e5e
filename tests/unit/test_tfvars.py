"""The tfvars file bluegreen owns: strict parse, jinja2 render (StrictUndefined), atomic write."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jinja2
import pytest

from bluegreen import tfvars
from bluegreen.errors import ConfigError
from bluegreen.model import Color, ColorVars, TfVars

SOURCE = Path("/stack/bluegreen.auto.tfvars.json")

DOC = {
    "live_color": "blue",
    "colors": {
        "green": {"ami": "ami-0fedcba9876543210", "size": 0, "release": ""},
        "blue": {"ami": "ami-0123456789abcdef0", "size": 3, "release": "2024-05-01 build 41"},
    },
}


def doc(**changes):
    data = copy.deepcopy(DOC)
    data.update(changes)
    return data


def parse_error(data) -> str:
    with pytest.raises(ConfigError) as info:
        tfvars.parse(data, source=SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: "), message
    assert "\n" not in message
    return message


# -- parse / render ------------------------------------------------------------------------------


def test_parse():
    vars_, extra = tfvars.parse(doc(), source=SOURCE)
    assert vars_.live_color is Color.BLUE
    assert vars_.colors[Color.BLUE] == ColorVars("ami-0123456789abcdef0", 3, "2024-05-01 build 41")
    assert vars_.colors[Color.GREEN] == ColorVars("ami-0fedcba9876543210", 0, "")
    assert extra == {}


def test_round_trip_parse_render_parse():
    vars_, extra = tfvars.parse(doc(), source=SOURCE)
    text = tfvars.render(vars_, extra)
    again, extra_again = tfvars.parse(json.loads(text), source=SOURCE)
    assert again == vars_
    assert extra_again == extra
    assert tfvars.render(again, extra_again) == text


def test_extra_top_level_keys_are_preserved():
    extra_in = {
        "region": "eu-west-1",
        "tags": {"team": "web", "cost<center>": "a&b's"},
        "allowed_cidrs": ["10.0.0.0/8"],
        "instance_type": None,
        "zeta": 1.5,
    }
    vars_, extra = tfvars.parse(doc(**extra_in), source=SOURCE)
    assert extra == extra_in
    rendered = json.loads(tfvars.render(vars_, extra))
    for key, value in extra_in.items():
        assert rendered[key] == value
    assert rendered["live_color"] == "blue"


def test_rendered_output_is_valid_json_with_colors_in_blue_green_order():
    vars_, _ = tfvars.parse(doc(), source=SOURCE)  # green first in the input
    text = tfvars.render(vars_)
    data = json.loads(text)
    assert list(data["colors"]) == ["blue", "green"]
    assert list(data) == ["live_color", "colors"]
    assert data["colors"]["blue"] == {"ami": "ami-0123456789abcdef0", "size": 3, "release": "2024-05-01 build 41"}
    assert isinstance(data["colors"]["blue"]["size"], int)
    assert text.endswith("\n")


def test_render_escapes_strings():
    vars_ = TfVars(
        live_color=Color.GREEN,
        colors={
            Color.BLUE: ColorVars("ami-0123456789abcdef0", 1, 'he said "hi"\n\\ok'),
            Color.GREEN: ColorVars("ami-0fedcba9876543210", 2, "ünïcode </script>"),
        },
    )
    data = json.loads(tfvars.render(vars_))
    assert data["colors"]["blue"]["release"] == 'he said "hi"\n\\ok'
    assert data["colors"]["green"]["release"] == "ünïcode </script>"
    assert data["live_color"] == "green"


def test_with_color_and_with_live_render():
    vars_, extra = tfvars.parse(doc(), source=SOURCE)
    updated = vars_.with_color(Color.GREEN, ColorVars("ami-0aaaaaaaaaaaaaaaa", 3, "r42")).with_live(Color.GREEN)
    data = json.loads(tfvars.render(updated, extra))
    assert data["live_color"] == "green"
    assert data["colors"]["green"] == {"ami": "ami-0aaaaaaaaaaaaaaaa", "size": 3, "release": "r42"}
    assert vars_.colors[Color.GREEN].size == 0  # the original is untouched


# -- parse errors ---------------------------------------------------------------------------------


def test_unknown_color_key():
    data = doc()
    data["colors"]["red"] = {"ami": "ami-0123456789abcdef0", "size": 1, "release": ""}
    message = parse_error(data)
    assert "colors.red" in message
    assert "blue" in message and "green" in message


def test_missing_green():
    data = doc()
    del data["colors"]["green"]
    assert "missing key colors.green" in parse_error(data)


def test_missing_blue_ami():
    data = doc()
    del data["colors"]["blue"]["ami"]
    assert "missing key colors.blue.ami" in parse_error(data)


@pytest.mark.parametrize("size", [-1, True, False, 1.5, "3", None, 10_001, 2**63, float("inf")])
def test_bad_size(size):
    data = doc()
    data["colors"]["green"]["size"] = size
    message = parse_error(data)
    assert "colors.green.size" in message
    assert repr(size) in message


@pytest.mark.parametrize("live", ["red", "Blue", "", 1, None, True])
def test_bad_live_color(live):
    assert "live_color" in parse_error(doc(live_color=live))


def test_missing_live_color():
    data = doc()
    del data["live_color"]
    assert "missing key live_color" in parse_error(data)


@pytest.mark.parametrize("colors", [None, [], "blue"])
def test_colors_not_an_object(colors):
    assert "colors" in parse_error(doc(colors=colors))


def test_color_entry_not_an_object():
    data = doc()
    data["colors"]["blue"] = "ami-0123456789abcdef0"
    assert "colors.blue must be an object" in parse_error(data)


def test_unknown_key_in_a_color():
    data = doc()
    data["colors"]["blue"]["instance_type"] = "t3.micro"
    assert "unknown key colors.blue.instance_type" in parse_error(data)


@pytest.mark.parametrize("ami", ["", 5, None, "banana", "ami-123", "ami-0123456789ABCDEF0", "ami-0123456789abcdef0\n",
                                 " ami-0123456789abcdef0"])
def test_bad_ami(ami):
    data = doc()
    data["colors"]["blue"]["ami"] = ami
    assert "colors.blue.ami" in parse_error(data)


@pytest.mark.parametrize("release", [7, None, ["v1"], "x" * 257, "v1\nv2", "tab\there"])
def test_bad_release(release):
    data = doc()
    data["colors"]["green"]["release"] = release
    assert "colors.green.release" in parse_error(data)


def test_size_and_release_bounds_are_accepted():
    data = doc()
    data["colors"]["green"].update(size=tfvars.MAX_COLOR_SIZE, release="r" * tfvars.MAX_RELEASE_LENGTH)
    vars_, _ = tfvars.parse(data, source=SOURCE)
    assert vars_.colors[Color.GREEN].size == 10_000


@pytest.mark.parametrize("text, key", [
    ('{"live_color": "blue", "live_color": "green", "colors": {}}', "live_color"),
    ('{"live_color": "blue", "colors": {"blue": {"ami": "ami-0123456789abcdef0", "size": 1, "size": 2, '
     '"release": ""}, "green": {"ami": "ami-0123456789abcdef0", "size": 0, "release": ""}}}', "size"),
])
def test_read_refuses_duplicate_keys(tmp_path, text, key):
    # json.loads keeps the last silently; the file is ambiguous, so say so before anything runs.
    path = tmp_path / "bluegreen.auto.tfvars.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        tfvars.read(path)
    assert str(info.value).startswith(f"{path}: key {key!r} appears twice")


def test_not_an_object():
    assert "JSON object" in parse_error(["live_color", "blue"])


# -- read -----------------------------------------------------------------------------------------


def test_read(tmp_path):
    path = tmp_path / "bluegreen.auto.tfvars.json"
    path.write_text(json.dumps(doc(region="us-east-1")), encoding="utf-8")
    vars_, extra = tfvars.read(path)
    assert vars_.live_color is Color.BLUE
    assert extra == {"region": "us-east-1"}


def test_read_missing_file(tmp_path):
    path = tmp_path / "bluegreen.auto.tfvars.json"
    with pytest.raises(ConfigError) as info:
        tfvars.read(path)
    assert str(path) in str(info.value) and "not found" in str(info.value)


def test_read_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bluegreen.auto.tfvars.json"
    path.write_text('{\n  "live_color": "blue",\n  "colors": {,}\n}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        tfvars.read(path)
    assert str(path) in str(info.value)
    assert "line 3" in str(info.value)


def test_read_error_from_parse_names_the_file(tmp_path):
    path = tmp_path / "bluegreen.auto.tfvars.json"
    data = doc()
    del data["colors"]["blue"]["ami"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        tfvars.read(path)
    assert str(info.value) == f"{path}: missing key colors.blue.ami"


def test_read_undecodable_or_unreadable_file_is_a_config_error(tmp_path):
    path = tmp_path / "bluegreen.auto.tfvars.json"
    path.write_bytes(b'{"live_color": "bl\xffue"}')
    with pytest.raises(ConfigError) as info:
        tfvars.read(path)
    assert str(path) in str(info.value)
    directory = tmp_path / "dir.auto.tfvars.json"
    directory.mkdir()
    with pytest.raises(ConfigError) as info:
        tfvars.read(directory)
    assert str(directory) in str(info.value)


# -- the template itself --------------------------------------------------------------------------


def test_template_is_strict_about_missing_values():
    template = tfvars._ENV.get_template(tfvars._TEMPLATE)
    colors = {"blue": {"ami": "ami-0123456789abcdef0", "size": 1, "release": ""}}
    # Everything given: renders.
    assert json.loads(template.render(live_color="blue", colors=colors, extra={}))["live_color"] == "blue"
    # A value piped through ``tojson`` fails inside json.dumps (TypeError on the StrictUndefined
    # object) rather than with UndefinedError; either way nothing renders silently empty.
    with pytest.raises((jinja2.UndefinedError, TypeError), match="Undefined"):
        template.render(colors=colors, extra={})  # no live_color
    with pytest.raises((jinja2.UndefinedError, TypeError), match="Undefined"):
        template.render(live_color="blue", colors={"blue": {"ami": "ami-0123456789abcdef0", "size": 1}}, extra={})
    with pytest.raises(jinja2.UndefinedError, match="size"):
        template.render(live_color="blue", colors={"blue": {"ami": "ami-0123456789abcdef0", "release": ""}}, extra={})
    with pytest.raises(jinja2.UndefinedError, match="extra"):
        template.render(live_color="blue", colors=colors)  # no extra
    with pytest.raises(jinja2.UndefinedError, match="colors"):
        template.render(live_color="blue", extra={})  # no colors


def test_environment_uses_strict_undefined():
    assert tfvars._ENV.undefined is jinja2.StrictUndefined


# -- write ----------------------------------------------------------------------------------------


def test_write_replaces_content_atomically(tmp_path):
    path = tmp_path / "stack" / "bluegreen.auto.tfvars.json"
    tfvars.write(path, "first\n")  # creates the folder
    assert path.read_text(encoding="utf-8") == "first\n"
    vars_, extra = tfvars.parse(doc(), source=SOURCE)
    text = tfvars.render(vars_, extra)
    tfvars.write(path, text)
    assert path.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in path.parent.iterdir()) == ["bluegreen.auto.tfvars.json"]


def test_write_failure_leaves_old_content_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "bluegreen.auto.tfvars.json"
    path.write_text("old\n", encoding="utf-8")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tfvars.os, "replace", boom)
    with pytest.raises(ConfigError) as info:  # not an OSError: that would read "internal error"
        tfvars.write(path, "new\n")
    assert str(info.value).startswith(f"{tmp_path}: cannot write bluegreen.auto.tfvars.json (No space left on device)")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["bluegreen.auto.tfvars.json"]


def test_write_goes_through_a_temp_file_in_the_same_folder(tmp_path, monkeypatch):
    path = tmp_path / "bluegreen.auto.tfvars.json"
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src), Path(dst), Path(src).read_text(encoding="utf-8")))
        real_replace(src, dst)

    monkeypatch.setattr(tfvars.os, "replace", spy)
    tfvars.write(path, "content\n")
    ((src, dst, content),) = seen
    assert src.parent == path.parent and src != path
    assert dst == path
    assert content == "content\n"
