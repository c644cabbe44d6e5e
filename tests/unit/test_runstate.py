"""The run-state machine and the pure resume/abort decisions."""

from __future__ import annotations

import pytest

from bluegreen.errors import StateMismatchError
from bluegreen.journal import RUN
from bluegreen.aws.journal_store import JournalRecord
from bluegreen.model import Color, GroupState, Instance, TrafficKind
from bluegreen.plan import COMMIT_POINT, Mode, Step
from bluegreen.recovery import ActionKind, Unfixable, World, decide_abort, decide_resume
from bluegreen.runstate import FINAL, NEXT, TRANSITIONS, Event, RunHeader, RunState, advance, replay

STEPS = (Step.SUSPEND, Step.APPLY_IDLE, Step.WAIT_INSTANCES, Step.ATTACH, Step.WAIT_HEALTHY, Step.VERIFY,
         Step.LOWER_MIN, Step.STANDBY, Step.WAIT_DRAINED, Step.DETACH, Step.EXIT_STANDBY, Step.SCALE_OLD,
         Step.RESUME, Step.CONFIRM)
HEADER = RunHeader(mode=Mode.RELEASE, live=Color.BLUE, target=Color.GREEN, size=2, ami="ami-12345678",
                   steps=STEPS, restore_text="{}", release_label="release-x")


class Records:
    """Journal records as the Journal writes them, without a store."""

    def __init__(self) -> None:
        self.items: list[JournalRecord] = [
            JournalRecord(RUN, "begin", {"run_id": "r1", "kind": "release", "header": HEADER.to_json()})
        ]

    def step(self, step: Step, *statuses: str, **data) -> "Records":
        for status in statuses:
            self.items.append(JournalRecord(step.value, status, {"run_id": "r1", **data}))
        return self

    def steps(self, steps, *statuses: str) -> "Records":
        for step in steps:
            self.step(step, *statuses)
        return self

    def state(self, event: Event, **data) -> "Records":
        status = "finish" if event in (Event.COMPLETED, Event.ROLLED_BACK, Event.ABORTED,
                                       Event.NEEDS_OPERATOR) else "state"
        key = "outcome" if status == "finish" else "state"
        self.items.append(JournalRecord(RUN, status, {"run_id": "r1", key: event.value, **data}))
        return self

    def view(self):
        return replay(self.items)


def upto(step: Step) -> tuple[Step, ...]:
    return STEPS[: STEPS.index(step) + 1]


def test_every_state_names_what_moves_it_forward():
    assert set(NEXT) == set(RunState)
    for state in RunState:
        if not state.final:
            assert "bluegreen resume" in NEXT[state] and "bluegreen abort" in NEXT[state], state


def test_final_states_take_no_event():
    for event, (allowed, _result) in TRANSITIONS.items():
        assert not (allowed & FINAL), event
    for state in FINAL:
        for event in Event:
            if event is Event.BEGIN:
                continue
            with pytest.raises(StateMismatchError, match=f"state {state} cannot take the event"):
                advance(state, event, committed=False)


def test_every_non_final_state_can_be_resumed_and_aborted():
    for state in set(RunState) - FINAL:
        assert advance(state, Event.RESUMED, committed=False) is RunState.IN_FLIGHT
        assert advance(state, Event.RESUMED, committed=True) is RunState.COMMITTED
        assert advance(state, Event.ABORTED, committed=False) is RunState.ABORTED


def test_commit_point_moves_the_run_to_committed():
    run = Records().steps(upto(COMMIT_POINT), "started", "completed").view()
    assert run.state is RunState.COMMITTED and run.committed and run.in_flight
    run = Records().steps(upto(Step.STANDBY), "started", "completed").view()
    assert run.state is RunState.IN_FLIGHT and not run.committed


def test_interrupted_then_resumed_then_completed():
    records = Records().steps(upto(Step.APPLY_IDLE), "started", "completed")
    records.state(Event.INTERRUPTED, error="interrupted by SIGTERM")
    run = records.view()
    assert run.state is RunState.INTERRUPTED and run.error == "interrupted by SIGTERM"
    assert run.outcome is None and run.in_flight
    records.state(Event.RESUMED)
    assert records.view().state is RunState.IN_FLIGHT
    records.steps(STEPS[2:], "started", "completed").state(Event.COMPLETED)
    run = records.view()
    assert run.state is RunState.COMPLETED and run.outcome == "completed" and not run.in_flight


def test_undo_failure_is_needs_operator_and_not_a_dead_end():
    records = Records().steps(upto(Step.WAIT_HEALTHY), "started", "completed")
    records.state(Event.ROLLING_BACK, error="unhealthy")
    records.step(Step.WAIT_HEALTHY, "compensated").step(Step.ATTACH, "compensated")
    records.state(Event.NEEDS_OPERATOR, error="AccessDenied", undo_failed_at="wait-instances")
    run = records.view()
    assert run.state is RunState.NEEDS_OPERATOR and run.in_flight
    assert run.compensated == [Step.WAIT_HEALTHY, Step.ATTACH]
    # abort continues the undo where it stopped ...
    records.state(Event.ROLLING_BACK, by="abort")
    records.steps((Step.WAIT_INSTANCES, Step.APPLY_IDLE, Step.SUSPEND), "compensated").state(Event.ABORTED)
    assert records.view().state is RunState.ABORTED


