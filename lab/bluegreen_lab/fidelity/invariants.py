"""Invariants checked while a test drives AWS: "the serving target group never has fewer than N
healthy targets" after every mutating call, named by the call that broke it.

Healthy counts come from the fidelity registry (``Fidelity.targets``), not from DescribeTargetHealth,
so checking neither consumes injected faults nor shows up as API calls.

    inv = ServingInvariant(tg_arn, min_healthy=2)
    inv.watch(client)             # or a boto3 Session, before its clients are created
    ... run the release ...
    inv.log                       # [("autoscaling:EnterStandby", 2), ...]

For calls that reach moto over HTTP (Terraform into a ThreadedMotoServer), ``monitor(fidelity)``
records violations instead of raising inside the server; ``assert_held()`` raises the first.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .core import Fidelity, current

READ_ONLY_PREFIXES = ("Describe", "Get", "List")
DEFAULT_SERVICES = ("autoscaling", "elbv2", "elb", "ec2")


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_ONLY_PREFIXES)


class ServingInvariant:
    def __init__(
        self,
        target_group_arn: str,
        min_healthy: int,
        *,
        fidelity: Fidelity | None = None,
        healthy_count: Callable[[], int] | None = None,
    ) -> None:
        self.target_group_arn = target_group_arn
        self.min_healthy = min_healthy
        self._fidelity = fidelity
        self._healthy_count = healthy_count
        self.log: list[tuple[str, int]] = []
        self.violations: list[str] = []

    def healthy(self) -> int:
        if self._healthy_count is not None:
            return self._healthy_count()
        fid = self._fidelity or current()
        if fid is None:
            raise RuntimeError("ServingInvariant needs the fidelity layer installed (or a healthy_count)")
        return fid.healthy_count(self.target_group_arn)

    def _message(self, call: str, healthy: int) -> str:
        return (
            f"serving invariant broken after {call or 'check'}: target group {self.target_group_arn} "
            f"has {healthy} healthy target(s), needs at least {self.min_healthy}"
        )

    def check(self, call: str = "") -> int:
        """Record ``(call, healthy)``; ``AssertionError`` naming ``call`` if too few are healthy."""
        healthy = self.healthy()
        self.log.append((call, healthy))
        if healthy < self.min_healthy:
            message = self._message(call, healthy)
            self.violations.append(message)
            raise AssertionError(message)
        return healthy

    # -- client side: botocore after-call hooks -----------------------------------------------
    def watch(self, emitter_owner: Any, services: Iterable[str] = DEFAULT_SERVICES) -> Callable[[], None]:
        """Check after every mutating call (not Describe*/Get*/List*) of ``services`` made by a
        boto3 client, or by clients later created from a boto3/botocore Session. The failing call
        raises the ``AssertionError``. Returns a function that stops watching."""
        wanted = frozenset(services)
        events = emitter_owner.meta.events if hasattr(emitter_owner, "meta") else emitter_owner.events

        def after_call(model: Any = None, **_: Any) -> None:
            if model is None:
                return
            service = model.service_model.service_name
            if service in wanted and is_mutating(model.name):
                self.check(f"{service}:{model.name}")

        unique_id = f"bluegreen-serving-invariant-{id(self)}"
        events.register("after-call", after_call, unique_id=unique_id)
        return lambda: events.unregister("after-call", after_call, unique_id=unique_id)

    # -- server side: every call moto serves (Terraform over HTTP included) --------------------
    def monitor(self, fidelity: Fidelity | None = None) -> Callable[[], None]:
        """Record (never raise) after every successful mutating call moto serves, whoever made it.
        Returns a function that stops monitoring; ``assert_held()`` raises the first violation."""
        fid = fidelity or self._fidelity or current()
        if fid is None:
            raise RuntimeError("monitor() needs the fidelity layer installed")

        def listener(action: str, status: int) -> None:
            if status < 400 and is_mutating(action):
                try:
                    self.check(action)
                except AssertionError:
                    pass  # kept in self.violations
                except KeyError:
                    pass  # the serving target group does not exist (yet, or any more)

        return fid.add_listener(listener)

    def assert_held(self) -> None:
        if self.violations:
            raise AssertionError(self.violations[0] + (f" (+{len(self.violations) - 1} more)" if len(self.violations) > 1 else ""))
