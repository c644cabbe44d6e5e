"""The fidelity layer's handle: installs the corrections on moto and exposes time, health,
the target registry and fault injection."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from ._patching import Patcher
from .classic_elb import classic_elb_registers_per_group, connection_draining_keeps_its_timeout
from .clock import DEFAULT_CLOCK, ClockFn
from .cloudwatch import metric_alarms_are_evaluated, percentile_statistics
from .groups import health_check_grace_period_keeps_zero
from .faults import CallListener, FaultInjector, response_layer
from .health import HealthSource, ScriptedHealth
from .launch_templates import launch_template_tags_stay_on_the_template, launch_template_version_user_data
from .lifecycle import (
    asg_registers_in_service_only,
    attach_target_groups_validates,
    delete_group_terminates_everything,
    detach_target_groups_drains,
    enter_standby_waits_for_draining,
    exit_standby_goes_through_pending,
    standby_never_scaled_in,
)
from .targets import TargetRecord, deregistration_drains, live_registrations, record_of, target_health_over_time
from .validation import capacity_bounds, instance_id_limit, listener_weights_validated, standby_bounds

Correction = Callable[[Patcher, "Fidelity"], None]
Settler = Callable[[], None]

DEFAULT_PENDING_SECONDS = 0.5

# Each entry is one correction; its docstring quotes the AWS behaviour it restores, and
# tests/fidelity pairs it with a strict-xfail test of the gap in unpatched moto.
CORRECTIONS: tuple[Correction, ...] = (
    launch_template_version_user_data,
    launch_template_tags_stay_on_the_template,
    connection_draining_keeps_its_timeout,
    classic_elb_registers_per_group,
    target_health_over_time,
    deregistration_drains,
    asg_registers_in_service_only,
    detach_target_groups_drains,
    attach_target_groups_validates,
    enter_standby_waits_for_draining,
    exit_standby_goes_through_pending,  # after enter_standby_waits_for_draining: wraps its property
    standby_never_scaled_in,
    delete_group_terminates_everything,
    health_check_grace_period_keeps_zero,
    capacity_bounds,
    standby_bounds,
    instance_id_limit,  # after standby_bounds: wraps it, so the request's shape is checked first
    metric_alarms_are_evaluated,
    percentile_statistics,
    listener_weights_validated,
    response_layer,
)


class Fidelity:
    """Returned by ``install()``. ``health``, ``clock`` and ``pending_seconds`` (how long an
    instance leaving Standby reads ``Pending``, in fidelity-clock seconds) may be changed at any time."""

    def __init__(self, health: HealthSource, clock: ClockFn) -> None:
        self.health: HealthSource = health
        self.clock: ClockFn = clock
        self.pending_seconds: float = DEFAULT_PENDING_SECONDS
        # CloudWatch's clock (epoch seconds): metric timestamps are wall-clock, so alarm
        # evaluation reads this one, not the monotonic ``clock``. Tests may set a fixed one.
        self.wall: Callable[[], float] = time.time
        self.lock = threading.RLock()
        self._settlers: list[Settler] = []
        self._local = threading.local()  # per thread: depth of moto calls / settling under way
        self.faults = FaultInjector()
        self._listeners: list[CallListener] = []
        self._patcher = Patcher()
        self.installed = False

    # -- time -----------------------------------------------------------------------------------
    def now(self) -> float:
        return float(self.clock())

    # -- asynchronous transitions ---------------------------------------------------------------
    def settle(self) -> None:
        """Complete AWS's asynchronous transitions that are due by the fidelity clock, with their side
        effects (an instance that turns InService after ExitStandby is registered with its group's
        target groups and classic ELBs). Runs at the start of every API call moto serves, before
        ``targets()``/``snapshot()``, and when a due state is read outside an API call; call it
        directly after reading moto's backends any other way."""
        if not self._settlers:
            return
        with self.lock:
            if getattr(self._local, "settling", False):
                return
            self._local.settling = True
            try:
                with self.busy():
                    for settler in list(self._settlers):
                        settler()
            finally:
                self._local.settling = False

    def add_settler(self, settler: Settler) -> None:
        """For corrections: run ``settler`` on every ``settle()`` while the layer is installed."""
        self._settlers.append(settler)

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Marks this thread as inside a moto call (or a settle): reads of lazily resolved state
        then leave side effects to the next ``settle()`` instead of running moto code re-entrantly."""
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth

    def is_busy(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

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
            self.settle()
            for tg in self._target_groups():
                if tg.arn == target_group_arn:  # type: ignore[attr-defined]
                    return [record_of(self, tg, r) for r in list(live_registrations(self, tg).values())]  # type: ignore[arg-type]
        raise KeyError(target_group_arn)

    def snapshot(self) -> dict[str, list[TargetRecord]]:
        """Every target group's ``targets()``, keyed by ARN."""
        with self.lock:
            self.settle()
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
        self._settlers.clear()
        try:
            for correction in CORRECTIONS:
                correction(self._patcher, self)
        except BaseException:
            self._patcher.restore()
            raise
        self.installed = True

    def _restore(self) -> None:
        self._settlers.clear()
        self._patcher.restore()
        self.installed = False


_active: Fidelity | None = None
_install_lock = threading.Lock()


def install(
    health: HealthSource | None = None, *, clock: ClockFn | None = None, pending_seconds: float | None = None
) -> Fidelity:
    """Patch moto (idempotent). A second call returns the same handle, replacing its health source,
    clock and/or ``pending_seconds`` when given. Default health: ``ScriptedHealth()`` (healthy at
    once); default clock: ``time.monotonic``; default ``pending_seconds``: 0.5."""
    global _active
    with _install_lock:
        if _active is not None:
            if health is not None:
                _active.health = health
            if clock is not None:
                _active.clock = clock
            if pending_seconds is not None:
                _active.pending_seconds = pending_seconds
            return _active
        fid = Fidelity(health or ScriptedHealth(), clock or DEFAULT_CLOCK)
        if pending_seconds is not None:
            fid.pending_seconds = pending_seconds
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
