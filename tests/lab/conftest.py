"""Lab tests: a real HAProxy 2.6 and real local processes, all on 127.0.0.1.

Without haproxy these tests skip, except under CI (env ``CI`` set) where they fail and say how to
install it.
"""

from __future__ import annotations

import os

import pytest

from bluegreen_lab.haproxy import find_haproxy


@pytest.fixture
def haproxy_bin() -> str:
    path = find_haproxy()
    if path is None:
        msg = "haproxy not found: apt-get install haproxy (Debian package, 2.6)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path
