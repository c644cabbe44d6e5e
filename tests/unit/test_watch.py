"""``status --watch``: the drawing and the line are pure functions of one poll (the run's history
and the observed world); the loop ends on the run's end with the documented exit code, or on a stop
request between polls, with an injected sleep (no real time). A second "process" follows a release
the first one drives in the fake world."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from bluegreen import commands, watch
from bluegreen.errors import ExitCode
from bluegreen.history import summarize
from bluegreen.model import Color, GroupState, Instance, Observed, TargetHealth, TrafficKind, TrafficState

from fakeworld import AMI_V2, FakeWorld, last_run
from test_history import completed_fixture, rec, with_hooks

NOW = datetime(2026, 12, 5, 14, 18, 50, tzinfo=timezone.utc)
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123"


def world(green_health: str = "initial") -> Observed:
    blue = GroupState(Color.BLUE, "web-blue", 2, 4, 2, instances=(Instance("i-b1", "InService", image_id="ami-0aaa"),
                                                                   Instance("i-b2", "InService", image_id="ami-0aaa")),
                      target_group_arns=(TG,))
    green = GroupState(Color.GREEN, "web-green", 0, 4, 2, instances=(Instance("i-g1", "InService", image_id="ami-0bbb"),
                                                                      Instance("i-g2", "Pending", image_id="ami-0bbb")),
                       target_group_arns=(TG,))
    traffic = TrafficState(TrafficKind.ALB, TG, targets=(TargetHealth("i-b1", "healthy"), TargetHealth("i-b2", "healthy"),
                                                         TargetHealth("i-g1", green_health)))
    return Observed(groups={Color.BLUE: blue, Color.GREEN: green}, traffic=traffic)


def running_snapshot(records=None, **kw) -> watch.Snapshot:
    records = records if records is not None else completed_fixture()[:10]  # attach-new started
    return watch.Snapshot("web", NOW, summarize(records), kw.pop("observed", world()), **kw)


def text_of(renderable) -> str:
    console = Console(record=True, width=140, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_draw_shows_steps_hooks_and_both_colors():
    text = text_of(watch.draw(running_snapshot()))
    assert "web release blue -> green (AMI ami-0bbb), run r1: in-flight" in text
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "✓ suspend-processes 0.2s" in lines
    assert "✓ apply-idle 6.2s" in lines
    assert "● attach-new 0s…" in lines  # running: its age at NOW (records of 14:18:53 are "now")
    assert "· detach-old" in lines and "· confirm-no-changes" in lines
    assert "hook pre-traffic ./smoke.sh: passed (exited 0, 0.03s)" in lines
    assert "blue web-blue yes 2 InService 2 healthy ami-0aaa" in lines
    assert "green web-green yes 1 InService, 1 Pending 1 initial, 1 not registered ami-0bbb" in lines
    assert "Ctrl-C stops watching; the run goes on" in text


def test_draw_of_the_end_names_the_outcome_and_what_next():
    failed = completed_fixture()[:10] + [
        rec("run", "state", "2026-12-05T14:18:54Z", state="rolling-back", error="wait-healthy: 1 unhealthy"),
        rec("attach-new", "undoing", "2026-12-05T14:18:54Z"),
        rec("attach-new", "compensated", "2026-12-05T14:18:57Z"),
        rec("run", "finish", "2026-12-05T14:18:58Z", outcome="rolled-back", error="wait-healthy: 1 unhealthy")]
    text = text_of(watch.draw(running_snapshot(failed)))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "✗ attach-new 1.0s" in lines and "↺ undo attach-new 3.0s" in lines
    assert "error: wait-healthy: 1 unhealthy" in text
    assert "ended: rolled-back; nothing to do; the old color serves" in text


def test_a_world_that_could_not_be_read_is_shown_not_fatal():
    snap = running_snapshot(observed=None, world_error="failed to describe web-blue: Throttling")
    assert "AWS not read this time: failed to describe web-blue: Throttling" in text_of(watch.draw(snap))
    assert watch.line(snap).endswith("; AWS not read: failed to describe web-blue: Throttling")


def test_line_has_no_clock_so_it_changes_only_with_the_run_or_the_world():
    first = running_snapshot()
    later = watch.Snapshot("web", NOW + timedelta(seconds=30), first.run, world())
    assert watch.line(first) == watch.line(later)
    assert watch.line(first) == (
        "web release run r1 blue -> green: in-flight at attach-new (2/5 steps); hook pre-traffic passed; "
        "blue: 2 InService, targets 2 healthy, attached; "
        "green: 1 InService, 1 Pending, targets 1 initial, 1 not registered, attached")
    healthy = watch.Snapshot("web", NOW, first.run, world("healthy"))
    assert watch.line(healthy) != watch.line(first)
    printed: list[str] = []
    show = watch.ChangePrinter(printed.append)
    for snap in (first, later, later, healthy, healthy):
        show(snap)
    assert printed == [watch.line(first), watch.line(healthy)]


def test_document_is_json():
    doc = json.loads(json.dumps(watch.document(running_snapshot())))
    assert doc["run"]["current_step"] == "attach-new" and doc["run"]["state"] == "in-flight"
    assert doc["colors"]["green"]["targets"] == {"initial": 1, "not registered": 1}


@pytest.mark.parametrize("outcome, code", [("completed", ExitCode.OK), ("rolled-back", ExitCode.ROLLED_BACK),
                                           ("aborted", ExitCode.ROLLED_BACK),
                                           ("needs-operator", ExitCode.NEEDS_OPERATOR)])
def test_exit_code_is_the_runs_outcome(outcome, code):
    records = completed_fixture()[:13]  # detach-old completed: committed
    if outcome in ("rolled-back", "aborted"):
        records = completed_fixture()[:8] + [rec("run", "state", "2026-12-05T14:18:53Z", state="rolling-back")]
    records = records + [rec("run", "finish", "2026-12-05T14:19:00Z", outcome=outcome)]
    snap = running_snapshot(records)
    assert snap.ended and watch.exit_code(snap) == code


def test_exit_code_when_stopped_by_a_signal_or_a_lost_lease():
    interrupted = completed_fixture()[:10] + [rec("run", "state", "2026-12-05T14:18:54Z", state="interrupted")]
    assert watch.exit_code(running_snapshot(interrupted)) == ExitCode.INTERRUPTED
    lost = completed_fixture()[:10] + [rec("run", "state", "2026-12-05T14:18:54Z", state="lease-lost")]
    assert watch.exit_code(running_snapshot(lost)) == ExitCode.LOCKED
    assert watch.exit_code(watch.Snapshot("web", NOW, None)) == ExitCode.OK


def test_follow_polls_until_the_run_ends_sleeping_the_interval():
    records = completed_fixture()
    polls = [running_snapshot(records[:5]), running_snapshot(records[:10]), running_snapshot(records)]
    shown, slept = [], []

    def sleep(seconds: float) -> bool:
        slept.append(seconds)
        return False

    last, stopped = watch.follow(lambda: polls.pop(0), shown.append, sleep=sleep, interval=2.0)
    assert not stopped and last.run.state == "completed" and watch.exit_code(last) == ExitCode.OK
    assert len(shown) == 3 and slept == [2.0, 2.0]


def test_follow_ends_at_once_on_a_stop_request():
    polls = iter([running_snapshot()] * 10)
    shown = []
    last, stopped = watch.follow(lambda: next(polls), shown.append, sleep=lambda s: True, interval=5.0)
    assert stopped and len(shown) == 1 and last.run.state == "in-flight"


def test_a_second_process_follows_a_release_in_the_fake_world(tmp_path):
    """What the watcher sees at each gate of a release another process drives."""
    fw = FakeWorld(tmp_path)
    seen: dict[str, watch.Snapshot] = {}

    def observe(event):
        run_id = fw.app().journal.store.latest()
        seen[event["event"]] = commands.watch_reader(fw.app(), run_id)()

    commands.release(with_hooks(fw.app(), on_call=observe), ami=AMI_V2, manifest=None, size=None,
                     keep_old=False, dry_run=False, wait=False)
    before = seen["pre-traffic"]
    assert before.run.state == "in-flight" and not before.observed.attached(Color.GREEN)
    assert "wait-instances" in [p.step for p in before.run.phases if p.outcome == "done"]
    after = seen["post-traffic"]
    assert after.run.state == "committed" and after.observed.attached(Color.GREEN)
    assert not after.observed.attached(Color.BLUE)
    assert "green: 2 InService, targets 2 healthy, attached" in watch.line(after)
    end = commands.watch_reader(fw.app(), last_run(fw).run_id)()
    assert end.ended and watch.exit_code(end) == ExitCode.OK


# -- the command's loop (cli._watch) on a run another process left in flight ------------------------


def crashed_mid_release(tmp_path):
    """A release whose process died during the post-step hook: in-flight, nobody drives it."""
    from fakeworld import Crash

    fw = FakeWorld(tmp_path)
    first = fw.app()

    def crash(event):
        if event["event"] == "post-traffic":
            fw.kill(first.fake_process)
            raise Crash("SIGKILL")

    with pytest.raises(Crash):
        commands.release(with_hooks(first, on_call=crash), ami=AMI_V2, manifest=None, size=None,
                         keep_old=False, dry_run=False, wait=False)
    return fw


def resume_on_first_sleep(fw, slept):
    def sleep(seconds: float) -> bool:
        slept.append(seconds)
        if len(slept) == 1:  # meanwhile, the CI job resumes the run to its end
            commands.unlock(fw.app(), last_run(fw).run_id)
            commands.resume(fw.app())
        return False
    return sleep


def test_watch_command_on_a_terminal_redraws_until_the_run_completes(tmp_path):
    import io

    from bluegreen.cli import _watch

    fw = crashed_mid_release(tmp_path)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=140, color_system=None)
    slept: list[float] = []
    code = _watch(fw.app(), interval=1.5, json_output=False, console=console,
                  sleep=resume_on_first_sleep(fw, slept), echo=lambda line: pytest.fail(f"printed {line}"))
    assert code == ExitCode.OK and slept == [1.5]
    drawn = screen.getvalue()
    assert ": committed" in drawn and ": completed" in drawn  # the first frame, then the last
    assert "ended: completed; nothing to do" in drawn


def test_watch_command_without_a_terminal_prints_one_line_per_change(tmp_path):
    import io

    from bluegreen.cli import _watch

    fw = crashed_mid_release(tmp_path)
    printed: list[str] = []
    console = Console(file=io.StringIO(), force_terminal=False)
    code = _watch(fw.app(), interval=2.0, json_output=False, console=console,
                  sleep=resume_on_first_sleep(fw, []), echo=printed.append)
    assert code == ExitCode.OK and len(printed) == 2
    assert ": committed (" in printed[0] and "detached" in printed[0]  # the old color left the LB
    assert ": completed (" in printed[1]
    as_json: list[str] = []
    fw2 = crashed_mid_release(tmp_path / "second")
    _watch(fw2.app(), interval=2.0, json_output=True, console=console, sleep=resume_on_first_sleep(fw2, []),
           echo=as_json.append)
    assert [json.loads(doc)["run"]["state"] for doc in as_json] == ["committed", "completed"]


def test_watch_command_stopped_by_ctrl_c_changes_nothing_and_exits_13(tmp_path):
    import io

    from bluegreen.cli import _watch

    fw = crashed_mid_release(tmp_path)
    before = list(fw.journal_records)
    app = fw.app()
    assert any(c.mutating for c in fw.calls)  # the check below can see a mutation when there is one
    code = _watch(app, interval=2.0, json_output=False, console=Console(file=io.StringIO()),
                  sleep=lambda seconds: True, echo=lambda line: None)
    assert code == ExitCode.INTERRUPTED
    assert fw.journal_records == before  # nothing written: the run is as it was
    assert [c.describe() for c in fw.calls if c.mutating and c.process == app.fake_process.pid] == []
    said = [e["message"] for e in app.reporter.events if e["event"] == "info"]
    assert said[-1].startswith("stopped watching; nothing was changed")


def test_watch_command_with_nothing_in_progress_ends_at_once(tmp_path):
    from bluegreen.cli import _watch

    fw = FakeWorld(tmp_path)
    commands.release(fw.app(), ami=AMI_V2, manifest=None, size=None, keep_old=False, dry_run=False, wait=False)
    printed: list[str] = []
    app = fw.app()
    code = _watch(app, interval=2.0, json_output=False, sleep=lambda s: pytest.fail("slept"), echo=printed.append)
    assert code == ExitCode.OK and len(printed) == 1 and ": completed" in printed[0]
    assert "no run in progress" in [e["message"] for e in app.reporter.events if e["event"] == "info"][-1]
