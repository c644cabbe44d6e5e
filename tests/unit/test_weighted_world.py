"""The weighted mode through the real command flows in the fake world (tests/unit/fakeworld.py):
an approval pause whose waiting process is killed survives in the journal; `promote` (then
`resume`) goes on, `abort` flips all traffic back; a tripped gate during the bake flips back in one
listener call and exits 10."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from bluegreen import commands
from bluegreen.errors import ExitCode, LockedError, RolledBackError, StateMismatchError
from bluegreen.gates import AlarmGate, GateSettings
from bluegreen.model import Color
from bluegreen.runstate import RunState
from bluegreen.views import waiting_for
from fakeworld import AMI_V2, COLOR_TG, Crash, FakeWorld, Trap, WorldAlarms, last_run, outcome


def _release(app) -> None:
    commands.release(app, ami=AMI_V2, manifest=None, size=None, keep_old=False, dry_run=False, wait=False)


def _paused_then_killed(tmp_path: Path) -> FakeWorld:
    world = FakeWorld(tmp_path, weighted=True, steps="20:pause,100", bake_seconds=0)
    world.traps.append(Trap(lambda c: c.service == "journal" and c.args.get("status") == "state"
                            and world.journal_records[-1].data.get("state") == "paused", when="after"))
    with pytest.raises(Crash):
        _release(world.app())
    run = last_run(world)
    assert run.state is RunState.PAUSED
    assert "approval of step 1 with green at 20 %" in waiting_for(run)
    assert world.weights == {COLOR_TG[Color.BLUE]: 80, COLOR_TG[Color.GREEN]: 20}
    world.traps.clear()
    return world


def _operator(world: FakeWorld, command) -> BaseException | None:
    """Run ``command`` in a new process; as the messages say, `unlock` a dead holder's lease."""
    try:
        command(world.app())
    except (LockedError, StateMismatchError):
        commands.unlock(world.app(), last_run(world).run_id)
        command(world.app())
    return None


def test_a_killed_approval_pause_is_promoted_and_resumed(tmp_path: Path) -> None:
    world = _paused_then_killed(tmp_path)
    started = world.t
    _operator(world, commands.promote)
    if last_run(world).state is not RunState.COMPLETED:
        _operator(world, commands.resume)  # the promote record waits in the journal for it
    assert outcome(last_run(world)) == "completed"
    assert world.weights == {COLOR_TG[Color.BLUE]: 0, COLOR_TG[Color.GREEN]: 100}
    # The promote was honoured: the resumed run did not wait out the approval timeout (600 s).
    assert world.t - started < 600
    world.settle()
    assert not world.drift() and not world.violations


def test_a_killed_approval_pause_is_aborted_back_in_one_call(tmp_path: Path) -> None:
    world = _paused_then_killed(tmp_path)
    mark = len(world.calls)
    _operator(world, commands.abort)
    assert outcome(last_run(world)) == "aborted"
    flips = [c for c in world.calls[mark:] if c.op == "ModifyListener"]
    assert [c.args["weights"] for c in flips] == [{COLOR_TG[Color.BLUE]: 100, COLOR_TG[Color.GREEN]: 0}]
    world.settle()
    assert world.shape(Color.GREEN)["desired"] == 0 and not world.drift() and not world.violations


def test_a_gate_tripping_in_the_bake_flips_back_and_exits_10(tmp_path: Path) -> None:
    """The [gates] of the config, opened before the first change (commands.open_gates), watch
    the weighted bake: the alarm going to ALARM while green bakes at 100 % flips back in one call."""
    world = FakeWorld(tmp_path, weighted=True, steps="100", bake_seconds=300)
    app = world.app()

    def baking() -> bool:
        run = last_run(world)
        return run is not None and run.started[-1].value == "bake"

    app.settings = dataclasses.replace(app.settings, gates=GateSettings(interval=10, period=60,
                                                                         alarms=(AlarmGate("web-5xx"),)))
    app.cloudwatch = WorldAlarms(world, bad=baking)
    with pytest.raises(RolledBackError) as info:
        _release(app)
    assert info.value.exit_code is ExitCode.ROLLED_BACK
    assert "gate alarm web-5xx tripped during the bake" in str(info.value)
    assert "Threshold Crossed" in str(info.value)
    assert world.weights == {COLOR_TG[Color.BLUE]: 100, COLOR_TG[Color.GREEN]: 0}
    assert outcome(last_run(world)) == "rolled-back"
    world.settle()
    assert not world.drift() and not world.violations


