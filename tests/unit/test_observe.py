"""The seams the lab and the benchmarks use instead of patching product objects
(bluegreen.observe): listener lists, the reporter's event subscription, the App's clock, jitter
and listeners. The runner's events: test_terraform_stop.py; the AWS clients':
tests/integration/test_aws_session.py."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from bluegreen.app import App
from bluegreen.config import Settings
from bluegreen.observe import Listeners
from bluegreen.report import Reporter
from bluegreen.waits import Waiter


def reporter() -> Reporter:
    return Reporter("web", json_stream=io.StringIO(), console=Console(file=io.StringIO()))


def test_listeners_emit_in_order_and_remove_only_their_own():
    events: Listeners[int] = Listeners()
    a, b = [], []
    remove_a = events.add(a.append)
    events.add(b.append)
    events.emit(1)
    remove_a()
    remove_a()  # twice is harmless
    events.emit(2)
    assert (a, b, len(events)) == ([1], [1, 2], 1)


def test_a_listener_removing_itself_during_emit_does_not_skip_the_others():
    events: Listeners[str] = Listeners()
    seen: list[str] = []
    removers: list = []

    def once(event: str) -> None:
        seen.append(f"once:{event}")
        removers[0]()

    removers.append(events.add(once))
    events.add(lambda e: seen.append(f"always:{e}"))
    events.emit("x")
    events.emit("y")
    assert seen == ["once:x", "always:x", "always:y"]


def test_what_a_listener_raises_reaches_the_caller():
    events: Listeners[int] = Listeners()

    def broken(_: int) -> None:
        raise ValueError("listener bug")

    events.add(broken)
    with pytest.raises(ValueError, match="listener bug"):
        events.emit(1)


def test_listeners_added_from_threads_are_all_kept():
    events: Listeners[int] = Listeners()
    seen: list[int] = []
    lock = threading.Lock()

    def add(i: int) -> None:
        events.add(lambda e, i=i: (lock.acquire(), seen.append(i), lock.release()))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events.emit(0)
    assert sorted(seen) == list(range(50))


def test_reporter_subscribers_get_every_record_as_json_prints_it_until_unsubscribed():
    r = reporter()
    seen: list[dict] = []
    unsubscribe = r.subscribe(seen.append)
    r.step("attach-new", "attach the new color", color="green")
    r.info("hello")
    unsubscribe()
    r.step("detach-old", "detach the old color")
    assert [(e["event"], e.get("step"), e.get("message")) for e in seen] == [
        ("step", "attach-new", None), ("info", None, "hello")]
    assert seen[0]["color"] == "green" and seen[0]["service"] == "web" and "elapsed" in seen[0]
    assert seen == r.events[:2]  # the same records the final summary and --json get
    lines = r.json_stream.getvalue().splitlines()  # type: ignore[union-attr]
    assert len(lines) == 3  # unsubscribing stops the listener, not the reporter


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings().replace("terraform", dir=tmp_path, binary="embedded")


def test_app_waits_take_the_injected_clock_and_jitter(settings):
    class Clock:
        def now(self) -> float:
            return 0.0

        def sleep(self, seconds: float) -> None:
            pass

    clock = Clock()
    app = App(settings, reporter(), clock=clock, poll_jitter=0.0)
    waiter = app.waiter()
    assert waiter.clock is clock and waiter.jitter == 0.0
    assert waiter._interval() == settings.timeouts.poll_seconds  # no jitter: exactly the poll
    # Not given: AWS's advice, jittered polls (the Waiter's default).
    assert App(settings, reporter()).waiter().jitter == Waiter.jitter > 0


def test_app_listeners_are_its_own_unless_shared(settings):
    first = App(settings, reporter())
    assert isinstance(first.terraform_events, Listeners) and isinstance(first.aws_events, Listeners)
    assert App(settings, reporter()).terraform_events is not first.terraform_events
    shared_tf, shared_aws = Listeners(), Listeners()
    a = App(settings, reporter(), terraform_events=shared_tf, aws_events=shared_aws)
    b = App(settings, reporter(), terraform_events=shared_tf, aws_events=shared_aws)
    assert a.terraform_events is b.terraform_events is shared_tf
    assert a.aws_events is b.aws_events is shared_aws
