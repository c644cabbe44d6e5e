"""The emulation starts from an empty account when no other emulator runs in the process.

moto's backends are process-global: without the reset, a lab started after another one stopped
(one test module after another in a pytest worker) inherited its "web-green" launch template and
Terraform's first apply failed with InvalidLaunchTemplateName.AlreadyExistsException."""

from __future__ import annotations

from bluegreen_lab.emulator import Emulator


def _template_names(emulator: Emulator) -> set[str]:
    ec2 = emulator.client("ec2")
    return {t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]}


def _create_template(emulator: Emulator, name: str) -> None:
    emulator.client("ec2").create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": "ami-12c6146b"})


def test_an_emulator_started_after_another_stopped_starts_empty():
    with Emulator(fidelity=False) as first:
        _create_template(first, "web-green")
        assert _template_names(first) == {"web-green"}
    with Emulator(fidelity=False) as second:
        assert _template_names(second) == set()
        _create_template(second, "web-green")  # the name is free again


def test_an_emulator_started_beside_a_running_one_keeps_its_world():
    with Emulator(fidelity=False) as first:
        _create_template(first, "web-blue")
        with Emulator(fidelity=False) as second:
            # One process, one set of backends: resetting here would pull the account out from
            # under the first emulator's users.
            assert _template_names(second) == {"web-blue"}
        assert _template_names(first) == {"web-blue"}
