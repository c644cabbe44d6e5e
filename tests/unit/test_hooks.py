"""Hooks and notifications, pure and through the real command flows over the fake world: config
validation, the event and environment a hook receives, gate decisions (a failing pre-traffic hook
rolls back before the new color is attached), reported-only points, and notifications that are
sent once per run and event even across a crash and ``resume``. No subprocess, no HTTP, no
sleeping: the runner's process and post functions and its clock are injected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bluegreen import commands
from bluegreen.config import HookSettings, NotifySettings, parse_settings
from bluegreen.errors import ConfigError, RolledBackError
from bluegreen.hooks import (
    Completed,
    HookFailed,
    HookRunner,
    Hooks,
    Response,
    build_event,
    hook_env,
    slack_payload,
    summary_line,
)
from bluegreen.model import Color
from bluegreen.report import Reporter

from fakeworld import AMI_V2, Crash, FakeWorld, last_run, outcome

FACTS = {"run_id": "r1", "service": "web", "mode": "release", "from_color": "blue", "to_color": "green",
         "ami": "ami-0fedcba9876543210", "size": 2, "release_label": "release-x"}


# -- config -------------------------------------------------------------------------------------


def parse(text: str, tmp_path: Path):
    import tomllib

    return parse_settings(tomllib.loads(text), source=tmp_path / "bluegreen.toml")


def test_hooks_and_notify_parse(tmp_path):
    s = parse('''
[service]
name = "web"
[[hooks]]
point = "pre-traffic"
command = ["./smoke.sh", "--fast"]
timeout_seconds = 30
[[hooks]]
point = "on-complete"
url = "https://hooks.example.com/done"
[[notify]]
kind = "slack"
url = "https://hooks.slack.com/services/T/B/X"
events = ["rollback", "complete"]
[[notify]]
kind = "sns"
topic_arn = "arn:aws:sns:us-east-1:123456789012:releases"
''', tmp_path)
    assert s.hooks[0] == HookSettings(point="pre-traffic", command=("./smoke.sh", "--fast"), timeout_seconds=30.0,
                                      cwd=tmp_path.resolve())
    assert s.hooks[1].url == "https://hooks.example.com/done" and s.hooks[1].timeout_seconds == 60.0
    assert s.notify[0].events == ("rollback", "complete")
    assert s.notify[1].kind == "sns" and s.notify[1].events == ("start", "gate", "rollback", "complete")


@pytest.mark.parametrize("body, expected", [
    ('[[hooks]]\npoint = "pre-deploy"\ncommand = ["x"]', "hooks[1].point must be one of pre-traffic"),
    ('[[hooks]]\npoint = "pre-traffic"', "hooks[1] needs exactly one of command"),
    ('[[hooks]]\npoint = "pre-traffic"\ncommand = ["x"]\nurl = "https://a"', "hooks[1] needs exactly one of"),
    ('[[hooks]]\npoint = "pre-traffic"\ncommand = "./smoke.sh"', "hooks[1].command must be a non-empty list"),
    ('[[hooks]]\npoint = "pre-traffic"\nurl = "ftp://a"', "hooks[1].url must be an http:// or https:// URL"),
    ('[[hooks]]\npoint = "pre-traffic"\ncommand = ["x"]\ntimeout_seconds = 0', "hooks[1].timeout_seconds must be a number > 0"),
    ('[[hooks]]\npoint = "pre-traffic"\ncommand = ["x"]\nshell = true', "unknown key hooks[1].shell"),
    ('hooks = "x"', "hooks must be a list of tables ([[hooks]])"),
    ('[[notify]]\nkind = "teams"\nurl = "https://a"', "notify[1].kind must be one of webhook, slack, sns"),
    ('[[notify]]\nkind = "slack"', "notify[1] needs exactly one of url"),
    ('[[notify]]\nkind = "slack"\nurl_env = "A"\nurl = "https://a"', "notify[1] needs exactly one of url"),
    ('[[notify]]\nkind = "slack"\nurl_env = "$SLACK"', "notify[1].url_env must name an environment variable"),
    ('[[notify]]\nkind = "sns"\ntopic_arn = "arn:aws:sns:us-east-1:1:t"\nurl_env = "X"', "notify[1].url_env is not used"),
    ('[[notify]]\nkind = "sns"\ntopic_arn = "releases"', "notify[1].topic_arn must be an SNS topic ARN"),
    ('[[notify]]\nkind = "webhook"\nurl = "https://a"\nevents = ["deploy"]', "notify[1].events must be a non-empty list"),
])
def test_config_errors_are_one_line_naming_the_key(tmp_path, body, expected):
    with pytest.raises(ConfigError) as err:
        parse(body, tmp_path)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert str(tmp_path / "bluegreen.toml") in str(err.value)


def test_unknown_section_lists_the_list_sections(tmp_path):
    with pytest.raises(ConfigError, match=r"\[\[hooks\]\], \[\[notify\]\]"):
        parse("[hook]\npoint = 1", tmp_path)


# -- the event ----------------------------------------------------------------------------------


def test_event_and_environment():
    event = build_event("on-rollback", FACTS, time_iso="2026-12-05T14:00:00Z", error="boom", failed_at=None)
    assert event == {"event": "on-rollback", "time": "2026-12-05T14:00:00Z", **FACTS, "error": "boom"}
    env = hook_env(event, base={"PATH": "/bin"})
    assert env == {"PATH": "/bin", "BLUEGREEN_HOOK": "on-rollback", "BLUEGREEN_RUN_ID": "r1",
                   "BLUEGREEN_SERVICE": "web", "BLUEGREEN_MODE": "release", "BLUEGREEN_FROM_COLOR": "blue",
                   "BLUEGREEN_TO_COLOR": "green", "BLUEGREEN_AMI": "ami-0fedcba9876543210",
                   "BLUEGREEN_SIZE": "2", "BLUEGREEN_RELEASE_LABEL": "release-x", "BLUEGREEN_ERROR": "boom"}


def test_summary_lines_are_readable():
    start = build_event("start", FACTS, time_iso="t")
    assert summary_line(start) == "started web release blue -> green (AMI ami-0fedcba9876543210, run r1)"
    back = build_event("on-rollback", FACTS, time_iso="t", outcome="rolled-back", error="pre-traffic hook x exited 1")
    assert summary_line(back) == ("rolled back web release blue -> green, blue serves "
                                  "(AMI ami-0fedcba9876543210, run r1): pre-traffic hook x exited 1")
    gate = {**build_event("pre-traffic", FACTS, time_iso="t"), "passed": False, "reason": "./smoke.sh exited 1"}
    assert slack_payload(gate) == {"text": ":x: bluegreen: pre-traffic gate FAILED for web release blue -> green "
                                           "(AMI ami-0fedcba9876543210, run r1): ./smoke.sh exited 1"}


# -- the runner (injected I/O and clock) ----------------------------------------------------------


class Tick:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 0.25
        return self.t


def runner_with(returncode: int | None = 0, output: str = "", status: int | None = 200, calls=None) -> HookRunner:
    def process(argv, *, stdin, env, cwd, timeout, stop=None):
        if calls is not None:
            calls.append({"argv": argv, "stdin": stdin, "env": env, "timeout": timeout})
        return Completed(returncode, output)

    def post(url, body, *, timeout):
        if calls is not None:
            calls.append({"url": url, "body": body, "timeout": timeout})
        return Response(status, output)

    return HookRunner(clock=Tick(), process=process, post=post)


HOOK = HookSettings(point="pre-traffic", command=("./smoke.sh",), timeout_seconds=5)
WEBHOOK = HookSettings(point="pre-traffic", url="http://127.0.0.1:9/x", timeout_seconds=5)


@pytest.mark.parametrize("returncode, ok, reason", [
    (0, True, "exited 0"), (1, False, "exited 1"), (None, False, "timed out after 5s (killed)"),
    (-9, False, "killed by SIGKILL"),
])
def test_command_results(returncode, ok, reason):
    calls: list = []
    event = build_event("pre-traffic", FACTS, time_iso="t")
    result = runner_with(returncode, "line1\n" + "\n".join(f"out {i}" for i in range(20)), calls=calls).run(HOOK, event)
    assert (result.ok, result.reason) == (ok, reason)
    assert result.output[-1] == "out 19" and len(result.output) == 10  # the last lines only
    assert result.seconds == pytest.approx(0.25)
    assert calls[0]["timeout"] == 5 and b'"event": "pre-traffic"' in calls[0]["stdin"]
    assert calls[0]["env"]["BLUEGREEN_HOOK"] == "pre-traffic"


def test_command_that_cannot_start():
    def process(*a, **k):
        raise FileNotFoundError(2, "No such file or directory")

    result = HookRunner(clock=Tick(), process=process).run(HOOK, build_event("pre-traffic", FACTS, time_iso="t"))
    assert not result.ok and result.reason == "could not start: No such file or directory"


@pytest.mark.parametrize("status, ok, reason", [(204, True, "HTTP 204"), (500, False, "HTTP 500"),
                                                (None, False, "no answer: timed out")])
def test_webhook_results(status, ok, reason):
    result = runner_with(status=status, output="timed out").run(WEBHOOK, build_event("pre-traffic", FACTS, time_iso="t"))
    assert (result.ok, result.reason) == (ok, reason)


# -- the dispatcher -------------------------------------------------------------------------------


class MemLedger:
    def __init__(self) -> None:
        self.keys: dict[str, list[str]] = {}

    def sent(self, run_id: str) -> set[str]:
        return set(self.keys.get(run_id, []))

    def mark_sent(self, run_id: str, key: str) -> None:
        self.keys.setdefault(run_id, []).append(key)


def hooks_with(hooks, notify=(), *, returncode=0, output="", status=200, ledger=None, posts=None):
    reporter = Reporter(service="web", quiet=True)
    runner = runner_with(returncode, output, status, calls=posts)
    return Hooks(hooks, notify, reporter=reporter, ledger=ledger, runner=runner, now_iso=lambda: "t"), reporter


def test_failing_gate_raises_with_its_last_line_and_shows_output():
    hooks, rep = hooks_with([HOOK], returncode=1, output="checking /health\nGET /health -> 503")
    with pytest.raises(HookFailed) as err:
        hooks("pre-traffic", FACTS, before="attach-new")
    assert str(err.value) == "pre-traffic hook ./smoke.sh exited 1: GET /health -> 503"
    shown = [e["message"] for e in rep.events if e["event"] in ("info", "error")]
    assert "pre-traffic hook ./smoke.sh failed: exited 1 (0.25s); last output:" in shown
    assert "  | checking /health" in shown and "  | GET /health -> 503" in shown


def test_reported_points_never_raise():
    hook = HookSettings(point="on-complete", command=("./notify.sh",))
    hooks, rep = hooks_with([hook], returncode=None)
    hooks("on-complete", FACTS)  # no exception
    assert [e["reason"] for e in rep.events if e["event"] == "hook"] == ["timed out after 60s (killed)"]
    assert any(e["event"] == "warning" for e in rep.events)


def test_hooks_run_only_at_their_point_and_dry_run_lists_them():
    hooks, rep = hooks_with([HOOK, HookSettings(point="post-traffic", url="https://x/y", name="canary")],
                            [NotifySettings(kind="slack", url="https://s/x", events=("complete",))])
    hooks("post-step", FACTS)
    assert not hooks.results
    assert hooks.describe() == ["hook pre-traffic: ./smoke.sh (timeout 5s)", "hook post-traffic: canary (timeout 60s)",
                                "notify slack https://s/x on complete"]


def test_notifications_once_per_run_and_event_and_failures_only_warn():
    posts: list = []
    ledger = MemLedger()
    slack = NotifySettings(kind="slack", url="http://127.0.0.1:9/slack")
    hooks, rep = hooks_with([HOOK], [slack], ledger=ledger, posts=posts, status=500)
    hooks("start", FACTS)
    hooks("start", FACTS)  # e.g. `resume` in another process: the ledger says it was sent
    hooks2, rep2 = hooks_with([], [slack], ledger=ledger, posts=posts, status=500)
    hooks2("start", FACTS)
    slack_posts = [p for p in posts if p.get("url", "").endswith("/slack")]
    assert len(slack_posts) == 1
    assert ledger.keys == {"r1": ["start"]}
    assert [e["message"] for e in rep.events if e["event"] == "warning"] == [
        "notification start to slack http://127.0.0.1:9/slack failed: HTTP 500"]


def test_gate_decision_is_announced_once_per_verdict():
    ledger = MemLedger()
    hooks, _ = hooks_with([HOOK], [NotifySettings(kind="webhook", url="http://h/x")], ledger=ledger, returncode=1)
    for _ in range(2):
        with pytest.raises(HookFailed):
            hooks("pre-traffic", FACTS)
    hooks.runner = runner_with(0)
    hooks("pre-traffic", FACTS)
    assert ledger.keys["r1"] == ["pre-traffic:failed", "pre-traffic:passed"]


def test_ledger_failure_never_fails_the_caller():
    class Broken:
        def sent(self, run_id):
            raise OSError("journal unreachable")

    hooks, rep = hooks_with([], [NotifySettings(kind="webhook", url="http://h/x")], ledger=Broken())
    hooks("on-complete", FACTS)
    assert "cannot record it in the journal" in [e for e in rep.events if e["event"] == "warning"][0]["message"]


# -- through the real command flows (fake world) ---------------------------------------------------


class Recorder:
    """A runner whose process/post record each event and answer per point."""

    def __init__(self, fail: dict[str, int] | None = None, on_call=None) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = fail or {}
        self.on_call = on_call

    def runner(self) -> HookRunner:
        import json

        def process(argv, *, stdin, env, cwd, timeout, stop=None):
            event = json.loads(stdin)
            self.events.append(event)
            if self.on_call:
                self.on_call(event)
            code = self.fail.get(event["event"], 0)
            return Completed(code, f"{argv[0]} says no" if code else "ok")

        def post(url, body, *, timeout):
            self.events.append({"notify": url, **json.loads(body)})
            return Response(200, "")

        return HookRunner(clock=Tick(), process=process, post=post)


ALL_POINTS = ("pre-traffic", "post-step", "post-traffic", "on-rollback", "on-complete")


def with_hooks(app, rec: Recorder, notify=True):
    specs = [HookSettings(point=p, command=(f"./{p}.sh",)) for p in ALL_POINTS]
    targets = [NotifySettings(kind="webhook", url="http://127.0.0.1:9/n")] if notify else []
    app.hooks = Hooks(specs, targets, reporter=app.reporter, ledger=app.journal, runner=rec.runner())
    return app


def release(app):
    return commands.release(app, ami=AMI_V2, manifest=None, size=None, keep_old=False, dry_run=False, wait=False)


def test_release_runs_every_point_in_order_with_the_state_it_promises(tmp_path):
    world = FakeWorld(tmp_path)
    seen: list[tuple[str, bool, bool]] = []

    def snapshot(event):
        seen.append((event["event"], world.attached(world.group(Color.GREEN)), world.attached(world.group(Color.BLUE))))

    rec = Recorder(on_call=snapshot)
    release(with_hooks(world.app(), rec))
    # pre-traffic: green not attached yet; post-step: green attached beside blue; post-traffic: blue detached.
    assert seen == [("pre-traffic", False, True), ("post-step", True, True), ("post-traffic", True, False),
                    ("on-complete", True, False)]
    notes = [(e["event"], e.get("passed")) for e in rec.events if "notify" in e]
    assert notes == [("start", None), ("pre-traffic", True), ("post-step", True), ("post-traffic", True),
                     ("on-complete", None)]
    hook = next(e for e in rec.events if e.get("event") == "pre-traffic" and "notify" not in e)
    assert hook["from_color"] == "blue" and hook["to_color"] == "green" and hook["ami"] == AMI_V2
    assert hook["before"] == "attach-new" and hook["mode"] == "release"


def test_failing_pre_traffic_hook_rolls_back_before_any_traffic(tmp_path):
    world = FakeWorld(tmp_path)
    rec = Recorder(fail={"pre-traffic": 1})
    with pytest.raises(RolledBackError) as err:
        release(with_hooks(world.app(), rec))
    assert "pre-traffic hook ./pre-traffic.sh exited 1: ./pre-traffic.sh says no" in str(err.value)
    assert not any(c.op in ("attach_target_group", "attach_load_balancer") for c in world.calls)
    world.settle()
    assert outcome(last_run(world)) == "rolled-back"
    assert world.attached(world.group(Color.BLUE)) and not world.group(Color.GREEN).instances
    ran = [e["event"] for e in rec.events if "notify" not in e]
    assert ran == ["pre-traffic", "on-rollback"]
    rollback = next(e for e in rec.events if e.get("event") == "on-rollback" and "notify" not in e)
    assert rollback["outcome"] == "rolled-back" and "pre-traffic hook" in rollback["error"]


def test_failing_reported_hooks_do_not_change_the_outcome(tmp_path):
    world = FakeWorld(tmp_path)
    release(with_hooks(world.app(), Recorder(fail={"on-complete": 2})))
    assert outcome(last_run(world)) == "completed"


def test_failing_post_traffic_hook_needs_the_operator_and_resume_runs_it_again(tmp_path):
    world = FakeWorld(tmp_path)
    rec = Recorder(fail={"post-traffic": 1})
    with pytest.raises(Exception) as err:
        release(with_hooks(world.app(), rec))
    assert getattr(err.value, "exit_code", None) == 11 and "post-traffic hook" in str(err.value)
    assert outcome(last_run(world)) is None  # needs-operator
    rec.fail = {}
    commands.resume(with_hooks(world.app(), rec))
    assert outcome(last_run(world)) == "completed"
    ran = [e["event"] for e in rec.events if "notify" not in e]
    assert ran == ["pre-traffic", "post-step", "post-traffic", "post-traffic", "on-complete"]
    notes = [(e["event"], e.get("passed")) for e in rec.events if "notify" in e]
    # The failed and the passed decision are two messages; the start is not sent again on resume.
    assert notes.count(("start", None)) == 1
    assert ("post-traffic", False) in notes and ("post-traffic", True) in notes


def test_no_duplicate_notification_after_a_crash_and_resume(tmp_path):
    world = FakeWorld(tmp_path)
    first = world.app()

    def crash_in_post_step(event):
        if event["event"] == "post-step":
            world.kill(first.fake_process)
            raise Crash("SIGKILL during the post-step hook")

    rec = Recorder(on_call=crash_in_post_step)
    with pytest.raises(Crash):
        release(with_hooks(first, rec))
    rec.on_call = None
    run_id = last_run(world).run_id
    commands.unlock(world.app(), run_id)  # the dead process still holds the lease
    commands.resume(with_hooks(world.app(), rec))
    assert outcome(last_run(world)) == "completed"
    notes = [e["event"] for e in rec.events if "notify" in e]
    assert notes.count("start") == 1 and notes.count("on-complete") == 1
    keys = sorted(r.data["key"] for r in world.journal_records if r.status == "notified")
    assert keys == sorted(set(keys))


def test_abort_reports_on_rollback(tmp_path):
    world = FakeWorld(tmp_path)
    first = world.app()

    def crash(event):
        if event["event"] == "pre-traffic":
            world.kill(first.fake_process)
            raise Crash("SIGKILL")

    rec = Recorder(on_call=crash)
    with pytest.raises(Crash):
        release(with_hooks(first, rec))
    rec.on_call = None
    commands.unlock(world.app(), last_run(world).run_id)
    commands.abort(with_hooks(world.app(), rec))
    assert outcome(last_run(world)) == "aborted"
    back = [e for e in rec.events if e.get("event") == "on-rollback" and "notify" not in e]
    assert len(back) == 1 and back[0]["outcome"] == "aborted"


def test_dry_run_lists_hooks_without_running_them(tmp_path):
    world = FakeWorld(tmp_path)
    rec = Recorder()
    app = with_hooks(world.app(), rec)
    commands.release(app, ami=AMI_V2, manifest=None, size=None, keep_old=False, dry_run=True, wait=False)
    lines = [e["message"] for e in app.reporter.events if e["event"] == "info"]
    assert "would run hook pre-traffic: ./pre-traffic.sh (timeout 60s)" in lines
    assert "would run notify webhook http://127.0.0.1:9/n on start, gate, rollback, complete" in lines
    assert rec.events == []


def test_abort_after_a_failed_post_traffic_gate_is_not_blocked_by_it(tmp_path):
    world = FakeWorld(tmp_path)
    rec = Recorder(fail={"post-traffic": 1})
    with pytest.raises(Exception):
        release(with_hooks(world.app(), rec))
    commands.abort(with_hooks(world.app(), rec))  # the gate still fails; abort must not run it
    world.settle()
    assert world.attached(world.group(Color.BLUE)) and not world.attached(world.group(Color.GREEN))
    ran = [e["event"] for e in rec.events if "notify" not in e]
    assert ran.count("post-traffic") == 1 and ran[-1] == "on-rollback"


def test_notify_url_from_the_environment(monkeypatch, tmp_path):
    s = parse('[[notify]]\nkind = "slack"\nurl_env = "SLACK_WEBHOOK_URL"', tmp_path)
    target = s.notify[0]
    assert target.label == "slack $SLACK_WEBHOOK_URL"
    posts: list = []
    hooks, rep = hooks_with([], [target], posts=posts)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    hooks("start", FACTS)
    assert posts == [] and [e["message"] for e in rep.events if e["event"] == "warning"] == [
        "notification start to slack $SLACK_WEBHOOK_URL failed: environment variable SLACK_WEBHOOK_URL is not set"]
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X")
    hooks("on-complete", FACTS)
    assert [p["url"] for p in posts] == ["https://hooks.slack.com/services/T/B/X"]
