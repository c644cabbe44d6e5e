"""install()/uninstall()/suspended(): idempotent, reversible, documented."""

from __future__ import annotations

import pytest
from moto.autoscaling.models import AutoScalingBackend, InstanceState
from moto.core.responses import BaseResponse
from moto.elbv2.models import FakeTargetGroup

from bluegreen_lab import fidelity
from bluegreen_lab.fidelity import CORRECTIONS, ManualClock, ScriptedHealth


def test_install_is_idempotent_and_uninstall_restores() -> None:
    if fidelity.current() is not None:
        pytest.skip("the fidelity layer is installed for the whole session by another fixture")
    originals = (FakeTargetGroup.health_for, BaseResponse.call_action, AutoScalingBackend.update_attached_target_groups)
    clock, health = ManualClock(), ScriptedHealth()
    handle = fidelity.install(health, clock=clock)
    try:
        assert FakeTargetGroup.health_for is not originals[0]
        assert isinstance(InstanceState.__dict__["lifecycle_state"], property)
        other_clock = ManualClock(5)
        assert fidelity.install(clock=other_clock) is handle
        assert handle.clock is other_clock and handle.health is health
        with fidelity.suspended() as suspended:
            assert suspended is handle
            assert FakeTargetGroup.health_for is originals[0]
        assert FakeTargetGroup.health_for is not originals[0]
    finally:
        handle.uninstall()
    assert fidelity.current() is None
    assert (FakeTargetGroup.health_for, BaseResponse.call_action, AutoScalingBackend.update_attached_target_groups) == originals
    assert "lifecycle_state" not in InstanceState.__dict__
    fidelity.uninstall()  # harmless twice


def test_every_correction_quotes_aws() -> None:
    for correction in CORRECTIONS:
        doc = correction.__doc__ or ""
        assert "AWS" in doc and "moto" in doc and '"' in doc, correction.__name__
