from __future__ import annotations

import os
import time
import urllib.request

import pytest

from bluegreen_lab.dataplane import DataPlane, DesiredState, InstanceSpec
from bluegreen_lab.fidelity.health import HealthSource
from bluegreen_lab.load import LoadGenerator
from bluegreen_lab.timeline import text_summary, write_png

from lab_support import assert_all_gone, children_of

pytestmark = pytest.mark.lab

BLUE = ("i-blue1", "i-blue2")
GREEN = ("i-green1", "i-green2")


class FakeDesired:
    """The desired state a test mutates; the DataPlane polls it like the emulation's registry."""

    def __init__(self) -> None:
        self.instances: dict[str, tuple] = {}
        self.targets: dict[str, str] = {}

    def __call__(self) -> DesiredState:
        return DesiredState.coerce({"instances": dict(self.instances),
                                    "targets": dict(self.targets)})


def all_healthy(dp: DataPlane, ids) -> bool:
    return all(dp.health(i) == "healthy" for i in ids)


def test_blue_green_swap_under_load_has_zero_failures(haproxy_bin, tmp_path):
    desired = FakeDesired()
    for i in BLUE:
        desired.instances[i] = ("v1", None)
        desired.targets[i] = "registered"
    pids: set[int] = set()
    dp = DataPlane(desired, interval_s=0.1)
    with dp:
        assert dp.wait_until(lambda: all_healthy(dp, BLUE), 10), dp.servers()
        pids |= {*dp.haproxy.pids, *dp.fleet.pids()}
        phases = []
        with LoadGenerator(dp.url, rate_per_s=200, duration_s=6, max_requests=1300) as load:
            time.sleep(1.0)
            phases.append((load.now(), "register green"))
            for i in GREEN:
                desired.instances[i] = ("v2", None)
                desired.targets[i] = "registered"
            assert dp.wait_until(lambda: all_healthy(dp, GREEN), 10), dp.servers()
            pids |= set(dp.fleet.pids())
            phases.append((load.now(), "green healthy; drain blue"))
            for i in BLUE:
                desired.targets[i] = "draining"
            assert dp.wait_until(dp.converged, 5)
            assert {s.admin for n, s in dp.servers().items() if n in BLUE} == {"drain"}
            time.sleep(0.5)  # the draining window: in-flight requests to blue finish
            phases.append((load.now(), "deregister + terminate blue"))
            for i in BLUE:
                del desired.targets[i]
                del desired.instances[i]
            assert dp.wait_until(lambda: dp.converged() and set(dp.fleet.instances()) == set(GREEN), 10)
            removed_at = load.now()
            assert load.wait(15)
        summary = load.summary(old="v1", new="v2")
        backend = dp.haproxy.backend_stats()
        print("\n" + text_summary(load.records, phases=phases, old="v1", new="v2"))
        print(f"haproxy backend: {backend}")
        png = write_png(load.records, tmp_path / "swap.png", phases=phases)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not dp.errors, list(dp.errors)

    assert summary.total >= 1000, summary.as_text()
    assert summary.failures == 0, summary.failure_kinds
    assert summary.versions.get("v1", 0) > 0 and summary.versions.get("v2", 0) > 0
    assert summary.last_old_at is not None and summary.last_old_at <= removed_at
    # Both versions served only between green's registration and blue's removal.
    assert 0 <= summary.mixed_window_s <= removed_at - phases[0][0]
    # Teardown: HAProxy and every instance process gone, nothing left under this test process.
    assert_all_gone(pids)
    assert not set(children_of(os.getpid())) & pids


def test_broken_instance_never_becomes_healthy_and_gets_no_traffic(haproxy_bin):
    desired = FakeDesired()
    desired.instances = {"i-good": ("v1", None), "i-bad": InstanceSpec("v1-bad", broken="now")}
    desired.targets = {"i-good": "registered", "i-bad": "registered"}
    with DataPlane(desired, interval_s=0.1) as dp:
        assert dp.wait_until(lambda: dp.health("i-good") == "healthy", 10)
        seen = set()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            seen.add(dp.health("i-bad"))
            time.sleep(0.05)
        assert "healthy" not in seen
        assert dp.health("i-bad") == "unhealthy"
        served = set()
        for _ in range(20):
            with urllib.request.urlopen(dp.url, timeout=2) as r:
                served.add(r.headers["X-Instance-Id"])
        assert served == {"i-good"}
        pids = [*dp.haproxy.pids, *dp.fleet.pids()]
    assert_all_gone(pids)


