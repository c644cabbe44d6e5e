"""Stopping Terraform for real: a fake ``terraform`` (a small Python script) that prints ``-json``
UI lines, starts a child "provider" that ignores SIGINT (as go-plugin servers do) and reacts to
SIGINT in one of three ways. Run through both backends: the external binary (python-terraform)
and the embedded path's worker process. Asserts the exit path, the bounded time, and that no
process of Terraform's group survives (by pid, in /proc).

Small real timeouts (a grace of 1 s); the same logic on virtual time is in
tests/unit/test_terraform_stop.py."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from bluegreen.errors import ExitCode, TerraformError
from bluegreen.stop import Interrupted, StopToken
from bluegreen.terraform.runner import EmbeddedBackend, ExternalBackend, TerraformRunner

ASG = "module.green.aws_autoscaling_group.this"

FAKE = '''#!{python}
import json, os, signal, subprocess, sys, time

args = sys.argv[1:]
if args and args[0] == "version":
    print(json.dumps({{"terraform_version": "1.15.5"}}))
    sys.exit(0)
mode = os.environ["FAKE_TF_ON_SIGINT"]  # exit | orphan | ignore


def ui(kind, **hook):
    print(json.dumps({{"type": kind, "hook": dict(resource={{"addr": "{asg}"}}, action="create", **hook)}}), flush=True)


provider = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"])
stopping = []


def on_sigint(signum, frame):
    print("Interrupt received.", flush=True)
    if mode != "ignore":
        stopping.append(1)


signal.signal(signal.SIGINT, on_sigint)
with open(os.environ["FAKE_TF_PIDS"] + ".tmp", "w") as f:
    f.write(f"{{os.getpid()}} {{provider.pid}}")
os.rename(os.environ["FAKE_TF_PIDS"] + ".tmp", os.environ["FAKE_TF_PIDS"])
started = time.monotonic()
ui("apply_start")
while True:
    time.sleep(0.2)
    if stopping:
        if mode == "exit":  # a clean stop: the provider is told to stop, then Terraform exits
            provider.terminate()
            provider.wait()
        ui("apply_errored", elapsed_seconds=int(time.monotonic() - started))
        print(json.dumps({{"type": "diagnostic", "diagnostic": {{"severity": "error", "summary": "execution halted"}}}}), flush=True)
        sys.exit(1)  # "orphan": exits and leaves its provider running
    ui("apply_progress", elapsed_seconds=int(time.monotonic() - started))
'''


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], seconds: float = 3.0) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.fixture
def fake(tmp_path: Path):
    script = tmp_path / "bin" / "terraform"
    script.parent.mkdir()
    script.write_text(FAKE.format(python=sys.executable, asg=ASG))
    script.chmod(0o755)
    return script


@pytest.fixture
def pids():
    """The fake's pids, once it wrote them; anything still alive at teardown (a failed test) is
    killed so no test leaves a process behind."""
    found: list[int] = []
    yield found
    for pid in found:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def make_runner(tmp_path: Path, fake: Path, backend: str, mode: str, **kwargs) -> tuple[TerraformRunner, list[str], Path]:
    said: list[str] = []
    pids = tmp_path / f"pids-{time.monotonic_ns()}"
    chosen = ExternalBackend(str(fake)) if backend == "external" else EmbeddedBackend(worker=[sys.executable, str(fake)])
    tf = TerraformRunner(tmp_path, env={"FAKE_TF_ON_SIGINT": mode, "FAKE_TF_PIDS": str(pids)},
                         heartbeat=said.append, backend=chosen, **kwargs)
    return tf, said, pids


def read_pids(path: Path, seconds: float = 10.0) -> list[int]:
    end = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < end, "the fake terraform never started"
        time.sleep(0.02)
    return [int(p) for p in path.read_text().split()]


def later(action, pids_file: Path, pids: list[int], delay: float = 0.3) -> threading.Thread:
    def run():
        pids.extend(read_pids(pids_file))
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


BACKENDS = ["external", "embedded-worker"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clean_stop_forwards_sigint_and_returns_before_the_grace(tmp_path, fake, backend, pids):
    token = StopToken()
    tf, said, pids_file = make_runner(tmp_path, fake, backend, "exit", stop=token, stop_grace=30)
    requested = []
    later(lambda: (requested.append(time.monotonic()), token.request(Interrupted("interrupted by SIGTERM"))),
          pids_file, pids)
    with pytest.raises(Interrupted):
        tf.run(["apply", "-json", "x.tfplan"])
    assert time.monotonic() - requested[0] < 15  # far below the 30 s grace: it stopped by itself
    assert len(pids) == 2 and wait_gone(pids) == []
    assert not any("killed" in line for line in said)
    assert said[-1] == "terraform apply ended (exit 1) after the stop request"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_terraform_ignoring_sigint_is_killed_with_its_provider_after_the_grace(tmp_path, fake, backend, pids):
    token = StopToken()
    tf, said, pids_file = make_runner(tmp_path, fake, backend, "ignore", stop=token, stop_grace=1.0)
    requested = []
    later(lambda: (requested.append(time.monotonic()), token.request(Interrupted("interrupted by SIGTERM"))),
          pids_file, pids)
    with pytest.raises(Interrupted):
        tf.run(["apply", "-json", "x.tfplan"])
    took = time.monotonic() - requested[0]
    assert 1.0 <= took < 10.0  # the grace, then the kill (the bound is loose for busy CI machines)
    assert wait_gone(pids) == []  # Terraform and the provider that ignored SIGINT
    assert "did not stop within 1s: killed it and its provider processes" in " ".join(said)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_provider_orphaned_by_its_terraform_is_swept(tmp_path, fake, backend, pids):
    token = StopToken()
    tf, _, pids_file = make_runner(tmp_path, fake, backend, "orphan", stop=token, stop_grace=30)
    later(lambda: token.request(Interrupted("interrupted by SIGINT")), pids_file, pids)
    with pytest.raises(Interrupted):
        tf.run(["apply", "-json", "x.tfplan"])
    assert len(pids) == 2 and wait_gone(pids) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_signals_first_requests_second_kills_at_once(tmp_path, fake, backend, pids):
    """Through the token's own handler, as cli.run_command installs it."""
    token = StopToken()
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    token.install()
    try:
        tf, said, pids_file = make_runner(tmp_path, fake, backend, "ignore", stop=token, stop_grace=30)
        sent = []

        def two_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        later(two_signals, pids_file, pids)
        with pytest.raises(Interrupted):
            tf.run(["apply", "-json", "x.tfplan"])
        assert time.monotonic() - sent[0] < 15  # not the 30 s grace
        assert token.signals == 2
        assert any("stop requested; sent it SIGINT" in line for line in said)  # the first one
        assert wait_gone(pids) == []
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_apply_limit_stops_kills_and_names_what_was_in_progress(tmp_path, fake, backend, pids):
    tf, _, pids_file = make_runner(tmp_path, fake, backend, "ignore", apply_timeout=1.5, stop_grace=0.5)
    later(lambda: None, pids_file, pids, delay=0)
    started = time.monotonic()
    with pytest.raises(TerraformError) as info:
        tf.run(["apply", "-json", "x.tfplan"])
    assert time.monotonic() - started < 30  # the 1.5 s limit and 0.5 s grace, not the fake's 600 s apply
    message = str(info.value)
    assert "ran past [timeouts] terraform_apply_seconds = 2s" in message  # 1.5 rounds to 2
    assert f"still in progress: {ASG} (creating, 1s)" in message
    assert info.value.exit_code is ExitCode.TERRAFORM
    assert wait_gone(pids) == []
