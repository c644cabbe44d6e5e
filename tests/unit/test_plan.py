"""Pure decisions: which color is live, and the steps of a release, rollback or swap."""

from __future__ import annotations

import pytest

from bluegreen.errors import ExitCode, StateMismatchError
from bluegreen.model import HEALTHY, INITIAL, PENDING, UNHEALTHY, Color, TargetHealth
from bluegreen.plan import (
    COMMIT_POINT,
    REASONS,
    LiveAssessment,
    Mode,
    Step,
    SwitchIntent,
    assess_live,
    committed,
    plan_switch,
    remaining_steps,
)

BLUE, GREEN = Color.BLUE, Color.GREEN
NEW_AMI = "ami-0fedcba9876543210"

TAIL = (
    Step.VERIFY,
    Step.LOWER_MIN,
    Step.STANDBY,
    Step.WAIT_DRAINED,
    Step.DETACH,
    Step.EXIT_STANDBY,
)


@pytest.fixture
def blue_live(group, observed):
    """Blue serves 3 healthy instances; green is empty."""
    return observed(group(BLUE, 3, attached=True), group(GREEN, 0))


def clean(obs, tfvars_live=BLUE, outputs_live=BLUE) -> LiveAssessment:
    assessment = assess_live(obs, tfvars_live, outputs_live)
    assert assessment.clean, assessment.problems
    return assessment


# -- assess_live ----------------------------------------------------------------------------------


def test_clean_blue_live(blue_live):
    a = assess_live(blue_live, BLUE, BLUE)
    assert a.live is BLUE
    assert a.attached == (BLUE,)
    assert a.serving == (BLUE,)
    assert a.problems == ()
    assert a.clean


def test_clean_green_live(group, observed):
    a = assess_live(observed(group(BLUE, 2), group(GREEN, 2, attached=True)), GREEN, GREEN)
    assert a.live is GREEN and a.clean


def test_one_healthy_target_is_enough_to_serve(group, observed):
    blue = group(BLUE, 3, attached=True)
    targets = (
        TargetHealth("i-blue-0", HEALTHY),
        TargetHealth("i-blue-1", UNHEALTHY),
        TargetHealth("i-blue-2", INITIAL),
    )
    a = assess_live(observed(blue, group(GREEN, 0), targets=targets), BLUE)
    assert a.live is BLUE and a.clean


def test_both_attached(group, observed):
    a = assess_live(observed(group(BLUE, 2, attached=True), group(GREEN, 2, attached=True)), BLUE, BLUE)
    assert a.live is None
    assert not a.clean
    assert a.attached == (BLUE, GREEN)
    assert a.serving == (BLUE, GREEN)
    assert a.problems == ("both colors are attached to the load balancer (a release or swap was interrupted?)",)


def test_none_attached(group, observed):
    a = assess_live(observed(group(BLUE, 2), group(GREEN, 2)), BLUE, BLUE)
    assert a.live is None and not a.clean
    assert a.attached == () and a.serving == ()
    assert a.problems == ("no color is attached to the load balancer",)


def test_attached_without_healthy_target(group, observed):
    a = assess_live(observed(group(BLUE, 2, attached=True), group(GREEN, 0), target_state=UNHEALTHY), BLUE, BLUE)
    assert a.live is None and not a.clean
    assert a.attached == (BLUE,) and a.serving == ()
    assert a.problems == ("blue is attached but has no healthy InService target",)


def test_healthy_target_that_is_not_in_service_does_not_serve(group, observed):
    # The LB says healthy but Auto Scaling has the instance Pending: not counted.
    a = assess_live(observed(group(BLUE, 2, state=PENDING, attached=True), group(GREEN, 0)), BLUE)
    assert a.serving == () and a.live is None


def test_tfvars_disagree(blue_live):
    a = assess_live(blue_live, GREEN, BLUE)
    assert a.live is BLUE
    assert not a.clean
    assert a.problems == ("the tfvars say live_color = green but blue serves",)


def test_outputs_disagree(blue_live):
    a = assess_live(blue_live, BLUE, GREEN)
    assert a.live is BLUE and not a.clean
    assert a.problems == ("Terraform's output live_color = green but blue serves",)


def test_both_disagree_lists_both(blue_live):
    assert len(assess_live(blue_live, GREEN, GREEN).problems) == 2


def test_unknown_terraform_views_are_not_problems(blue_live):
    assert assess_live(blue_live, None, None).clean


