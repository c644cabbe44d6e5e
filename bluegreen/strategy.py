"""Traffic strategies of the weighted mode, parsed purely: steps of weight and pause.

A strategy is a list of steps; each sets the new color's share of traffic (percent, the old color
gets the rest) and then holds for its pause while the gates watch:

    all-at-once   100                      one atomic flip
    canary        10:5m,100                a canary share, a pause, then everything
    linear        25:2m,50:2m,75:2m,100    equal shares, a pause after each
    explicit      10:2m,50:pause,100       ``pause`` with no duration is an approval pause: the run
                                           waits (lease held) for `bluegreen promote` or `abort`

Every error is one line naming the key (or flag) at fault; the callers turn it into exit 3.
Nothing here reads a file or talks to AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

STRATEGIES = ("all-at-once", "canary", "linear")
ON_TIMEOUT = ("abort", "promote")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
MAX_PAUSE_SECONDS = 86400  # a timed pause longer than a day is an approval pause in disguise
APPROVAL = "pause"


class StrategyError(ValueError):
    """One line: which key or flag, which value, what is expected."""


@dataclass(frozen=True)
class WeightStep:
    """Set the new color's share to ``percent``, then hold. ``pause_seconds`` ``None`` is an
    approval pause (wait for promote/abort or the approval timeout); 0 holds not at all."""

    percent: int
    pause_seconds: float | None = 0.0

    @property
    def approval(self) -> bool:
        return self.pause_seconds is None

    def text(self) -> str:
        if self.pause_seconds is None:
            return f"{self.percent}:{APPROVAL}"
        if not self.pause_seconds:
            return str(self.percent)
        return f"{self.percent}:{format_seconds(self.pause_seconds)}"


def format_seconds(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    for unit, size in (("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def describe(steps: tuple[WeightStep, ...]) -> str:
    return ",".join(step.text() for step in steps)


def parse_pause(text: str, key: str) -> float | None:
    """``2m``/``90s``/``1h``/``30`` -> seconds; ``pause`` -> ``None`` (approval)."""
    value = str(text).strip().lower()
    if value == APPROVAL:
        return None
    number, unit = value.rstrip("smh"), value[len(value.rstrip("smh")):]
    if unit not in _UNITS or not number or not (number.isascii() and number.replace(".", "", 1).isdigit()):
        raise StrategyError(f"{key}: pause {text!r} must be a duration such as 30s, 2m or 1h, or "
                            f"'{APPROVAL}' for an approval pause")
    seconds = float(number) * _UNITS[unit]
    if seconds > MAX_PAUSE_SECONDS:
        raise StrategyError(f"{key}: pause {text!r} is longer than a day; use '{APPROVAL}' to wait for "
                            "`bluegreen promote`")
    return seconds


def parse_steps(text: str, key: str) -> tuple[WeightStep, ...]:
    """``10:2m,50:pause,100`` -> steps, validated (``validate``)."""
    if not isinstance(text, str) or not text.strip():
        raise StrategyError(f"{key}: expected steps such as '10:2m,50:5m,100', got {text!r}")
    steps = []
    for part in text.split(","):
        item = part.strip()
        weight, sep, pause = item.partition(":")
        weight = weight.strip().rstrip("%")
        if not (weight.isascii() and weight.isdigit()):
            raise StrategyError(f"{key}: step {item!r} must start with a whole percentage 0-100, e.g. "
                                "'10:2m'")
        pause_seconds = parse_pause(pause, key) if sep else 0.0
        steps.append(WeightStep(int(weight), pause_seconds))
    return validate(tuple(steps), key)


def validate(steps: tuple[WeightStep, ...], key: str) -> tuple[WeightStep, ...]:
    """Weights in 0-100 %, strictly increasing, the last one 100: the two target groups' weights
    always sum to 100 and traffic only ever moves toward the new color."""
    if not steps:
        raise StrategyError(f"{key}: no steps")
    previous = 0
    for index, step in enumerate(steps):
        if not 0 <= step.percent <= 100:
            raise StrategyError(f"{key}: weight {step.percent} % is outside 0-100 %")
        if index and step.percent <= previous:
            raise StrategyError(f"{key}: weights must increase step by step, got {previous} then "
                                f"{step.percent}")
        previous = step.percent
    if steps[-1].percent != 100:
        raise StrategyError(f"{key}: the last step must be 100 (the new color takes all traffic), "
                            f"got {steps[-1].percent}")
    if steps[0].percent == 0:
        raise StrategyError(f"{key}: a first step of 0 % moves no traffic; start above 0")
    return steps


def strategy_steps(name: str, *, canary_percent: int = 10, linear_percent: int = 25,
                   pause: str = "5m", key: str = "traffic") -> tuple[WeightStep, ...]:
    """The steps of a named strategy."""
    if name not in STRATEGIES:
        raise StrategyError(f"{key}.strategy {name!r} is unknown; expected one of {', '.join(STRATEGIES)}")
    if name == "all-at-once":
        return (WeightStep(100, 0.0),)
    pause_seconds = parse_pause(pause, f"{key}.pause")
    if name == "canary":
        if not 1 <= canary_percent <= 99:
            raise StrategyError(f"{key}.canary_percent must be a whole percentage in 1-99, got "
                                f"{canary_percent!r}")
        return (WeightStep(canary_percent, pause_seconds), WeightStep(100, 0.0))
    if not 1 <= linear_percent <= 50:
        raise StrategyError(f"{key}.linear_percent must be a whole percentage in 1-50, got "
                            f"{linear_percent!r}")
    shares = list(range(linear_percent, 100, linear_percent))
    return tuple(WeightStep(p, pause_seconds) for p in shares) + (WeightStep(100, 0.0),)


def weights_for(percent: int) -> tuple[int, int]:
    """(old, new) target group weights for the new color's share: ALB weights are 0-999 and
    relative, so the percentages themselves are used (the read-back compares these exactly)."""
    return 100 - percent, percent
