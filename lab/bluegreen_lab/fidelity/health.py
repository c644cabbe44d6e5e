"""Where a registered target's health comes from.

AWS: "When you register a target, it starts in the `initial` state (reason
`Elb.InitialHealthChecking`) ... after it passes the healthy threshold it becomes `healthy`", and it
reads `unhealthy` (reason `Target.FailedHealthChecks`) once it fails UnhealthyThresholdCount checks.
moto reports every registered target `healthy` at once. The fidelity layer asks a ``HealthSource``
instead, each time the health is observed, with how long the target has been registered. Tests use
``ScriptedHealth``; the lab's data plane provides a HAProxy-backed source with the same protocol.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Literal, Protocol, Union, runtime_checkable

HealthState = Literal["initial", "healthy", "unhealthy"]
VALID_STATES = ("initial", "healthy", "unhealthy")


@runtime_checkable
class HealthSource(Protocol):
    def state(self, target_group_arn: str, instance_id: str, registered_for: float) -> str:
        """``"initial"``, ``"healthy"`` or ``"unhealthy"`` for a target registered (not draining)
        for ``registered_for`` seconds of the fidelity clock."""
        ...


@dataclass(frozen=True)
class Script:
    """A target's health as a function of time since registration:

    ``initial`` for ``initial_seconds``; then ``healthy`` for ``healthy_seconds`` (forever when
    ``None``); then ``unhealthy``. ``healthy_seconds=0`` is a target that never passes a check."""

    initial_seconds: float = 0.0
    healthy_seconds: float | None = None

    def __call__(self, registered_for: float) -> str:
        if registered_for < self.initial_seconds:
            return "initial"
        if self.healthy_seconds is None:
            return "healthy"
        if registered_for < self.initial_seconds + self.healthy_seconds:
            return "healthy"
        return "unhealthy"


Behaviour = Union[Script, Callable[[float], str]]


def healthy(after: float = 0.0) -> Script:
    """Healthy once ``after`` seconds of initial health checking have passed."""
    return Script(initial_seconds=after)


def broken(after: float = 0.0) -> Script:
    """Never passes a health check: ``initial`` for ``after`` seconds, then ``unhealthy``."""
    return Script(initial_seconds=after, healthy_seconds=0.0)


def degrades(healthy_for: float, after: float = 0.0) -> Script:
    """Passes its checks, then fails ``healthy_for`` seconds later (exercises a verify window)."""
    return Script(initial_seconds=after, healthy_seconds=healthy_for)


ImageLookup = Callable[[str, str], "str | None"]
"""(target_group_arn, instance_id) -> the instance's ImageId, or ``None`` if unknown."""


def moto_image_of(target_group_arn: str, instance_id: str) -> str | None:
    """The ImageId of ``instance_id`` in moto's EC2 backend of the target group's account/region."""
    from moto.ec2.models import ec2_backends

    parts = target_group_arn.split(":")
    if len(parts) < 5:
        return None
    region, account = parts[3], parts[4]
    try:
        instance = ec2_backends[account][region].get_instance_by_id(instance_id)
    except Exception:  # an unknown account/region: no image to match on
        return None
    return getattr(instance, "image_id", None) if instance is not None else None


class ScriptedHealth:
    """A ``HealthSource`` for tests: a default ``Script`` plus overrides per instance id and per
    AMI id (instance wins over AMI), changeable at any time; the change shows on the next read.

    >>> health = ScriptedHealth(initial_seconds=10)
    >>> health.set_ami("ami-broken", broken())        # the new AMI never passes
    >>> health.set_ami("ami-flaky", degrades(60))      # fails a minute into the verify window
    >>> health.set_instance("i-123", "unhealthy")      # a fixed state works too
    """

    def __init__(
        self,
        initial_seconds: float = 0.0,
        *,
        default: Behaviour | None = None,
        image_of: ImageLookup = moto_image_of,
    ) -> None:
        self._default: Behaviour = default or Script(initial_seconds=initial_seconds)
        self._by_instance: dict[str, Behaviour] = {}
        self._by_ami: dict[str, Behaviour] = {}
        self._image_of = image_of
        self._lock = threading.Lock()

    @staticmethod
    def _behaviour(value: Behaviour | str) -> Behaviour:
        if isinstance(value, str):
            if value not in VALID_STATES:
                raise ValueError(f"health state {value!r}: expected one of {VALID_STATES}")
            return lambda _registered_for, _state=value: _state
        return value

    def set_default(self, behaviour: Behaviour | str) -> None:
        with self._lock:
            self._default = self._behaviour(behaviour)

    def set_instance(self, instance_id: str, behaviour: Behaviour | str | None) -> None:
        """Override one instance; ``None`` removes the override."""
        with self._lock:
            if behaviour is None:
                self._by_instance.pop(instance_id, None)
            else:
                self._by_instance[instance_id] = self._behaviour(behaviour)

    def set_ami(self, ami_id: str, behaviour: Behaviour | str | None) -> None:
        """Override every instance launched from ``ami_id``; ``None`` removes the override."""
        with self._lock:
            if behaviour is None:
                self._by_ami.pop(ami_id, None)
            else:
                self._by_ami[ami_id] = self._behaviour(behaviour)

    def clear(self) -> None:
        with self._lock:
            self._by_instance.clear()
            self._by_ami.clear()

    def state(self, target_group_arn: str, instance_id: str, registered_for: float) -> str:
        with self._lock:
            behaviour = self._by_instance.get(instance_id)
            by_ami = dict(self._by_ami)
            default = self._default
        if behaviour is None and by_ami:
            image = self._image_of(target_group_arn, instance_id)
            if image is not None:
                behaviour = by_ami.get(image)
        return (behaviour or default)(registered_for)