def test_traffic_problems_come_before_terraform_comparisons(group, observed):
    a = assess_live(observed(group(BLUE, 2, attached=True), group(GREEN, 2, attached=True)), GREEN, GREEN)
    # No single live color: there is nothing to compare Terraform's view with.
    assert len(a.problems) == 1 and "both colors" in a.problems[0]


# -- plan_switch: release -------------------------------------------------------------------------


def test_release_steps_in_order(blue_live):
    plan = plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.RELEASE, ami=NEW_AMI), NEW_AMI)
    assert plan.steps == (
        Step.SUSPEND,
        Step.APPLY_IDLE,
        Step.WAIT_INSTANCES,
        Step.ATTACH,
        Step.WAIT_HEALTHY,
        *TAIL,
        Step.SCALE_OLD,
        Step.RESUME,
        Step.CONFIRM,
    )
    assert (plan.mode, plan.live, plan.target, plan.ami) == (Mode.RELEASE, BLUE, GREEN, NEW_AMI)


def test_steps_follow_the_enum_order(blue_live):
    # Step documents itself as "in the order a release runs them": every plan respects it.
    order = list(Step)
    for intent in (
        SwitchIntent(Mode.RELEASE, smoke=True),
        SwitchIntent(Mode.RELEASE, keep_old=True),
    ):
        steps = plan_switch(blue_live, clean(blue_live), intent, NEW_AMI).steps
        assert [order.index(s) for s in steps] == sorted(order.index(s) for s in steps)


def test_release_size_defaults_to_live_desired_capacity(group, observed):
    obs = observed(group(BLUE, 3, attached=True, desired=4), group(GREEN, 0))
    plan = plan_switch(obs, clean(obs), SwitchIntent(Mode.RELEASE), NEW_AMI)
    assert plan.size == 4
    assert plan.notes == ("size 4 follows blue's actual desired capacity",)


def test_release_size_override(blue_live):
    plan = plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.RELEASE, size=6), NEW_AMI)
    assert plan.size == 6
    assert plan.notes == ()


def test_release_with_live_desired_zero_needs_a_size(group, observed):
    blue = group(BLUE, 1, attached=True, desired=0)
    obs = observed(blue, group(GREEN, 0))
    with pytest.raises(StateMismatchError, match="--size"):
        plan_switch(obs, clean(obs), SwitchIntent(Mode.RELEASE), NEW_AMI)
    assert plan_switch(obs, clean(obs), SwitchIntent(Mode.RELEASE, size=2), NEW_AMI).size == 2


def test_clear_idle_only_when_the_idle_group_runs_instances(group, observed, blue_live):
    plain = plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.RELEASE), NEW_AMI)
    assert Step.CLEAR_IDLE not in plain.steps

    obs = observed(group(BLUE, 3, attached=True), group(GREEN, 2))
    plan = plan_switch(obs, clean(obs), SwitchIntent(Mode.RELEASE), NEW_AMI)
    assert plan.steps[:3] == (Step.SUSPEND, Step.CLEAR_IDLE, Step.APPLY_IDLE)


def test_clear_idle_when_idle_desired_capacity_is_not_zero(group, observed):
    obs = observed(group(BLUE, 3, attached=True), group(GREEN, 0, desired=2))
    plan = plan_switch(obs, clean(obs), SwitchIntent(Mode.RELEASE), NEW_AMI)
    assert Step.CLEAR_IDLE in plan.steps


def test_smoke_only_when_asked(blue_live):
    without = plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.RELEASE), NEW_AMI)
    assert Step.SMOKE not in without.steps
    with_smoke = plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.RELEASE, smoke=True), NEW_AMI)
    i = with_smoke.steps.index(Step.SMOKE)
    assert with_smoke.steps[i - 1] is Step.WAIT_HEALTHY
    assert with_smoke.steps[i + 1] is Step.VERIFY


def test_keep_old_instead_of_scale_old(blue_live):
    plan = plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.RELEASE, keep_old=True), NEW_AMI)
    assert Step.KEEP_OLD in plan.steps
    assert Step.SCALE_OLD not in plan.steps
    assert plan.steps[-3:] == (Step.KEEP_OLD, Step.RESUME, Step.CONFIRM)


# -- plan_switch: swap and rollback ---------------------------------------------------------------


