"""Every error reaches the shell through one mapping (``cli.run_command``) with an honest exit
code: a wait that gives up outside a release is a state mismatch (7), never "internal error" (1)
nor "rolled back" (10); inside a release the executor still turns it into a rollback (10)."""

from __future__ import annotations

from bluegreen.runstate import RunHeader

import io
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from rich.console import Console

from bluegreen import cli, commands
from bluegreen import tfvars as tfvars_module
from bluegreen.config import Settings
from bluegreen.errors import (
    BluegreenError,
    ExitCode,
    RolledBackError,
    StateMismatchError,
    WaitError,
    WaitFailed,
    WaitTimeout,
)
from bluegreen.health import Verdict
from bluegreen.journal import Journal
from bluegreen.model import Color, ColorVars, StackOutputs, TfVars, TrafficKind, TrafficState
from bluegreen.plan import Mode, ReleasePlan, Step
from bluegreen.release import Deps, Switch, execute
from bluegreen.report import Reporter
from bluegreen.waits import Waiter

from tests.unit.conftest import AMI_NEW, AMI_OLD, TG_ARN, make_group


def _reporter(clock) -> Reporter:
    return Reporter("web", json_stream=io.StringIO(), console=Console(file=io.StringIO()), clock=clock.now)


# -- the types -----------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [
    WaitFailed("blue instances", Verdict(False, "1 InService instance(s) run another image", failed=True)),
    WaitTimeout("blue targets healthy: gave up after 600s: 0/2 healthy"),
])
def test_wait_errors_are_ordinary_errors_with_exit_7(error: BluegreenError) -> None:
    assert isinstance(error, BluegreenError) and isinstance(error, StateMismatchError)
    assert error.exit_code is ExitCode.STATE_MISMATCH


def test_waits_module_still_exports_wait_failed() -> None:
    from bluegreen import waits

    assert waits.WaitFailed is WaitFailed


# -- the one mapping -----------------------------------------------------------------------------


