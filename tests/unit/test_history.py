"""``bluegreen history``: a run's records folded into when, who, from/to, strategy, result,
duration, per-step timings, hooks and notifications (``history.summarize``), and its text and JSON
rendering (``views``). From hand-written journal fixtures and from runs of the real command flows
over the fake world (a release, a pre-traffic hook that fails, a crash then resume)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bluegreen import commands, views
from bluegreen.config import HookSettings, NotifySettings
from bluegreen.errors import ConfigError, ExitCode, RolledBackError
from bluegreen.history import HistoryList, summarize
from bluegreen.hooks import Completed, HookRunner, Hooks, Response
from bluegreen.journal import JournalRecord, record_time
from bluegreen.model import Color
from bluegreen.plan import Step

from fakeworld import AMI_V1, AMI_V2, CALLER_ARN, Crash, FakeWorld, last_run

RESTORE = json.dumps({"live_color": "blue", "colors": {"blue": {"ami": "ami-0aaa", "size": 2, "release": "v1"},
                                                       "green": {"ami": "ami-0aaa", "size": 0, "release": ""}}})
HEADER = {"mode": "release", "live": "blue", "target": "green", "size": 2, "ami": "ami-0bbb",
          "steps": ["suspend-processes", "apply-idle", "attach-new", "detach-old", "confirm-no-changes"],
          "restore_text": RESTORE, "release_label": "release-20261205-1418-r1"}


def rec(step: str, status: str, time: str, run_id: str = "r1", **data: Any) -> JournalRecord:
    return JournalRecord(step=step, status=status, data={"run_id": run_id, **data}, time=time)


def completed_fixture() -> list[JournalRecord]:
    return [
        rec("run", "begin", "2026-12-05T14:18:46.100Z", kind="release", header=HEADER,
            caller={"account": "123456789012", "arn": "arn:aws:iam::123456789012:user/alice"}),
        rec("run", "notified", "2026-12-05T14:18:46.200Z", key="start"),
        rec("suspend-processes", "started", "2026-12-05T14:18:46.300Z"),
        rec("suspend-processes", "completed", "2026-12-05T14:18:46.550Z", suspended={"blue": []}),
        rec("apply-idle", "started", "2026-12-05T14:18:46.600Z"),
        rec("apply-idle", "data", "2026-12-05T14:18:47Z", applying=True),
        rec("apply-idle", "completed", "2026-12-05T14:18:52.850Z"),
        rec("run", "hook", "2026-12-05T14:18:52.900Z", point="pre-traffic", hook="./smoke.sh", ok=True,
            reason="exited 0", seconds=0.034),
        rec("run", "notified", "2026-12-05T14:18:52.950Z", key="pre-traffic:passed"),
        rec("attach-new", "started", "2026-12-05T14:18:53Z"),
        rec("attach-new", "completed", "2026-12-05T14:18:53.500Z"),
        rec("detach-old", "started", "2026-12-05T14:18:53.600Z"),
        rec("detach-old", "completed", "2026-12-05T14:18:56.600Z"),
        rec("confirm-no-changes", "started", "2026-12-05T14:18:56.700Z"),
        rec("confirm-no-changes", "completed", "2026-12-05T14:18:58Z"),
        rec("run", "finish", "2026-12-05T14:18:58.100Z", outcome="completed"),
        rec("run", "notified", "2026-12-05T14:18:58.200Z", key="on-complete"),
    ]


# -- pure: summarize ------------------------------------------------------------------------------


def test_a_completed_run_from_its_records():
    run = summarize(completed_fixture())
    assert run is not None
    assert (run.run_id, run.kind, run.state, run.final) == ("r1", "release", "completed", True)
    assert run.caller == "arn:aws:iam::123456789012:user/alice" and run.who == run.caller
    assert (run.from_color, run.from_ami, run.to_color, run.to_ami, run.size) == ("blue", "ami-0aaa", "green", "ami-0bbb", 2)
    assert (run.traffic, run.strategy) == ("attach", "all-at-once")
    assert run.started_at == "2026-12-05T14:18:46.100Z" and run.finished_at == "2026-12-05T14:18:58.100Z"
    assert run.seconds == pytest.approx(12.0)
    assert [(p.step, p.outcome) for p in run.phases] == [(s, "done") for s in HEADER["steps"]]
    assert run.step_seconds()["apply-idle"] == pytest.approx(6.25)  # milliseconds, not whole seconds
    assert run.slowest() == [("apply-idle", pytest.approx(6.25)), ("detach-old", pytest.approx(3.0)),
                             ("confirm-no-changes", pytest.approx(1.3))]
    assert [(h.point, h.hook, h.ok) for h in run.hooks] == [("pre-traffic", "./smoke.sh", True)]
    assert run.notifications == ("start", "pre-traffic:passed", "on-complete")
    assert [e.event for e in run.events] == ["completed"]


def test_a_failed_run_shows_where_it_failed_and_its_undo():
    records = completed_fixture()[:8] + [
        rec("run", "hook", "2026-12-05T14:18:52.900Z", point="pre-traffic", hook="./smoke.sh", ok=False,
            reason="exited 1", seconds=0.2, last_output="GET /health -> 503"),
        rec("attach-new", "started", "2026-12-05T14:18:53Z"),
        rec("run", "state", "2026-12-05T14:18:54Z", state="rolling-back", error="pre-traffic hook failed",
            failed_at="attach-new"),
        rec("apply-idle", "undoing", "2026-12-05T14:18:54.500Z"),
        rec("apply-idle", "compensated", "2026-12-05T14:19:00.500Z"),
        rec("suspend-processes", "compensated", "2026-12-05T14:19:00.600Z"),  # no undo handler: skipped
        rec("run", "finish", "2026-12-05T14:19:01Z", outcome="rolled-back", error="pre-traffic hook failed",
            failed_at="attach-new"),
    ]
    run = summarize(records)
    assert (run.state, run.final, run.error, run.failed_at) == ("rolled-back", True, "pre-traffic hook failed", "attach-new")
    assert [(p.step, p.undo, p.outcome) for p in run.phases] == [
        ("suspend-processes", False, "done"), ("apply-idle", False, "done"), ("attach-new", False, "failed"),
        ("apply-idle", True, "undone")]
    assert run.phases[2].seconds == pytest.approx(1.0)
    assert run.phases[3].seconds == pytest.approx(6.0)
    assert run.hooks[-1].last_output == "GET /health -> 503" and not run.hooks[-1].ok
    assert [e.event for e in run.events] == ["rolling-back", "rolled-back"]


def test_a_run_in_progress_has_a_current_step_and_no_end():
    records = completed_fixture()[:5]
    run = summarize(records)
    assert (run.state, run.final, run.finished_at) == ("in-flight", False, None)
    assert run.current is not None and run.current.step == "apply-idle" and run.current.seconds is None
    assert run.seconds == pytest.approx(0.5)  # so far: to its last record


def test_a_crash_then_resume_counts_both_attempts():
    records = completed_fixture()[:5] + [
        rec("run", "state", "2026-12-05T14:30:00Z", state="resumed", by="resume", caller="arn:aws:iam::1:user/bob"),
        rec("apply-idle", "started", "2026-12-05T14:30:01Z"),
        rec("apply-idle", "completed", "2026-12-05T14:30:03Z"),
    ]
    run = summarize(records)
    assert [(p.step, p.outcome, p.seconds) for p in run.phases][1:] == [
        ("apply-idle", "stopped", None), ("apply-idle", "done", pytest.approx(2.0))]
    assert run.events[0].event == "resumed" and "as arn:aws:iam::1:user/bob" in run.events[0].detail


def test_journals_of_older_and_newer_versions_are_still_listed():
    # No caller (written before it was recorded), a step this version does not know (a newer
    # bluegreen's weighted steps), a strategy in the header.
    header = {**HEADER, "steps": ["suspend-processes", "shift-weight-10"], "strategy": {"name": "canary"},
              "traffic_mode": "weighted"}
    records = [rec("run", "begin", "2026-12-05T10:00:00Z", kind="release", header=header),
               rec("shift-weight-10", "started", "2026-12-05T10:00:01Z"),
               rec("shift-weight-10", "completed", "2026-12-05T10:00:04Z"),
               rec("run", "finish", "2026-12-05T10:00:05Z", outcome="completed")]
    run = summarize(records, owner="ci@runner-7")
    assert (run.state, run.final, run.who, run.strategy, run.traffic) == ("completed", True, "ci@runner-7", "canary", "weighted")
    assert run.step_seconds() == {"shift-weight-10": pytest.approx(3.0)}
    assert summarize([rec("apply-idle", "started", "2026-12-05T10:00:01Z")]) is None  # no begin: not a run


def test_record_time_keeps_milliseconds_and_whole_seconds_as_before():
    from datetime import datetime, timezone

    assert record_time(datetime(2026, 12, 5, 14, 18, 46, 123456, tzinfo=timezone.utc)) == "2026-12-05T14:18:46.123Z"
    assert record_time(datetime(2026, 12, 5, 14, 18, 46, tzinfo=timezone.utc)) == "2026-12-05T14:18:46Z"


# -- rendering ------------------------------------------------------------------------------------


def test_list_text_and_json():
    run = summarize(completed_fixture())
    listing = HistoryList((run,), (("r0", "release journal r0.jsonl line 2 is not a journal record"),))
    text = views.history_text(listing)
    header, row = text.splitlines()[:2]
    assert header.split()[:4] == ["RUN", "WHEN", "(UTC)", "WHO"]
    assert row.split()[:5] == ["r1", "2026-12-05", "14:18:46", "arn:aws:iam::123456789012:user/alice", "release"]
    assert row.index("2026-12-05") == header.index("WHEN")  # columns line up
    assert "blue ami-0aaa -> green ami-0bbb" in row and "attach/all-at-once" in row and "completed" in row
    assert row.endswith("apply-idle 6.2s, detach-old 3.0s, confirm-no-changes 1.3s")
    assert text.splitlines()[-1].startswith("r0: unreadable (")
    doc = json.loads(json.dumps(views.history_document(listing)))
    first = doc["runs"][0]
    assert first["from"] == {"color": "blue", "ami": "ami-0aaa"} and first["to"]["ami"] == "ami-0bbb"
    assert first["seconds"] == 12.0 and first["slowest"][0] == {"step": "apply-idle", "seconds": 6.25}
    assert doc["unreadable"][0]["run_id"] == "r0"
    assert views.history_text(HistoryList(())) == "no runs recorded"


def test_one_run_text():
    text = views.history_run_text(summarize(completed_fixture()))
    assert text.splitlines()[0] == "run r1: release blue -> green: completed"
    assert "  when:     2026-12-05 14:18:46 -> 14:18:58 UTC (12.0s)" in text
    assert "    14:18:46  apply-idle                       6.2s  done" in text
    assert "    14:18:52  pre-traffic   ./smoke.sh: passed, exited 0 (0.03s)" in text
    assert "  notifications: start, pre-traffic:passed, on-complete" in text


# -- through the real command flows (fake world) ---------------------------------------------------


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.01
        return self.t


def with_hooks(app, fail: dict[str, int] | None = None, on_call=None):
    fail = fail or {}

    def process(argv, *, stdin, env, cwd, timeout, stop=None):
        event = json.loads(stdin)
        if on_call:
            on_call(event)
        code = fail.get(event["event"], 0)
        return Completed(code, "503 from /health" if code else "ok")

    runner = HookRunner(clock=Tick(), process=process, post=lambda url, body, *, timeout: Response(200, ""))
    specs = [HookSettings(point=p, command=(f"./{p}.sh",)) for p in ("pre-traffic", "post-traffic", "on-complete")]
    app.hooks = Hooks(specs, [NotifySettings(kind="webhook", url="http://127.0.0.1:9/n")], reporter=app.reporter,
                      ledger=app.journal, runner=runner, record=app.journal.hook_ran)
    return app


def release(app):
    return commands.release(app, ami=AMI_V2, manifest=None, size=None, keep_old=False, dry_run=False, wait=False)


def test_history_of_releases_in_the_fake_world(tmp_path):
    world = FakeWorld(tmp_path)
    release(with_hooks(world.app()))
    with pytest.raises(RolledBackError):
        commands.release(with_hooks(world.app(), fail={"pre-traffic": 1}), ami=AMI_V1, manifest=None,
                         size=None, keep_old=False, dry_run=False, wait=False)
    listing = commands.history_list(world.app(), limit=None)
    assert [(r.state, r.from_color, r.to_color, r.to_ami) for r in listing.runs] == [
        ("rolled-back", "green", "blue", AMI_V1), ("completed", "blue", "green", AMI_V2)]
    first = listing.runs[1]
    assert first.caller == CALLER_ARN and first.from_ami == AMI_V1
    assert [p.step for p in first.phases] == list(first.planned)
    assert all(p.outcome == "done" for p in first.phases)
    # The fake world's clock drives the record times: the waits take the time they take there.
    timings = first.step_seconds()
    assert timings[Step.VERIFY.value] == 30.0  # the verify window the settings ask for
    assert timings[Step.WAIT_DRAINED.value] >= world.deregistration_delay
    assert first.seconds == pytest.approx(sum(timings.values()))  # no time outside the steps here
    assert [(h.point, h.ok) for h in first.hooks] == [("pre-traffic", True), ("post-traffic", True),
                                                      ("on-complete", True)]
    assert first.notifications == ("start", "pre-traffic:passed", "post-traffic:passed", "on-complete")
    failed = commands.run_history(world.app(), listing.runs[0].run_id)
    assert [(h.point, h.ok, h.reason) for h in failed.hooks] == [("pre-traffic", False, "exited 1")]
    assert failed.hooks[0].last_output == "503 from /health"
    assert Step.ATTACH.value not in [p.step for p in failed.phases]  # rolled back before any traffic
    assert any(p.undo and p.step == Step.APPLY_IDLE.value for p in failed.phases)
    assert "pre-traffic hook ./pre-traffic.sh exited 1" in failed.error


def test_history_after_a_crash_and_resume_names_who_resumed(tmp_path):
    world = FakeWorld(tmp_path)
    first = world.app()

    def crash(event):
        if event["event"] == "post-traffic":
            world.kill(first.fake_process)
            raise Crash("SIGKILL in the post-traffic hook")

    with pytest.raises(Crash):
        release(with_hooks(first, on_call=crash))
    run_id = last_run(world).run_id
    during = commands.run_history(world.app(), run_id)
    assert (during.state, during.final) == ("committed", False)
    commands.unlock(world.app(), run_id)
    commands.resume(with_hooks(world.app()))
    run = commands.run_history(world.app(), run_id)
    assert run.state == "completed"
    assert [e.event for e in run.events] == ["resumed", "completed"]
    assert f"as {CALLER_ARN}" in run.events[0].detail
    assert [h.point for h in run.hooks] == ["pre-traffic", "post-traffic", "on-complete"]  # the crashed one left no verdict
    assert run.notifications.count("start") == 1


@pytest.mark.parametrize("run_id", ["deadbeef", "../etc/passwd"])
def test_unknown_run_is_one_line_exit_3(tmp_path, run_id):
    world = FakeWorld(tmp_path)
    with pytest.raises(ConfigError) as err:
        commands.run_history(world.app(), run_id)
    assert err.value.exit_code == ExitCode.CONFIG == 3
    message = str(err.value)
    assert "\n" not in message and repr(run_id) in message and "`bluegreen history` lists" in message
    assert world.app().journal.runs() == []
    assert Color.BLUE  # the world is untouched: nothing to undo


def test_a_journal_that_cannot_record_a_hook_only_warns():
    from bluegreen.report import Reporter

    def broken(run_id, entry):
        raise OSError("disk full")

    rep = Reporter(service="web", quiet=True)
    runner = HookRunner(clock=Tick(), process=lambda argv, **kw: Completed(0, "ok"))
    hooks = Hooks([HookSettings(point="pre-traffic", command=("./ok.sh",))], [], reporter=rep, ledger=None,
                  runner=runner, record=broken)
    hooks("pre-traffic", {"run_id": "r1", "to_color": "green"})  # the gate passes: no HookFailed
    warnings = [e["message"] for e in rep.events if e["event"] == "warning"]
    assert warnings == ["could not record the pre-traffic hook ./ok.sh in the journal (disk full)"]