def test_swap_keeps_old_and_applies_nothing(group, observed):
    obs = observed(group(BLUE, 3, attached=True), group(GREEN, 2, ami="ami-0aaaaaaaaaaaaaaaa"))
    plan = plan_switch(obs, clean(obs), SwitchIntent(Mode.SWAP), "ami-0aaaaaaaaaaaaaaaa")
    assert plan.steps == (
        Step.SUSPEND,
        Step.WAIT_INSTANCES,
        Step.ATTACH,
        Step.WAIT_HEALTHY,
        *TAIL,
        Step.KEEP_OLD,
        Step.RESUME,
        Step.CONFIRM,
    )
    assert plan.size == 2  # the target's InService count, not the live capacity
    assert plan.target is GREEN


def test_rollback_without_keep_old_scales_old(group, observed):
    obs = observed(group(BLUE, 3, attached=True), group(GREEN, 3))
    plan = plan_switch(obs, clean(obs), SwitchIntent(Mode.ROLLBACK), "ami-0123456789abcdef0")
    assert Step.APPLY_IDLE not in plan.steps and Step.CLEAR_IDLE not in plan.steps
    assert Step.SCALE_OLD in plan.steps and Step.KEEP_OLD not in plan.steps
    assert plan.size == 3


def test_rollback_to_a_color_without_in_service_instances(group, observed):
    obs = observed(group(BLUE, 3, attached=True), group(GREEN, 2, state=PENDING))
    with pytest.raises(StateMismatchError) as info:
        plan_switch(obs, clean(obs), SwitchIntent(Mode.ROLLBACK), "ami-0123456789abcdef0")
    assert "cannot roll back to green: it has no InService instances" in str(info.value)
    assert "bluegreen rollback" in info.value.hint
    assert info.value.exit_code is ExitCode.STATE_MISMATCH


def test_swap_to_an_empty_color(blue_live):
    with pytest.raises(StateMismatchError, match="cannot swap to green"):
        plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.SWAP), "")


@pytest.mark.parametrize("mode", list(Mode))
def test_unclean_assessment_is_refused_with_a_resume_hint(group, observed, mode):
    obs = observed(group(BLUE, 2, attached=True), group(GREEN, 2, attached=True))
    assessment = assess_live(obs, BLUE, BLUE)
    with pytest.raises(StateMismatchError) as info:
        plan_switch(obs, assessment, SwitchIntent(mode), NEW_AMI)
    assert str(info.value).startswith(f"refusing to {mode.value}: both colors are attached")
    assert "resume" in info.value.hint and "abort" in info.value.hint


def test_terraform_disagreement_is_refused_too(blue_live):
    with pytest.raises(StateMismatchError, match="tfvars say live_color = green"):
        plan_switch(blue_live, assess_live(blue_live, GREEN, BLUE), SwitchIntent(Mode.RELEASE), NEW_AMI)


# -- reasons, remaining steps, commit point -------------------------------------------------------


def test_every_step_has_a_reason(blue_live):
    assert set(REASONS) == set(Step)
    plan = plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.RELEASE), NEW_AMI)
    assert "draining" in plan.reason(Step.STANDBY)


def test_step_values_are_stable_journal_records():
    assert Step.SUSPEND.value == "suspend-processes"
    assert Step.DETACH.value == "detach-old"
    assert Step.CONFIRM.value == "confirm-no-changes"
    assert len({s.value for s in Step}) == len(Step)


def test_remaining_steps_keeps_order_and_reruns_started_ones(blue_live):
    plan = plan_switch(blue_live, clean(blue_live), SwitchIntent(Mode.RELEASE), NEW_AMI)
    done = {Step.SUSPEND, Step.APPLY_IDLE, Step.WAIT_INSTANCES}
    rest = remaining_steps(plan.steps, done)
    assert rest == plan.steps[3:]
    assert rest[0] is Step.ATTACH
    assert remaining_steps(plan.steps, set(plan.steps)) == ()
    assert remaining_steps(plan.steps, set()) == plan.steps


def test_committed_once_detach_completed():
    assert COMMIT_POINT is Step.DETACH
    assert not committed({Step.SUSPEND, Step.ATTACH, Step.WAIT_DRAINED})
    assert committed({Step.SUSPEND, Step.DETACH})
    assert not committed(set())


# -- rollback when the live color serves nothing (issue 7: a release that went bad) ----------------

OLD_AMI = "ami-0123456789abcdef0"  # conftest's default image of every instance


def went_bad(group, observed, *, green=None, target_state=UNHEALTHY):
    """Blue is attached (and live per Terraform) with no healthy target; green runs detached."""
    return observed(group(BLUE, 2, attached=True), green if green is not None else group(GREEN, 2),
                    target_state=target_state)


