"""Reporter: human lines on a console, JSON lines for machines; WaitPrinter's change + heartbeat."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from bluegreen.report import Reporter, WaitPrinter


@pytest.fixture
def out():
    return io.StringIO()


@pytest.fixture
def human():
    return io.StringIO()


@pytest.fixture
def reporter(clock, out, human):
    return Reporter(
        "web", json_stream=out, console=Console(file=human, width=200, color_system=None), clock=clock.now
    )


def json_lines(out: io.StringIO) -> list[dict]:
    text = out.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_events_are_one_json_object_per_line(reporter, clock, out):
    reporter.info("Starting release web blue -> green", color="green", ami="ami-0fedcba9876543210")
    clock.advance(1.2345)
    reporter.step("attach-new", "attach the new color", color="green")
    clock.advance(2)
    reporter.warn("slow")
    reporter.error("broken")
    reporter.ok("Completed")
    reporter.event("plan", changes=3, skipped=None)
    events = json_lines(out)
    assert [e["event"] for e in events] == ["info", "step", "warning", "error", "ok", "plan"]
    assert all(e["service"] == "web" for e in events)
    assert events[0] == {
        "event": "info",
        "service": "web",
        "elapsed": 0.0,
        "message": "Starting release web blue -> green",
        "color": "green",
        "ami": "ami-0fedcba9876543210",
    }
    assert events[1]["elapsed"] == pytest.approx(1.2345, abs=1e-3)
    assert events[1]["step"] == "attach-new" and events[1]["reason"] == "attach the new color"
    assert events[2]["elapsed"] == pytest.approx(3.2345, abs=1e-3)
    assert "color" not in events[2]  # None fields are left out
    assert "skipped" not in events[5] and events[5]["changes"] == 3
    assert reporter.events == events


def test_non_json_values_are_stringified(reporter, out):
    from pathlib import Path

    reporter.event("written", path=Path("/stack/bluegreen.auto.tfvars.json"))
    assert json_lines(out)[0]["path"] == "/stack/bluegreen.auto.tfvars.json"


def test_human_lines_carry_service_color_and_elapsed(reporter, clock, human):
    clock.advance(12.5)
    reporter.info("attached", color="green")
    reporter.warn("no color")
    lines = human.getvalue().splitlines()
    assert lines == ["[   12.5s] web green: attached", "[   12.5s] web: no color"]


def test_no_json_stream_still_keeps_events(clock, human):
    reporter = Reporter("web", console=Console(file=human), clock=clock.now)
    reporter.info("hi")
    assert reporter.events[0]["message"] == "hi"


def test_quiet_silences_humans_not_machines(clock, out, human):
    reporter = Reporter("web", json_stream=out, console=Console(file=human), clock=clock.now, quiet=True)
    reporter.info("hi")
    assert human.getvalue() == ""
    assert json_lines(out)[0]["message"] == "hi"


def test_markup_is_not_interpreted(reporter, human):
    reporter.info("tag [bold]x[/bold] stays")
    assert "[bold]x[/bold]" in human.getvalue()


def test_wait_printer_prints_on_change_and_heartbeat_only(reporter, clock, out):
    printer = WaitPrinter(reporter, "targets healthy", color="green", heartbeat=30)
    for _ in range(3):  # t = 0, 10, 20: first state, then unchanged
        printer.update("0/2 healthy")
        clock.advance(10)
    printer.update("0/2 healthy")  # t = 30: heartbeat
    clock.advance(10)
    printer.update("1/2 healthy")  # t = 40: change
    clock.advance(10)
    printer.update("1/2 healthy")  # t = 50: nothing
    clock.advance(19)
    printer.update("1/2 healthy")  # t = 69: 29s since last print: nothing
    clock.advance(1)
    printer.update("1/2 healthy")  # t = 70: heartbeat
    clock.advance(1)
    printer.update("2/2 healthy")  # t = 71: change
    messages = [e["message"] for e in json_lines(out)]
    assert messages == [
        "targets healthy: 0/2 healthy (waited 0s)",
        "targets healthy: 0/2 healthy (waited 30s)",
        "targets healthy: 1/2 healthy (waited 40s)",
        "targets healthy: 1/2 healthy (waited 70s)",
        "targets healthy: 2/2 healthy (waited 71s)",
    ]


def test_wait_printer_human_lines_match_the_events(reporter, clock, human):
    printer = WaitPrinter(reporter, "drain", color="blue")
    for _ in range(5):
        printer.update("2/2 target(s) still registered (2 draining)")
        clock.advance(5)
    assert len(human.getvalue().splitlines()) == 1
    assert "web blue: drain: 2/2 target(s) still registered (2 draining) (waited 0s)" in human.getvalue()
