"""The session's one lab: moto's server with the fidelity layer, the example stack applied once by
real Terraform (about 85 s, 60 of them the AWS provider's fixed waits for a new aws_lb), blue
attached, and the data plane (a real HAProxy whose servers follow the target group, one real
process per instance).

Stack tests, release scenarios and lab tests share it, so the suite pays for one ALB deploy.
Each user leaves one clean live color behind (which one may differ) and restores whatever it
changes on the lab (health source, faults)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

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


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs two pytest-xdist workers (`-n 2 --dist loadgroup`) and exactly two groups,
    so each worker gets one: every user of the session lab on one, everything else ("solo") on the
    other, in collection order. Why not more groups: moto's backends are process-global, so the
    session lab (alive until its worker ends) must never share a worker with a test that uses
    `mock_aws` (which resets every backend) or with another lab of the same names. Labs in "solo"
    run one after another and each starts from an empty account. Without xdist the mark is
    inert."""
    if not config.pluginmanager.hasplugin("xdist"):  # -p no:xdist: no groups, no marker to add
        return
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        group = "session-lab" if "alb_lab" in fixtures else "solo"
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without the plugin (-p no:xdist) it never runs
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Refuse to run ungrouped (in the controller, as a worker reports its collection): a
    pytest/pytest-xdist pair that drops the groups would put a `mock_aws` test (which wipes every
    moto backend) beside the session lab, and the failures would look like product bugs (this
    happened with pytest 9)."""
    if node.config.option.dist != "loadgroup":  # node: xdist's WorkerController
        return
    untagged = [nodeid for nodeid in ids if "@" not in nodeid.rsplit("]", 1)[-1]]
    if untagged:
        pytest.exit(f"pytest-xdist --dist loadgroup did not group {untagged[0]} (pytest {pytest.__version__}): "
                    "install the versions pyproject.toml pins (pip install -e '.[test]')", returncode=4)
