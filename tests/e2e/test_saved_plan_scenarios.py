"""Issue 7, "the reviewed plan is the applied plan", end to end in the session lab (moto's server
with the fidelity layer, real Terraform, real HAProxy): `plan --out` then `release --plan` applies
exactly the saved Terraform plan; a saved plan whose state or tfvars moved is refused with exit 7
before any AWS change (no mutating call reaches moto, not even a process suspension)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bluegreen import commands, saved_plan
from bluegreen.errors import ExitCode, StateMismatchError
from bluegreen_lab.lab import Lab
from bluegreen.model import Color
from bluegreen.report import Reporter

from scenario_support import (
    Scenario,
    assert_confirmed_clean,
    assert_one_live,
    last_run,
    live_of,
    recover,
    serving_invariant,
)

pytestmark = pytest.mark.e2e

SERVICE = "web"


@pytest.fixture
def scenario(alb_lab: Lab, request: pytest.FixtureRequest):
    failed_before = request.session.testsfailed
    reporter = Reporter(service=SERVICE)
    yield Scenario(alb_lab, reporter, alb_lab.app(reporter))
    if request.session.testsfailed != failed_before:
        # recover() also clears a scripted health source; this module keeps the data plane's.
        health = alb_lab.health
        if not hasattr(health, "clear"):
            alb_lab.health = _NoScript()
        try:
            recover(alb_lab)
        finally:
            alb_lab.health = health


class _NoScript:
    def clear(self) -> None:
        pass


def _plan_out(app, ami: str, out: Path):
    return commands.plan(app, ami=ami, manifest=None, size=None, out=out)


def _release_saved(app, out: Path):
    return commands.release(app, ami=None, manifest=None, size=None, keep_old=False, dry_run=False,
                            saved_plan_file=out)


def _world(app) -> dict:
    """What a refused release must leave exactly as it was: both groups as AWS reports them
    (capacity, instances, suspensions, attachment), the committed tfvars, the journal's last
    run, the release lock, Terraform's state serial."""
    s = commands.observe(app)
    groups = {}
    for color in Color:
        g = s.observed.group(color)
        groups[color.value] = (g.min_size, g.desired_capacity, g.max_size,
                               sorted(i.id for i in g.instances), sorted(g.suspended_processes),
                               s.observed.attached(color))
    run = app.journal.last_run()
    return {"groups": groups, "tfvars": app.stack.committed_text(),
            "last_run": (run.run_id, run.outcome) if run else None,
            "lease": app.lease.read(), "state": app.stack.state_identity()}


def _refused(scenario: Scenario, out: Path) -> StateMismatchError:
    """``release --plan out`` refused with exit 7, and nothing changed: no mutating call reached
    moto (Terraform's included), and the world reads the same before and after."""
    lab = scenario.lab
    app = scenario.new_app()
    before = _world(app)
    live = live_of(app)
    with serving_invariant(lab, app, commands.observe(app).observed.group(live).desired_capacity) as inv:
        with pytest.raises(StateMismatchError) as info:
            _release_saved(scenario.new_app(), out)
    assert [call for call, _ in inv.log if call not in ("before", "after")] == []
    assert _world(scenario.new_app()) == before
    assert info.value.exit_code == ExitCode.STATE_MISMATCH == 7
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"saved plan {out} is stale: ")
    assert str(info.value).endswith(f"(run `bluegreen plan --out {out}` again)")
    return info.value


def _bump_state_serial(app) -> int:
    """Someone wrote the state since the plan (as any apply does): push it back with a higher
    serial (Terraform's local backend bumps it once more as it persists). Changes no resource, so
    only the serial tells the plan is stale. Returns the new serial."""
    state = json.loads(app.terraform.run(["state", "pull"]).stdout)
    state["serial"] += 1
    pushed = app.stack.scratch / "bumped.tfstate"
    pushed.write_text(json.dumps(state))
    app.terraform.run(["state", "push", str(pushed)])
    lineage, serial = app.terraform.state_identity()
    assert lineage == state["lineage"] and serial >= state["serial"]
    return serial


