"""The dependency floors in pyproject.toml admit no botocore that lacks what the code sends."""

from __future__ import annotations

import tomllib
from pathlib import Path

import botocore.session
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# The first botocore whose S3 model has IfMatch on PutObject (DeleteObject had it from 1.35.67);
# found by reading the S3 service model inside the 1.35.66-1.35.69 wheels.
IF_MATCH_SINCE = Version("1.35.69")


def _floors() -> dict[str, Version]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    floors = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        for spec in requirement.specifier:
            if spec.operator == ">=":
                floors[requirement.name] = Version(spec.version)
    return floors


@pytest.mark.parametrize("package", ["boto3", "botocore"])
def test_floor_has_s3_if_match(package: str) -> None:
    # boto3 1.35.69 requires botocore >= 1.35.69: both floors say the same thing.
    assert _floors().get(package, Version("0")) >= IF_MATCH_SINCE


@pytest.mark.parametrize("operation", ["PutObject", "DeleteObject"])
def test_installed_botocore_knows_if_match(operation: str) -> None:
    # The lease and journal pass IfMatch/IfNoneMatch; botocore validates parameters client-side.
    model = botocore.session.get_session().get_service_model("s3").operation_model(operation)
    assert "IfMatch" in model.input_shape.members
