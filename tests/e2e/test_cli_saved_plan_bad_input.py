"""`release --plan FILE` with a bad saved plan, at the real command line: one line naming the file,
exit 4, no traceback, nothing changed, and no AWS reached (the endpoint is a closed port). Same
service folder as test_cli_bad_input.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen import saved_plan
from bluegreen.blast_radius import PlanSummary
from bluegreen.errors import ExitCode
from bluegreen.model import Color

from test_cli_bad_input import AMI, assert_refused, assert_unchanged, mirror, run, service, tfvars_of  # noqa: F401

pytestmark = pytest.mark.e2e


def _valid(service_name: str) -> saved_plan.SavedPlan:
    return saved_plan.SavedPlan(
        service=service_name, created_at="2026-12-05T13:10:00Z",
        intent=saved_plan.Intent(AMI, 2, Color.BLUE, Color.GREEN, "release-20261205-1310-abcd1234", "abcd1234"),
        basis=saved_plan.Basis(saved_plan.StateIdentity("lineage", 3), "0" * 64, 2, "1.15.5"),
        vars_text="{}", summary=PlanSummary(()), plan_bytes=b"PK\x03\x04",
    )


def test_a_corrupt_saved_plan(service: Path) -> None:
    before = tfvars_of(service).read_text()
    (service / "release.plan").write_text('{"format": "bluegreen-saved-plan", "version": 1, "intent": {')
    line = assert_refused(run(service, "release", "--plan", "release.plan"), ExitCode.INPUT,
                          "release.plan", "not a bluegreen saved plan", "bluegreen plan --out FILE")
    assert "Traceback" not in line
    assert_unchanged(service, before)


def test_a_saved_plan_with_a_tampered_terraform_plan(service: Path) -> None:
    before = tfvars_of(service).read_text()
    path = service / "release.plan"
    saved_plan.save(path, _valid("web"))
    path.write_text(path.read_text().replace('"base64": "UEsDBA=="', '"base64": "UEsDBQ=="'))
    assert_refused(run(service, "release", "--plan", "release.plan"), ExitCode.INPUT,
                   "release.plan: saved plan is corrupt", "does not match its sha256")
    assert_unchanged(service, before)


def test_a_saved_plan_of_another_service(service: Path) -> None:
    before = tfvars_of(service).read_text()
    saved_plan.save(service / "release.plan", _valid("billing"))
    assert_refused(run(service, "release", "--plan", "release.plan"), ExitCode.INPUT,
                   "release.plan: saved plan is for service 'billing', not 'web'")
    assert_unchanged(service, before)


def test_plan_excludes_ami_and_size(service: Path) -> None:
    before = tfvars_of(service).read_text()
    saved_plan.save(service / "release.plan", _valid("web"))
    assert_refused(run(service, "release", "--plan", "release.plan", "--ami", AMI, "--size", "3"),
                   ExitCode.INPUT, "--plan release.plan already fixes the AMI and size; drop --ami, --size")
    assert_unchanged(service, before)


def test_a_failed_plan_out_leaves_no_older_plan_behind(service: Path) -> None:
    """`make plan` failed, so `make release` must not find the previous plan and apply it."""
    saved_plan.save(service / "release.plan", _valid("web"))
    (service / "manifest.json").write_text("{not json")
    result = run(service, "plan", "--packer-manifest", "manifest.json", "--out", "release.plan")
    assert_refused(result, ExitCode.INPUT, "manifest.json")
    assert not (service / "release.plan").exists()
