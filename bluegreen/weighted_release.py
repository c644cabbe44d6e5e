"""The executor of a weighted run: the attach mode's ``Switch`` with traffic moved by the listener's
weights instead of attach/Standby/detach. Same journal, same compensation (``release.execute``):
before the end of the bake every failure flips all traffic back to the old color in one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import AwsError
from .model import Color, TrafficState
from .plan import Step
from .ports import Listener, LoadBalancer
from .release import Switch
from .runstate import Event
from .strategy import WeightStep, parse_steps
from .weighted import HoldFailed, gate_failure, hold, target_weights, weights_match

HOOKS_BEFORE_WEIGHTED = {Step.SHIFT: "pre-traffic", Step.BAKE: "post-traffic"}


class WeightedSwitch(Switch):
    """``deps`` carries ``listener`` (ports.Listener), ``traffic_of`` (color -> LoadBalancer of its
    own target group), and optionally ``gates`` (a GateWatch) and ``gate_interval``."""

    listener: Listener
    traffic_of: Callable[[Color], LoadBalancer]

    def __init__(self, deps, plan, outputs, *, listener: Listener, traffic_of: Callable[[Color], LoadBalancer],
                 strategy: dict[str, Any], gates: Any = None, gate_interval: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(deps, plan, outputs, **kwargs)
        self.listener = listener
        self.traffic_of = traffic_of
        self.strategy = strategy
        self.gates = gates
        self.interval = gate_interval or deps.settings.timeouts.poll_seconds
        assert outputs.color_target_groups, "weighted outputs validated on load"
        self.target_groups = outputs.color_target_groups

    # -- observation -------------------------------------------------------------------------

    def traffic(self, color: Color | None = None) -> TrafficState:
        return self.traffic_of(color or self.plan.target).describe_traffic()

    def attached(self, color: Color) -> bool:
        """"Attached" in the weighted mode: the color takes part of the traffic."""
        return self.listener.weights().get(self.target_groups[color], 0) > 0

    def weight_steps(self) -> tuple[WeightStep, ...]:
        return parse_steps(self.strategy.get("steps") or "100", "traffic.steps")

    # -- hooks -------------------------------------------------------------------------------

    def _gates_before(self, step: Step) -> None:
        if self.gated and step in HOOKS_BEFORE_WEIGHTED:
            self.hook(HOOKS_BEFORE_WEIGHTED[step], before=step.value)

    # -- steps -------------------------------------------------------------------------------

    def set_share(self, percent: int, *, why: str) -> None:
        """Set the new color's share, in one listener call, and read it back (Argo's lesson: a
        weight that did not land must never be taken for one that did)."""
        wanted = target_weights(self.target_groups, self.plan.live, percent)
        if not weights_match(self.listener.weights(), wanted):
            self.listener.set_weights(wanted)
        actual = self.listener.weights()
        if not weights_match(actual, wanted):
            raise AwsError(f"the listener's weights read back {actual} after setting {wanted}",
                           code="WeightsNotApplied")
        # ``shares``: the same weights as fields of the event, for --json readers and timelines.
        self.d.reporter.info(f"weights {self.plan.live} {100 - percent} % / {self.plan.target} {percent} % "
                             f"({why}; read back)", color=self.plan.target.value,
                             shares={self.plan.live.value: 100 - percent, self.plan.target.value: percent})

    def do_shift(self) -> dict[str, Any]:
        steps = self.weight_steps()
        begin = self.data.shift_index if self.data.shift_index is not None else 0
        if self.data.shift_index is None and self.gates is not None and not self.gates.started:
            # Before any traffic moves: an alarm already firing blocks the release (gates decide).
            # A release opened its gates before its first AWS change (commands.open_gates); a
            # resumed one starts them here.
            verdict = self.gates.start(self.d.waiter.clock.now())
            if verdict is not None and verdict.tripped:
                raise gate_failure(verdict, "the start of the shift (no traffic moved)")
        for index in range(begin, len(steps)):
            step = steps[index]
            self.note(Step.SHIFT, shift_index=index, shift_percent=step.percent)
            self.set_share(step.percent, why=f"step {index + 1}/{len(steps)}")
            if self.gated:
                # The attach mode's post-step gate, after each weight step (before its pause).
                self.hook("post-step", after=f"{Step.SHIFT.value} {step.percent}%")
            if index == len(steps) - 1 and step.percent == 100 and not step.approval:
                break  # the last step's hold is the bake
            self._hold(step, index, f"step {index + 1} ({step.percent} %)")
        return {"shift_index": len(steps) - 1, "shift_percent": 100, "paused_at": None}

    def do_bake(self) -> None:
        seconds = float(self.strategy.get("bake_seconds") or 0)
        self.set_share(100, why="bake")  # a resume after a crash mid-shift lands here at 100 %
        if seconds > 0 or self.gates is not None:
            self.d.reporter.info(f"bake: {seconds:g}s with {self.plan.live} warm at weight 0",
                                 color=self.plan.target.value)
        self._hold(WeightStep(100, seconds), len(self.weight_steps()) - 1, "the bake", bake=True)

    def _hold(self, step: WeightStep, index: int, what: str, *, bake: bool = False) -> None:
        journal = self.d.journal

        def requests() -> list[dict[str, Any]]:
            run = journal.run(self.run_id)
            return list(run.requests) if run is not None else []

        def on_pause() -> None:
            self.note(Step.SHIFT, paused_at=index)
            journal.event(Event.PAUSED, at_step=index, percent=step.percent)
            self.d.reporter.info(f"paused at {step.percent} %: waiting for `bluegreen promote` (go on) or "
                                 "`bluegreen abort` (flip back)", color=self.plan.target.value)

        def tick() -> None:
            if self.d.waiter.on_tick is not None:
                self.d.waiter.on_tick()
            if self.d.stop is not None:
                self.d.stop.check()

        result = hold(
            what=what, step=step, seconds=step.pause_seconds, index=index, clock=self.d.waiter.clock,
            interval=self.interval, gates=_ReportedGates(self.gates, self.d.reporter, self.plan.target.value)
            if self.gates is not None else None, requests=requests,
            approval_timeout=float(self.strategy.get("approval_timeout_seconds") or 86400),
            on_timeout=str(self.strategy.get("on_timeout") or "abort"), tick=tick, on_pause=on_pause,
        )
        if step.approval:
            self.note(Step.SHIFT, paused_at=None)
            journal.event(Event.RESUMED, by=result.how)
        if result.how != "no-pause":
            self.d.reporter.info(f"{what}: held {result.seconds:.1f}s ({result.how})", color=self.plan.target.value)

    # -- undo: all traffic back to the old color in one call --------------------------------

    def undo_shift(self) -> None:
        self.set_share(0, why="flip back")

    def undo_bake(self) -> None:
        self.set_share(0, why="flip back")


class _ReportedGates:
    """The gates as ``hold`` reads them, each decision also a ``gate`` event (``--json``, the
    Reporter's subscribers), as the attach mode's verify and keep-old windows report theirs: the
    record of what the gates saw at each step, which a timeline draws. No console line: a pause
    read every second would bury the progress in "gates pass" lines."""

    def __init__(self, gates: Any, reporter: Any, color: str) -> None:
        self.gates, self.reporter, self.color = gates, reporter, color

    @property
    def started(self) -> bool:
        return self.gates.started

    def start(self, now: float) -> Any:
        return self.gates.start(now)

    def check(self, now: float) -> Any:
        verdict = self.gates.check(now)
        if verdict is not None:
            self.reporter.event("gate", gate=verdict.gate, tripped=verdict.tripped, reason=verdict.reason,
                                color=self.color)
        return verdict


__all__ = ["HoldFailed", "WeightedSwitch"]
