"""The session's one lab: moto's server with the fidelity layer, the example stack applied once by
real Terraform (about 85 s: moto's aws_lb is slow), blue attached, and the data plane (a real
HAProxy whose servers follow the target group, one real process per instance).

Stack tests, release scenarios and lab tests share it, so the suite pays for one ALB deploy.
Each user leaves one clean live color behind (which one may differ) and restores whatever it
changes on the lab (health source, faults)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

SESSION_SIZE = 2


def require_haproxy() -> None:
    from bluegreen_lab.haproxy import find_haproxy

    if find_haproxy() is None:
        message = "haproxy not found: apt-get install haproxy (Debian package, 2.6)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def alb_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from bluegreen_lab.lab import Lab, LabOptions
    from bluegreen.report import Reporter

    require_haproxy()
    # Drain (3 s) longer than the verify window (2 s): the mixed-version window stays under it.
    options = LabOptions(dataplane=True, deregistration_delay=3, verify_seconds=2,
                         unhealthy_grace_seconds=2, poll_seconds=0.2)
    lab = Lab(Path(tmp_path_factory.mktemp("session-lab")), options).start()
    try:
        started = time.monotonic()
        lab.versions = {"v1": lab.bake("v1")}  # type: ignore[attr-defined]
        lab.deploy_initial(lab.versions["v1"], size=SESSION_SIZE, reporter=Reporter(service="web", quiet=True))
        print(f"\nsession lab: stack applied and blue attached in {time.monotonic() - started:.1f}s", file=sys.stderr)
        yield lab
    finally:
        lab.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs two pytest-xdist workers (`-n 2 --dist loadgroup`): every user of the
    session lab on one, everything else on the other. A group runs whole, in collection order, on
    one worker, so the tiers that expect raw moto still run before any lab in that worker installs
    the fidelity layer, and the ALB stack is deployed once. Without xdist the mark is inert."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        # The weighted mode's lab tests deploy their own (weighted) stack: a group of their own,
        # so they run beside the session lab.
        group = ("session-lab" if "alb_lab" in fixtures
                 else "weighted-lab" if "weighted_lab" in fixtures else "rest")
        if item.get_closest_marker("layouts"):  # rehearsals of the example layouts: own labs
            group = "layouts"
        item.add_marker(pytest.mark.xdist_group(group))