def test_hooks_run_at_the_weighted_points_in_order(tmp_path: Path) -> None:
    world = FakeWorld(tmp_path, weighted=True, steps="10:30s,100", bake_seconds=30)
    app = world.app()
    heard: list[tuple[str, dict]] = []
    app.hooks = lambda point, facts, **extra: heard.append((point, extra))
    _release(app)
    points = [p for p, _ in heard]
    assert points == ["start", "pre-traffic", "post-step", "post-step", "post-traffic", "on-complete"]
    assert [e.get("after") for p, e in heard if p == "post-step"] == ["shift-traffic 10%", "shift-traffic 100%"]


def test_status_shows_weights_per_color(tmp_path: Path) -> None:
    from bluegreen.views import status_document, status_text

    world = FakeWorld(tmp_path, weighted=True)
    world.weights = {COLOR_TG[Color.BLUE]: 90, COLOR_TG[Color.GREEN]: 10}  # a canary left half way
    situation = commands.observe(world.app())
    doc = status_document(situation, "web", None)
    assert doc["colors"]["blue"]["weight_percent"] == 90 and doc["colors"]["green"]["weight_percent"] == 10
    assert doc["live"] is None and "traffic is split: blue 90 %, green 10 %" in doc["problems"][0]
    text = status_text(doc)
    assert "weight 90 %" in text and "weight 10 %" in text


def test_status_drift_of_a_clean_weighted_stack_is_empty(tmp_path: Path) -> None:
    from bluegreen import drift

    world = FakeWorld(tmp_path, weighted=True)
    situation = commands.observe(world.app())
    assert situation.assessment.clean and situation.assessment.live is Color.BLUE
    found = drift.find(situation.observed, situation.assessment, situation.tfvars, situation.outputs, None, None,
                       drift.Where(stack_dir="stack", region="us-east-1"))
    assert found == ()


def test_weighted_gates_judge_the_new_colors_target_group_against_the_old_ones(tmp_path: Path) -> None:
    """In the weighted mode each color has its own target group: the gates read the new color's
    metrics and compare with the old color's (``old_margin``), not the live color's alone."""
    world = FakeWorld(tmp_path, weighted=True, steps="100")
    app = world.app()
    app.settings = dataclasses.replace(app.settings, gates=GateSettings(interval=10, period=60,
                                                                         alarms=(AlarmGate("web-5xx"),)))
    app.cloudwatch = WorldAlarms(world)
    outputs = commands.observe(app).outputs
    live = outputs.live_color
    # gate_watch reads only the plan's two colors
    watch = commands.gate_watch(app, outputs, SimpleNamespace(live=live, target=live.other()))
    assert watch.new.arn == COLOR_TG[live.other()] and watch.old.arn == COLOR_TG[live]


def test_an_abort_request_to_the_driving_process_ends_the_run_aborted(tmp_path: Path) -> None:
    """`bluegreen abort` while a live process holds an approval pause: the driver flips back in one
    call and the run ends `aborted` (what the operator asked), not `rolled-back` (a failure)."""
    world = FakeWorld(tmp_path, weighted=True, steps="20:pause,100", bake_seconds=0)
    app = world.app()

    def operator_aborts(call) -> None:
        world.traps.clear()  # once: the request is what another process's `abort` appends
        app.journal.request(last_run(world).run_id, "abort", at_step=0, by="ops@laptop")

    world.traps.append(Trap(lambda c: c.service == "journal" and c.args.get("status") == "state"
                            and world.journal_records[-1].data.get("state") == "paused", when="after",
                            action=operator_aborts))
    with pytest.raises(RolledBackError, match="aborted by `bluegreen abort` \\(ops@laptop\\)"):
        _release(app)
    assert outcome(last_run(world)) == "aborted"
    assert world.weights == {COLOR_TG[Color.BLUE]: 100, COLOR_TG[Color.GREEN]: 0}
    world.settle()
    assert not world.drift() and not world.violations