def test_the_saved_plan_is_the_applied_plan(scenario: Scenario, tmp_path: Path) -> None:
    lab = scenario.lab
    app = scenario.new_app()
    live = live_of(app)
    size = commands.observe(app).observed.group(live).desired_capacity
    ami = lab.bake("v-saved-1")
    out = tmp_path / "release.plan"
    tfvars_before = app.stack.committed_text()
    preview, planned_live, idle = _plan_out(app, ami, out)
    assert preview.ok and (planned_live, idle) == (live, live.other())
    assert app.stack.committed_text() == tfvars_before  # planning changes nothing
    saved = saved_plan.load(out)
    assert (saved.intent.ami, saved.intent.size, saved.intent.live, saved.intent.target) == (ami, size, live, idle)
    assert saved.basis.state == app.stack.state_identity()
    assert saved.basis.tfvars_sha256 == saved_plan.sha256_text(tfvars_before)
    # The reviewed variables carry the label the release records, not a placeholder.
    reviewed = json.loads(saved.vars_text)
    assert reviewed["colors"][idle.value] == {"ami": ami, "size": size, "release": saved.intent.release_label}

    release_app = scenario.new_app()
    with serving_invariant(lab, release_app, size):
        plan = _release_saved(release_app, out)
    assert (plan.live, plan.target, plan.ami, plan.size) == (live, idle, ami, size)
    run = last_run(release_app)
    assert run.outcome == "completed", run.finish_data
    assert run.header.saved_plan["plan_id"] == saved.intent.plan_id
    assert run.header.release_label == saved.intent.release_label
    # Exactly the reviewed Terraform plan was applied: the apply step's plan file is its bytes.
    applied = release_app.stack.scratch / f"{run.run_id}-apply-idle.tfplan"
    assert applied.read_bytes() == saved.plan_bytes
    s = assert_one_live(release_app, idle)
    assert s.tfvars.colors[idle].release == saved.intent.release_label
    assert {i.image_id for i in s.observed.group(idle).instances} == {ami}
    assert_confirmed_clean(release_app)

    # The same file once more: the release moved the state, the tfvars and the live color.
    error = _refused(scenario, out)
    assert "the Terraform state moved (serial" in str(error)
    assert "the tfvars file changed" in str(error)
    assert f"the live color moved ({live} -> {idle})" in str(error)


@pytest.mark.slow
def test_a_stale_saved_plan_is_refused_before_any_aws_change(scenario: Scenario, tmp_path: Path) -> None:
    lab = scenario.lab
    app = scenario.new_app()
    ami = lab.bake("v-saved-stale")
    out = tmp_path / "release.plan"

    # 1. The state moved since the plan (someone applied): only the serial says so.
    _plan_out(app, ami, out)
    serial = saved_plan.load(out).basis.state.serial
    now = _bump_state_serial(scenario.new_app())
    error = _refused(scenario, out)
    assert str(error) == (f"saved plan {out} is stale: the Terraform state moved (serial {serial} -> "
                          f"{now}: something was applied since); nothing was changed "
                          f"(run `bluegreen plan --out {out}` again)")

    # 2. A fresh plan, then the committed tfvars are edited (one added blank line: same values,
    #    but not the file the reviewer's plan was made from).
    _plan_out(scenario.new_app(), ami, out)
    tfvars_path = app.stack.tfvars_path
    original = tfvars_path.read_text(encoding="utf-8")
    tfvars_path.write_text(original + "\n", encoding="utf-8")
    try:
        error = _refused(scenario, out)
    finally:
        tfvars_path.write_text(original, encoding="utf-8")
    assert "is stale: the tfvars file changed (sha256" in str(error)
    assert "state" not in str(error).split("is stale:")[1]

    # 3. Put back, the same saved plan is current again: a dry run says so and changes nothing.
    dry = commands.release(scenario.new_app(), ami=None, manifest=None, size=None, keep_old=False,
                           dry_run=True, saved_plan_file=out)
    assert dry.ami == ami
    assert any("is current" in e.get("message", "") for e in scenario.reporter.events)
    assert_one_live(scenario.new_app(), live_of(app))


