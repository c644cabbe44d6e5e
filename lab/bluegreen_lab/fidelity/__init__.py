"""The emulation's fidelity layer: in-process patches that make moto 5.2.5 behave like AWS where
bluegreen depends on it (see shared/design/AWS-SEMANTICS.md, "moto 5.2.5: gaps").

Product code never special-cases moto; the lab, the demo and the tests call ``install()`` before
using moto (``mock_aws`` or a ``ThreadedMotoServer`` in the same process: both use the patched
backends). Each correction lives in one function whose docstring quotes the AWS behaviour it
restores (``core.CORRECTIONS``); tests/fidelity pairs each with a strict-xfail test of the gap in
unpatched moto, so a moto upgrade that closes a gap fails loudly and the correction gets deleted.

    fid = install(ScriptedHealth(initial_seconds=10), clock=ManualClock())
    fid.clock.advance(10)                 # targets registered 10 s ago turn healthy
    fid.targets(tg_arn)                   # [TargetRecord(instance_id, state, ...)]
    fid.inject("EnterStandby", "Throttling", times=2)
"""

from .clock import DEFAULT_CLOCK, ClockFn, ManualClock
from .core import CORRECTIONS, Fidelity, current, install, suspended, uninstall
from .faults import Fault
from .health import HealthSource, Script, ScriptedHealth, broken, degrades, healthy
from .targets import TargetRecord

__all__ = [
    "CORRECTIONS",
    "DEFAULT_CLOCK",
    "ClockFn",
    "Fault",
    "Fidelity",
    "HealthSource",
    "ManualClock",
    "Script",
    "ScriptedHealth",
    "TargetRecord",
    "broken",
    "current",
    "degrades",
    "healthy",
    "install",
    "suspended",
    "uninstall",
]
