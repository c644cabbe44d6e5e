"""The runner against real Terraform (embedded, and the external binary when installed) on a
stack that needs no provider download: ``terraform_data`` is built into Terraform."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from bluegreen.errors import ExitCode, TerraformError
from bluegreen.terraform import runner as runner_mod
from bluegreen.terraform.runner import (
    EmbeddedBackend,
    ExternalBackend,
    TerraformRunner,
    first_error_line,
    select_backend,
)

EXTERNAL = shutil.which("terraform") or shutil.which("tofu")

STACK = """
terraform {
  required_version = ">= 1.3.0"
}

variable "label" {
  type = string
}

resource "terraform_data" "this" {
  input = var.label
}

output "label" {
  value = terraform_data.this.output
}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    (tmp_path / "main.tf").write_text(STACK)
    (tmp_path / "v1.tfvars.json").write_text(json.dumps({"label": "v1"}))
    (tmp_path / "v2.tfvars.json").write_text(json.dumps({"label": "v2"}))
    return tmp_path


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "empty.tfrc"
    config.write_text("disable_checkpoint = true\n")
    return {"TF_CLI_CONFIG_FILE": str(config)}


BINARIES = ["embedded"] + ([EXTERNAL] if EXTERNAL else [])


@pytest.mark.parametrize("binary", BINARIES)
def test_plan_apply_outputs_round_trip(stack: Path, cli_env, binary: str):
    beats: list[str] = []
    tf = TerraformRunner(stack, binary=binary, env=cli_env, heartbeat=beats.append)
    tf.ensure_ready()
    assert tf.plan(stack / "v1.tfvars.json", stack / "v1.tfplan") is True
    doc = tf.show_plan(stack / "v1.tfplan")
    assert [rc["address"] for rc in doc["resource_changes"]] == ["terraform_data.this"]
    tf.apply_plan(stack / "v1.tfplan")
    assert tf.raw_outputs()["label"]["value"] == "v1"
    # Exit code 0 of -detailed-exitcode: nothing to do.
    assert tf.plan(stack / "v1.tfvars.json", stack / "again.tfplan") is False
    assert tf.plan(stack / "v2.tfvars.json", stack / "v2.tfplan") is True


def test_embedded_version_and_env(stack: Path, cli_env):
    tf = TerraformRunner(stack, env=cli_env)
    assert isinstance(tf.backend, EmbeddedBackend)
    assert tf.check_version().startswith("1.")
    assert tf.env["TF_IN_AUTOMATION"] == "1"


def test_failure_quotes_the_first_terraform_error(stack: Path, cli_env):
    tf = TerraformRunner(stack, env=cli_env)
    tf.ensure_ready()
    (stack / "bad.tfvars.json").write_text(json.dumps({"nope": 1}))
    with pytest.raises(TerraformError) as info:
        tf.plan(stack / "bad.tfvars.json", stack / "bad.tfplan")
    message = str(info.value)
    assert "terraform plan failed" in message
    assert "No value for required variable" in message or "undeclared variable" in message.lower()
    assert "\n" not in message
    assert info.value.exit_code is ExitCode.TERRAFORM


def test_too_old_terraform_is_refused(stack: Path, cli_env):
    (stack / "main.tf").write_text(STACK.replace(">= 1.3.0", ">= 99.0"))
    tf = TerraformRunner(stack, env=cli_env)
    with pytest.raises(TerraformError, match=r"embedded Terraform .* is Terraform 1\.\d+\.\d+.*'>= 99.0'"):
        tf.ensure_ready()


def test_missing_binary_message():
    with pytest.raises(TerraformError) as info:
        select_backend("/nonexistent/terraform")
    assert str(info.value) == (
        "terraform binary '/nonexistent/terraform' not found; install it or set "
        '[terraform] binary = "embedded" in bluegreen.toml'
    )


def test_auto_prefers_a_binary_on_path(monkeypatch):
    monkeypatch.setattr(runner_mod.shutil, "which", lambda name: "/x/tofu" if name == "tofu" else None)
    backend = select_backend("auto")
    assert isinstance(backend, ExternalBackend) and backend.path == "/x/tofu"
    monkeypatch.setattr(runner_mod.shutil, "which", lambda name: None)
    assert isinstance(select_backend("auto"), EmbeddedBackend)


SLOW_STACK = """
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 30"
  }
}
"""