def test_reconciler_edges(haproxy_bin):
    desired = FakeDesired()
    desired.instances = {"i-1": "v1", "i-2": {"version": "v1"}}
    desired.targets = {"i-1": "registered"}
    with DataPlane(desired, interval_s=0.1) as dp:
        assert dp.health("i-1") in ("initial", "healthy")  # registered: initial before its server
        assert dp.wait_until(lambda: dp.health("i-1") == "healthy", 10)
        # The emulation's HealthSource protocol, answered from HAProxy's checks.
        assert isinstance(dp, HealthSource)
        assert dp.state("arn:aws:elasticloadbalancing:tg", "i-1", 1.0) == "healthy"
        assert dp.state("arn:aws:elasticloadbalancing:tg", "i-unknown", 0.0) == "initial"
        assert dp.health_map() == {"i-1": "healthy"}
        assert dp.wait_until(lambda: dp.fleet.is_running("i-2"), 5)
        assert dp.health("i-2") is None  # running but not a target: no server
        assert "i-2" not in dp.servers()

        # A desired-state read that fails keeps the data plane as it is.
        broken_read = {"on": True}
        good_fn = dp._desired_fn

        def flaky():
            if broken_read["on"]:
                raise RuntimeError("registry unavailable")
            return good_fn()

        dp._desired_fn = flaky
        time.sleep(0.35)
        assert any("registry unavailable" in e for e in dp.errors)
        assert dp.health("i-1") == "healthy" and dp.fleet.is_running("i-1")
        broken_read["on"] = False
        dp.errors.clear()

        # An instance terminated while still registered (moto's gap): its server goes first,
        # then its process.
        pid1 = dp.fleet.pid_of("i-1")
        del desired.instances["i-1"]
        assert dp.wait_until(lambda: "i-1" not in dp.servers() and not dp.fleet.is_running("i-1"), 5)
        assert_all_gone([pid1])
        assert dp.health("i-1") == "initial"  # still registered in the (fake) registry, no server

        # Draining a target that never had a server is a no-op and converges.
        desired.targets = {"i-2": "draining"}
        assert dp.wait_until(dp.converged, 5)
        assert "i-2" not in dp.servers()
        # Re-registering a draining server makes it ready again.
        desired.targets = {"i-2": "registered"}
        assert dp.wait_until(lambda: dp.health("i-2") == "healthy", 5)
        desired.targets = {"i-2": "draining"}
        assert dp.wait_until(lambda: dp.servers()["i-2"].admin == "drain", 5)
        desired.targets = {"i-2": "registered"}
        assert dp.wait_until(lambda: dp.servers()["i-2"].admin == "ready", 5)
        assert not dp.errors, list(dp.errors)
        pids = [*dp.haproxy.pids, *dp.fleet.pids()]
    assert_all_gone(pids)


def test_desired_state_coercion():
    s = DesiredState.coerce({"instances": {"a": ("v1", "now", 2), "b": "v2",
                                           "c": InstanceSpec("v3")},
                             "targets": {"a": "registered"}})
    assert s.instances["a"] == InstanceSpec("v1", "now", 2.0)
    assert s.instances["b"] == InstanceSpec("v2")
    with pytest.raises(ValueError, match="registered\\|draining"):
        DesiredState.coerce({"instances": {}, "targets": {"a": "healthy"}})


def test_slow_booting_instance_goes_initial_then_healthy(haproxy_bin):
    desired = FakeDesired()
    desired.instances = {"i-slow": InstanceSpec("v1", boot_delay=0.8)}
    desired.targets = {"i-slow": "registered"}
    with DataPlane(desired, interval_s=0.1) as dp:
        seen = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            h = dp.health("i-slow")
            if not seen or seen[-1] != h:
                seen.append(h)
            if h == "healthy":
                break
            time.sleep(0.03)
        # Failed checks while booting read "unhealthy" (as an ELB target failing its first
        # UnhealthyThresholdCount checks); it never reads healthy before the app is up.
        assert seen[0] == "initial" and seen[-1] == "healthy", seen
        assert set(seen) <= {"initial", "unhealthy", "healthy"}
        with urllib.request.urlopen(dp.url, timeout=2) as r:
            assert r.headers["X-Instance-Id"] == "i-slow"
