"""Keep the lab's real data plane (HAProxy + one process per instance) in line with a desired state.

The desired state comes from a callable, polled on a background thread every ``interval_s``::

    def desired() -> DesiredState:        # or a plain dict with the same two keys
        return DesiredState(
            instances={"i-1": ("v1", None), "i-2": InstanceSpec("v2", broken="after:5")},
            targets={"i-1": "draining", "i-2": "registered"},
        )

* ``instances``: running EC2 instances -> version (from their AMI) and an optional fault
  (``broken`` = ``"now"`` | ``"after:SECONDS"``). A value may be an ``InstanceSpec``, a tuple
  ``(version, broken[, boot_delay])``, a bare version string or a dict with those keys.
* ``targets``: the serving target group's registrations -> ``"registered"`` | ``"draining"``.

Each tick: start processes for new instances; add a server for each registered target (it takes
traffic after ``rise`` passing checks); drain draining targets; remove (maint, wait for 0 sessions,
del) servers whose target is gone or whose instance is gone; only then stop the processes of
instances no longer desired, so no request is ever sent to a stopped process.

``health(instance_id)`` reports what HAProxy's checks observe, in ELB's words
(``initial`` | ``healthy`` | ``unhealthy``, ``None`` when not a target). ``DataPlane`` also satisfies
``bluegreen_lab.fidelity.HealthSource`` (``state(tg_arn, instance_id, registered_for)``): pass it to
``fidelity.install(health=dataplane)`` so DescribeTargetHealth tells what the load balancer sees.
"""

from __future__ import annotations

import atexit
import re
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .haproxy import HAProxy, HAProxyError, ServerState
from .instances import InstanceFleet

REGISTERED = "registered"
DRAINING = "draining"


@dataclass(frozen=True)
class InstanceSpec:
    version: str
    broken: str | None = None
    boot_delay: float = 0.0
    fault: str | None = None  # sample app --fault: answers 500 to a fraction / adds latency, checks pass

    @classmethod
    def coerce(cls, value: Any) -> "InstanceSpec":
        if isinstance(value, InstanceSpec):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping):
            return cls(str(value["version"]), value.get("broken"),
                       float(value.get("boot_delay") or 0.0), value.get("fault"))
        if isinstance(value, (tuple, list)) and 1 <= len(value) <= 4:
            version, broken, boot, fault = (list(value) + [None, 0.0, None])[:4]
            return cls(str(version), broken, float(boot or 0.0), fault)
        raise TypeError(f"cannot read an instance spec from {value!r}")


@dataclass(frozen=True)
class DesiredState:
    instances: Mapping[str, InstanceSpec]
    targets: Mapping[str, str]
    # The weighted mode: instance -> HAProxy server weight (0-256) from the listener's target
    # group weights; empty in the attach mode (every server at HAProxy's default weight).
    weights: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def coerce(cls, value: Any) -> "DesiredState":
        if isinstance(value, DesiredState):
            instances, targets, weights = value.instances, value.targets, value.weights
        elif isinstance(value, Mapping):
            instances, targets = value.get("instances") or {}, value.get("targets") or {}
            weights = value.get("weights") or {}
        else:
            raise TypeError(f"desired state must be a DesiredState or a mapping, not {type(value)}")
        for iid, state in targets.items():
            if state not in (REGISTERED, DRAINING):
                raise ValueError(f"target {iid}: state must be registered|draining, not {state!r}")
        return cls({str(k): InstanceSpec.coerce(v) for k, v in instances.items()},
                   {str(k): str(v) for k, v in targets.items()},
                   {str(k): max(0, min(256, int(v))) for k, v in weights.items()})


DesiredStateFn = Callable[[], "DesiredState | Mapping[str, Any]"]

_NAME_OK = re.compile(r"[^A-Za-z0-9_.:-]")

_live: "weakref.WeakSet[DataPlane]" = weakref.WeakSet()


@atexit.register
def _stop_all_live() -> None:
    # Registered after (so run before) the HAProxy and fleet hooks: stop the reconciler first so
    # it cannot start a process while those are being stopped.
    for dp in list(_live):
        dp.stop()


