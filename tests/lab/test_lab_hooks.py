"""Issue 9 in the lab (moto + fidelity layer, real Terraform, real HAProxy, 200 req/s): hooks and
notifications against real endpoints on 127.0.0.1, then `history` and `status --watch` through the
real CLI, in separate processes, as a second engineer would run them.

- A pre-traffic hook that hangs past its timeout is killed, fails its gate, and the release rolls
  back before the new color takes any request: 0 failed requests under load. Its notifications go
  to a webhook that records them, one that answers 500, one that hangs past the delivery timeout
  (warnings, never a failure) and an SNS topic read back through a subscribed SQS queue.
- A release followed by `bluegreen status --watch` in another process (no TTY: one line per
  change) that ends by itself with exit 0, then listed by `bluegreen history` with who ran it.

Both use the session lab (no extra deploy) and leave one clean live color behind.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest

from bluegreen import commands
from bluegreen.config import HookSettings, NotifySettings
from bluegreen.errors import ExitCode, RolledBackError
from bluegreen.model import Color
from bluegreen.plan import Step
from bluegreen.report import Reporter
from bluegreen_lab.demo import TrafficWatch
from bluegreen_lab.lab import Lab
from lab_support import assert_all_gone

pytestmark = pytest.mark.lab

RATE = 200
DELIVERY_TIMEOUT = 0.5  # seconds: the hanging webhook answers only after HANG_SECONDS
HANG_SECONDS = 3.0


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST; answers ``status`` after ``delay`` s."""

    def __init__(self, status: int = 204, delay: float = 0.0) -> None:
        self.received: list[dict] = []
        self.released = threading.Event()  # ends a hanging handler at teardown
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                if delay:
                    outer.released.wait(delay)
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass  # the client gave up (the delivery timeout): nothing to answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {"ok": Receiver(204), "error": Receiver(500), "hang": Receiver(204, delay=HANG_SECONDS)}
    yield made
    for receiver in made.values():
        receiver.stop()


@pytest.fixture
def lab(alb_lab: Lab) -> Lab:
    """The session lab with the data plane deciding health (as tests/lab/test_lab_release.py)."""
    alb_lab.health = alb_lab.fidelity.health = alb_lab.dataplane
    return alb_lab


def live_of(lab: Lab) -> Color:
    live = commands.observe(lab.app(Reporter(service="web", quiet=True))).assessment.live
    assert live is not None, "the lab must start with one clean live color"
    return live


def sns_to_sqs(lab: Lab, name: str) -> tuple[str, str]:
    """A topic with an SQS queue subscribed: what SNS publishes can be read back."""
    sns, sqs = lab.client("sns"), lab.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