@pytest.mark.parametrize("binary", BINARIES)
def test_sigint_stops_terraform_gracefully_and_state_is_saved(tmp_path: Path, cli_env, binary: str):
    (tmp_path / "main.tf").write_text(SLOW_STACK)
    tf = TerraformRunner(tmp_path, binary=binary, env=cli_env)
    tf.ensure_ready()
    started = time.monotonic()
    running = tf.backend.start(["apply", "-input=false", "-auto-approve", "-no-color"], tmp_path, tf.env)
    time.sleep(2.0)
    running.interrupt()
    assert running.wait(timeout=20)
    code, stdout, _ = running.result()
    assert code != 0 and time.monotonic() - started < 20
    assert "Interrupt received" in stdout
    state = json.loads((tmp_path / "terraform.tfstate").read_text())
    assert [r["name"] for r in state["resources"]] == ["slow"]


def test_first_error_line_prefers_json_diagnostics():
    stdout = "\n".join(
        [
            json.dumps({"type": "version", "terraform": "1.15.5"}),
            json.dumps({"type": "diagnostic", "diagnostic": {"severity": "warning", "summary": "meh"}}),
            json.dumps(
                {"type": "diagnostic", "diagnostic": {"severity": "error", "summary": "Boom", "detail": "why\nmore"}}
            ),
        ]
    )
    assert first_error_line(stdout, "") == "Boom: why"
    assert first_error_line("", "\nError: Saved plan is stale\n\nThe given plan file can no longer be applied.\n") == (
        "Saved plan is stale: The given plan file can no longer be applied."
    )
    assert first_error_line("", "") == "no error message"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(pgrp) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def group_left(pgid: int, timeout_s: float = 5.0) -> list[int]:
    """What is still alive of group ``pgid`` once ``timeout_s`` has passed or it is empty: a
    SIGKILLed process is gone only when the kernel has finished it, a moment after the signal."""
    deadline = time.monotonic() + timeout_s
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.parametrize("binary", BINARIES)
def test_a_stop_request_mid_apply_stops_terraform_cleanly_through_run(tmp_path: Path, cli_env, binary: str):
    """Real Terraform: the token's stop is forwarded as SIGINT, Terraform saves its state, the
    token's reason is raised, nothing of the process group is left, and the state is not locked
    (a following plan works)."""
    import threading

    from bluegreen.stop import Interrupted, StopToken

    (tmp_path / "main.tf").write_text(SLOW_STACK)
    token = StopToken()
    said: list[str] = []
    started: list = []
    seen: list[list[int]] = []

    class Recording:
        """The real backend, keeping each started command (for its process group id)."""

        def __init__(self, inner) -> None:
            self.inner, self.label = inner, inner.label

        def start(self, *args):
            running = self.inner.start(*args)
            started.append(running)
            return running

    tf = TerraformRunner(tmp_path, env=cli_env, stop=token, stop_grace=20, heartbeat=said.append,
                         heartbeat_interval=0.5, backend=Recording(select_backend(binary)))
    tf.ensure_ready()
    started.clear()  # `version` and `init`: the apply is the command watched

    def stop_once_running():
        time.sleep(2.0)  # the local-exec provisioner (a `sleep 30` child) is running by now
        seen.append(group_members(started[0].pid))
        token.request(Interrupted("interrupted by SIGTERM"))

    threading.Thread(target=stop_once_running, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(Interrupted):
        tf.run(["apply", "-input=false", "-auto-approve", "-json"])
    assert time.monotonic() - t0 < 20  # stopped cleanly, well before the grace ran out
    assert len(seen[0]) >= 2  # Terraform and its provisioner's `sleep` shared the group...
    assert group_left(started[0].pid) == []  # ...and none of it is left
    assert not any("killed" in line for line in said)
    # The heartbeat read the -json UI stream of the real Terraform.
    assert any(line.startswith("apply: terraform_data.slow still creating (") for line in said), said
    state = json.loads((tmp_path / "terraform.tfstate").read_text())
    assert [r["name"] for r in state["resources"]] == ["slow"]  # saved as tainted on the way out
    after = TerraformRunner(tmp_path, binary=binary, env=cli_env)  # the next command, as a new run would
    after.run(["plan", "-input=false", "-lock-timeout=0s", "-json"], ok=(0, 2))  # not locked
