"""Bad input at the command line: one clear line naming the file, key or value, a distinct exit
code, no traceback, and nothing changed. Runs the real `python -m bluegreen` in a subprocess,
against a copy of the example stack with the offline provider mirror (no AWS is reached: every
case here fails before the first AWS call, or at it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bluegreen.errors import ExitCode
from bluegreen_lab.emulator import source_terraform_dir
from bluegreen_lab.toolchain import prepare_toolchain

pytestmark = pytest.mark.e2e

AMI = "ami-0123456789abcdef0"


@pytest.fixture(scope="module")
def mirror() -> Path:
    return prepare_toolchain().mirror_dir


@pytest.fixture()
def service(tmp_path: Path, mirror: Path) -> Path:
    """A service folder: bluegreen.toml plus a copy of terraform/ (example stack, modules)."""
    shutil.copytree(source_terraform_dir(), tmp_path / "terraform",
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", ".bluegreen"))
    (tmp_path / "bluegreen.toml").write_text(
        '[service]\nname = "web"\nregion = "us-east-1"\n\n'
        f'[terraform]\ndir = "terraform/examples/web"\nbinary = "embedded"\nplugin_dir = "{mirror}"\n\n'
        '[aws]\nendpoint_url = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    return tmp_path


def tfvars_of(service: Path) -> Path:
    return service / "terraform/examples/web/bluegreen.auto.tfvars.json"


def run(service: Path, *args: str, env: dict[str, str] | None = None,
        credentials: bool = True) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if credentials:
        base.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    base["AWS_DEFAULT_REGION"] = "us-east-1"
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bluegreen", *args],
        cwd=service, env=base, capture_output=True, text=True, timeout=180,
    )


def assert_refused(result: subprocess.CompletedProcess[str], code: ExitCode, *needles: str) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # one line, not a wall of text
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_unchanged(service: Path, before: str) -> None:
    assert tfvars_of(service).read_text(encoding="utf-8") == before
    assert not (service / "terraform/examples/web/.bluegreen/runs").exists()


def test_malformed_packer_manifest(service: Path) -> None:
    before = tfvars_of(service).read_text()
    (service / "manifest.json").write_text("{not json")
    result = run(service, "plan", "--packer-manifest", "manifest.json")
    assert_refused(result, ExitCode.INPUT, "manifest.json", "not valid JSON")
    assert_unchanged(service, before)


def test_empty_packer_manifest(service: Path) -> None:
    (service / "manifest.json").write_text("")
    result = run(service, "release", "--packer-manifest", "manifest.json")
    assert_refused(result, ExitCode.INPUT, "manifest.json", "empty")


def test_manifest_without_the_configured_region(service: Path) -> None:
    (service / "manifest.json").write_text(json.dumps({
        "builds": [{"name": "web", "builder_type": "amazon-ebs", "packer_run_uuid": "r1",
                    "artifact_id": f"eu-west-1:{AMI}"}],
        "last_run_uuid": "r1",
    }))
    result = run(service, "plan", "--packer-manifest", "manifest.json")
    assert_refused(result, ExitCode.INPUT, "us-east-1", "eu-west-1")


def test_manifest_whose_last_run_made_no_build(service: Path) -> None:
    # The last `packer build` failed: its uuid is in last_run_uuid but no build entry carries it.
    # Releasing the older entry's AMI instead would be a silent downgrade.
    before = tfvars_of(service).read_text()
    (service / "manifest.json").write_text(json.dumps({
        "builds": [{"name": "web", "builder_type": "amazon-ebs", "packer_run_uuid": "r1",
                    "artifact_id": f"us-east-1:{AMI}"}],
        "last_run_uuid": "r2",
    }))
    result = run(service, "release", "--packer-manifest", "manifest.json")
    assert_refused(result, ExitCode.INPUT, "manifest.json", "'r2'", "packer build")
    assert_unchanged(service, before)


def test_not_an_ami_id(service: Path) -> None:
    result = run(service, "plan", "--ami", "ubuntu-latest")
    assert_refused(result, ExitCode.INPUT, "ubuntu-latest")


def test_missing_terraform_directory(service: Path) -> None:
    shutil.rmtree(service / "terraform")
    result = run(service, "status")
    assert_refused(result, ExitCode.CONFIG, "bluegreen.toml", "terraform.dir", "does not exist")


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda d: d["colors"].update(red=d["colors"]["blue"]), "colors.red"),
        (lambda d: d["colors"].pop("green"), "colors.green"),
        (lambda d: d["colors"]["blue"].pop("ami"), "colors.blue.ami"),
        (lambda d: d.update(live_color="purple"), "live_color"),
        (lambda d: d["colors"]["green"].update(ami="latest"), "colors.green.ami"),
        (lambda d: d["colors"]["blue"].update(size=2**40), "colors.blue.size"),
        (lambda d: d["colors"]["green"].update(release="x" * 300), "colors.green.release"),
    ],
    ids=["unknown-color", "missing-color", "missing-key", "bad-live-color", "ami-not-an-id", "size-absurd",
         "release-too-long"],
)
def test_bad_tfvars(service: Path, mutate, needle: str) -> None:
    document = json.loads(tfvars_of(service).read_text())
    mutate(document)
    tfvars_of(service).write_text(json.dumps(document))
    before = tfvars_of(service).read_text()
    result = run(service, "plan", "--ami", AMI)
    assert_refused(result, ExitCode.CONFIG, "bluegreen.auto.tfvars.json", needle)
    assert_unchanged(service, before)


def test_duplicate_key_in_tfvars(service: Path) -> None:
    text = tfvars_of(service).read_text()
    tfvars_of(service).write_text(text.replace('"live_color": "blue"', '"live_color": "blue", "live_color": "green"', 1))
    before = tfvars_of(service).read_text()
    assert before != text
    result = run(service, "release", "--ami", AMI)
    assert_refused(result, ExitCode.CONFIG, "bluegreen.auto.tfvars.json", "'live_color' appears twice")
    assert_unchanged(service, before)


def test_size_flag_out_of_range(service: Path) -> None:
    result = run(service, "release", "--ami", AMI, "--size", "100000")
    assert_refused(result, ExitCode.INPUT, "--size 100000")


@pytest.mark.parametrize(
    "line, needle",
    [('colour = "blue"\n', "colour"), ("[release]\nverify_seconds = \"soon\"\n", "release.verify_seconds"),
     ("[timeouts]\npoll_seconds = inf\n", "timeouts.poll_seconds"),
     ("[timeouts]\ndrain_seconds = 9223372036854775807\n", "timeouts.drain_seconds")],
    ids=["unknown-key", "wrong-type", "poll-inf", "absurd-timeout"],
)
def test_bad_config(service: Path, line: str, needle: str) -> None:
    config = service / "bluegreen.toml"
    text = config.read_text()
    config.write_text(text.replace("[service]\n", "[service]\n" + line, 1) if "colour" in line else text + line)
    result = run(service, "status")
    assert_refused(result, ExitCode.CONFIG, "bluegreen.toml", needle)


def test_terraform_binary_missing(service: Path) -> None:
    result = run(service, "plan", "--ami", AMI, "--terraform-bin", "/nonexistent/terraform")
    assert_refused(result, ExitCode.TERRAFORM, "/nonexistent/terraform")


def test_terraform_too_old_for_the_stack(service: Path) -> None:
    versions = service / "terraform/examples/web/versions.tf"
    versions.write_text(versions.read_text().replace('required_version = "', 'required_version = ">= 99.0, ', 1))
    result = run(service, "plan", "--ami", AMI)
    line = assert_refused(result, ExitCode.TERRAFORM, ">= 99.0")
    assert "1.15.5" in line  # the embedded Terraform's version, named


def test_no_aws_credentials(service: Path, tmp_path: Path) -> None:
    no_credentials = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    result = run(service, "plan", "--ami", AMI, env=no_credentials, credentials=False)
    assert_refused(result, ExitCode.AWS, "credentials")


def test_endpoint_not_reachable(service: Path) -> None:
    result = run(service, "plan", "--ami", AMI)
    assert_refused(result, ExitCode.AWS, "http://127.0.0.1:9")


def test_invalid_endpoint_url_flag(service: Path) -> None:
    # Was botocore's ValueError at the first client: "internal error", exit 1.
    result = run(service, "status", "--endpoint-url", "localhost:5000")
    assert_refused(result, ExitCode.CONFIG, "--endpoint-url", "'localhost:5000'", "http(s)://host[:port]")


def test_invalid_endpoint_url_in_the_config(service: Path) -> None:
    config = service / "bluegreen.toml"
    config.write_text(config.read_text().replace('"http://127.0.0.1:9"', '"127.0.0.1:5000"'))
    result = run(service, "plan", "--ami", AMI)
    assert_refused(result, ExitCode.CONFIG, "bluegreen.toml", "aws.endpoint_url", "'127.0.0.1:5000'")


def test_stack_directory_bluegreen_cannot_write(service: Path) -> None:
    # The scratch folder's path is taken by a file: the same refusal a read-only directory gets
    # (which root, running these tests, cannot be given). Refused before Terraform or AWS.
    stack_dir = service / "terraform/examples/web"
    (stack_dir / ".bluegreen").write_text("in the way\n")
    before = tfvars_of(service).read_text()
    result = run(service, "release", "--ami", AMI)
    assert_refused(result, ExitCode.CONFIG, ".bluegreen", "not writable", "nothing was changed")
    assert tfvars_of(service).read_text() == before
    assert not (stack_dir / ".terraform").exists()  # refused before terraform init


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a read-only directory anyway")
def test_read_only_stack_directory(service: Path) -> None:
    stack_dir = service / "terraform/examples/web"
    stack_dir.chmod(0o555)
    try:
        result = run(service, "release", "--ami", AMI)
    finally:
        stack_dir.chmod(0o755)
    assert_refused(result, ExitCode.CONFIG, str(stack_dir), "not writable")


@pytest.mark.parametrize(("steps", "needle"), [
    ("10:2x,100", "--steps: pause '2x' must be a duration"),
    ("50,40,100", "--steps: weights must increase"),
    ("10:1m,90", "--steps: the last step must be 100"),
])
def test_bad_weighted_steps_flag(service: Path, steps: str, needle: str) -> None:
    before = tfvars_of(service).read_text(encoding="utf-8")
    assert_refused(run(service, "release", "--ami", AMI, "--steps", steps), ExitCode.CONFIG, needle)
    assert_unchanged(service, before)


def test_bad_traffic_config(service: Path) -> None:
    before = tfvars_of(service).read_text(encoding="utf-8")
    with (service / "bluegreen.toml").open("a", encoding="utf-8") as config:
        config.write('\n[traffic]\nmode = "weighted"\nstrategy = "canary"\npause = "5 minutes"\n')
    assert_refused(run(service, "release", "--ami", AMI), ExitCode.CONFIG, "bluegreen.toml", "traffic.pause")
    assert_unchanged(service, before)


@pytest.mark.parametrize(("gates", "needle"), [
    ("[gates]\ninterval = 0\n", "gates.interval"),
    ("[[gates.metric]]\nmetric = \"5xx_rate\"\nthreshold = 2\n", "gates.metric[1].threshold"),
    ("[[gates.alarm]]\nname = \"\"\n", "gates.alarm[1].name"),
], ids=["zero-interval", "rate-above-one", "empty-alarm-name"])
def test_bad_gate_config(service: Path, gates: str, needle: str) -> None:
    before = tfvars_of(service).read_text(encoding="utf-8")
    with (service / "bluegreen.toml").open("a", encoding="utf-8") as config:
        config.write("\n" + gates)
    assert_refused(run(service, "release", "--ami", AMI), ExitCode.CONFIG, "bluegreen.toml", needle)
    assert_unchanged(service, before)
