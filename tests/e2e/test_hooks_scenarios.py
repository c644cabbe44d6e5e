"""Issue 9 in the lab: hooks and notifications on real releases (moto server with the fidelity
layer, real Terraform, the session lab). A failing pre-traffic hook rolls back before the new
color is ever attached, with the old color serving throughout; a release with a hook at every
point and webhook + SNS notifications completes, and its hooks' cost is measured."""

from __future__ import annotations

import dataclasses
import http.server
import json
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from bluegreen import commands
from bluegreen.config import HookSettings, NotifySettings
from bluegreen.errors import ExitCode, RolledBackError
from bluegreen_lab.lab import Lab
from bluegreen.plan import Step
from bluegreen.report import Reporter

from scenario_support import assert_one_live, last_run, live_of, recover, serving_invariant

pytestmark = pytest.mark.e2e

SERVICE = "web"


class Inbox:
    """A webhook receiver on 127.0.0.1 that records every POST body."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/events"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.stop()


@pytest.fixture
def lab(alb_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    failed_before = request.session.testsfailed
    yield alb_lab
    if request.session.testsfailed != failed_before:
        recover(alb_lab)


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def app_with(lab: Lab, reporter: Reporter, hooks, notify):
    settings = dataclasses.replace(lab.settings(), hooks=tuple(hooks), notify=tuple(notify))
    return lab.app(reporter, settings=settings)


@pytest.mark.slow
def test_failing_pre_traffic_hook_rolls_back_before_the_new_color_is_attached(lab, inbox, tmp_path):
    reporter = Reporter(service=SERVICE)
    smoke = script(tmp_path, "smoke.sh", "#!/bin/sh\necho \"smoke $BLUEGREEN_TO_COLOR\"\n"
                                         "echo 'GET /health -> 503' >&2\nexit 1\n")
    app = app_with(lab, reporter, [HookSettings(point="pre-traffic", command=(smoke,), timeout_seconds=30)],
                   [NotifySettings(kind="webhook", url=inbox.url)])
    live = live_of(app)
    size = commands.observe(app).observed.group(live).desired_capacity
    ami = lab.bake("v-hook-fails")
    with serving_invariant(lab, app, size):
        with pytest.raises(RolledBackError) as info:
            commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False, wait=False)
    assert info.value.exit_code == ExitCode.ROLLED_BACK
    assert "pre-traffic hook" in str(info.value) and "GET /health -> 503" in str(info.value)
    run = last_run(app)
    assert run.outcome == "rolled-back"
    assert Step.ATTACH not in run.started  # the new color never took traffic
    assert_one_live(app, live)
    shown = [e["message"] for e in reporter.events if "message" in e]
    assert f"  | smoke {live.other()}" in shown and "  | GET /health -> 503" in shown
    assert [(e["event"], e.get("passed")) for e in inbox.received] == [
        ("start", None), ("pre-traffic", False), ("on-rollback", None)]


@pytest.mark.slow
def test_release_with_every_hook_point_and_notifications(lab, inbox, tmp_path):
    reporter = Reporter(service=SERVICE)
    seen = tmp_path / "seen.jsonl"
    record = script(tmp_path, "record.py", f"#!{sys.executable}\nimport sys\n"
                                           f"open({str(seen)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    points = ("pre-traffic", "post-step", "post-traffic", "on-rollback", "on-complete")
    sns = lab.client("sns")
    topic = sns.create_topic(Name="bluegreen-releases")["TopicArn"]
    app = app_with(lab, reporter, [HookSettings(point=p, command=(record,), timeout_seconds=30) for p in points],
                   [NotifySettings(kind="webhook", url=inbox.url), NotifySettings(kind="sns", topic_arn=topic)])
    live = live_of(app)
    size = commands.observe(app).observed.group(live).desired_capacity
    ami = lab.bake("v-hooks")
    with serving_invariant(lab, app, size):
        commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False, wait=False)
    assert last_run(app).outcome == "completed"
    events = [json.loads(line) for line in seen.read_text().splitlines() if line.strip()]
    assert [e["event"] for e in events] == ["pre-traffic", "post-step", "post-traffic", "on-complete"]
    assert all(e["ami"] == ami and e["to_color"] == live.other().value for e in events)
    assert [e["event"] for e in inbox.received] == ["start", "pre-traffic", "post-step", "post-traffic", "on-complete"]
    warnings = [e["message"] for e in reporter.events if e["event"] == "warning"]
    assert not warnings, warnings
    notified = [e for e in reporter.events if e["event"] == "notified"]
    assert sum(1 for e in notified if e["target"].startswith("sns")) == 5
    hooks = app.hooks
    total = reporter.elapsed()
    per_hook = [r.seconds for r in hooks.results]
    print(f"\nhooks overhead on a lab release: {hooks.spent_seconds * 1000:.0f} ms in hooks and notifications "
          f"({len(per_hook)} hooks, median {sorted(per_hook)[len(per_hook) // 2] * 1000:.0f} ms each; "
          f"{len(notified)} notifications) of a {total:.1f} s release", file=sys.stderr)
