"""The runner's stop, time-limit and progress logic on virtual time: a scripted fake Terraform
(no process, no sleeping). The same paths against real processes: tests/integration/
test_terraform_interrupt.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bluegreen.errors import ExitCode, TerraformError
from bluegreen.observe import TerraformEvent
from bluegreen.stop import Interrupted, LeaseLost, StopToken
from bluegreen.terraform.runner import (
    Progress,
    TerraformRunner,
    first_error_line,
    progress_message,
    ui_events,
)

ASG = "module.green.aws_autoscaling_group.this"
LT = "module.green.aws_launch_template.this"


def ui(kind: str, address: str, action: str = "create", elapsed: float | None = None) -> str:
    hook: dict = {"resource": {"addr": address}, "action": action}
    if elapsed is not None:
        hook["elapsed_seconds"] = elapsed
    return json.dumps({"@level": "info", "type": kind, "hook": hook}) + "\n"


class Clock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


class FakeTerraform:
    """A Terraform on virtual time. ``wait`` advances the clock; ``script`` maps elapsed seconds
    to stdout text that appears then; ``on_sigint`` is "exit" (stops ``stop_after`` seconds
    after SIGINT) or "ignore"; ``finish_at`` ends it on its own."""

    def __init__(self, clock: Clock, *, script=None, on_sigint="exit", stop_after=3.0,
                 finish_at=None, code=0, hooks=None) -> None:
        self.clock = clock
        self.start = clock.t
        self.script = dict(script or {})
        self.on_sigint = on_sigint
        self.stop_after = stop_after
        self.finish_at = finish_at
        self.code = code
        self.hooks = hooks or {}  # elapsed -> callable run once when that time passes
        self.calls: list[tuple[str, float]] = []
        self.sigint_at: float | None = None
        self.done_at: float | None = None
        self.out = ""

    def elapsed(self) -> float:
        return self.clock.t - self.start

    def _advance(self, seconds: float) -> None:
        self.clock.t += seconds
        now = self.elapsed()
        for at in sorted(list(self.hooks)):
            if at <= now:
                self.hooks.pop(at)()
        if self.done_at is None:
            if self.finish_at is not None and now >= self.finish_at:
                self.done_at = now
            if self.sigint_at is not None and self.on_sigint == "exit" and now >= self.sigint_at + self.stop_after:
                self.done_at = now
                self.code = 1

    def wait(self, timeout: float) -> bool:
        self._advance(timeout)
        return self.done_at is not None

    def new_output(self) -> str:
        now = self.elapsed()
        text = "".join(self.script.pop(at) for at in sorted(list(self.script)) if at <= now)
        self.out += text
        return text

    def interrupt(self) -> None:
        self.calls.append(("interrupt", self.elapsed()))
        self.sigint_at = self.elapsed()

    def kill(self) -> None:
        self.calls.append(("kill", self.elapsed()))
        if self.done_at is None:
            self.done_at = self.elapsed()
            self.code = -9

    def result(self):
        self.calls.append(("result", self.elapsed()))
        return self.code, self.out, ""


def runner_with(tmp_path: Path, fake: FakeTerraform, clock: Clock, **kwargs) -> tuple[TerraformRunner, list[str]]:
    said: list[str] = []
    started: list[list[str]] = []

    class Backend:
        label = "fake"

        def start(self, argv, cwd, env):
            started.append(list(argv))
            return fake

    tf = TerraformRunner(tmp_path, heartbeat=said.append, clock=clock, backend=Backend(), **kwargs)
    tf.started = started  # type: ignore[attr-defined]
    return tf, said


def stop_at(token: StopToken, reason=None):
    return lambda: token.request(reason or Interrupted("interrupted by SIGTERM", hint="resume or abort"))


def test_a_stop_mid_apply_forwards_one_sigint_and_raises_the_reason(tmp_path):
    clock, token = Clock(), StopToken()
    fake = FakeTerraform(clock, hooks={10: stop_at(token)}, stop_after=4)
    tf, said = runner_with(tmp_path, fake, clock, stop=token, stop_grace=60)
    with pytest.raises(Interrupted) as info:
        tf.run(["apply", "x.tfplan"])
    assert info.value is token.reason and info.value.exit_code is ExitCode.INTERRUPTED
    kinds = [c[0] for c in fake.calls]
    assert kinds == ["interrupt", "result"]  # one SIGINT, never killed
    assert 10 <= fake.calls[0][1] <= 10.5  # noticed within one poll
    assert any("stop requested; sent it SIGINT, waiting up to 60s" in line for line in said)
    assert said[-1] == "terraform apply ended (exit 1) after the stop request"


def test_a_terraform_that_ignores_sigint_is_killed_after_the_grace(tmp_path):
    clock, token = Clock(), StopToken()
    fake = FakeTerraform(clock, hooks={5: stop_at(token, LeaseLost("release lease lost"))}, on_sigint="ignore")
    tf, said = runner_with(tmp_path, fake, clock, stop=token, stop_grace=20)
    with pytest.raises(LeaseLost):
        tf.run(["apply", "x.tfplan"])
    (_, sent), (kill, killed_at), _ = fake.calls
    assert kill == "kill"
    assert 20 <= killed_at - sent <= 20.5  # the bounded grace, on virtual time
    assert "did not stop within 20s: killed it and its provider processes" in " ".join(said)


def test_a_second_signal_kills_at_once(tmp_path):
    clock, token = Clock(), StopToken()

    def second():
        token.signals = 2

    fake = FakeTerraform(clock, hooks={5: stop_at(token), 8: second}, on_sigint="ignore")
    tf, _ = runner_with(tmp_path, fake, clock, stop=token, stop_grace=60)
    with pytest.raises(Interrupted):
        tf.run(["apply", "x.tfplan"])
    assert [c[0] for c in fake.calls] == ["interrupt", "kill", "result"]
    assert fake.calls[1][1] - fake.calls[0][1] < 4  # not the 60 s grace


def test_a_signal_raised_inside_the_wait_kills_and_reaps(tmp_path):
    """The token's handler raises on a second signal wherever the main thread is: in the wait."""
    clock = Clock()
    fake = FakeTerraform(clock, on_sigint="ignore")

    def raising_wait(timeout):
        raise Interrupted("interrupted by SIGINT")

    fake.wait = raising_wait  # type: ignore[method-assign]
    tf, _ = runner_with(tmp_path, fake, clock)
    with pytest.raises(Interrupted):
        tf.run(["plan"])
    assert [c[0] for c in fake.calls] == ["kill", "result"]


