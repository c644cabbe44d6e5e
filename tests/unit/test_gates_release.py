"""Gates in the real command flows over the fake world (attach mode): an alarm already in ALARM
blocks the release before any change, an unknown alarm is exit 3 before any change, a transition
to ALARM during the verify window rolls the release back, one during the keep-old window flips
back to the warm old color, and a rollback is never gated."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bluegreen import commands
from bluegreen.errors import ConfigError, ExitCode, RolledBackError
from bluegreen.gates import ALARM, AlarmGate, GateSettings
from bluegreen.model import Color

from fakeworld import AMI_V2, FakeWorld, WorldAlarms, last_run, outcome


def gated_app(world: FakeWorld, alarms: WorldAlarms, *names: str, **release: Any):
    app = world.app(**release)
    gates = GateSettings(interval=5, period=60, alarms=tuple(AlarmGate(n) for n in names or ("web-5xx",)))
    app.settings = dataclasses.replace(app.settings, gates=gates)
    app.cloudwatch = alarms
    return app


def release(app, keep_old: bool = False):
    return commands.release(app, ami=AMI_V2, manifest=None, size=None, keep_old=keep_old, dry_run=False)


def mutations(world: FakeWorld) -> list[str]:
    return [c.describe() for c in world.calls if c.mutating and c.service in ("autoscaling", "elb", "terraform")]


def test_an_alarm_already_in_alarm_blocks_the_release_before_any_change(tmp_path) -> None:
    world = FakeWorld(tmp_path)
    before = len(world.calls)
    with pytest.raises(RolledBackError) as info:
        release(gated_app(world, WorldAlarms(world, state=ALARM)))
    message = str(info.value)
    assert info.value.exit_code is ExitCode.ROLLED_BACK and "\n" not in message
    assert "blocked before any change by gate alarm web-5xx: already in ALARM since" in message
    assert "nothing was changed, blue serves as before" in message
    assert not [c for c in world.calls[before:] if c.mutating and c.service in ("autoscaling", "elb", "terraform")]
    assert last_run(world) is None


def test_not_blocking_on_an_existing_alarm_lets_the_release_run(tmp_path) -> None:
    world = FakeWorld(tmp_path)
    app = gated_app(world, WorldAlarms(world, state=ALARM))
    app.settings = dataclasses.replace(app.settings, gates=dataclasses.replace(app.settings.gates,
                                                                                block_on_existing_alarm=False))
    release(app)
    world.settle()
    assert outcome(last_run(world)) == "completed" and world.serving(Color.GREEN)


def test_an_unknown_alarm_is_a_config_error_before_any_change(tmp_path) -> None:
    world = FakeWorld(tmp_path)
    before = len(world.calls)
    with pytest.raises(ConfigError) as info:
        release(gated_app(world, WorldAlarms(world), "web-5xx", "web-latncy"))
    assert info.value.exit_code is ExitCode.CONFIG
    assert "gates.alarm[2].name 'web-latncy': no such CloudWatch alarm" in str(info.value)
    assert not [c for c in world.calls[before:] if c.mutating and c.service in ("autoscaling", "elb", "terraform")]


def test_a_transition_to_alarm_in_the_verify_window_rolls_back(tmp_path) -> None:
    world = FakeWorld(tmp_path)
    alarms = WorldAlarms(world, bad=lambda: world.serving(Color.GREEN))
    with pytest.raises(RolledBackError) as info:
        release(gated_app(world, alarms, verify_seconds=60))
    message = str(info.value)
    assert "failed at verify" in message and "gate alarm web-5xx: went to ALARM at" in message
    assert "[12.0] >= 5.0" in message and "rolled back, blue serves as before" in message
    world.settle()
    assert outcome(last_run(world)) == "rolled-back"
    assert world.serving(Color.BLUE) and not world.attached(world.group(Color.GREEN))


def test_a_transition_to_alarm_in_the_keep_old_window_flips_back(tmp_path) -> None:
    world = FakeWorld(tmp_path)
    # Only once blue left the load balancer: the release itself passes its verify window.
    alarms = WorldAlarms(world, bad=lambda: world.serving(Color.GREEN) and not world.attached(world.group(Color.BLUE)))
    with pytest.raises(RolledBackError) as info:
        release(gated_app(world, alarms, keep_old_seconds=600), keep_old=True)
    message = str(info.value)
    assert "green failed during the keep-old window" in message and "gate alarm web-5xx" in message
    world.settle()
    assert world.serving(Color.BLUE) and not world.attached(world.group(Color.GREEN))


def test_a_transition_to_alarm_while_the_old_color_drains_rolls_back(tmp_path) -> None:
    """The new color serves alone while the old one drains (its instances in Standby): the gates
    keep reading there, so a version that hurts users is caught before the commit point and the
    old color, not yet detached, is put back (bench.progressive measured the gates blind there)."""
    world = FakeWorld(tmp_path)

    def blue_draining() -> bool:
        # Bad only while a blue target is still draining: a gate read only after the drain
        # (as before) would never see it.
        return any(i in world.targets and world.targets[i].state == "draining"
                   for i in world.group(Color.BLUE).instances)

    alarms = WorldAlarms(world, bad=blue_draining)
    with pytest.raises(RolledBackError) as info:
        release(gated_app(world, alarms))
    message = str(info.value)
    assert "gate alarm web-5xx: went to ALARM at" in message and "drained" in message
    world.settle()
    assert outcome(last_run(world)) == "rolled-back"
    assert world.serving(Color.BLUE) and not world.attached(world.group(Color.GREEN))


def test_a_warm_rollback_is_never_gated(tmp_path) -> None:
    """Nothing may block going back. (A rollback after the old color was scaled to zero is a
    release of the previous AMI, gates included, as with hooks.)"""
    world = FakeWorld(tmp_path)
    commands.release(world.app(keep_old_seconds=600), ami=AMI_V2, manifest=None, size=None, keep_old=True,
                     dry_run=False, wait=False)
    world.settle()
    alarms = WorldAlarms(world, state=ALARM)
    commands.rollback(gated_app(world, alarms), dry_run=False, enforce_deadline=False)
    world.settle()
    assert world.serving(Color.BLUE) and alarms.reads == 0