@pytest.fixture
def keep_sigterm():
    """run_command installs a SIGTERM handler: put pytest's back."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("error, code", [
    (WaitFailed("blue instances", Verdict(False, "1 InService instance(s) of web-blue run another image",
                                          failed=True)), ExitCode.STATE_MISMATCH),
    (WaitTimeout("blue targets healthy: gave up after 600s: 0/2 healthy"), ExitCode.STATE_MISMATCH),
    (RolledBackError("release blue -> green failed; rolled back"), ExitCode.ROLLED_BACK),
])
def test_run_command_maps_wait_errors_to_their_code(keep_sigterm, capsys, error, code) -> None:
    def body(_reporter: Reporter) -> None:
        raise error

    with pytest.raises(typer.Exit) as info:
        cli.run_command(body)
    assert info.value.exit_code == code
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    assert str(error).split(":")[0] in err


# -- bootstrap: a wait outside a release --------------------------------------------------------


class _Autoscaling:
    def __init__(self, blue, green) -> None:
        self.groups = {g.name: g for g in (blue, green)}
        self.attached: list[tuple[str, str]] = []

    def describe_group(self, name: str):
        return self.groups.get(name)

    def attach_target_group(self, name: str, arn: str) -> None:
        self.attached.append((name, arn))


def _bootstrap_app(clock, blue, green, tmp_path: Path) -> Any:
    outputs = StackOutputs(
        service="web", asg_names={Color.BLUE: "web-blue", Color.GREEN: "web-green"},
        launch_template_ids={Color.BLUE: "lt-blue", Color.GREEN: "lt-green"},
        traffic_kind=TrafficKind.ALB, target_group_arn=TG_ARN, elb_name=None,
        lb_dns_name="web.example", live_color=Color.BLUE,
    )
    tfvars = TfVars(Color.BLUE, {Color.BLUE: ColorVars(AMI_NEW, 2, "r1"), Color.GREEN: ColorVars(AMI_OLD, 0, "")})
    reporter = _reporter(clock)
    settings = Settings().replace("terraform", dir=tmp_path)
    settings.terraform.tfvars_path.write_text(tfvars_module.render(tfvars), encoding="utf-8")
    autoscaling = _Autoscaling(blue, green)
    return SimpleNamespace(
        settings=settings,
        reporter=reporter,
        stack=SimpleNamespace(read_vars=lambda: (tfvars, {}), outputs=lambda: outputs),
        autoscaling=autoscaling,
        traffic=SimpleNamespace(describe_traffic=lambda: TrafficState(TrafficKind.ALB, TG_ARN)),
        waiter=lambda on_tick=None: Waiter(clock=clock, reporter=reporter, poll_seconds=10, jitter=0),
    )


def test_bootstrap_on_the_wrong_image_is_a_state_mismatch_with_nothing_attached(clock, tmp_path) -> None:
    # Blue runs AMI_OLD while the tfvars say AMI_NEW: before this fix a plain Exception, exit 1.
    app = _bootstrap_app(clock, make_group(Color.BLUE, 2, ami=AMI_OLD), make_group(Color.GREEN, 0), tmp_path)
    with pytest.raises(WaitFailed) as info:
        commands.bootstrap(app)
    assert info.value.exit_code is ExitCode.STATE_MISMATCH
    assert "run another image" in str(info.value) and "nothing was attached" in str(info.value)
    assert app.autoscaling.attached == []


def test_bootstrap_timeout_after_attach_says_what_stays(clock, tmp_path) -> None:
    # Instances are ready, the load balancer never reports them healthy.
    app = _bootstrap_app(clock, make_group(Color.BLUE, 2, ami=AMI_NEW), make_group(Color.GREEN, 0), tmp_path)
    with pytest.raises(WaitTimeout) as info:
        commands.bootstrap(app)
    assert info.value.exit_code is ExitCode.STATE_MISMATCH  # was 10 "rolled back": nothing was
    assert "stays attached" in str(info.value)
    assert app.autoscaling.attached == [("web-blue", TG_ARN)]


# -- inside a release: still a rollback -----------------------------------------------------------


class _ListStore:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def append(self, run_id: str, step: str, status: str, data=None) -> Any:
        record = SimpleNamespace(step=step, status=status, data=dict(data or {}), time="", run_id=run_id)
        self.records.append(record)
        return record

    def read_run(self, run_id: str) -> list[Any]:
        return [r for r in self.records if r.run_id == run_id]

    def latest(self) -> str | None:
        return self.records[-1].run_id if self.records else None


@pytest.mark.parametrize("failing", ["wrong-image", "timeout"])
def test_a_wait_error_inside_a_release_is_rolled_back(clock, tmp_path, failing: str) -> None:
    green_ami = AMI_OLD if failing == "wrong-image" else AMI_NEW
    green = make_group(Color.GREEN, 1 if failing == "wrong-image" else 0, ami=green_ami)
    app = _bootstrap_app(clock, make_group(Color.BLUE, 2, attached=True), green, tmp_path)
    journal = Journal(_ListStore())
    deps = Deps(settings=app.settings, autoscaling=app.autoscaling, traffic=app.traffic, stack=app.stack,
                journal=journal, waiter=app.waiter(), reporter=app.reporter)
    plan = ReleasePlan(Mode.RELEASE, Color.BLUE, Color.GREEN, 2, AMI_NEW, (Step.WAIT_INSTANCES,))
    switch = Switch(deps, plan, app.stack.outputs(), run_id="r1", restore_text="{}", release_label="l")
    journal.begin("r1", "release", RunHeader(mode=plan.mode, live=plan.live, target=plan.target, size=plan.size,
                                             ami=plan.ami, steps=plan.steps, restore_text="{}",
                                             release_label="l"))
    with pytest.raises(RolledBackError) as info:
        execute(switch, plan.steps)
    assert info.value.exit_code is ExitCode.ROLLED_BACK
    assert isinstance(info.value.__cause__, WaitError)
    assert journal.last_run().outcome == "rolled-back"


# -- file-system errors nobody checked for: the machine's setup, not a bug ---------------------


def test_a_file_error_is_exit_3_naming_the_file(keep_sigterm, capsys) -> None:
    def body(_reporter: Reporter) -> None:
        raise PermissionError(13, "Permission denied", "/srv/stack/.bluegreen/journal.jsonl")

    with pytest.raises(typer.Exit) as info:
        cli.run_command(body)
    assert info.value.exit_code == ExitCode.CONFIG
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "/srv/stack/.bluegreen/journal.jsonl: Permission denied" in lines[0]
    assert "internal error" not in lines[0]


def test_an_os_error_without_a_file_is_still_internal(keep_sigterm, capsys) -> None:
    def body(_reporter: Reporter) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(typer.Exit) as info:
        cli.run_command(body)
    assert info.value.exit_code == ExitCode.INTERNAL
    assert "internal error: ConnectionRefusedError" in capsys.readouterr().err