def test_a_stop_requested_before_the_command_does_not_start_terraform(tmp_path):
    clock, token = Clock(), StopToken()
    token.request(Interrupted("interrupted by SIGINT"))
    fake = FakeTerraform(clock, finish_at=1)
    tf, _ = runner_with(tmp_path, fake, clock, stop=token)
    seen: list[TerraformEvent] = []
    tf.events.add(seen.append)
    with pytest.raises(Interrupted):
        tf.run(["apply", "x.tfplan"])
    assert tf.started == [] and fake.calls == []  # type: ignore[attr-defined]
    assert seen == []  # Terraform never started: no start event, no end event


def test_a_stop_as_terraform_succeeds_returns_the_result(tmp_path):
    """The apply finished: report it done, the run stops at its next safe point."""
    clock, token = Clock(), StopToken()
    fake = FakeTerraform(clock, finish_at=3, hooks={3: stop_at(token)})
    tf, _ = runner_with(tmp_path, fake, clock, stop=token)
    assert tf.run(["apply", "x.tfplan"]).returncode == 0
    assert token.stopped and [c[0] for c in fake.calls] == ["result"]


def test_a_first_keyboard_interrupt_without_a_token_handler_stops_gracefully(tmp_path):
    clock = Clock()
    fake = FakeTerraform(clock, stop_after=2)
    original = fake.wait
    raised = []

    def wait(timeout):
        if not raised:
            raised.append(1)
            raise KeyboardInterrupt
        return original(timeout)

    fake.wait = wait  # type: ignore[method-assign]
    tf, _ = runner_with(tmp_path, fake, clock)
    with pytest.raises(Interrupted, match="interrupted by SIGINT"):
        tf.run(["apply", "x.tfplan"])
    assert [c[0] for c in fake.calls] == ["interrupt", "result"]