def test_attached_color_serving_nothing_is_down(group, observed):
    a = assess_live(went_bad(group, observed), BLUE, BLUE)
    assert a.down is BLUE and a.live is None and not a.clean
    assert a.problems == ("blue is attached but has no healthy InService target",)


@pytest.mark.parametrize(("tfvars_live", "outputs_live"), [(GREEN, BLUE), (BLUE, GREEN)])
def test_not_down_when_terraform_calls_the_other_color_live(group, observed, tfvars_live, outputs_live):
    assert assess_live(went_bad(group, observed), tfvars_live, outputs_live).down is None


def test_serving_or_ambiguous_states_are_never_down(group, observed, blue_live):
    assert assess_live(blue_live, BLUE, BLUE).down is None
    both = observed(group(BLUE, 2, attached=True), group(GREEN, 2, attached=True), target_state=UNHEALTHY)
    assert assess_live(both, BLUE, BLUE).down is None
    assert assess_live(observed(group(BLUE, 2), group(GREEN, 2)), BLUE, BLUE).down is None


def test_rollback_leaves_a_color_that_serves_nothing_for_the_warm_one(group, observed):
    obs = went_bad(group, observed)
    plan = plan_switch(obs, assess_live(obs, BLUE, BLUE), SwitchIntent(Mode.ROLLBACK), OLD_AMI)
    assert (plan.live, plan.target, plan.size, plan.ami) == (BLUE, GREEN, 2, OLD_AMI)
    # The warm rollback's steps: no Terraform before the switch, and the color that serves nothing
    # is put on standby and detached only after green is attached, healthy and verified.
    assert plan.steps == (Step.SUSPEND, Step.WAIT_INSTANCES, Step.ATTACH, Step.WAIT_HEALTHY, *TAIL,
                          Step.SCALE_OLD, Step.RESUME, Step.CONFIRM)
    assert plan.steps.index(Step.WAIT_HEALTHY) < plan.steps.index(Step.STANDBY) < plan.steps.index(Step.DETACH)
    assert plan.notes == ("blue is attached but serves nothing; green is warm (2 InService on "
                          f"{OLD_AMI}): green is attached and must be healthy before blue leaves",)


def test_a_color_with_only_initial_targets_serves_nothing_either(group, observed):
    obs = went_bad(group, observed, target_state=INITIAL)
    plan = plan_switch(obs, assess_live(obs, BLUE, BLUE), SwitchIntent(Mode.ROLLBACK), OLD_AMI)
    assert plan.target is GREEN


@pytest.mark.parametrize("mode", [Mode.RELEASE, Mode.SWAP])
def test_only_rollback_may_leave_a_color_that_serves_nothing(group, observed, mode):
    obs = went_bad(group, observed)
    with pytest.raises(StateMismatchError) as info:
        plan_switch(obs, assess_live(obs, BLUE, BLUE), SwitchIntent(mode), OLD_AMI)
    assert str(info.value).startswith(f"refusing to {mode.value}: blue is attached but has no healthy")
    assert "`bluegreen rollback` brings back green" in info.value.hint


@pytest.mark.parametrize(
    ("green_kwargs", "problem"),
    [
        ({"count": 0}, "green has no InService instances to roll back to"),
        ({"count": 2, "state": PENDING}, "green has no InService instances to roll back to"),
        ({"count": 2, "ami": NEW_AMI}, f"2 InService instance(s) of green run another image than {OLD_AMI}"),
    ],
)
def test_rollback_refused_when_the_other_color_is_not_warm(group, observed, green_kwargs, problem):
    count = green_kwargs.pop("count")
    obs = went_bad(group, observed, green=group(GREEN, count, **green_kwargs))
    with pytest.raises(StateMismatchError) as info:
        plan_switch(obs, assess_live(obs, BLUE, BLUE), SwitchIntent(Mode.ROLLBACK), OLD_AMI)
    assert str(info.value).startswith("cannot roll back: blue is attached but has no healthy InService target, and ")
    assert problem in str(info.value)
    assert info.value.exit_code is ExitCode.STATE_MISMATCH


def test_rollback_with_an_unknown_image_is_not_held_against_the_warm_color(group, observed):
    obs = went_bad(group, observed, green=group(GREEN, 2, ami=None))
    assert plan_switch(obs, assess_live(obs, BLUE, BLUE), SwitchIntent(Mode.ROLLBACK), OLD_AMI).target is GREEN
