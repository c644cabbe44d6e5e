"""The fidelity layer's handle: installs the corrections on moto and exposes time, health,
the target registry and fault injection."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from ._patching import Patcher
from .classic_elb import connection_draining_keeps_its_timeout
from .clock import DEFAULT_CLOCK, ClockFn
from .faults import CallListener, FaultInjector, response_layer
from .health import HealthSource, ScriptedHealth
from .launch_templates import launch_template_tags_stay_on_the_template, launch_template_version_user_data
from .lifecycle import (
    asg_registers_in_service_only,
    attach_target_groups_validates,
    delete_group_terminates_everything,
    detach_target_groups_drains,
    enter_standby_waits_for_draining,
    standby_never_scaled_in,
)
from .targets import TargetRecord, deregistration_drains, live_registrations, record_of, target_health_over_time
from .validation import capacity_bounds, instance_id_limit, standby_bounds

Correction = Callable[[Patcher, "Fidelity"], None]

# Each entry is one correction; its docstring quotes the AWS behaviour it restores, and
# tests/fidelity pairs it with a strict-xfail test of the gap in unpatched moto.
CORRECTIONS: tuple[Correction, ...] = (
    launch_template_version_user_data,
    launch_template_tags_stay_on_the_template,
    connection_draining_keeps_its_timeout,
    target_health_over_time,
    deregistration_drains,
    asg_registers_in_service_only,
    detach_target_groups_drains,
    attach_target_groups_validates,
    enter_standby_waits_for_draining,
    standby_never_scaled_in,
    delete_group_terminates_everything,
    capacity_bounds,
    standby_bounds,
    instance_id_limit,  # after standby_bounds: wraps it, so the request's shape is checked first
    response_layer,
)


class Fidelity:
    """Returned by ``install()``. ``health`` and ``clock`` may be replaced at any time."""

    def __init__(self, health: HealthSource, clock: ClockFn) -> None:
        self.health: HealthSource = health
        self.clock: ClockFn = clock
        self.lock = threading.RLock()
        self.faults = FaultInjector()
        self._listeners: list[CallListener] = []
        self._patcher = Patcher()
        self.installed = False

    # -- time -----------------------------------------------------------------------------------
    def now(self) -> float:
        return float(self.clock())

    # -- target registry ------------------------------------------------------------------------
    def _target_groups(self) -> Iterator[object]:
        from moto.elbv2.models import elbv2_backends

        # dict.values: iterate what exists without making moto create a backend per region
        for account in list(dict.values(elbv2_backends)):
            for backend in list(dict.values(account)):
                yield from list(backend.target_groups.values())

    def targets(self, target_group_arn: str) -> list[TargetRecord]:
        """Registered and draining targets of one target group, evaluated now.
        ``KeyError`` if no such target group exists in any moto account/region."""
        with self.lock:
            for tg in self._target_groups():
                if tg.arn == target_group_arn:  # type: ignore[attr-defined]
                    return [record_of(self, tg, r) for r in list(live_registrations(self, tg).values())]  # type: ignore[arg-type]
        raise KeyError(target_group_arn)

    def snapshot(self) -> dict[str, list[TargetRecord]]:
        """Every target group's ``targets()``, keyed by ARN."""
        with self.lock:
            return {
                tg.arn: [record_of(self, tg, r) for r in list(live_registrations(self, tg).values())]  # type: ignore[attr-defined,arg-type]
                for tg in self._target_groups()
            }

    def healthy_count(self, target_group_arn: str) -> int:
        return sum(1 for t in self.targets(target_group_arn) if t.state == "healthy")

    # -- faults ---------------------------------------------------------------------------------
    def inject(
        self,
        api_name: str,
        error_code: str = "Throttling",
        times: int = 1,
        *,
        message: str | None = None,
        http_status: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``api_name`` (e.g. ``"EnterStandby"``) fail with
        ``error_code`` (HTTP 400 for Throttling, so botocore's standard retries apply), whoever
        calls: boto3 under mock_aws or Terraform through a ThreadedMotoServer."""
        self.faults.inject(api_name, error_code, times, message=message, http_status=http_status)

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- call observation -----------------------------------------------------------------------
    def add_listener(self, listener: CallListener) -> Callable[[], None]:
        """Call ``listener(action, http_status)`` after every API call moto serves; returns a remover."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _notify(self, action: str, status: int) -> None:
        for listener in list(self._listeners):
            listener(action, status)

    # -- installation ---------------------------------------------------------------------------
    def uninstall(self) -> None:
        """``uninstall()`` if this handle is the installed one (the lab's Emulator calls this)."""
        if _active is self:
            uninstall()

    def _apply(self) -> None:
        try:
            for correction in CORRECTIONS:
                correction(self._patcher, self)
        except BaseException:
            self._patcher.restore()
            raise
        self.installed = True

    def _restore(self) -> None:
        self._patcher.restore()
        self.installed = False


_active: Fidelity | None = None
_install_lock = threading.Lock()


def install(health: HealthSource | None = None, *, clock: ClockFn | None = None) -> Fidelity:
    """Patch moto (idempotent). A second call returns the same handle, replacing its health source
    and/or clock when given. Default health: ``ScriptedHealth()`` (healthy at once); default clock:
    ``time.monotonic``."""
    global _active
    with _install_lock:
        if _active is not None:
            if health is not None:
                _active.health = health
            if clock is not None:
                _active.clock = clock
            return _active
        fid = Fidelity(health or ScriptedHealth(), clock or DEFAULT_CLOCK)
        fid._apply()
        _active = fid
        return fid


def uninstall() -> None:
    """Restore moto exactly as it was. Instances left ``EnteringStandby`` keep that state."""
    global _active
    with _install_lock:
        if _active is not None:
            _active._restore()
            _active = None


@contextmanager
def suspended() -> Iterator[Fidelity | None]:
    """Run a block against unpatched moto (the strict-xfail gap tests), then re-apply the same
    handle's patches, keeping its health source, clock, faults and listeners."""
    with _install_lock:
        fid = _active
        if fid is not None:
            fid._restore()
    try:
        yield fid
    finally:
        if fid is not None:
            with _install_lock:
                fid._apply()


def current() -> Fidelity | None:
    """The installed handle, if any."""
    return _active
