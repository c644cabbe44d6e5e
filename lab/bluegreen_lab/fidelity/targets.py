"""Target group registrations with time: ``initial`` -> health source -> ``draining`` -> gone.

The registry is plain data hung on moto's own ``FakeTargetGroup`` objects (so moto's reset between
tests clears it with everything else); ``Fidelity.targets()`` / ``snapshot()`` read it for the lab's
data plane. Every state is computed when observed, from the fidelity clock, so nothing has to tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.elbv2.exceptions import TargetGroupNotFoundError
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

from ._patching import Patcher
from .health import VALID_STATES

if TYPE_CHECKING:
    from .core import Fidelity

_RECORDS = "_bluegreen_registrations"

REASONS: dict[str, tuple[str | None, str | None]] = {
    "healthy": (None, None),
    "initial": ("Elb.InitialHealthChecking", "Initial health checks in progress"),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unused": ("Target.NotRegistered", "Target is not registered to the target group"),
}


@dataclass(frozen=True)
class TargetRecord:
    """One registered (or draining) target as the fidelity layer sees it at ``Fidelity.now()``.

    ``registered_at``/``draining_until`` are fidelity-clock seconds; ``registered_at`` is ``-inf``
    for a target registered before the fidelity layer was installed."""

    instance_id: str
    state: str  # initial | healthy | unhealthy | draining | unused (a stopped instance)
    registered_at: float
    draining_until: float | None
    port: int | str
    reason: str | None = None


@dataclass
class Registration:
    instance_id: str
    port: int | str
    registered_at: float
    draining_until: float | None = None


def registrations(tg: FakeTargetGroup) -> dict[str, Registration]:
    """The target group's registrations, adopting any moto registered before install."""
    records: dict[str, Registration] | None = tg.__dict__.get(_RECORDS)
    if records is None:
        records = {
            target_id: Registration(target_id, target.get("Port", tg.port), float("-inf"))
            for target_id, target in tg.targets.items()
        }
        tg.__dict__[_RECORDS] = records
    return records


def resync(tg: FakeTargetGroup) -> None:
    """Bring the registry in line with moto's own target list (after install, or after running
    unpatched): drop registrations moto no longer has (draining ones stay), adopt the ones it gained."""
    records = registrations(tg)
    for target_id in [k for k, r in records.items() if r.draining_until is None and k not in tg.targets]:
        del records[target_id]
    for target_id, target in tg.targets.items():
        reg = records.get(target_id)
        if reg is None or reg.draining_until is not None:
            records[target_id] = Registration(target_id, target.get("Port", tg.port), float("-inf"))


def live_registrations(fid: "Fidelity", tg: FakeTargetGroup) -> dict[str, Registration]:
    """Registrations still visible now: draining ones whose deregistration delay is over are dropped."""
    records = registrations(tg)
    now = fid.now()
    for target_id in [k for k, r in records.items() if r.draining_until is not None and now >= r.draining_until]:
        del records[target_id]
    return records


def deregistration_delay(tg: FakeTargetGroup) -> float:
    try:
        return float(tg.attributes.get("deregistration_delay.timeout_seconds", 300))
    except (TypeError, ValueError):
        return 300.0


def observe(fid: "Fidelity", tg: FakeTargetGroup, reg: Registration) -> tuple[str, str | None, str | None]:
    """(state, reason, description) of a live registration now."""
    if reg.draining_until is not None:
        return ("draining", *REASONS["draining"])
    if reg.instance_id.startswith("i-"):
        instance = tg.ec2_backend.get_instance_by_id(reg.instance_id)
        if instance is not None and instance.state == "stopped":
            return ("unused", "Target.InvalidState", "Target is in the stopped state")
    state = fid.health.state(tg.arn, reg.instance_id, fid.now() - reg.registered_at)
    if state not in VALID_STATES:
        raise ValueError(f"health source returned {state!r} for {reg.instance_id}: expected one of {VALID_STATES}")
    return (state, *REASONS[state])


def record_of(fid: "Fidelity", tg: FakeTargetGroup, reg: Registration) -> TargetRecord:
    state, reason, _ = observe(fid, tg, reg)
    return TargetRecord(reg.instance_id, state, reg.registered_at, reg.draining_until, reg.port, reason)