def published(lab: Lab, queue: str) -> list[dict]:
    """The SNS messages the queue received: (subject, the event JSON)."""
    sqs = lab.client("sqs")
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            envelope = json.loads(message["Body"])
            found.append({"subject": envelope.get("Subject"), "event": json.loads(envelope["Message"])})
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def cli(lab: Lab, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real CLI in another process, on the lab's bluegreen.toml (stdout is a pipe: no TTY)."""
    return subprocess.run([sys.executable, "-m", "bluegreen", *args, "--config", str(lab.config_path)],
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def test_hung_pre_traffic_hook_rolls_back_under_load_and_deliveries_only_warn(lab, receivers, tmp_path):
    live = live_of(lab)
    pid_file = tmp_path / "hook.pid"
    hook = tmp_path / "hang.sh"
    hook.write_text(f"#!/bin/sh\necho $$ > {pid_file}\necho 'checking the new color'\nexec sleep 60\n")
    hook.chmod(0o755)
    topic, queue = sns_to_sqs(lab, "bluegreen-hooks-lab")
    targets = [NotifySettings(kind="webhook", url=receivers["ok"].url),
               NotifySettings(kind="webhook", url=receivers["error"].url),
               NotifySettings(kind="slack", url=receivers["hang"].url, timeout_seconds=DELIVERY_TIMEOUT),
               NotifySettings(kind="sns", topic_arn=topic)]
    settings = dataclasses.replace(
        lab.settings(), hooks=(HookSettings(point="pre-traffic", command=(str(hook),), timeout_seconds=1.0),),
        notify=tuple(targets))
    reporter = Reporter(service="web", quiet=True)
    app = lab.app(reporter, settings)
    ami = lab.bake("lab-hook-hangs")
    with TrafficWatch(lab, rate_per_s=RATE) as watch:
        watch.settle(1.5)
        with watch.measure("release, pre-traffic hook hangs"):
            with pytest.raises(RolledBackError) as info:
                commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False, wait=False)
        watch.settle(1.5)
    # The gate failed on the timeout; the hook (and its `sleep`) was killed, not left running.
    assert info.value.exit_code == ExitCode.ROLLED_BACK
    assert "pre-traffic hook" in str(info.value) and "timed out after 1s (killed)" in str(info.value)
    assert_all_gone([int(pid_file.read_text())])
    # No user saw the new color: it was never attached, and no request failed under load.
    failed = [r for r in watch.records if not r.ok]
    assert len(watch.records) > RATE * 5 and not failed, f"{len(failed)} failed: {failed[:5]}"
    assert live_of(lab) is live
    run = commands.run_history(lab.app(Reporter(service="web", quiet=True)), app.journal.store.latest())
    assert run.state == "rolled-back" and Step.ATTACH.value not in [p.step for p in run.phases]
    assert [(h.point, h.ok, h.reason) for h in run.hooks] == [("pre-traffic", False, "timed out after 1s (killed)")]
    # Every target heard the same three events; the 500 and the hang are warnings, each once per event.
    events = ["start", "pre-traffic", "on-rollback"]
    assert [e["event"] for e in receivers["ok"].received] == events
    assert [e["event"] for e in receivers["error"].received] == events
    assert len(receivers["hang"].received) == 3 and all("text" in e for e in receivers["hang"].received)
    warnings = [e["message"] for e in reporter.events if e["event"] == "warning"]
    assert sum(f"to webhook {receivers['error'].url} failed: HTTP 500" in w for w in warnings) == 3, warnings
    assert sum("failed: no answer" in w for w in warnings) == 3, warnings
    assert len(warnings) == 6, warnings
    sent = published(lab, queue)
    assert [m["event"]["event"] for m in sent] == events
    assert sent[1]["event"]["passed"] is False and sent[1]["subject"].startswith("pre-traffic gate FAILED")
    assert all(m["event"]["run_id"] == run.run_id for m in sent)
    assert run.notifications == ("start", "pre-traffic:failed", "on-rollback")


def test_release_followed_by_status_watch_then_listed_by_history(lab, tmp_path):
    live = live_of(lab)
    app = lab.app(Reporter(service="web", quiet=True))
    before = app.journal.store.latest()
    ami = lab.bake("lab-watched")
    outcome: dict[str, object] = {}

    def release() -> None:
        try:
            commands.release(lab.app(Reporter(service="web", quiet=True)), ami=ami, manifest=None, size=None,
                             keep_old=False, dry_run=False, wait=False)
            outcome["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    driver = threading.Thread(target=release, name="release")
    driver.start()
    deadline = time.monotonic() + 30
    while app.journal.store.latest() == before and time.monotonic() < deadline and driver.is_alive():
        time.sleep(0.1)
    watcher = subprocess.Popen([sys.executable, "-m", "bluegreen", "status", "--watch", "--interval", "0.5",
                                "--config", str(lab.config_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        out, err = watcher.communicate(timeout=120)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    driver.join(60)
    assert outcome.get("ok"), outcome
    assert watcher.returncode == 0, (out, err)
    lines = out.splitlines()
    run_id = app.journal.store.latest()
    assert len(lines) >= 3 and all(f"run {run_id}" in line for line in lines), lines
    assert ": committed" in out and lines[-1].split(": ")[1].startswith("completed"), lines
    assert all(a != b for a, b in zip(lines, lines[1:]))  # one line per change, never a repeat
    assert f"{live.other()}: " in lines[-1] and "attached" in lines[-1]
    assert live_of(lab) is live.other()

    listing = cli(lab, "history", "--json", "--limit", "5")
    assert listing.returncode == 0, listing.stderr
    runs = json.loads(listing.stdout)["runs"]
    assert runs[0]["run_id"] == run_id and runs[0]["state"] == "completed"
    assert runs[0]["to"] == {"color": live.other().value, "ami": ami, "size": runs[0]["to"]["size"],
                             "release_label": runs[0]["to"]["release_label"]}
    assert runs[0]["caller"].startswith("arn:aws:") and runs[0]["strategy"] == "all-at-once"
    assert runs[0]["slowest"] and runs[0]["seconds"] > 0
    one = cli(lab, "history", run_id)
    assert one.returncode == 0 and one.stdout.startswith(f"run {run_id}: release {live} -> {live.other()}: completed")
    unknown = cli(lab, "history", "feedface")
    assert unknown.returncode == 3 and unknown.stdout == ""
    assert len(unknown.stderr.strip().splitlines()) == 1 and "'feedface' is not in the release journal" in unknown.stderr
    idle = cli(lab, "status", "--watch")  # nothing in progress: says so and ends at once
    assert idle.returncode == 0 and "no run in progress" in idle.stderr
