"""ScriptedHealth: the HealthSource tests use."""

from __future__ import annotations

import pytest
from fidelity_support import Stack

from bluegreen_lab.fidelity import Fidelity, HealthSource, ManualClock, Script, ScriptedHealth, broken, degrades, healthy

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


def test_script_phases() -> None:
    assert [healthy(after=5)(t) for t in (0, 4.9, 5, 1e9)] == ["initial", "initial", "healthy", "healthy"]
    assert [broken(after=5)(t) for t in (0, 5, 1e9)] == ["initial", "unhealthy", "unhealthy"]
    assert [degrades(60, after=10)(t) for t in (0, 10, 69.9, 70)] == ["initial", "healthy", "healthy", "unhealthy"]
    assert Script()(0) == "healthy"


def test_overrides_instance_beats_ami_beats_default() -> None:
    images = {"i-1": "ami-new", "i-2": "ami-new", "i-3": "ami-old"}
    health = ScriptedHealth(initial_seconds=10, image_of=lambda _tg, i: images.get(i))
    assert isinstance(health, HealthSource)
    assert health.state(TG, "i-3", 0) == "initial"
    health.set_ami("ami-new", broken())
    health.set_instance("i-2", "healthy")
    assert [health.state(TG, i, 100) for i in ("i-1", "i-2", "i-3")] == ["unhealthy", "healthy", "healthy"]
    health.set_ami("ami-new", None)
    health.set_instance("i-2", None)
    assert health.state(TG, "i-1", 5) == "initial"
    health.set_default(lambda t: "unhealthy" if t > 1 else "healthy")  # any callable of registered_for
    assert [health.state(TG, "i-1", t) for t in (1, 2)] == ["healthy", "unhealthy"]
    with pytest.raises(ValueError):
        health.set_instance("i-1", "sick")


def test_broken_ami_through_moto(fid: Fidelity, clock: ManualClock, health: ScriptedHealth, stack: Stack) -> None:
    version = stack.ec2.create_launch_template_version(
        LaunchTemplateId=stack.lt_id, LaunchTemplateData={"ImageId": stack.ami2, "InstanceType": "t3.micro"}
    )["LaunchTemplateVersion"]["VersionNumber"]
    stack.create_group("web-blue", desired=2)
    stack.create_group("web-green", desired=2, version=str(version))
    health.set_default(healthy(after=10))
    health.set_ami(stack.ami2, degrades(30, after=10))  # passes, then fails during the verify window
    blue, green = set(stack.ids(group="web-blue")), set(stack.ids(group="web-green"))

    def by_color() -> tuple[set[str], set[str]]:
        states = stack.health()
        return {states[i] for i in blue}, {states[i] for i in green}

    assert by_color() == ({"initial"}, {"initial"})
    clock.advance(10)
    assert by_color() == ({"healthy"}, {"healthy"})
    clock.advance(30)
    assert by_color() == ({"healthy"}, {"unhealthy"})
    assert fid.healthy_count(stack.tg_arn) == 2


def test_health_source_must_answer_a_known_state(fid: Fidelity, stack: Stack) -> None:
    class Wrong:
        def state(self, target_group_arn: str, instance_id: str, registered_for: float) -> str:
            return "InService"

    stack.create_group(desired=1)
    previous, fid.health = fid.health, Wrong()
    try:
        with pytest.raises(ValueError, match="InService"):
            fid.targets(stack.tg_arn)
    finally:
        fid.health = previous