def server_name(instance_id: str) -> str:
    """HAProxy server name for an instance id (EC2 ids are already valid names)."""
    return _NAME_OK.sub("_", instance_id)


class DataPlane:
    """Reconciler between a desired state and the real HAProxy + instance processes.

    Creates (and then owns and stops) an ``HAProxy`` and an ``InstanceFleet`` unless given ones.
    ``start()`` runs the loop on a daemon thread, bounded by ``max_runtime_s``; ``stop()`` ends it
    and stops what it owns. ``reconcile_once()`` runs one tick synchronously.
    """

    def __init__(self, desired: DesiredStateFn, *, haproxy: HAProxy | None = None,
                 fleet: InstanceFleet | None = None, interval_s: float = 0.15,
                 remove_timeout_s: float = 10.0, max_runtime_s: float = 3600.0) -> None:
        self._desired_fn = desired
        self._own_haproxy = haproxy is None
        self._own_fleet = fleet is None
        self.haproxy = haproxy or HAProxy()
        self.fleet = fleet or InstanceFleet()
        self.interval_s = interval_s
        self.remove_timeout_s = remove_timeout_s
        self.max_runtime_s = max_runtime_s
        self._lock = threading.RLock()      # one tick at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._removing: dict[str, float] = {}   # server name -> deadline for its sessions to end
        self._failed: set[str] = set()          # instances whose process did not come up
        self._desired = DesiredState({}, {})
        self._servers: dict[str, ServerState] = {}
        self.ticks = 0
        self.errors: deque[str] = deque(maxlen=50)

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.haproxy.url

    def start(self) -> "DataPlane":
        if self._thread is not None:
            return self
        if not self.haproxy.running:
            self.haproxy.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dataplane", daemon=True)
        _live.add(self)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.remove_timeout_s + 10)
            self._thread = None
        if self._own_haproxy:
            self.haproxy.stop()
        if self._own_fleet:
            self.fleet.stop_all()
        _live.discard(self)

    def __enter__(self) -> "DataPlane":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_runtime_s
        max_ticks = int(self.max_runtime_s / max(self.interval_s, 0.01)) + 1
        for _ in range(max_ticks):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            started = time.monotonic()
            self.reconcile_once()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    # -- reconcile ---------------------------------------------------------------------------------

    def reconcile_once(self) -> None:
        with self._lock:
            self.ticks += 1
            try:
                desired = DesiredState.coerce(self._desired_fn())
            except Exception as exc:  # noqa: BLE001 - a bad read must not tear the data plane down
                self._error(f"desired state unavailable: {exc!r}")
                return
            self._desired = desired
            try:
                self._reconcile(desired)
            except Exception as exc:  # noqa: BLE001 - the loop must survive; the next tick retries
                self._error(f"reconcile: {exc!r}")

    def _error(self, msg: str) -> None:
        self.errors.append(f"{time.strftime('%H:%M:%S')} {msg}")

    def _reconcile(self, desired: DesiredState) -> None:
        fleet, hp = self.fleet, self.haproxy
        running = fleet.instances()

        # 1. Processes for new instances: start all, then wait for them together.
        new = [i for i in desired.instances if i not in running and i not in self._failed]
        for iid in new:
            spec = desired.instances[iid]
            fleet.start(iid, spec.version, spec.broken, spec.boot_delay, wait=False, fault=spec.fault)
        for iid in new:
            # A booting app (boot_delay) is added at once and fails its checks meanwhile, as a
            # target whose instance is InService but whose app is not up yet. Others are added
            # once listening, so a plain start never reads "unhealthy".
            if desired.instances[iid].boot_delay:
                continue
            try:
                fleet.wait_listening(iid)
            except (RuntimeError, TimeoutError) as exc:
                self._error(f"instance {iid} did not start: {exc}")
                self._failed.add(iid)
                fleet.stop(iid)

        servers = hp.servers()
        by_instance = {server_name(i): i for i in set(running) | set(new) | set(desired.targets)}

        # 2. Servers for registered targets; drain draining ones.
        for iid, state in desired.targets.items():
            name = server_name(iid)
            st = servers.get(name)
            if iid not in desired.instances or name in self._removing:
                continue  # instance gone: handled by removal; being removed: re-add next tick
            port = fleet.port_of(iid)
            weight = desired.weights.get(iid)
            if st is None:
                if state == REGISTERED and port is not None:
                    hp.add(name, port)
                    if weight is not None:
                        hp.set_weight(name, weight)  # before its checks pass: never a request too many
                continue
            if weight is not None and st.weight != weight and name not in self._removing:
                hp.set_weight(name, weight)
            if state == REGISTERED and st.admin == "drain":
                hp.ready(name)
            elif state == DRAINING and st.admin == "ready":
                hp.drain(name)

        # 3. Remove servers whose target or instance is gone: maint now, del once idle.
        for name, st in servers.items():
            iid = by_instance.get(name, name)
            wanted = iid in desired.targets and iid in desired.instances
            if not wanted and name not in self._removing:
                if st.admin != "maint":
                    hp.maint(name)
                self._removing[name] = time.monotonic() + self.remove_timeout_s
        for name, deadline in list(self._removing.items()):
            st = servers.get(name)
            if st is None:
                self._removing.pop(name)
                continue
            if st.sessions > 0 and time.monotonic() < deadline:
                continue
            if st.sessions > 0:
                self._error(f"server {name}: sessions cut after {self.remove_timeout_s}s")
                hp.shutdown_sessions(name)
            if hp.delete(name):
                self._removing.pop(name)

        # 4. Only now stop processes of instances no longer wanted and no longer served.
        servers = hp.servers()
        self._servers = servers
        gone = [i for i in running if i not in desired.instances
                and server_name(i) not in servers]
        if gone:
            fleet.stop_many(gone)
        self._failed &= set(desired.instances)

    # -- observation ---------------------------------------------------------------------------------

    def health(self, instance_id: str) -> str | None:
        """What HAProxy's checks say about this instance's target, in ELB's words.

        ``initial`` also while a registered target's server is not added yet (process starting);
        ``None`` when the instance is not a target.
        """
        name = server_name(instance_id)
        try:
            st = self.haproxy.servers().get(name) if self.haproxy.running else None
        except (HAProxyError, OSError):
            st = self._servers.get(name)
        if st is not None and name not in self._removing:
            return st.health
        if self._desired.targets.get(instance_id) == REGISTERED:
            return "initial"
        return None

    def state(self, target_group_arn: str, instance_id: str, registered_for: float) -> str:
        """``fidelity.HealthSource`` protocol: the target's health as HAProxy observes it.

        Asked for registered (not draining) targets only, so "no server yet" reads ``initial``.
        Never takes the reconcile lock: the emulation may call this while serving an API request
        that the desired-state callable is waiting on.
        """
        return self.health(instance_id) or "initial"

    def health_map(self) -> dict[str, str]:
        """``{instance_id: health}`` for every server, from one HAProxy read."""
        by_name = {server_name(i): i for i in self._desired.targets}
        return {by_name.get(n, n): st.health for n, st in self.haproxy.servers().items()
                if n not in self._removing}

    def servers(self) -> dict[str, ServerState]:
        return self.haproxy.servers()

    def converged(self) -> bool:
        """HAProxy serves exactly the desired targets (admin states match), nothing being removed.

        Reads the desired state afresh (calls the callable), so a change made just before is seen.
        Health is not part of it: a broken instance converges too.
        """
        desired = DesiredState.coerce(self._desired_fn())
        with self._lock:
            servers = self.haproxy.servers()
            # A draining target that never got a server has nothing to drain.
            expected = {server_name(i): s for i, s in desired.targets.items()
                        if i in desired.instances and i not in self._failed
                        and (s == REGISTERED or server_name(i) in servers)}
            if set(servers) != set(expected) or self._removing:
                return False
            want = {REGISTERED: "ready", DRAINING: "drain"}
            return all(servers[n].admin == want[s] for n, s in expected.items())

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0,
                   poll_s: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(poll_s)
        return predicate()
