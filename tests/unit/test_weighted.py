"""The weighted mode's pure decisions and its executor with small fakes: the live color from the
listener's weights, the weighted steps of a plan, the hold loop (fake clock, fake gates, journal
requests), and the shift / bake / flip back of ``WeightedSwitch`` against a fake listener."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from bluegreen.aws.listener import forward_weights, with_weights
from bluegreen.model import (
    HEALTHY,
    IN_SERVICE,
    Color,
    GroupState,
    Instance,
    TargetHealth,
    TrafficKind,
    TrafficState,
)
from bluegreen.plan import Step, commit_point
from bluegreen.runstate import Event, RunData, RunState, advance
from bluegreen.strategy import WeightStep
from bluegreen.weighted import (
    HoldFailed,
    assess_weighted,
    hold,
    shares,
    weighted_steps,
    weights_match,
)
from bluegreen.weighted_release import WeightedSwitch

TG = {Color.BLUE: "arn:tg/blue", Color.GREEN: "arn:tg/green"}


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@dataclass
class Verdict:
    tripped: bool
    gate: str
    reason: str


class FakeGates:
    """Trips at ``trip_at`` seconds (``None``: never); records when it was asked."""

    def __init__(self, trip_at: float | None = None, start_trips: bool = False) -> None:
        self.trip_at = trip_at
        self.start_trips = start_trips
        self.checks: list[float] = []
        self.starts: list[float] = []

    @property
    def started(self) -> bool:
        return bool(self.starts)

    def start(self, now: float):
        self.starts.append(now)
        return Verdict(True, "alarm web-5xx", "already in ALARM") if self.start_trips else None

    def check(self, now: float):
        self.checks.append(now)
        if self.trip_at is not None and now >= self.trip_at:
            return Verdict(True, "alarm web-5xx", f"ALARM at {now:g}s: 5xx 7.0 % > 5 %")
        return Verdict(False, "alarm web-5xx", "OK")


def group(color: Color, ids: list[str]) -> GroupState:
    return GroupState(color=color, name=f"web-{color}", min_size=0, max_size=10, desired_capacity=len(ids),
                      instances=tuple(Instance(i, IN_SERVICE) for i in ids))


def healthy(ids: list[str], arn: str) -> TrafficState:
    return TrafficState(TrafficKind.ALB, arn, tuple(TargetHealth(i, HEALTHY) for i in ids))


# -- assessment -------------------------------------------------------------------------------------


def test_live_is_the_color_with_all_the_weight():
    groups = {Color.BLUE: group(Color.BLUE, ["i-b"]), Color.GREEN: group(Color.GREEN, ["i-g"])}
    health = {Color.BLUE: healthy(["i-b"], TG[Color.BLUE]), Color.GREEN: healthy(["i-g"], TG[Color.GREEN])}
    clean = assess_weighted(groups, health, {TG[Color.BLUE]: 100, TG[Color.GREEN]: 0}, TG, Color.BLUE)
    assert clean.live is Color.BLUE and clean.clean
    split = assess_weighted(groups, health, {TG[Color.BLUE]: 90, TG[Color.GREEN]: 10}, TG, Color.BLUE)
    assert split.live is None and "split: blue 90 %, green 10 %" in split.problems[0]
    wrong = assess_weighted(groups, health, {TG[Color.BLUE]: 0, TG[Color.GREEN]: 5}, TG, Color.BLUE)
    assert wrong.live is Color.GREEN and "tfvars say live_color = blue" in wrong.problems[0]
    assert shares({TG[Color.BLUE]: 1, TG[Color.GREEN]: 3}, TG) == {Color.BLUE: 25, Color.GREEN: 75}


def test_weighted_steps_replace_attach_and_detach_and_commit_after_the_bake():
    attach = (Step.SUSPEND, Step.APPLY_IDLE, Step.WAIT_INSTANCES, Step.ATTACH, Step.WAIT_HEALTHY, Step.SMOKE,
              Step.VERIFY, Step.LOWER_MIN, Step.STANDBY, Step.WAIT_DRAINED, Step.DETACH, Step.EXIT_STANDBY,
              Step.SCALE_OLD, Step.RESUME, Step.CONFIRM)
    steps = weighted_steps(attach)
    assert steps == (Step.SUSPEND, Step.APPLY_IDLE, Step.WAIT_INSTANCES, Step.WAIT_HEALTHY, Step.SHIFT, Step.BAKE,
                     Step.SCALE_OLD, Step.RESUME, Step.CONFIRM)
    assert commit_point(steps) is Step.BAKE and commit_point(attach) is Step.DETACH


def test_paused_is_a_state_with_its_own_transitions():
    assert advance(RunState.IN_FLIGHT, Event.PAUSED, committed=False) is RunState.PAUSED
    assert advance(RunState.PAUSED, Event.RESUMED, committed=False) is RunState.IN_FLIGHT
    assert advance(RunState.PAUSED, Event.ROLLING_BACK, committed=False) is RunState.ROLLING_BACK
    assert advance(RunState.PAUSED, Event.INTERRUPTED, committed=False) is RunState.INTERRUPTED


def test_listener_actions_keep_stickiness_and_replace_only_weights():
    actions = [{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": "a", "Weight": 100}, {"TargetGroupArn": "b", "Weight": 0}],
        "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60}}}]
    new = with_weights(actions, {"a": 90, "b": 10})
    assert forward_weights(new) == {"a": 90, "b": 10}
    assert new[0]["ForwardConfig"]["TargetGroupStickinessConfig"]["DurationSeconds"] == 60
    assert forward_weights([{"Type": "forward", "TargetGroupArn": "a"}]) == {"a": 1}
    assert weights_match({"a": 100}, {"a": 100, "b": 0}) and not weights_match({"a": 90, "b": 10}, {"a": 100, "b": 0})


# -- the hold loop ------------------------------------------------------------------------------------


def run_hold(seconds, *, gates=None, requests=(), index=0, timeout=600.0, on_timeout="abort", clock=None):
    clock = clock or Clock()
    paused = []
    result = hold(what="step 1 (10 %)", step=WeightStep(10, seconds), seconds=seconds, index=index, clock=clock,
                  interval=10.0, gates=gates, requests=lambda: list(requests), approval_timeout=timeout,
                  on_timeout=on_timeout, on_pause=lambda: paused.append(True))
    return result, clock, paused


def test_timed_pause_checks_the_gates_every_interval():
    gates = FakeGates()
    result, clock, paused = run_hold(60.0, gates=gates)
    assert result.how == "elapsed" and result.seconds == 60.0
    assert gates.checks == [0, 10, 20, 30, 40, 50, 60] and not paused


def test_a_tripped_gate_ends_the_pause_naming_gate_and_numbers():
    with pytest.raises(HoldFailed) as info:
        run_hold(120.0, gates=FakeGates(trip_at=30.0))
    assert "gate alarm web-5xx tripped during step 1 (10 %): ALARM at 30s: 5xx 7.0 % > 5 %" in str(info.value)
    assert info.value.exit_code == 10


def test_approval_pause_waits_for_promote_of_this_step():
    result, _, paused = run_hold(None, requests=[{"action": "promote", "at_step": 0}])
    assert result.how == "promoted" and paused == [True]
    # A promote of an earlier step does not release an approval pause; the timeout decides.
    with pytest.raises(HoldFailed, match="timed out after 30s"):
        run_hold(None, index=2, requests=[{"action": "promote", "at_step": 1}], timeout=30.0)
    result, _, _ = run_hold(None, index=2, timeout=30.0, on_timeout="promote")
    assert result.how == "timeout-promote" and result.seconds == 30.0


def test_promote_skips_remaining_timed_pauses_and_abort_flips_back():
    result, _, _ = run_hold(300.0, index=3, requests=[{"action": "promote", "at_step": 1}])
    assert result.how == "promoted" and result.seconds == 0.0
    with pytest.raises(HoldFailed, match="aborted by `bluegreen abort` \\(ops@laptop\\)"):
        run_hold(None, requests=[{"action": "abort", "at_step": 0, "by": "ops@laptop"}])


# -- the executor against a fake listener ------------------------------------------------------------


class FakeListener:
    def __init__(self, weights: dict[str, int], *, drop: bool = False) -> None:
        self._weights = dict(weights)
        self.calls: list[dict[str, int]] = []
        self.drop = drop  # AWS answers OK but the weights never land (the read-back must notice)

    def weights(self) -> dict[str, int]:
        return dict(self._weights)

    def set_weights(self, weights: dict[str, int]) -> None:
        self.calls.append(dict(weights))
        if not self.drop:
            self._weights = dict(weights)


class FakeJournal:
    def __init__(self) -> None:
        self.events: list[tuple[Event, dict]] = []
        self.notes: list[dict] = []
        self.requests: list[dict] = []

    def note(self, step, **data):
        self.notes.append(data)

    def event(self, event, **data):
        self.events.append((event, data))

    def run(self, run_id):
        return SimpleNamespace(requests=self.requests)


def make_switch(steps: str, *, listener=None, gates=None, bake=0, clock=None):
    clock = clock or Clock()
    journal = FakeJournal()
    info: list[str] = []
    reporter = SimpleNamespace(info=lambda m, **k: info.append(m), ok=lambda m, **k: info.append(m),
                               step=lambda *a, **k: None, warn=lambda *a, **k: None,
                               event=lambda kind, **k: info.append({"event": kind, **k}))
    settings = SimpleNamespace(timeouts=SimpleNamespace(poll_seconds=10.0), service=SimpleNamespace(name="web"))
    deps = SimpleNamespace(settings=settings, journal=journal, reporter=reporter, stop=None, hooks=None,
                           waiter=SimpleNamespace(clock=clock, on_tick=None))
    plan = SimpleNamespace(live=Color.BLUE, target=Color.GREEN, mode=SimpleNamespace(value="release"),
                           steps=(Step.SHIFT, Step.BAKE))
    outputs = SimpleNamespace(color_target_groups=TG)
    listener = listener or FakeListener({TG[Color.BLUE]: 100, TG[Color.GREEN]: 0})
    switch = WeightedSwitch.__new__(WeightedSwitch)
    switch.d, switch.plan, switch.outputs, switch.run_id = deps, plan, outputs, "r1"
    switch.data, switch.gated, switch._first_unhealthy = RunData(), True, {}
    switch.listener, switch.traffic_of, switch.gates, switch.interval = listener, None, gates, 10.0
    switch.target_groups = TG
    switch.strategy = {"steps": steps, "bake_seconds": bake, "approval_timeout_seconds": 60, "on_timeout": "abort"}
    return switch, listener, journal, clock, info


def test_canary_shift_sets_each_step_in_one_call_and_bakes():
    gates = FakeGates()
    switch, listener, journal, clock, _ = make_switch("10:30s,50:30s,100", gates=gates, bake=60)
    switch.do_shift()
    assert listener.calls == [{TG[Color.BLUE]: 90, TG[Color.GREEN]: 10}, {TG[Color.BLUE]: 50, TG[Color.GREEN]: 50},
                              {TG[Color.BLUE]: 0, TG[Color.GREEN]: 100}]
    assert clock.t == 60.0 and gates.starts == [0.0]
    switch.do_bake()
    assert clock.t == 120.0 and len(listener.calls) == 3  # already at 100 %: no call
    switch.undo_bake()
    assert listener.calls[-1] == {TG[Color.BLUE]: 100, TG[Color.GREEN]: 0} and len(listener.calls) == 4


def test_each_gate_decision_of_a_pause_is_a_gate_event_up_to_the_trip():
    switch, listener, journal, clock, info = make_switch("10:60s,100", gates=FakeGates(trip_at=25.0))
    with pytest.raises(HoldFailed, match="gate alarm web-5xx tripped"):
        switch.do_shift()
    events = [e for e in info if isinstance(e, dict) and e["event"] == "gate"]
    # Read every interval (10 s): passes at 0, 10 and 20 s, the trip at 30 s; then the pause ends.
    assert [e["tripped"] for e in events] == [False, False, False, True]
    assert events[-1] == {"event": "gate", "gate": "alarm web-5xx", "tripped": True,
                          "reason": "ALARM at 30s: 5xx 7.0 % > 5 %", "color": "green"}


def test_approval_pause_is_journaled_as_paused_and_resumed():
    switch, listener, journal, clock, info = make_switch("10:pause,100")
    journal.requests.append({"action": "promote", "at_step": 0, "by": "ops"})
    switch.do_shift()
    assert [e for e, _ in journal.events] == [Event.PAUSED, Event.RESUMED]
    assert journal.events[1][1] == {"by": "promoted"}
    assert any("waiting for `bluegreen promote`" in line for line in info)


def test_an_alarm_already_firing_blocks_before_any_weight_moves():
    switch, listener, *_ = make_switch("10:30s,100", gates=FakeGates(start_trips=True))
    with pytest.raises(HoldFailed, match="no traffic moved"):
        switch.do_shift()
    assert listener.calls == []


def test_weights_that_do_not_land_fail_the_step():
    switch, listener, *_ = make_switch("100", listener=FakeListener({TG[Color.BLUE]: 100, TG[Color.GREEN]: 0},
                                                                     drop=True))
    with pytest.raises(Exception, match="read back"):
        switch.do_shift()


def test_resume_continues_from_the_journaled_step():
    switch, listener, journal, clock, _ = make_switch("10:30s,50:30s,100")
    switch.data.shift_index = 1
    switch.do_shift()
    assert listener.calls[0] == {TG[Color.BLUE]: 50, TG[Color.GREEN]: 50} and clock.t == 30.0


def test_status_says_what_a_paused_run_waits_for():
    from bluegreen.views import waiting_for

    run = SimpleNamespace(state=RunState.PAUSED, data=RunData(shift_index=0, shift_percent=10, paused_at=0),
                          header=SimpleNamespace(live=Color.BLUE, target=Color.GREEN))
    assert waiting_for(run) == ("approval of step 1 with green at 10 %: `bluegreen promote` goes on, "
                                "`bluegreen abort` flips all traffic back to blue")
    run.state = RunState.IN_FLIGHT
    assert waiting_for(run) is None
