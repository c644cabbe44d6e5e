"""An optional HTTP smoke request through the load balancer, after the new color is attached."""

from __future__ import annotations

import urllib.error
import urllib.request

from .health import Verdict


def http_smoke(url: str, *, timeout: float = 5.0) -> Verdict:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - operator's URL
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Verdict(False, f"GET {url} failed: {reason}", failed=True)
    if 200 <= status < 300:
        return Verdict(True, f"GET {url} -> {status}")
    return Verdict(False, f"GET {url} -> {status}", failed=True)
