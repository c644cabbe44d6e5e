"""Hooks and notifications against real processes and a real HTTP server on 127.0.0.1, and SNS
through moto: a script that fails (its output is shown), one that outlives its timeout (killed,
with its children), one that reads the event from stdin; webhooks that answer 200, 500 or hang."""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from bluegreen import hooks as hooks_mod
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.aws.sns import SnsPublisher
from bluegreen.config import HookSettings, NotifySettings
from bluegreen.hooks import HookFailed, HookRunner, Hooks, build_event
from bluegreen.report import Reporter

FACTS = {"run_id": "r42", "service": "web", "mode": "release", "from_color": "blue", "to_color": "green",
         "ami": "ami-0fedcba9876543210", "size": 2, "release_label": "release-x"}


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    path.chmod(0o755)
    return path


def event(point: str = "pre-traffic") -> dict:
    return build_event(point, FACTS, time_iso="2026-12-05T14:00:00Z", before="attach-new")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- command hooks ----------------------------------------------------------------------------


def test_hook_reads_the_event_from_stdin_and_its_environment(tmp_path):
    out = tmp_path / "seen.json"
    script(tmp_path, "smoke.py", f"""#!{sys.executable}
import json, os, sys
event = json.load(sys.stdin)
env = {{k: v for k, v in os.environ.items() if k.startswith("BLUEGREEN_")}}
open({str(out)!r}, "w").write(json.dumps({{"event": event, "env": env, "cwd": os.getcwd()}}))
print("smoke ok")
""")
    hook = HookSettings(point="pre-traffic", command=("./smoke.py",), timeout_seconds=20, cwd=tmp_path)
    result = HookRunner().run(hook, event())
    assert (result.ok, result.reason, result.output) == (True, "exited 0", ("smoke ok",))
    seen = json.loads(out.read_text())
    assert seen["event"] == event()
    assert seen["env"]["BLUEGREEN_HOOK"] == "pre-traffic" and seen["env"]["BLUEGREEN_TO_COLOR"] == "green"
    assert seen["env"]["BLUEGREEN_RUN_ID"] == "r42" and seen["env"]["BLUEGREEN_AMI"] == FACTS["ami"]
    assert seen["cwd"] == str(tmp_path)  # "./smoke.py" is found beside bluegreen.toml


def test_failing_hook_fails_the_gate_and_its_output_is_shown(tmp_path):
    script(tmp_path, "fail.sh", "#!/bin/sh\necho 'GET /health'\necho 'smoke: /health answered 503' >&2\nexit 1\n")
    rep = Reporter(service="web", quiet=True)
    hooks = Hooks([HookSettings(point="pre-traffic", command=("./fail.sh",), timeout_seconds=20, cwd=tmp_path)], [],
                  reporter=rep, ledger=None)
    with pytest.raises(HookFailed, match=r"^pre-traffic hook \./fail\.sh exited 1: smoke: /health answered 503"):
        hooks("pre-traffic", FACTS)
    lines = [e["message"] for e in rep.events if "message" in e]
    assert "  | GET /health" in lines and "  | smoke: /health answered 503" in lines


def test_hook_past_its_timeout_is_killed_with_its_children(tmp_path, monkeypatch):
    pidfile = tmp_path / "child.pid"
    # The script ignores SIGTERM and starts a child: both must be gone after the timeout.
    script(tmp_path, "slow.sh", f"#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho $! > {pidfile}\necho started\nwait\n")
    monkeypatch.setattr(hooks_mod, "KILL_GRACE_SECONDS", 0.3)
    hook = HookSettings(point="pre-traffic", command=("./slow.sh",), timeout_seconds=0.5, cwd=tmp_path)
    start = time.monotonic()
    result = HookRunner().run(hook, event())
    took = time.monotonic() - start
    assert not result.ok and result.reason == "timed out after 0.5s (killed)"
    assert result.output == ("started",)
    assert 0.5 <= took < 30  # the timeout and the kill, not the script's 60 s sleep
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the hook's child outlived the hook"


def test_hook_killed_by_a_signal_is_a_failure(tmp_path):
    script(tmp_path, "killed.sh", "#!/bin/sh\necho before\nkill -9 $$\n")
    result = HookRunner().run(HookSettings(point="post-step", command=("./killed.sh",), cwd=tmp_path), event("post-step"))
    assert not result.ok and result.reason == "killed by SIGKILL" and result.output == ("before",)


def test_missing_hook_command_is_a_failure(tmp_path):
    result = HookRunner().run(HookSettings(point="pre-traffic", command=("./nope.sh",), cwd=tmp_path), event())
    assert not result.ok and result.reason.startswith("could not start: ")


# -- webhooks against a local server ------------------------------------------------------------