def target_health_over_time(p: Patcher, fid: "Fidelity") -> None:
    """AWS (ELB User Guide, "Target health status"): "initial -- The load balancer is sending the
    target the initial health checks" (reason ``Elb.InitialHealthChecking``), then ``healthy`` or
    ``unhealthy`` (``Target.FailedHealthChecks``); "draining -- The target is deregistering and
    connection draining is in process"; an unregistered target reads ``unused``
    (``Target.NotRegistered``). DescribeTargetHealth without Targets lists the registered targets,
    draining ones included.

    moto: every registered target is ``healthy`` at once; ``draining`` only after an EC2
    TerminateInstances, and forever (AWS-SEMANTICS.md gap 2). Hooks ``FakeTargetGroup.health_for``
    and ``ELBv2Backend.describe_target_health``; health of a registered target comes from
    ``fid.health`` (a ``HealthSource``)."""

    def make_health_for(_original: Any) -> Any:
        def health_for(self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
            reg = live_registrations(fid, self).get(target["Id"])
            if reg is None:
                port = target.get("Port", self.port)
                return FakeHealthStatus(target["Id"], port, self.health_check_port, "unused", *REASONS["unused"])
            state, reason, description = observe(fid, self, reg)
            return FakeHealthStatus(reg.instance_id, reg.port, self.health_check_port, state, reason, description)

        return health_for

    def make_describe(_original: Any) -> Any:
        def describe_target_health(
            self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]
        ) -> list[FakeHealthStatus]:
            tg = self.target_groups.get(target_group_arn)
            if tg is None:
                raise TargetGroupNotFoundError()
            if not targets:
                targets = [{"Id": r.instance_id, "Port": r.port} for r in live_registrations(fid, tg).values()]
            return [tg.health_for(target, self.ec2_backend) for target in targets]

        return describe_target_health

    p.wrap(FakeTargetGroup, "health_for", make_health_for)
    p.wrap(ELBv2Backend, "describe_target_health", make_describe)


def deregistration_drains(p: Patcher, fid: "Fidelity") -> None:
    """AWS (ELB User Guide, "Deregistration delay"): "Elastic Load Balancing stops sending requests
    to targets that are deregistering. By default, Elastic Load Balancing waits 300 seconds before
    completing the deregistration process" -- the target group attribute
    ``deregistration_delay.timeout_seconds`` (0-3600). "The initial state of a deregistering target
    is draining. After the deregistration delay elapses, the deregistration process completes and
    the state of the target is unused." A newly registered target starts ``initial``.

    moto: deregistered targets vanish at once (then read ``unused``); terminated ones read
    ``draining`` forever. Hooks ``FakeTargetGroup.register``/``deregister``/
    ``deregister_terminated_instances`` to keep a timed ``Registration`` per target."""

    def make_register(original: Any) -> Any:
        def register(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
            records = registrations(self)
            original(self, targets)  # moto's validation (TargetNotRunning) and bookkeeping
            now = fid.now()
            for target in targets:
                port = target.get("Port", self.port)
                reg = records.get(target["Id"])
                if reg is None or reg.draining_until is not None:
                    # Registering a draining target starts a new registration (initial checks again).
                    records[target["Id"]] = Registration(target["Id"], port, now)
                else:
                    reg.port = port

        return register

    def drain(self: FakeTargetGroup, target_ids: list[str]) -> None:
        records = live_registrations(fid, self)
        until = fid.now() + deregistration_delay(self)
        for target_id in target_ids:
            reg = records.get(target_id)
            if reg is not None and reg.draining_until is None:
                reg.draining_until = until
        live_registrations(fid, self)  # a delay of 0 means gone at once

    def make_deregister(original: Any) -> Any:
        def deregister(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
            registrations(self)  # adopt moto's targets before moto forgets them
            original(self, targets)  # raises InvalidTarget for a target that is not registered
            drain(self, [t["Id"] for t in targets])

        return deregister

    def make_deregister_terminated(original: Any) -> Any:
        def deregister_terminated_instances(self: FakeTargetGroup, instance_ids: list[str]) -> None:
            registrations(self)
            original(self, instance_ids)
            drain(self, list(instance_ids))

        return deregister_terminated_instances

    p.wrap(FakeTargetGroup, "register", make_register)
    p.wrap(FakeTargetGroup, "deregister", make_deregister)
    p.wrap(FakeTargetGroup, "deregister_terminated_instances", make_deregister_terminated)
