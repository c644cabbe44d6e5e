"""Packer manifest -> the AMI of the last run in a region."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bluegreen.errors import ExitCode, InputError
from bluegreen.packer import ami_from_manifest, is_ami_id

OLD_RUN = "2c7a1f0e-1111-4c3b-9d1e-0a0b0c0d0e0f"
NEW_RUN = "8e4b2d6c-2222-4f5a-8b7c-1a2b3c4d5e6f"

MANIFEST = {
    "builds": [
        {
            "name": "web",
            "builder_type": "amazon-ebs",
            "build_time": 1714550000,
            "files": None,
            "artifact_id": "us-east-1:ami-0aaaaaaaaaaaaaaa1,eu-west-1:ami-0aaaaaaaaaaaaaaa2",
            "packer_run_uuid": OLD_RUN,
            "custom_data": {"release": "41"},
        },
        {
            "name": "web",
            "builder_type": "amazon-ebs",
            "build_time": 1714636400,
            "files": None,
            "artifact_id": "us-east-1:ami-0bbbbbbbbbbbbbbb1,eu-west-1:ami-0bbbbbbbbbbbbbbb2",
            "packer_run_uuid": NEW_RUN,
            "custom_data": {"release": "42"},
        },
    ],
    "last_run_uuid": NEW_RUN,
}


def write(tmp_path: Path, content) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def input_error(path: Path, region: str = "us-east-1") -> str:
    with pytest.raises(InputError) as info:
        ami_from_manifest(path, region)
    assert info.value.exit_code is ExitCode.INPUT
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    return message


def test_last_run_wins(tmp_path):
    path = write(tmp_path, MANIFEST)
    assert ami_from_manifest(path, "us-east-1") == "ami-0bbbbbbbbbbbbbbb1"


def test_multi_region_artifact(tmp_path):
    path = write(tmp_path, MANIFEST)
    assert ami_from_manifest(path, "eu-west-1") == "ami-0bbbbbbbbbbbbbbb2"


def test_last_run_uuid_pointing_at_an_earlier_build(tmp_path):
    # A later, failed/other run appended after the one last_run_uuid names: the uuid decides,
    # not the position.
    data = json.loads(json.dumps(MANIFEST))
    data["last_run_uuid"] = OLD_RUN
    path = write(tmp_path, data)
    assert ami_from_manifest(path, "us-east-1") == "ami-0aaaaaaaaaaaaaaa1"


def test_without_last_run_uuid_the_last_entry_wins(tmp_path):
    data = {"builds": [dict(b) for b in MANIFEST["builds"]]}
    data["builds"].reverse()
    for build in data["builds"]:
        del build["packer_run_uuid"]
    path = write(tmp_path, data)
    assert ami_from_manifest(path, "us-east-1") == "ami-0aaaaaaaaaaaaaaa1"


@pytest.mark.parametrize("builds", [MANIFEST["builds"], MANIFEST["builds"][:1]], ids=["two-runs", "one-old-run"])
def test_unknown_last_run_uuid_is_refused(tmp_path, builds):
    # The last run failed before writing its build: falling back to the last entry would
    # release the previous run's AMI as if it were the new one.
    unknown = "ffffffff-0000-0000-0000-000000000000"
    path = write(tmp_path, dict(MANIFEST, builds=builds, last_run_uuid=unknown))
    message = input_error(path)
    assert f"last_run_uuid {unknown!r} matches no build" in message
    assert "packer build" in message and "--ami" in message


@pytest.mark.parametrize("uuid", [3, "", ["x"]])
def test_odd_last_run_uuid_is_refused(tmp_path, uuid):
    message = input_error(write(tmp_path, dict(MANIFEST, last_run_uuid=uuid)))
    assert "matches no build" in message


def test_null_last_run_uuid_means_an_old_packer(tmp_path):
    path = write(tmp_path, dict(MANIFEST, last_run_uuid=None))
    assert ami_from_manifest(path, "us-east-1") == "ami-0bbbbbbbbbbbbbbb1"


def test_short_legacy_ami_ids(tmp_path):
    path = write(tmp_path, {"builds": [{"artifact_id": "us-west-2:ami-1234abcd"}]})
    assert ami_from_manifest(path, "us-west-2") == "ami-1234abcd"


def test_missing_region_lists_the_regions_found(tmp_path):
    path = write(tmp_path, MANIFEST)
    message = input_error(path, "ap-south-1")
    assert "ap-south-1" in message
    assert "eu-west-1, us-east-1" in message


def test_empty_file(tmp_path):
    assert "empty" in input_error(write(tmp_path, "  \n"))


def test_invalid_json(tmp_path):
    message = input_error(write(tmp_path, '{"builds": [\n{"artifact_id": }\n'))
    assert "not valid JSON" in message
    assert "line 2" in message


@pytest.mark.parametrize("data", [{}, {"builds": []}, {"builds": {}}, [], {"builds": None}])
def test_no_builds(tmp_path, data):
    assert "no builds" in input_error(write(tmp_path, data))


def test_build_without_artifact_id(tmp_path):
    assert "no artifact_id" in input_error(write(tmp_path, {"builds": [{"name": "web"}]}))


def test_builds_that_are_not_objects(tmp_path):
    assert "no artifact_id" in input_error(write(tmp_path, {"builds": ["web", 3]}))


@pytest.mark.parametrize(
    "artifact_id",
    [
        "ami-0bbbbbbbbbbbbbbb1",  # no region
        "us-east-1:ami-XYZ",
        "us-east-1:sha256:0123abcd",  # a docker build
        "us-east-1:ami-0bbbbbbbbbbbbbbb1,",  # trailing comma
        "",
        ":ami-0bbbbbbbbbbbbbbb1",
    ],
)
def test_malformed_artifact_id(tmp_path, artifact_id):
    path = write(tmp_path, {"builds": [{"artifact_id": artifact_id}]})
    message = input_error(path)
    assert "artifact_id" in message
    assert repr(artifact_id) in message


def test_missing_file(tmp_path):
    path = tmp_path / "packer" / "manifest.json"
    message = input_error(path)
    assert "not found" in message
    assert "--ami" in message


def test_unreadable_manifest_is_an_input_error(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_bytes(b'{"builds": [{"artifact_id": "us-east-1:ami-\xff"}]}')
    assert "UTF-8" in input_error(path)
    directory = tmp_path / "dir.json"
    directory.mkdir()
    assert "cannot read" in input_error(directory)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ami-1234abcd", True),
        ("ami-0123456789abcdef0", True),
        ("ami-0123456789ABCDEF0", False),
        ("ami-123", False),
        ("ami-0123456789abcdef", False),  # 16 hex digits: neither 8 nor 17
        ("ami-0123456789abcdef0\n", False),
        ("lt-0123456789abcdef0", False),
    ],
)
def test_is_ami_id(value, ok):
    assert is_ami_id(value) is ok