class Server:
    """Records every POST; /ok answers 200, /fail 500, /hang holds the answer until released."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append((self.path, body))
                if self.path == "/hang":
                    outer.release.wait(10)
                status = 500 if self.path == "/fail" else 200
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"boom\n" if status == 500 else b"ok\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # /hang: the client gave up at its timeout, as the test wants

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


def test_webhook_hooks_ok_500_and_hang(server):
    runner = HookRunner()
    ok = runner.run(HookSettings(point="pre-traffic", url=server.url("/ok"), timeout_seconds=5), event())
    fail = runner.run(HookSettings(point="pre-traffic", url=server.url("/fail"), timeout_seconds=5), event())
    start = time.monotonic()
    hang = runner.run(HookSettings(point="pre-traffic", url=server.url("/hang"), timeout_seconds=0.5), event())
    assert (ok.ok, ok.reason) == (True, "HTTP 200")
    assert (fail.ok, fail.reason, fail.output) == (False, "HTTP 500", ("boom",))
    assert not hang.ok and hang.reason.startswith("no answer: ") and "timed out" in hang.reason
    assert time.monotonic() - start < 15  # the 0.5 s timeout ended it: /hang never answers by itself
    assert [path for path, _ in server.received] == ["/ok", "/fail", "/hang"]
    assert all(body == event() for _, body in server.received)


class ListLedger:
    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []

    def sent(self, run_id):
        return {k for r, k in self.keys if r == run_id}

    def mark_sent(self, run_id, key):
        self.keys.append((run_id, key))


def test_notifications_to_webhook_and_slack_once_and_failures_only_warn(server):
    rep = Reporter(service="web", quiet=True)
    ledger = ListLedger()
    targets = [NotifySettings(kind="webhook", url=server.url("/ok")),
               NotifySettings(kind="slack", url=server.url("/slack")),
               NotifySettings(kind="webhook", url=server.url("/fail")),
               NotifySettings(kind="webhook", url=server.url("/hang"), timeout_seconds=0.5)]
    hooks = Hooks([], targets, reporter=rep, ledger=ledger)
    hooks("start", FACTS)
    hooks("start", FACTS)  # deduplicated
    hooks("on-complete", FACTS, outcome="completed")
    paths = [p for p, _ in server.received]
    assert paths == ["/ok", "/slack", "/fail", "/hang"] * 2
    slack = [b for p, b in server.received if p == "/slack"]
    assert slack[0] == {"text": ":rocket: bluegreen: started web release blue -> green (AMI ami-0fedcba9876543210, run r42)"}
    assert slack[1]["text"].startswith(":white_check_mark: bluegreen: completed web release blue -> green: green serves")
    assert [b["event"] for p, b in server.received if p == "/ok"] == ["start", "on-complete"]
    warnings = [e["message"] for e in rep.events if e["event"] == "warning"]
    assert len(warnings) == 4 and all("failed: HTTP 500" in w or "no answer" in w for w in warnings)


def test_measured_overhead_per_hook(tmp_path, server):
    """Not a benchmark gate: prints what one trivial command hook and one local webhook cost."""
    script(tmp_path, "true.sh", "#!/bin/sh\nexit 0\n")
    runner = HookRunner()
    samples = {"command": [], "webhook": []}
    for _ in range(10):
        samples["command"].append(runner.run(HookSettings(point="pre-traffic", command=("./true.sh",), cwd=tmp_path), event()).seconds)
        samples["webhook"].append(runner.run(HookSettings(point="pre-traffic", url=server.url("/ok")), event()).seconds)
    medians = {k: sorted(v)[len(v) // 2] * 1000 for k, v in samples.items()}
    print(f"hook overhead (median of 10): command {medians['command']:.1f} ms, webhook {medians['webhook']:.1f} ms")
    assert medians["command"] < 1000 and medians["webhook"] < 1000


# -- SNS through moto ---------------------------------------------------------------------------


REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield AwsClients(ClientSettings(region=REGION))


def test_sns_notification_is_published_once(aws):
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="releases")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    rep = Reporter(service="web", quiet=True)
    ledger = ListLedger()
    hooks = Hooks([], [NotifySettings(kind="sns", topic_arn=topic, events=("rollback",))], reporter=rep,
                  ledger=ledger, sns=lambda: SnsPublisher.from_clients(aws))
    hooks("start", FACTS)  # not subscribed to "start"
    for _ in range(2):
        hooks("on-rollback", FACTS, outcome="rolled-back", error="pre-traffic hook ./smoke.sh exited 1")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"].startswith("rolled back web release blue -> green, blue serves")
    assert json.loads(envelope["Message"])["error"] == "pre-traffic hook ./smoke.sh exited 1"
    assert aws.calls["Publish"] == 1
    assert not [e for e in rep.events if e["event"] == "warning"]


def test_sns_failure_is_a_warning(aws):
    rep = Reporter(service="web", quiet=True)
    missing = f"arn:aws:sns:{REGION}:123456789012:nope"
    hooks = Hooks([], [NotifySettings(kind="sns", topic_arn=missing)], reporter=rep, ledger=None,
                  sns=lambda: SnsPublisher.from_clients(aws))
    hooks("on-complete", FACTS)  # never raises
    warning = [e["message"] for e in rep.events if e["event"] == "warning"]
    assert len(warning) == 1 and f"publish to SNS topic {missing}" in warning[0] and "NotFound" in warning[0]


def test_a_stop_request_ends_a_running_hook_at_once(tmp_path, monkeypatch):
    from bluegreen.stop import Interrupted, StopToken

    script(tmp_path, "long.sh", "#!/bin/sh\necho waiting\nsleep 60\n")
    monkeypatch.setattr(hooks_mod, "KILL_GRACE_SECONDS", 0.3)
    stop = StopToken()
    timer = threading.Timer(0.3, lambda: stop.request(Interrupted("interrupted by SIGINT")))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(Interrupted):
            HookRunner(stop=stop).run(HookSettings(point="pre-traffic", command=("./long.sh",), timeout_seconds=60,
                                                   cwd=tmp_path), event())
    finally:
        timer.cancel()
    assert time.monotonic() - start < 30  # the stop ended it, not the hook's 60 s timeout
