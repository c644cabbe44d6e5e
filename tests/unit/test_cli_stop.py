"""cli.run_command: the one place a RunStopped becomes its exit code and one-line message, and
the StopToken it installs for SIGINT/SIGTERM (real signals to this process, no sleeping)."""

from __future__ import annotations

import json
import os
import signal

import pytest
import typer

from bluegreen import cli
from bluegreen.errors import ExitCode
from bluegreen.stop import Interrupted, LeaseLost, StopToken


def events(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def run(body, **kwargs) -> int:
    with pytest.raises(typer.Exit) as info:
        cli.run_command(body, json_output=True, **kwargs)
    return info.value.exit_code


@pytest.mark.parametrize(
    "reason, code",
    [(LeaseLost("release lease taken over by run r-2 (ci-42)"), ExitCode.LOCKED),
     (Interrupted("interrupted by SIGTERM", hint="`bluegreen resume` continues"), ExitCode.INTERRUPTED)],
)
def test_run_stopped_maps_to_its_exit_code_and_one_line(capsys, reason, code):
    def body(reporter):
        raise reason

    assert run(body) == code
    out = events(capsys)
    errors = [e for e in out if e["event"] == "error"]
    assert [e["message"] for e in errors] == [str(reason)] and "\n" not in str(reason)
    assert out[-1]["event"] == "exit" and out[-1]["code"] == int(code)


def test_keyboard_interrupt_is_still_exit_13(capsys):
    def body(reporter):
        raise KeyboardInterrupt

    assert run(body) == ExitCode.INTERRUPTED


def test_a_signal_outside_a_run_stops_at_once(capsys):
    reached = []

    def body(reporter):
        os.kill(os.getpid(), signal.SIGTERM)
        reached.append("after")  # the handler raised first

    assert run(body) == ExitCode.INTERRUPTED
    assert reached == []
    assert "interrupted by SIGTERM" in events(capsys)[-2]["message"]


def test_inside_deferred_the_first_signal_only_requests_and_handlers_are_restored(capsys):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    token = StopToken()
    seen = []

    def body(reporter):
        with token.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            seen.append(token.stopped)  # still running: the stop is only requested
            token.check()  # the next safe point

    assert run(body, stop=token) == ExitCode.INTERRUPTED
    assert seen == [True] and token.signals == 1
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_second_signal_inside_deferred_raises_at_once(capsys):
    token = StopToken()
    reached = []

    def body(reporter):
        with token.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            reached.append(1)
            os.kill(os.getpid(), signal.SIGTERM)
            reached.append(2)

    assert run(body, stop=token) == ExitCode.INTERRUPTED
    assert reached == [1] and token.signals == 2


@pytest.mark.parametrize("mutates", [True, False])
def test_with_app_shares_one_token_and_defers_only_mutating_commands(monkeypatch, capsys, mutates):
    from pathlib import Path

    from bluegreen.config import Settings

    built = []

    class FakeApp:
        def __init__(self, settings, reporter, *, stop):
            self.stop = stop
            built.append(self)

    monkeypatch.setattr(cli, "_settings", lambda *a: Settings())
    monkeypatch.setattr(cli, "App", FakeApp)
    seen = []
    with pytest.raises(typer.Exit) as info:
        cli._with_app(Path("bluegreen.toml"), None, None, True, False,
                      lambda a: seen.append(a.stop.deferring), mutates=mutates)
    assert info.value.exit_code == 0
    assert seen == [mutates] and isinstance(built[0].stop, StopToken)