def test_the_apply_limit_ends_with_exit_5_naming_what_was_in_progress(tmp_path):
    clock = Clock()
    script = {0: ui("apply_start", LT, "update"), 1: ui("apply_complete", LT, "update") + ui("apply_start", ASG),
              50: ui("apply_progress", ASG, elapsed=50)}
    fake = FakeTerraform(clock, script=script, stop_after=5)
    tf, _ = runner_with(tmp_path, fake, clock, apply_timeout=100, stop_grace=30)
    with pytest.raises(TerraformError) as info:
        tf.run(["apply", "x.tfplan"])
    message = str(info.value)
    assert message.startswith(f"terraform apply ran past [timeouts] terraform_apply_seconds = 100s in {tmp_path.resolve()}")
    assert "was stopped (exit 1)" in message
    assert f"still in progress: {ASG} (creating, 99s)" in message or f"still in progress: {ASG} (creating, 100s)" in message
    assert LT not in message
    assert "(raise [timeouts] terraform_apply_seconds if it needs longer)" in message
    assert "\n" not in message and info.value.exit_code is ExitCode.TERRAFORM
    assert [c[0] for c in fake.calls] == ["interrupt", "result"]


def test_the_apply_limit_does_not_bound_other_commands(tmp_path):
    clock = Clock()
    fake = FakeTerraform(clock, finish_at=500)
    tf, _ = runner_with(tmp_path, fake, clock, apply_timeout=100)
    assert tf.run(["plan"]).returncode == 0
    assert fake.calls == [("result", pytest.approx(500, abs=0.5))]


def test_the_apply_limit_kills_after_the_grace_when_sigint_is_ignored(tmp_path):
    clock = Clock()
    fake = FakeTerraform(clock, on_sigint="ignore")
    tf, _ = runner_with(tmp_path, fake, clock, apply_timeout=10, stop_grace=5)
    with pytest.raises(TerraformError, match=r"was killed after it did not stop within the interrupt grace \(exit -9\); no resource was in progress"):
        tf.run(["apply", "x.tfplan"])


def test_heartbeat_names_the_resources_in_progress_every_interval(tmp_path):
    clock = Clock()
    script = {0: ui("apply_start", LT, "update"), 2: ui("apply_complete", LT, "update"),
              3: ui("apply_start", ASG), 13: ui("apply_progress", ASG, elapsed=10)}
    fake = FakeTerraform(clock, script=script, finish_at=40)
    tf, said = runner_with(tmp_path, fake, clock, heartbeat_interval=15)
    tf.run(["apply", "x.tfplan"])
    assert said == [f"apply: {ASG} still creating (12s)", f"apply: {ASG} still creating (27s)"]


# --- pure pieces ------------------------------------------------------------------------------------


def test_progress_message_is_a_pure_function():
    assert progress_message("apply", 45, []) == "terraform apply still running (45s)"
    assert progress_message("apply", 45, [(ASG, "creating", 45.4)]) == f"apply: {ASG} still creating (45s)"
    rows = [(f"aws_instance.i{k}", "destroying", 10.0 - k) for k in range(5)]
    assert progress_message("apply", 60, rows) == (
        "apply: aws_instance.i0 still destroying (10s), aws_instance.i1 still destroying (9s), "
        "aws_instance.i2 still destroying (8s), and 2 more"
    )


def test_progress_tracks_starts_progress_and_ends():
    p = Progress()
    p.feed("not json\n{broken\n" + ui("apply_start", LT, "update") + ui("apply_start", ASG), now=5)
    p.feed(ui("apply_complete", LT, "update"), now=7)
    assert p.in_progress(20) == [(ASG, "creating", 15)]
    # A start we saw late: Terraform's own elapsed_seconds corrects it.
    p.feed(ui("apply_progress", "module.green.aws_lb.x", "delete", elapsed=30), now=20)
    assert p.in_progress(20)[0] == ("module.green.aws_lb.x", "destroying", 30)
    p.feed(ui("apply_errored", ASG) + ui("apply_complete", "module.green.aws_lb.x", "delete"), now=21)
    assert p.in_progress(25) == []
    p.feed(ui("refresh_start", "data.aws_ami.x", "read"), now=30)
    assert p.in_progress(31) == [("data.aws_ami.x", "refreshing", 1)]


def test_ui_events_skips_what_is_not_a_json_object():
    assert list(ui_events('[1]\n\n{"a": 1}\nplain\n{"b"\n')) == [{"a": 1}]


# Captured from `terraform plan -json` (Terraform 1.15.5) with a bad value in terraform.tfvars.
TFVARS_DIAGNOSTIC = (
    '{"@level":"error","@message":"Error: Invalid value for input variable","@module":"terraform.ui",'
    '"diagnostic":{"severity":"error","summary":"Invalid value for input variable","detail":'
    '"The given value is not suitable for var.size declared at variables.tf:3,1-16: a number is required.",'
    '"range":{"filename":"terraform.tfvars","start":{"line":1,"column":8,"byte":7},'
    '"end":{"line":1,"column":13,"byte":12}},"snippet":{"context":null,"code":"size = \\"big\\"",'
    '"start_line":1,"highlight_start_offset":7,"highlight_end_offset":12,"values":[]}},"type":"diagnostic"}'
)