def test_plan_out_refuses_while_the_idle_color_runs(scenario: Scenario, tmp_path: Path) -> None:
    """A release would first scale the idle color to zero with an apply of its own, so a plan saved
    now could never be the one applied: refused, with the command that clears it."""
    lab = scenario.lab
    app = scenario.new_app()
    live = live_of(app)
    idle = live.other()
    group = commands.observe(app).observed.group(idle)
    app.autoscaling.set_capacity(group.name, min_size=0, desired=1, max_size=max(group.max_size, 1))
    out = tmp_path / "release.plan"
    try:
        with pytest.raises(StateMismatchError) as info:
            _plan_out(scenario.new_app(), lab.bake("v-saved-busy"), out)
        assert info.value.exit_code == 7
        assert f"the idle color {idle} still runs" in str(info.value)
        assert "`bluegreen finalize`" in str(info.value)
        assert not out.exists()
    finally:
        app.autoscaling.set_capacity(group.name, min_size=group.min_size, desired=group.desired_capacity,
                                     max_size=group.max_size)
    scenario.new_app().waiter().until(
        f"{idle} back to zero",
        lambda: _empty(scenario.new_app(), idle),
        timeout=30,
    )


def _empty(app, color: Color):
    from bluegreen.health import Verdict

    group = commands.observe(app).observed.group(color)
    return Verdict(not group.instances, f"{len(group.instances)} instance(s)")


# -- issue 10: the release's plan and blast-radius check come before its first AWS change ---------


def test_a_blast_radius_refusal_touches_nothing(scenario: Scenario) -> None:
    """A stack whose colors the config does not recognise (a wrong color_address): the release
    plans, the check refuses (exit 8), and no scaling process was suspended on either group, no
    journal run began, nothing reached moto."""
    from bluegreen.errors import BlastRadiusError

    lab = scenario.lab
    app = scenario.new_app(lab.settings().replace("terraform", color_addresses=("module.app_{color}",)))
    ami = lab.bake("v-wrong-contract")
    before = _world(app)
    live = live_of(app)
    with serving_invariant(lab, app, commands.observe(app).observed.group(live).desired_capacity) as inv:
        with pytest.raises(BlastRadiusError) as info:
            commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False)
    assert info.value.exit_code == ExitCode.BLAST_RADIUS == 8
    assert f"module.{live.other()}.aws_launch_template.this" in str(info.value)
    assert [call for call, _ in inv.log if call not in ("before", "after")] == []
    assert _world(scenario.new_app()) == before


@pytest.mark.slow
def test_after_keep_old_a_release_clears_the_idle_color_and_plans_again(scenario: Scenario, tmp_path: Path) -> None:
    """With the old color kept warm, a saved plan is refused (a clear-idle apply would run first),
    and a release without --plan checks its plan before any change, clears the idle color, then
    plans again on the moved state and applies that."""
    from bluegreen.plan import Step

    lab = scenario.lab
    app = scenario.new_app(lab.settings().replace("release", keep_old_seconds=600))
    live = live_of(app)
    size = commands.observe(app).observed.group(live).desired_capacity
    with serving_invariant(lab, app, size):
        # --no-wait: the old color stays warm after the release returns (the foreground window
        # would hold the whole 600 s, then scale it to zero itself).
        first = commands.release(app, ami=lab.bake("v-saved-keep"), manifest=None, size=None,
                                 keep_old=True, dry_run=False, wait=False)
    assert_one_live(app, first.target, idle_at_zero=False)
    ami = lab.bake("v-saved-after-keep")
    with pytest.raises(StateMismatchError) as info:
        _plan_out(scenario.new_app(), ami, tmp_path / "release.plan")
    assert f"the idle color {live} still runs" in str(info.value)

    second_app = scenario.new_app()
    with serving_invariant(lab, second_app, size):
        second = commands.release(second_app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False)
    run = last_run(second_app)
    assert run.outcome == "completed", run.finish_data
    assert list(run.header.steps[:3]) == [Step.SUSPEND, Step.CLEAR_IDLE, Step.APPLY_IDLE]
    s = assert_one_live(second_app, second.target)
    assert second.target is live and {i.image_id for i in s.observed.group(live).instances} == {ami}
    assert_confirmed_clean(second_app)