def test_resume_after_a_partial_undo_runs_the_undone_steps_again():
    records = Records().steps(upto(Step.WAIT_HEALTHY), "started", "completed")
    records.state(Event.ROLLING_BACK)
    records.step(Step.WAIT_HEALTHY, "compensated").step(Step.ATTACH, "compensated")
    records.state(Event.NEEDS_OPERATOR, error="AccessDenied")
    run = records.view()
    decision = decide_resume(run, world())
    assert decision.steps(ActionKind.RUN) == STEPS[STEPS.index(Step.ATTACH):]
    assert "undone by an interrupted rollback" in decision.actions[0].reason
    # ... and once it re-runs a compensated step, that step stands again
    records.state(Event.RESUMED).step(Step.ATTACH, "started", "completed")
    run = records.view()
    assert Step.ATTACH in run.done and run.compensated == [Step.WAIT_HEALTHY]


def test_lease_lost_and_the_forbidden_transitions():
    records = Records().steps(upto(Step.ATTACH), "started", "completed").state(Event.LEASE_LOST, error="taken")
    assert records.view().state is RunState.LEASE_LOST
    with pytest.raises(StateMismatchError):
        advance(RunState.IN_FLIGHT, Event.COMPLETED, committed=False)  # never complete before the commit point
    with pytest.raises(StateMismatchError):
        advance(RunState.COMMITTED, Event.ROLLING_BACK, committed=True)  # never undo after it
    with pytest.raises(StateMismatchError):
        advance(RunState.INTERRUPTED, Event.INTERRUPTED, committed=False)


def test_journals_from_before_the_state_machine_replay():
    # bluegreen 0.1 wrote "finish needs-operator" for a failed undo and "rolled-back" without a
    # rolling-back record: both still read, and needs-operator is no longer a dead end.
    old = Records().steps(upto(Step.ATTACH), "started", "completed").state(Event.NEEDS_OPERATOR)
    assert old.view().state is RunState.NEEDS_OPERATOR and old.view().in_flight
    rolled = Records().steps(upto(Step.ATTACH), "started", "completed").state(Event.ROLLED_BACK)
    assert rolled.view().state is RunState.ROLLED_BACK


# -- decisions ----------------------------------------------------------------------------------


def group(color: Color, n: int, attached: bool) -> GroupState:
    return GroupState(color=color, name=f"web-{color}", min_size=0, max_size=4, desired_capacity=n,
                      instances=tuple(Instance(f"i-{color}-{i}", "InService") for i in range(n)),
                      target_group_arns=("tg",) if attached else ())


def world(blue: GroupState | None = None, green: GroupState | None = None, **kw) -> World:
    groups = {Color.BLUE: blue or group(Color.BLUE, 2, True), Color.GREEN: green or group(Color.GREEN, 2, True)}
    groups.update(kw)
    return World(groups=groups, traffic_kind=TrafficKind.ALB, traffic_name="tg")


def test_resume_runs_what_is_not_done_and_says_why():
    run = Records().steps(upto(Step.ATTACH), "started", "completed").step(Step.WAIT_HEALTHY, "started").view()
    decision = decide_resume(run, world())
    assert decision.steps(ActionKind.RUN) == STEPS[STEPS.index(Step.WAIT_HEALTHY):]
    assert "started, not confirmed: runs again" in decision.actions[0].line()


def test_abort_before_the_commit_point_undoes_in_reverse():
    run = Records().steps(upto(Step.STANDBY), "started", "completed").view()
    decision = decide_abort(run, world())
    assert decision.steps(ActionKind.UNDO) == tuple(reversed(upto(Step.STANDBY)))
    assert not decision.switch_back
    assert decision.actions[0].line().startswith("undo standby-old: bring the old color's instances")


def test_abort_after_the_commit_point_keeps_the_old_color_warm_then_switches_back():
    run = Records().steps(upto(Step.DETACH), "started", "completed").view()
    decision = decide_abort(run, world(blue=group(Color.BLUE, 2, False)))
    assert decision.steps(ActionKind.RUN) == (Step.EXIT_STANDBY, Step.KEEP_OLD, Step.RESUME, Step.CONFIRM)
    assert decision.switch_back and decision.actions[-1].kind is ActionKind.SWITCH_BACK
    assert "puts blue back in service" in decision.actions[-1].reason


def test_a_group_deleted_by_hand_is_refused_with_what_aws_looks_like():
    run = Records().steps(upto(Step.ATTACH), "started", "completed").view()
    for decide in (decide_resume, decide_abort):
        with pytest.raises(Unfixable) as refused:
            decide(run, World(groups={Color.BLUE: group(Color.BLUE, 2, True), Color.GREEN: None},
                              traffic_kind=TrafficKind.ALB, traffic_name="tg"))
        message = str(refused.value)
        assert "green does not exist" in message
        assert "blue: 2 InService, attached; green: no group" in message
        assert "terraform apply" in message
