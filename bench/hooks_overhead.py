"""Issue 9: what hooks and notifications cost a release, in milliseconds.

    python -m bench.hooks_overhead               # 3 releases with hooks, 3 without
    python -m bench.hooks_overhead --rounds 5

Writes ``bench/results/hooks_overhead.json``. One lab (moto's server + the fidelity layer, real
Terraform, the classic-ELB variant of the example stack: its first apply takes ~21 s instead of
the ALB's ~85 s; scripted health, no data plane, so no HAProxy is needed). Releases alternate
between a configuration with a command hook at the four points a completed release runs
(pre-traffic, post-step, post-traffic, on-complete: a shell script that reads its event and
exits 0) plus three notification targets (a webhook and a Slack-format webhook on a receiver on
127.0.0.1, and the lab's SNS), and the same configuration without ``[[hooks]]`` or ``[[notify]]``.

The figure is ``Hooks.spent_seconds``: the wall time a release spent inside hooks and
notifications (the hook processes, the HTTP POSTs, the SNS publishes, and the journal reads and
writes that deduplicate notifications and record hook verdicts), measured around each dispatch.
The releases' total wall times are reported beside it for scale: their difference is within the
run-to-run noise of Terraform and the polls, so it is not the measure.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.server
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
POINTS = ("pre-traffic", "post-step", "post-traffic", "on-complete")


class Receiver:
    """Answers every POST with 204 on 127.0.0.1."""

    def __init__(self) -> None:
        self.count = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.count += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def main(argv: list[str] | None = None) -> int:
    from bluegreen import commands
    from bluegreen.config import HookSettings, NotifySettings
    from bluegreen.report import Reporter
    from bluegreen_lab.lab import Lab, LabOptions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="releases with hooks (and as many without)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bluegreen-hooks-bench-"))

    hook = workdir / "hook.sh"
    workdir.mkdir(parents=True, exist_ok=True)
    hook.write_text("#!/bin/sh\ncat > /dev/null\nexit 0\n", encoding="utf-8")
    hook.chmod(0o755)
    receiver = Receiver()
    options = LabOptions(traffic_kind="elb", deregistration_delay=1, verify_seconds=1, poll_seconds=0.2)
    with_hooks: list[dict[str, Any]] = []
    without: list[float] = []
    started = time.monotonic()
    try:
        with Lab(workdir / "lab", options) as lab:
            lab.deploy_initial(lab.bake("v0"), size=2, reporter=Reporter(service="web", quiet=True))
            topic = lab.client("sns").create_topic(Name="bluegreen-bench")["TopicArn"]
            plain = lab.settings()
            hooked = dataclasses.replace(
                plain,
                hooks=tuple(HookSettings(point=p, command=(str(hook),), timeout_seconds=30) for p in POINTS),
                notify=(NotifySettings(kind="webhook", url=receiver.url), NotifySettings(kind="slack", url=receiver.url),
                        NotifySettings(kind="sns", topic_arn=topic)))
            for number in range(args.rounds * 2):
                hooks_on = number % 2 == 0
                reporter = Reporter(service="web", quiet=True)
                app = lab.app(reporter, hooked if hooks_on else plain)
                ami = lab.bake(f"v{number + 1}")
                t0 = time.monotonic()
                commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False, wait=False)
                wall = time.monotonic() - t0
                if not hooks_on:
                    without.append(wall)
                    continue
                hooks = app.hooks
                assert hooks is not None
                notified = [e for e in reporter.events if e["event"] == "notified"]
                warnings = [e["message"] for e in reporter.events if e["event"] == "warning"]
                assert not warnings, warnings
                hook_seconds = [r.seconds for r in hooks.results]
                assert len(hook_seconds) == len(POINTS) and all(r.ok for r in hooks.results)
                with_hooks.append({
                    "release_s": round(wall, 3),
                    "spent_ms": round(hooks.spent_seconds * 1000, 1),
                    "hooks_ms": round(sum(hook_seconds) * 1000, 1),
                    "per_hook_ms": [round(s * 1000, 1) for s in hook_seconds],
                    "notifications": len(notified),
                    "notifications_and_journal_ms": round((hooks.spent_seconds - sum(hook_seconds)) * 1000, 1),
                })
                print(f"release with hooks: {wall:.1f}s, {with_hooks[-1]['spent_ms']:.0f} ms in hooks and "
                      f"notifications ({len(notified)} notifications)", file=sys.stderr)
    finally:
        receiver.stop()

    spent = [r["spent_ms"] for r in with_hooks]
    per_hook = [ms for r in with_hooks for ms in r["per_hook_ms"]]
    per_notification = [r["notifications_and_journal_ms"] / r["notifications"] for r in with_hooks]
    result = {
        "what": "wall time a release spends in hooks and notifications (Hooks.spent_seconds)",
        "setup": {"hooks": list(POINTS), "hook": "a /bin/sh script that reads its event and exits 0",
                  "notify": ["webhook (127.0.0.1)", "slack (127.0.0.1)", "sns (the lab's moto)"],
                  "stack": "example stack, classic ELB, lab (moto server + fidelity layer, real Terraform)",
                  "rounds": args.rounds},
        "median_spent_ms": round(statistics.median(spent), 1),
        "max_spent_ms": max(spent),
        "median_per_hook_ms": round(statistics.median(per_hook), 1),
        "median_per_notification_ms": round(statistics.median(per_notification), 1),
        "notifications_per_release": with_hooks[0]["notifications"],
        "median_release_s_with_hooks": round(statistics.median(r["release_s"] for r in with_hooks), 2),
        "median_release_s_without": round(statistics.median(without), 2),
        "releases": with_hooks,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "bench_seconds": round(time.monotonic() - started, 1),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "hooks_overhead.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"hooks and notifications: median {result['median_spent_ms']} ms per release "
          f"({result['median_per_hook_ms']} ms per hook, {result['median_per_notification_ms']} ms per "
          f"notification incl. its journal record); releases {result['median_release_s_with_hooks']} s with, "
          f"{result['median_release_s_without']} s without; wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
