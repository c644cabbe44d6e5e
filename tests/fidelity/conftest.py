"""Fixtures for the fidelity layer's tests: moto in-process (mock_aws, us-east-1), a manual clock,
scripted health, and a small stack (target group + launch template + Auto Scaling group).

``fid`` installs the fidelity layer for one test; ``unpatched`` runs a test against moto as
shipped (the strict-xfail gap tests), even if some other fixture installed the layer."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from fidelity_support import Stack, make_clients, make_stack
from moto import mock_aws

from bluegreen_lab import fidelity
from bluegreen_lab.fidelity import Fidelity, ManualClock, ScriptedHealth

@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


@pytest.fixture
def health() -> ScriptedHealth:
    return ScriptedHealth(initial_seconds=0)


@pytest.fixture
def fid(clock: ManualClock, health: ScriptedHealth) -> Iterator[Fidelity]:
    previous = fidelity.current()
    # Another fixture may own the layer (a session-wide lab): put back what we replace, or its
    # drains would wait for a manual clock nobody advances.
    saved = (previous.health, previous.clock) if previous is not None else None
    handle = fidelity.install(health, clock=clock)
    handle.clear_faults()
    try:
        yield handle
    finally:
        handle.clear_faults()
        if saved is None:
            fidelity.uninstall()
        else:
            handle.health, handle.clock = saved


@pytest.fixture
def unpatched() -> Iterator[None]:
    with fidelity.suspended():
        yield


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def clients() -> tuple[Any, Any, Any]:
    with mock_aws():  # moto's fake credentials, resolved once at client creation
        return make_clients()


@pytest.fixture
def stack(clients: tuple[Any, Any, Any], aws: None) -> Stack:
    return make_stack(clients)