def test_json_diagnostics_keep_file_and_line():
    stdout = json.dumps({"type": "version"}) + "\n" + TFVARS_DIAGNOSTIC + "\n"
    assert first_error_line(stdout, "") == (
        "Invalid value for input variable: The given value is not suitable for var.size declared at "
        "variables.tf:3,1-16: a number is required. (on terraform.tfvars line 1)"
    )
    with_address = json.dumps({"type": "diagnostic", "diagnostic": {
        "severity": "error", "summary": "creating Auto Scaling Group", "detail": "ValidationError: x",
        "address": ASG, "range": {"filename": "modules/color/main.tf", "start": {"line": 40}}}})
    assert first_error_line(with_address, "") == (
        f"creating Auto Scaling Group: ValidationError: x (on modules/color/main.tf line 40, with {ASG})"
    )
    no_range = json.dumps({"type": "diagnostic", "diagnostic": {"severity": "error", "summary": "Boom"}})
    assert first_error_line(no_range, "") == "Boom"


# Captured stderr of `terraform plan -var-file=...` (human output), boxed and with -no-color.
BOXED = """
╷
│ Error: Invalid value for input variable
│
│   on terraform.tfvars line 1:
│    1: size = "big"
│     ├────────────────
│     │ var.size is "big"
│
│ The given value is not suitable for var.size: a number is required.
╵
"""

PLAIN = """
Error: Unsupported argument

  on main.tf line 12, in resource "aws_autoscaling_group" "this":
  12:   desired = 2

An argument named "desired" is not expected here.

Error: second one
"""


def test_human_diagnostics_keep_file_and_line():
    assert first_error_line("", BOXED) == (
        "Invalid value for input variable: The given value is not suitable for var.size: a number "
        "is required. (on terraform.tfvars line 1)"
    )
    assert first_error_line("", PLAIN) == (
        'Unsupported argument: An argument named "desired" is not expected here. (on main.tf line 12)'
    )


# -- the events seam (bluegreen.observe): what the lab and the benchmarks time Terraform with ------


def test_events_report_start_and_end_with_duration_and_exit_code(tmp_path):
    clock = Clock()
    fake = FakeTerraform(clock, finish_at=7, code=2)
    tf, _ = runner_with(tmp_path, fake, clock)
    seen: list[TerraformEvent] = []
    tf.events.add(seen.append)
    assert tf.run(["plan", "-out", "x.tfplan"], ok=(0, 2)).returncode == 2
    start, end = seen
    assert (start.phase, start.argv, start.subcommand, start.seconds) == ("start", ("plan", "-out", "x.tfplan"), "plan", None)
    assert (end.phase, end.returncode, end.error) == ("end", 2, None)
    assert 7 <= end.seconds <= 7.5  # on the runner's (virtual) clock
    assert start.stack_dir == end.stack_dir == tmp_path.resolve()


def test_the_end_event_of_a_failed_command_carries_its_exit_code_and_error(tmp_path):
    clock = Clock()
    fake = FakeTerraform(clock, finish_at=1, code=1)
    tf, _ = runner_with(tmp_path, fake, clock)
    seen: list[TerraformEvent] = []
    tf.events.add(seen.append)
    with pytest.raises(TerraformError):
        tf.run(["apply", "x.tfplan"])
    end = seen[-1]
    assert (end.phase, end.returncode) == ("end", 1)
    assert end.error is not None and end.error.startswith("TerraformError: terraform apply failed")


def test_the_end_event_of_a_stopped_command_names_the_stop(tmp_path):
    clock, token = Clock(), StopToken()
    fake = FakeTerraform(clock, hooks={10: stop_at(token)}, stop_after=4)
    tf, _ = runner_with(tmp_path, fake, clock, stop=token, stop_grace=60)
    seen: list[TerraformEvent] = []
    tf.events.add(seen.append)
    with pytest.raises(Interrupted):
        tf.run(["apply", "x.tfplan"])
    assert [e.phase for e in seen] == ["start", "end"]
    assert seen[1].returncode == 1 and seen[1].error == "Interrupted: interrupted by SIGTERM (resume or abort)"
