from __future__ import annotations

import os
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

import bluegreen_lab.haproxy as mod
from bluegreen_lab.haproxy import HAProxy, HAProxyError, HAProxyMissing
from bluegreen_lab.instances import InstanceFleet
from bluegreen_lab.load import LoadGenerator

from lab_support import assert_all_gone

pytestmark = pytest.mark.lab


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_missing_binary_says_how_to_install():
    with pytest.raises(HAProxyMissing, match="apt-get install haproxy"):
        HAProxy(binary="/nonexistent/haproxy").start()


def test_new_server_gets_no_traffic_until_rise_checks_pass(haproxy_bin):
    with HAProxy(binary=haproxy_bin) as hp, InstanceFleet() as fleet:
        port = fleet.start("i-1", "v1")
        hp.add("i-1", port)
        # HAProxy 2.6 would mark a server leaving maint UP at once; ours must start "initial".
        st = hp.servers()["i-1"]
        assert st.health == "initial"
        assert st.operational == "down"
        assert status_of(hp.url) == 503
        assert hp.wait_for("i-1", "healthy", timeout_s=5)
        st = hp.servers()["i-1"]
        assert (st.admin, st.operational, st.check_status, st.port) == ("ready", "up", "L7OK", port)
        assert status_of(hp.url) == 200


def test_broken_instance_never_becomes_healthy(haproxy_bin):
    with HAProxy(binary=haproxy_bin) as hp, InstanceFleet() as fleet:
        hp.add("i-bad", fleet.start("i-bad", "v2", broken="now"))
        seen = set()
        deadline = time.monotonic() + 2.0  # 10 check intervals
        while time.monotonic() < deadline:
            seen.add(hp.health("i-bad"))
            time.sleep(0.05)
        assert "healthy" not in seen
        assert hp.health("i-bad") == "unhealthy"
        st = hp.servers()["i-bad"]
        assert (st.check_status, st.check_code) == ("L7STS", "500")
        assert status_of(hp.url) == 503


def test_healthy_then_broken_goes_unhealthy(haproxy_bin):
    with HAProxy(binary=haproxy_bin) as hp, InstanceFleet() as fleet:
        hp.add("i-1", fleet.start("i-1", "v1", broken="after:1.0"))
        assert hp.wait_for("i-1", "healthy", timeout_s=3)
        assert hp.wait_for("i-1", "unhealthy", timeout_s=3)


def test_drain_then_remove(haproxy_bin):
    with HAProxy(binary=haproxy_bin) as hp, InstanceFleet() as fleet:
        hp.add("a", fleet.start("a", "v1"))
        hp.add("b", fleet.start("b", "v2"))
        assert hp.wait_for("a", "healthy", 5) and hp.wait_for("b", "healthy", 5)
        hp.drain("a")
        assert hp.servers()["a"].admin == "drain"
        versions = set()
        for _ in range(10):
            with urllib.request.urlopen(hp.url, timeout=2) as r:
                versions.add(r.headers["X-App-Version"])
        assert versions == {"v2"}
        assert hp.remove("a", timeout_s=3) is True
        assert set(hp.servers()) == {"b"}
        assert hp.remove("a") is True  # idempotent


def test_runtime_api_refusals_raise(haproxy_bin):
    with HAProxy(binary=haproxy_bin) as hp:
        with pytest.raises(HAProxyError, match="No such server"):
            hp.drain("nope")
        hp.add("x", 1)  # nothing listens on port 1: fine, it just never gets healthy
        with pytest.raises(HAProxyError, match="Already exists"):
            hp.add("x", 1)
        # del server is refused outside maintenance
        assert hp.delete("x") is False
        hp.maint("x")
        assert hp.delete("x") is True


def test_stop_leaves_no_process_and_no_socket(haproxy_bin):
    hp = HAProxy(binary=haproxy_bin).start()
    pids, sock = hp.pids, hp.socket_path
    assert len(pids) == 2 and sock.exists()
    hp.stop()
    assert_all_gone(pids)
    assert not sock.exists()
    hp.stop()  # idempotent


def test_instance_killed_in_rotation_costs_no_request(haproxy_bin):
    # retries + option redispatch: a connection refused by a dead server is retried on another.
    with HAProxy(binary=haproxy_bin) as hp, InstanceFleet() as fleet:
        for name in ("a", "b"):
            hp.add(name, fleet.start(name, "v1"))
        assert hp.wait_for("a", "healthy", 5) and hp.wait_for("b", "healthy", 5)
        with LoadGenerator(hp.url, rate_per_s=200, duration_s=2) as load:
            time.sleep(0.7)
            os.killpg(fleet.pid_of("a"), signal.SIGKILL)
            assert load.wait(10)
        summary = load.summary()
        assert summary.total >= 350
        assert summary.failures == 0, summary.failure_kinds
        assert hp.wait_for("a", "unhealthy", 3)


def test_port_taken_before_bind_is_retried(haproxy_bin, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    real = mod.free_port
    picks = iter([taken.getsockname()[1]])
    monkeypatch.setattr(mod, "free_port", lambda host="127.0.0.1": next(picks, None) or real(host))
    try:
        with HAProxy(binary=haproxy_bin) as hp:
            assert hp.port != taken.getsockname()[1]
            assert "Name: HAProxy" in hp.command("show info")
    finally:
        taken.close()
