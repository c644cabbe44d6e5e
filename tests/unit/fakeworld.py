"""One in-memory AWS + Terraform world shared by fakes of every port the App uses, for driving the
real command flows (``commands.release / rollback / swap / resume / abort``) through crashes,
faults and interrupts in the unit tier. No moto, no Terraform, no sleeping: a manual clock advances
on ``sleep`` and time-driven transitions (Pending -> InService, initial -> healthy, draining ->
gone) fire as it passes.

Semantics follow ../shared/design/AWS-SEMANTICS.md (cited per method). What is faked and what is
real:

- Auto Scaling, the load balancer (ALB target group or classic ELB), Images, Terraform (the
  ``ports.Terraform`` protocol: plan / show_plan / apply_plan / outputs, plus the state identity):
  fakes over one ``FakeWorld``.
- ``bluegreen.stack.Stack``, the tfvars file and the blast-radius check: the product's own code, on
  a scratch directory, over the fake Terraform (so the committed tfvars are written after apply,
  exactly as in production).
- The journal store: in memory, behind ``journal_for`` (the one place to change when the store
  becomes per-run objects).
- The lease: the product's ``FileLease`` on the scratch directory with the world's clock, behind a
  process-bound proxy (so a killed process can neither renew nor release it).

A "process" is one ``App`` built by ``FakeWorld.app()``. ``Crash`` (a BaseException) stands in for
SIGKILL: once a process crashed, every later call it makes through any fake raises ``Crash`` again,
so nothing after the crash point reaches the world (``finally`` blocks included).
"""

from __future__ import annotations

import copy
import heapq
import inspect
import itertools
import json
import signal
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from bluegreen import tfvars as tfvars_mod
from bluegreen.app import App
from bluegreen.aws.journal_store import JournalRecord
from bluegreen.aws.lease import FileLease, iso
from bluegreen.config import ReleaseSettings, Settings, TerraformSettings, TimeoutSettings, TrafficSettings
from bluegreen.errors import AwsError, ReleaseInterrupted, TerraformError
from bluegreen.gates import ALARM, OK, AlarmState
from bluegreen.heartbeat import Heartbeat
from bluegreen.journal import Journal, entries_of
from bluegreen.model import (
    DRAINING,
    ENTERING_STANDBY,
    HEALTHY,
    IN_SERVICE,
    INITIAL,
    PENDING,
    STANDBY,
    UNHEALTHY,
    Color,
    ColorVars,
    GroupState,
    Instance,
    StackOutputs,
    TargetHealth,
    TfVars,
    TrafficKind,
    TrafficState,
)
from bluegreen.report import Reporter

AMI_V1 = "ami-0123456789abcdef0"
AMI_V2 = "ami-0fedcba9876543210"
AMI_V3 = "ami-0aaaabbbbccccdddd"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
# The weighted mode: each color's own target group, and the listener forwarding to both.
COLOR_TG = {c: f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-{c.value}/0{n}" for n, c in
            enumerate(Color)}
LISTENER_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/0123/4567"
ELB_NAME = "web-elb"
TERMINATING = "Terminating"
CALLER_ARN = "arn:aws:sts::123456789012:assumed-role/ci-release/job-1"
STANDBY_BATCH = 20  # AWS: at most 20 instance ids per EnterStandby / ExitStandby call


class Crash(BaseException):
    """SIGKILL stand-in: nothing after it runs in the crashed process."""


# -- calls, traps, invariants -----------------------------------------------------------------


@dataclass
class Call:
    index: int
    process: int
    service: str  # autoscaling, elb, ec2, terraform, journal, lease, clock
    op: str
    mutating: bool
    args: dict[str, Any]
    step: str | None = None  # the journal's last started step when the call was made (a label)
    crashable: bool = False  # an AWS / Terraform mutation: a crash point of the matrix

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.args.items() if k != "ids")
        return f"#{self.index} {self.service}:{self.op}({args}) [step {self.step}]"


@dataclass
class Trap:
    """Fires on the ``occurrence``-th call matching ``match``, ``when`` before or after it runs.
    ``action``: ``"crash"``, an exception instance to raise, or a callable(call) run in place.
    ``times``: how many matching calls fire (None: every one from the occurrence on)."""

    match: Callable[[Call], bool]
    when: str = "before"
    occurrence: int = 1
    action: Any = "crash"
    times: int | None = 1
    seen: int = 0
    fired: int = 0
    armed: Callable[[], bool] = lambda: True

    def hit(self, call: Call, when: str) -> bool:
        if when != self.when or not self.armed() or not self.match(call):
            return False
        self.seen += 1
        if self.seen < self.occurrence:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


def aws_error(code: str = "ServiceUnavailable", message: str = "injected fault") -> AwsError:
    return AwsError(f"{message} ({code})", code=code)


# -- the world's objects ------------------------------------------------------------------------


@dataclass
class FakeInstance:
    id: str
    image_id: str
    group: str
    lifecycle: str
    launched_at: float
    lt_version: int
    health_status: str = "Healthy"
    gen: int = 0  # bumped on every lifecycle change: stale timed events check it


@dataclass
class FakeGroup:
    name: str
    color: Color
    min_size: int
    max_size: int
    desired: int
    lt_id: str
    lt_version: int
    instances: list[str] = field(default_factory=list)
    target_group_arns: list[str] = field(default_factory=list)
    load_balancer_names: list[str] = field(default_factory=list)
    suspended: set[str] = field(default_factory=set)


@dataclass
class FakeTarget:
    instance_id: str
    state: str
    gen: int = 0


@dataclass
class Process:
    pid: int
    owner: str
    alive: bool = True
    app: Any = None


class WorldClock:
    """``ports.Clock`` for one process: monotonic seconds shared by the world; ``sleep`` advances
    the world (and its timed transitions)."""

    def __init__(self, world: "FakeWorld", proc: Process) -> None:
        self.world, self.proc = world, proc

    def now(self) -> float:
        return self.world.t

    def sleep(self, seconds: float) -> None:
        self.world._call(self.proc, "clock", "sleep", False, {"seconds": round(seconds, 3)},
                         lambda: self.world.advance(seconds))


class WorldHeartbeat:
    """The product's ``Heartbeat`` beating on the world's clock instead of a thread on real time:
    each beat is a timed event, so the lease is renewed (and a theft noticed) while the world's
    time passes, in Terraform's apply as in any wait, as a real run's thread would."""

    def __init__(self, world: "FakeWorld", proc: Process, lease: Any, ttl: float, stop: Any, run_id: str) -> None:
        self.world, self.proc = world, proc
        self.heartbeat = Heartbeat(lease, ttl, stop, run_id=run_id, clock=lambda: world.t)
        self.stopped = False
        world.schedule(self.heartbeat.interval, self._beat)

    def _beat(self) -> None:
        if self.stopped or not self.proc.alive:
            return  # a dead process's thread died with it
        wait = self.heartbeat.beat()
        if wait is not None:
            self.world.schedule(wait, self._beat)

    def stop(self) -> None:
        self.stopped = True
        self.heartbeat.stop()


# -- the world ----------------------------------------------------------------------------------


class FakeWorld:
    def __init__(
        self,
        root: Path,
        *,
        traffic_kind: TrafficKind = TrafficKind.ALB,
        size: int = 2,
        min_follows_size: bool = True,
        max_size: int = 10,
        boot_seconds: float = 40.0,
        exit_standby_seconds: float = 10.0,
        health_seconds: float = 30.0,
        deregistration_delay: float = 30.0,
        terminate_seconds: float = 10.0,
        apply_seconds: float = 15.0,
        own_suspensions: dict[Color, set[str]] | None = None,
        ami: str = AMI_V1,
        warm_start: bool = False,
        weighted: bool = False,
        steps: str = "10:60s,50:60s,100",
        bake_seconds: int = 60,
    ) -> None:
        self.root = Path(root)
        self.stack_dir = self.root / "stack"
        self.stack_dir.mkdir(parents=True, exist_ok=True)
        self.traffic_kind = traffic_kind
        # Weighted mode: each group is in its own target group from creation (Terraform's
        # target_group_arns), and the listener's weights decide which color serves.
        self.weighted = weighted
        self.steps = steps
        self.bake_seconds = bake_seconds
        self.weights: dict[str, int] = {}
        self.min_follows_size = min_follows_size
        self.max_size_var = max_size
        self.boot_seconds = boot_seconds
        self.exit_standby_seconds = exit_standby_seconds
        self.health_seconds = health_seconds
        self.deregistration_delay = deregistration_delay
        self.terminate_seconds = terminate_seconds
        self.apply_seconds = apply_seconds
        self.t = 0.0
        self.epoch = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self.amis = {AMI_V1, AMI_V2, AMI_V3}
        self.broken_amis: set[str] = set()  # targets on these images turn unhealthy
        self.instances: dict[str, FakeInstance] = {}
        self.groups: dict[str, FakeGroup] = {}
        self.templates: dict[str, list[tuple[str, str]]] = {}  # lt id -> versions: (image, release)
        self.targets: dict[str, FakeTarget] = {}
        self.tf_serial = 0
        self.tf_lineage = "fake-lineage"
        self.tf_outputs_live: Color | None = None
        self.journal_records: list[JournalRecord] = []
        self.calls: list[Call] = []
        self.traps: list[Trap] = []
        self.violations: list[str] = []
        self.processes: list[Process] = []
        self.checking = False  # invariants on: after setup
        self.healthy_threshold = 1.0
        for color in Color:
            lt_id = f"lt-{color.value}"
            self.templates[lt_id] = []
            self.groups[self.asg_name(color)] = FakeGroup(
                name=self.asg_name(color), color=color, min_size=0, max_size=max_size, desired=0,
                lt_id=lt_id, lt_version=0,
            )
            self.groups[self.asg_name(color)].suspended |= set((own_suspensions or {}).get(color, ()))
        if warm_start:
            # After a --keep-old release: green serves v2, blue still runs v1, detached.
            self.initial = TfVars(live_color=Color.GREEN, colors={
                Color.BLUE: ColorVars(ami, size, "v1"), Color.GREEN: ColorVars(AMI_V2, size, "v2")})
        else:
            self.initial = TfVars(live_color=Color.BLUE, colors={
                Color.BLUE: ColorVars(ami, size, "v1"), Color.GREEN: ColorVars(ami, 0, "")})
        self.tfvars_path.write_text(tfvars_mod.render(self.initial, {}), encoding="utf-8")
        if weighted:
            # Terraform creates both colors in their own target groups and the listener with all
            # weight on the live color.
            for color in Color:
                self.group(color).target_group_arns.append(COLOR_TG[color])
            live = self.initial.live_color
            self.weights = {COLOR_TG[live]: 100, COLOR_TG[live.other()]: 0}
        # Terraform creates both colors, then bootstrap attaches the live one and waits until it serves.
        self._tf_apply_vars(self.initial)
        self.settle()
        if not weighted:
            self._attach(self.groups[self.asg_name(self.initial.live_color)])
        self.settle()
        self.checking = True

    # -- naming ---------------------------------------------------------------------------------

    @staticmethod
    def asg_name(color: Color) -> str:
        return f"web-{color.value}"

    @property
    def traffic_name(self) -> str:
        return TG_ARN if self.traffic_kind is TrafficKind.ALB else ELB_NAME

    @property
    def tfvars_path(self) -> Path:
        return self.stack_dir / "bluegreen.auto.tfvars.json"

    def group(self, color: Color) -> FakeGroup:
        return self.groups[self.asg_name(color)]

    def now_utc(self) -> datetime:
        return self.epoch + timedelta(seconds=self.t)

    # -- time -----------------------------------------------------------------------------------

    def schedule(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (self.t + max(delay, 0.0), next(self._seq), fn))

    def advance(self, seconds: float) -> None:
        end = self.t + max(seconds, 0.0)
        while self._events and self._events[0][0] <= end:
            when, _, fn = heapq.heappop(self._events)
            self.t = max(self.t, when)
            fn()
        self.t = end

    def settle(self, limit: float = 7200.0) -> None:
        """Let every pending transition happen (bounded): what AWS looks like a while later."""
        end = self.t + limit
        while self._events and self._events[0][0] <= end:
            self.advance(self._events[0][0] - self.t)

    # -- processes and calls --------------------------------------------------------------------

    def spawn(self) -> Process:
        proc = Process(pid=len(self.processes) + 1, owner=f"ci@runner-{len(self.processes) + 1}")
        self.processes.append(proc)
        return proc

    def current_step(self) -> str | None:
        for record in reversed(self.journal_records):
            if record.status == "started":
                return record.step
            if record.step == "run" and record.status == "begin":
                return None
        return None

    def _call(self, proc: Process, service: str, op: str, mutating: bool, args: dict[str, Any],
              fn: Callable[[], Any], *, crashable: bool | None = None) -> Any:
        if not proc.alive:
            raise Crash(f"process {proc.pid} is dead")
        call = Call(len(self.calls) + 1, proc.pid, service, op, mutating, args, self.current_step(),
                    crashable=(mutating and service in ("autoscaling", "terraform", "elbv2")) if crashable is None else crashable)
        self.calls.append(call)
        if mutating and self.checking:
            self._check_before(call)
        self._fire(proc, call, "before")
        result = fn()
        if self.checking and (mutating or service == "clock"):
            self._check_after(call)
        self._fire(proc, call, "after")
        return result

    def _fire(self, proc: Process, call: Call, when: str) -> None:
        for trap in self.traps:
            if trap.hit(call, when):
                action = trap.action
                if action == "crash":
                    proc.alive = False
                    raise Crash(f"crash {when} {call.describe()}")
                if isinstance(action, BaseException):
                    raise copy.copy(action)
                action(call)

    def kill(self, proc: Process) -> None:
        proc.alive = False

    # -- invariants -----------------------------------------------------------------------------

    def attached(self, group: FakeGroup) -> bool:
        """Takes traffic: attached to the serving target group, or (weighted) weight above 0."""
        if self.weighted:
            return self.weights.get(COLOR_TG[group.color], 0) > 0
        if self.traffic_kind is TrafficKind.ALB:
            return TG_ARN in group.target_group_arns
        return ELB_NAME in group.load_balancer_names

    def healthy_in_service(self, color: Color) -> tuple[int, int]:
        """(healthy, InService) of ``color``'s instances as the load balancer sees them."""
        group = self.group(color)
        in_service = [i for i in group.instances if self.instances[i].lifecycle == IN_SERVICE]
        healthy = [i for i in in_service if i in self.targets and self.targets[i].state == HEALTHY]
        return len(healthy), len(in_service)

    def serving(self, color: Color) -> bool:
        return self.attached(self.group(color)) and self.healthy_in_service(color)[0] > 0

    def fully_healthy(self, color: Color) -> bool:
        healthy, in_service = self.healthy_in_service(color)
        return self.attached(self.group(color)) and healthy > 0 and healthy / in_service >= self.healthy_threshold

    def fully_healthy_in_tg(self, color: Color) -> bool:
        healthy, in_service = self.healthy_in_service(color)
        return healthy > 0 and healthy / in_service >= self.healthy_threshold

    def _violate(self, message: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(message)

    def _check_after(self, call: Call) -> None:
        if not any(self.serving(c) for c in Color):
            self._violate(f"no color attached with a healthy InService target after {call.describe()}")

    def _check_before(self, call: Call) -> None:
        """The serving color is never detached or put on standby before the other is healthy.
        Weighted: no listener change gives weight to a color that is not fully healthy."""
        if call.op == "ModifyListener":
            for color in Color:
                if call.args["weights"].get(COLOR_TG[color], 0) > 0 and not self.fully_healthy_in_tg(color):
                    self._violate(f"ModifyListener gives weight to {color}, not fully healthy: {call.describe()}")
            return
        if call.op not in ("EnterStandby", "DetachLoadBalancerTargetGroups", "DetachLoadBalancers"):
            return
        color = self.groups[call.args["group"]].color
        if self.serving(color) and not self.fully_healthy(color.other()):
            self._violate(f"{call.op} on serving {color} while {color.other()} is not attached and "
                          f"healthy: {call.describe()}")

    # -- Auto Scaling mechanics -----------------------------------------------------------------

    def _new_instance(self, group: FakeGroup) -> None:
        image, _ = self.templates[group.lt_id][group.lt_version - 1]
        inst = FakeInstance(f"i-{next(self._ids):017x}", image, group.name, PENDING, self.t, group.lt_version)
        self.instances[inst.id] = inst
        group.instances.append(inst.id)
        self._to_in_service(inst, self.boot_seconds)

    def _to_in_service(self, inst: FakeInstance, delay: float) -> None:
        inst.lifecycle, inst.gen = PENDING, inst.gen + 1
        gen = inst.gen

        def done() -> None:
            if inst.gen == gen and inst.lifecycle == PENDING:
                inst.lifecycle, inst.gen = IN_SERVICE, inst.gen + 1
                if self.weighted or self.attached(self.groups[inst.group]):
                    self._register(inst.id)  # launched into an attached group: registered

        self.schedule(delay, done)

    def _register(self, instance_id: str) -> None:
        """New target: ``initial`` until the health checks pass, then healthy/unhealthy."""
        target = self.targets.get(instance_id)
        if target is not None and target.state != DRAINING:
            return
        target = FakeTarget(instance_id, INITIAL, (target.gen + 1) if target else 0)
        self.targets[instance_id] = target
        gen = target.gen

        def checked() -> None:
            if target.gen == gen and target.state == INITIAL:
                broken = self.instances[instance_id].image_id in self.broken_amis
                target.state = UNHEALTHY if broken else HEALTHY

        self.schedule(self.health_seconds, checked)

    def _deregister(self, instance_id: str, then: Callable[[], None] | None = None) -> None:
        """``draining`` for the deregistration delay, then gone; ``then`` runs when it is gone."""
        target = self.targets.get(instance_id)
        if target is None or target.state == DRAINING:
            if then is not None:
                self.schedule(0 if target is None else self.deregistration_delay, then)
            return
        target.state, target.gen = DRAINING, target.gen + 1
        gen = target.gen

        def gone() -> None:
            if self.targets.get(instance_id) is target and target.gen == gen:
                del self.targets[instance_id]
            if then is not None:
                then()

        self.schedule(self.deregistration_delay, gone)

    def _terminate(self, inst: FakeInstance) -> None:
        inst.lifecycle, inst.gen = TERMINATING, inst.gen + 1
        gen = inst.gen

        def terminated() -> None:
            if inst.gen == gen:
                group = self.groups[inst.group]
                if inst.id in group.instances:
                    group.instances.remove(inst.id)
                inst.lifecycle = "Terminated"

        if inst.id in self.targets:
            self._deregister(inst.id, lambda: self.schedule(self.terminate_seconds, terminated))
        else:
            self.schedule(self.terminate_seconds, terminated)

    def _reconcile(self, group: FakeGroup) -> None:
        """Launch or terminate toward desired capacity. Standby instances do not count and are
        never chosen for scale-in (AWS-SEMANTICS.md); scale-in prefers other launch template
        versions, then the oldest."""
        active = [self.instances[i] for i in group.instances if self.instances[i].lifecycle in (PENDING, IN_SERVICE)]
        if len(active) < group.desired and "Launch" not in group.suspended:
            for _ in range(group.desired - len(active)):
                self._new_instance(group)
        elif len(active) > group.desired and "Terminate" not in group.suspended:
            victims = sorted(active, key=lambda i: (i.lt_version == group.lt_version, i.launched_at))
            for inst in victims[: len(active) - group.desired]:
                self._terminate(inst)

    def _attach(self, group: FakeGroup) -> None:
        names = group.target_group_arns if self.traffic_kind is TrafficKind.ALB else group.load_balancer_names
        if self.traffic_name in names:
            return  # additive: attaching again is a no-op
        names.append(self.traffic_name)
        for instance_id in group.instances:
            if self.instances[instance_id].lifecycle == IN_SERVICE:
                self._register(instance_id)

    def _detach(self, group: FakeGroup) -> None:
        names = group.target_group_arns if self.traffic_kind is TrafficKind.ALB else group.load_balancer_names
        if self.traffic_name not in names:
            return
        names.remove(self.traffic_name)
        for instance_id in group.instances:
            if instance_id in self.targets:
                self._deregister(instance_id)

    # -- Terraform mechanics --------------------------------------------------------------------

    def desired_config(self, vars_: TfVars) -> dict[Color, dict[str, Any]]:
        """What the example stack's modules declare for each color (terraform/modules/color)."""
        out = {}
        for color, v in vars_.colors.items():
            out[color] = {
                "image_id": v.ami, "release": v.release,
                "min_size": v.size if self.min_follows_size else 0,
                "desired_capacity": v.size, "max_size": max(v.size, self.max_size_var),
            }
        return out

    def actual_config(self, color: Color) -> dict[str, Any]:
        """Terraform's refresh: what AWS has for the attributes the modules manage
        (load_balancers, target_group_arns and suspended_processes are ignored)."""
        group = self.group(color)
        versions = self.templates[group.lt_id]
        image, release = versions[-1] if versions else (None, None)
        return {"image_id": image, "release": release, "min_size": group.min_size,
                "desired_capacity": group.desired, "max_size": group.max_size,
                "pinned": group.lt_version == len(versions)}

    def resource_changes(self, vars_: TfVars) -> list[dict[str, Any]]:
        changes = []
        for color, want in self.desired_config(vars_).items():
            have = self.actual_config(color)
            lt_change = (want["image_id"], want["release"]) != (have["image_id"], have["release"])
            asg_change = lt_change or not have["pinned"] or any(
                want[k] != have[k] for k in ("min_size", "desired_capacity", "max_size"))
            prefix = f"module.{color.value}"
            changes.append({"address": f"{prefix}.aws_launch_template.this",
                            "change": {"actions": ["update"] if lt_change else ["no-op"]}})
            changes.append({"address": f"{prefix}.aws_autoscaling_group.this",
                            "change": {"actions": ["update"] if asg_change else ["no-op"]}})
        return changes

    def _tf_apply_vars(self, vars_: TfVars) -> None:
        for color, want in self.desired_config(vars_).items():
            group = self.group(color)
            have = self.actual_config(color)
            if (want["image_id"], want["release"]) != (have["image_id"], have["release"]):
                self.templates[group.lt_id].append((want["image_id"], want["release"]))
            group.lt_version = len(self.templates[group.lt_id])
            if not want["min_size"] <= want["desired_capacity"] <= want["max_size"]:
                raise TerraformError(f"terraform apply: {group.name}: invalid capacity {want}")
            group.min_size, group.max_size, group.desired = want["min_size"], want["max_size"], want["desired_capacity"]
            self._reconcile(group)
        self.tf_serial += 1
        self.tf_outputs_live = vars_.live_color

    def drift(self) -> list[str]:
        """Addresses a ``terraform plan`` of the committed tfvars would change (should be none)."""
        vars_, _ = tfvars_mod.read(self.tfvars_path)
        return [c["address"] for c in self.resource_changes(vars_) if c["change"]["actions"] != ["no-op"]] + (
            ["output.live_color"] if self.tf_outputs_live != vars_.live_color else [])

    # -- observation helpers for assertions (no call recorded) ----------------------------------

    def committed_vars(self) -> TfVars:
        return tfvars_mod.read(self.tfvars_path)[0]

    def shape(self, color: Color) -> dict[str, Any]:
        group = self.group(color)
        lifecycle = sorted(self.instances[i].lifecycle for i in group.instances)
        healthy, in_service = self.healthy_in_service(color)
        return {
            "attached": self.attached(group), "lifecycle": lifecycle, "healthy": healthy,
            "in_service": in_service, "images": sorted({self.instances[i].image_id for i in group.instances}),
            "min": group.min_size, "desired": group.desired, "suspended": sorted(group.suspended),
        }

    # -- building a process -----------------------------------------------------------------------

    def settings(self, **release: Any) -> Settings:
        base = dict(verify_seconds=30, keep_old_seconds=0, smoke_url="", lock_ttl_seconds=900)
        base.update(release)
        traffic = TrafficSettings()
        if self.weighted:
            traffic = TrafficSettings(mode="weighted", steps=self.steps, bake_seconds=self.bake_seconds,
                                      approval_timeout_seconds=600)
        return Settings(
            traffic=traffic,
            terraform=TerraformSettings(dir=self.stack_dir),
            release=ReleaseSettings(**base),
            timeouts=TimeoutSettings(instances_in_service_seconds=900, targets_healthy_seconds=600,
                                     drain_seconds=900, unhealthy_grace_seconds=60, poll_seconds=10.0),
        )

    def app(self, **release: Any) -> App:
        """A fresh process: the real App with every adapter replaced by a fake over this world
        (``functools.cached_property`` takes an instance attribute), and a new lease identity."""
        proc = self.spawn()
        settings = self.settings(**release)
        app = App(settings, Reporter(service="web", quiet=True, clock=lambda: self.t), clock=WorldClock(self, proc),
                  heartbeat=lambda lease, ttl, stop, run_id: WorldHeartbeat(self, proc, lease, ttl, stop, run_id))
        proc.app = app
        app.fake_process = proc  # type: ignore[attr-defined]
        app.clients = _NoClients()  # a real AWS client in a unit test is a bug
        app.caller_identity = {"account": "123456789012", "arn": CALLER_ARN}  # what the preflight's STS call says
        app.terraform = FakeTerraform(self, proc)
        app.autoscaling = FakeAutoScaling(self, proc)
        app.images = FakeImages(self, proc)
        app.traffic = FakeLoadBalancer(self, proc)
        if self.weighted:
            app.listener = FakeListener(self, proc)
            per_color = {c: FakeLoadBalancer(self, proc, color=c) for c in Color}
            app.traffic_of = per_color.__getitem__  # type: ignore[method-assign]
        app.journal = journal_for(self, proc)
        app.lease = ProcessBound(self, proc, "lease", FileLease(
            self.stack_dir / ".bluegreen" / "release.lock", service="web", now=self.now_utc))
        return app


class _NoClients:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unit test reached for a real AWS client ({name})")


# -- the fakes ------------------------------------------------------------------------------------


class _Fake:
    service = ""

    def __init__(self, world: FakeWorld, proc: Process) -> None:
        self.world, self.proc = world, proc

    def _call(self, op: str, mutating: bool, fn: Callable[[], Any], **args: Any) -> Any:
        return self.world._call(self.proc, self.service, op, mutating, args, fn)


def _validation(message: str) -> AwsError:
    return AwsError(message, code="ValidationError")


class FakeAutoScaling(_Fake):
    """``ports.AutoScaling`` with the adapter's idempotence (skip ids already on their way) and
    AWS's validation and asynchrony (AWS-SEMANTICS.md, Auto Scaling)."""

    service = "autoscaling"

    def _group(self, name: str) -> FakeGroup:
        group = self.world.groups.get(name)
        if group is None:
            raise _validation(f"Auto Scaling group {name} does not exist")
        return group

    def describe_group(self, name: str) -> GroupState | None:
        def run() -> GroupState | None:
            group = self.world.groups.get(name)
            if group is None:
                return None
            w = self.world
            return GroupState(
                color=group.color, name=group.name, min_size=group.min_size, max_size=group.max_size,
                desired_capacity=group.desired,
                instances=tuple(Instance(i, w.instances[i].lifecycle, w.instances[i].health_status,
                                         w.instances[i].image_id) for i in group.instances),
                launch_template_id=group.lt_id, launch_template_version=str(group.lt_version),
                target_group_arns=tuple(group.target_group_arns),
                load_balancer_names=tuple(group.load_balancer_names),
                suspended_processes=frozenset(group.suspended),
            )
        return self._call("DescribeAutoScalingGroups", False, run, group=name)

    def set_min_size(self, name: str, min_size: int) -> None:
        def run() -> None:
            group = self._group(name)
            if min_size > group.max_size:
                raise _validation(f"MinSize {min_size} above MaxSize {group.max_size}")
            group.min_size = min_size
            # AWS: a MinSize above the current desired capacity raises desired to it.
            if group.desired < min_size:
                group.desired = min_size
                self.world._reconcile(group)
        self._call("UpdateAutoScalingGroup", True, run, group=name, min_size=min_size)

    def set_capacity(self, name: str, *, min_size: int, desired: int, max_size: int) -> None:
        def run() -> None:
            group = self._group(name)
            if not min_size <= desired <= max_size:
                raise _validation(f"desired {desired} outside [{min_size}, {max_size}]")
            group.min_size, group.desired, group.max_size = min_size, desired, max_size
            self.world._reconcile(group)
        self._call("UpdateAutoScalingGroup", True, run, group=name, min_size=min_size, desired=desired)

    def _states(self, name: str) -> dict[str, str]:
        state = self.describe_group(name)
        if state is None:
            raise _validation(f"Auto Scaling group {name} does not exist")
        return {i.id: i.lifecycle_state for i in state.instances}

    def enter_standby(self, name: str, instance_ids: Sequence[str]) -> None:
        if not instance_ids:
            return
        states = self._states(name)
        todo = [i for i in dict.fromkeys(instance_ids) if states.get(i) not in (ENTERING_STANDBY, STANDBY)]
        for start in range(0, len(todo), STANDBY_BATCH):
            batch = todo[start:start + STANDBY_BATCH]
            self._call("EnterStandby", True, lambda b=batch: self._enter(name, b), group=name, ids=batch, n=len(batch))

    def _enter(self, name: str, batch: list[str]) -> None:
        w, group = self.world, self._group(name)
        if len(batch) > STANDBY_BATCH:
            raise _validation(f"at most {STANDBY_BATCH} instance ids per EnterStandby call")
        for i in batch:
            if i not in group.instances or w.instances[i].lifecycle != IN_SERVICE:
                raise _validation(f"The instance {i} is not in InService")
        if group.desired - len(batch) < group.min_size:
            raise _validation(f"EnterStandby would decrement desired capacity of {name} below MinSize {group.min_size}")
        group.desired -= len(batch)
        for i in batch:
            inst = w.instances[i]
            inst.gen += 1
            if i in w.targets and w.targets[i].state != DRAINING:
                inst.lifecycle = ENTERING_STANDBY
                gen = inst.gen

                def settled(inst: FakeInstance = inst, gen: int = gen) -> None:
                    if inst.gen == gen and inst.lifecycle == ENTERING_STANDBY:
                        inst.lifecycle = STANDBY

                w._deregister(i, settled)
            else:
                inst.lifecycle = STANDBY

    def exit_standby(self, name: str, instance_ids: Sequence[str]) -> None:
        if not instance_ids:
            return
        states = self._states(name)
        todo = [i for i in dict.fromkeys(instance_ids) if states.get(i) not in (PENDING, "Pending:Wait", "Pending:Proceed", IN_SERVICE)]
        for start in range(0, len(todo), STANDBY_BATCH):
            batch = todo[start:start + STANDBY_BATCH]
            self._call("ExitStandby", True, lambda b=batch: self._exit(name, b), group=name, ids=batch, n=len(batch))

    def _exit(self, name: str, batch: list[str]) -> None:
        w, group = self.world, self._group(name)
        if len(batch) > STANDBY_BATCH:
            raise _validation(f"at most {STANDBY_BATCH} instance ids per ExitStandby call")
        if "Launch" in group.suspended:
            raise _validation("ExitStandby is not allowed while the Launch process is suspended")
        for i in batch:
            if i not in group.instances or w.instances[i].lifecycle != STANDBY:
                raise _validation(f"The instance {i} is not in Standby")
        if group.desired + len(batch) > group.max_size:
            raise _validation(f"ExitStandby would raise desired capacity of {name} above MaxSize")
        group.desired += len(batch)  # ExitStandby always increments desired capacity
        for i in batch:
            w._to_in_service(w.instances[i], w.exit_standby_seconds)

    def suspend_processes(self, name: str, processes: Iterable[str]) -> None:
        names = list(dict.fromkeys(processes))
        if names:  # an empty list means every process to AWS: the adapter never sends one
            self._call("SuspendProcesses", True, lambda: self._group(name).suspended.update(names),
                       group=name, processes=names)

    def resume_processes(self, name: str, processes: Iterable[str]) -> None:
        names = list(dict.fromkeys(processes))
        if names:
            self._call("ResumeProcesses", True, lambda: self._group(name).suspended.difference_update(names),
                       group=name, processes=names)

    def _check_traffic(self, kind: TrafficKind, name: str) -> None:
        if kind is not self.world.traffic_kind or name != self.world.traffic_name:
            raise _validation(f"load balancer / target group {name} not found")

    def attach_target_group(self, name: str, target_group_arn: str) -> None:
        def run() -> None:
            self._check_traffic(TrafficKind.ALB, target_group_arn)
            self.world._attach(self._group(name))
        self._call("AttachLoadBalancerTargetGroups", True, run, group=name)

    def detach_target_group(self, name: str, target_group_arn: str) -> None:
        state = self.describe_group(name)
        if state is None or target_group_arn not in state.target_group_arns:
            return

        def run() -> None:
            self._check_traffic(TrafficKind.ALB, target_group_arn)
            self.world._detach(self._group(name))
        self._call("DetachLoadBalancerTargetGroups", True, run, group=name)

    def attach_load_balancer(self, name: str, elb_name: str) -> None:
        def run() -> None:
            self._check_traffic(TrafficKind.ELB, elb_name)
            self.world._attach(self._group(name))
        self._call("AttachLoadBalancers", True, run, group=name)

    def detach_load_balancer(self, name: str, elb_name: str) -> None:
        state = self.describe_group(name)
        if state is None or elb_name not in state.load_balancer_names:
            return

        def run() -> None:
            self._check_traffic(TrafficKind.ELB, elb_name)
            self.world._detach(self._group(name))
        self._call("DetachLoadBalancers", True, run, group=name)


class FakeLoadBalancer(_Fake):
    """``ports.LoadBalancer``: every registered target of the one target group / classic ELB, in
    the model's vocabulary (classic ELB's states map onto the same ones in the real adapter)."""

    service = "elb"

    def __init__(self, world: "FakeWorld", proc: Process, color: Color | None = None) -> None:
        super().__init__(world, proc)
        self.color = color  # weighted mode: this color's own target group only

    def describe_traffic(self) -> TrafficState:
        w = self.world

        def run() -> TrafficState:
            targets = [t for t in w.targets.values()
                       if self.color is None or w.instances[t.instance_id].group == w.asg_name(self.color)]
            return TrafficState(
                kind=w.traffic_kind, name=COLOR_TG[self.color] if self.color else w.traffic_name,
                targets=tuple(TargetHealth(t.instance_id, t.state) for t in targets),
                deregistration_delay_seconds=int(w.deregistration_delay),
            )
        return self._call("DescribeTargetHealth", False, run)


class FakeListener(_Fake):
    """``ports.Listener``: the weighted mode's forward action; ModifyListener is one crashable call."""

    service = "elbv2"

    def weights(self) -> dict[str, int]:
        return self._call("DescribeListeners", False, lambda: dict(self.world.weights))

    def set_weights(self, weights: dict[str, int]) -> None:
        def run() -> None:
            self.world.weights = dict(weights)
        self._call("ModifyListener", True, run, weights=dict(weights))


class FakeImages(_Fake):
    service = "ec2"

    def exists(self, ami: str) -> bool:
        return self._call("DescribeImages", False, lambda: ami in self.world.amis, ami=ami)


class FakeTerraform(_Fake):
    """``ports.Terraform`` over the world: ``plan`` refreshes from AWS (drift shows, e.g. a
    desired capacity lowered by Standby) and writes a plan file; ``apply_plan`` refuses a stale
    plan (the state changed since) like Terraform, and waits for capacity while MinSize > 0 like
    the AWS provider's ``wait_for_capacity_timeout``."""

    service = "terraform"
    VERSION = "1.15.5"

    def ensure_ready(self) -> None:
        self._call("init", False, lambda: None)

    def version(self) -> str:
        return self.VERSION

    def state_identity(self) -> tuple[str, int]:
        return self._call("state pull", False, lambda: (self.world.tf_lineage, self.world.tf_serial))

    def plan(self, var_file: Path, out: Path) -> bool:
        def run() -> bool:
            vars_, _ = tfvars_mod.parse(json.loads(Path(var_file).read_text(encoding="utf-8")), source=Path(var_file))
            changes = self.world.resource_changes(vars_)
            outputs_change = self.world.tf_outputs_live != vars_.live_color
            body = {
                "format_version": "1.2", "terraform_version": self.VERSION,
                "variables": {"live_color": {"value": vars_.live_color.value},
                              "colors": {"value": {c.value: {"ami": v.ami, "size": v.size, "release": v.release}
                                                   for c, v in vars_.colors.items()}}},
                "resource_changes": changes,
                "output_changes": {"live_color": {"actions": ["update"] if outputs_change else ["no-op"]}},
                "fake": {"serial": self.world.tf_serial, "lineage": self.world.tf_lineage},
            }
            Path(out).write_text(json.dumps(body), encoding="utf-8")
            return outputs_change or any(c["change"]["actions"] != ["no-op"] for c in changes)
        return self._call("plan", False, run, var_file=Path(var_file).name)

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        return self._call("show", False, lambda: json.loads(Path(plan_file).read_text(encoding="utf-8")),
                          plan=Path(plan_file).name)

    def apply_plan(self, plan_file: Path) -> None:
        w = self.world

        def run() -> None:
            body = json.loads(Path(plan_file).read_text(encoding="utf-8"))
            if body["fake"]["serial"] != w.tf_serial or body["fake"]["lineage"] != w.tf_lineage:
                raise TerraformError(f"terraform apply failed: Saved plan is stale ({Path(plan_file).name})")
            colors = {Color(c): ColorVars(v["ami"], v["size"], v["release"])
                      for c, v in body["variables"]["colors"]["value"].items()}
            vars_ = TfVars(Color(body["variables"]["live_color"]["value"]), colors)
            w.advance(w.apply_seconds)
            w._tf_apply_vars(vars_)
            deadline = w.t + 600
            for color, want in w.desired_config(vars_).items():
                while sum(1 for i in w.group(color).instances if w.instances[i].lifecycle == IN_SERVICE) < want["min_size"]:
                    if w.t >= deadline:
                        raise TerraformError(f"terraform apply: timeout waiting for capacity of {w.asg_name(color)}")
                    w.advance(5)
            interrupt = getattr(self, "interrupt_next_apply", False)
            if interrupt:
                self.interrupt_next_apply = False
                self._deliver_sigint()
        self._call("apply", True, run, plan=Path(plan_file).name)

    def _deliver_sigint(self) -> None:
        """Ctrl-C while Terraform applies: Terraform finishes and saves its state; the runner's
        contract is then what this raises. With the StopToken of stop.py on the App, the signal
        goes to the token (as cli installs it) and the runner raises its reason; without one,
        Python's default handler raises KeyboardInterrupt and today's runner turns it into
        ``ReleaseInterrupted``."""
        token = getattr(self.proc.app, "stop", None)
        if token is not None and hasattr(token, "on_signal"):
            with _deferred(token):
                token.on_signal(signal.SIGINT)
            token.check()
            return
        try:
            signal.default_int_handler(signal.SIGINT, None)
        except KeyboardInterrupt:
            raise ReleaseInterrupted("terraform apply interrupted; Terraform stopped and saved its state (exit 1)") from None

    def outputs(self) -> StackOutputs:
        w = self.world

        def run() -> StackOutputs:
            assert w.tf_outputs_live is not None
            return StackOutputs(
                service="web", asg_names={c: w.asg_name(c) for c in Color},
                launch_template_ids={c: f"lt-{c.value}" for c in Color}, traffic_kind=w.traffic_kind,
                target_group_arn=TG_ARN if w.traffic_kind is TrafficKind.ALB and not w.weighted else None,
                elb_name=ELB_NAME if w.traffic_kind is TrafficKind.ELB else None,
                lb_dns_name="web-123.us-east-1.elb.amazonaws.com", live_color=w.tf_outputs_live,
                **({"traffic_mode": "weighted", "listener_arn": LISTENER_ARN, "color_target_groups": dict(COLOR_TG)}
                   if w.weighted else {}),
            )
        return self._call("output", False, run)


def _deferred(token: Any) -> Any:
    import contextlib
    return token.deferred() if hasattr(token, "deferred") else contextlib.nullcontext()


# -- journal store and lease ----------------------------------------------------------------------


class FakeJournalStore(_Fake):
    """``FileJournalStore``'s interface (append / read) over the world's record list."""

    service = "journal"

    def append(self, run_id: str, step: str, status: str, data: Any = None) -> JournalRecord:
        def run() -> JournalRecord:
            # Through JSON, like the file: what is read back is what a new process would parse.
            record = JournalRecord.from_dict(json.loads(JournalRecord(
                step, status, dict(data or {}), iso(self.world.now_utc())).to_line()))
            self.world.journal_records.append(record)
            return record
        return self._call("append", True, run, step=step, status=status)

    def read_run(self, run_id: str) -> list[JournalRecord]:
        return self._call("read", False, lambda: _records_of(self.world, run_id))

    def latest(self) -> str | None:
        return self._call("read", False, lambda: _latest(self.world))

    def runs(self, limit: int | None = None) -> list[Any]:
        # The index a store would keep, from the records (``bluegreen history`` lists it).
        entries = entries_of(list(self.world.journal_records))
        return entries if limit is None else entries[:limit]


def _records_of(world: FakeWorld, run_id: str) -> list[JournalRecord]:
    return [r for r in world.journal_records if r.run_id == run_id]


def _latest(world: FakeWorld) -> str | None:
    begun = [r.run_id for r in world.journal_records if r.step == "run" and r.status == "begin"]
    return begun[-1] if begun else None


def journal_for(world: FakeWorld, proc: Process) -> Journal:
    """The one place that knows how the App's journal is built from a store: switch here when the
    store becomes per-run objects."""
    return Journal(FakeJournalStore(world, proc))


class ProcessBound:
    """Delegates to a real object, as one process: dead processes cannot call it, and every call
    is recorded (and may be trapped). ``acquire`` gets this process's owner identity."""

    def __init__(self, world: FakeWorld, proc: Process, service: str, target: Any) -> None:
        self._world, self._proc, self._service, self._target = world, proc, service, target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            if not self._proc.alive:
                raise Crash(f"process {self._proc.pid} is dead")
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "acquire" and "owner" in inspect.signature(attr).parameters and "owner" not in kwargs and len(args) < 2:
                kwargs["owner"] = self._proc.owner
            mutating = name in ("acquire", "renew", "release", "break_")
            return self._world._call(self._proc, self._service, name, mutating,
                                     {"args": args} if args else {}, lambda: attr(*args, **kwargs))
        return call


# -- reading the journal's verdict without executor internals ---------------------------------------


def last_run(world: FakeWorld) -> Any:
    return Journal(_ReadOnlyStore(world)).last_run()


class _ReadOnlyStore:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    def append(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("read-only")

    def read_run(self, run_id: str) -> list[JournalRecord]:
        return _records_of(self.world, run_id)

    def latest(self) -> str | None:
        return _latest(self.world)


def outcome(run: Any) -> str | None:
    """The run's final outcome (completed, rolled-back, aborted, needs-operator) or None while in
    flight, whichever RunView shape the journal has."""
    if run is None:
        return None
    for name in ("outcome",):
        value = getattr(run, name, None)
        if value is not None:
            return getattr(value, "value", value)
    return None


class WorldAlarms:
    """CloudWatch over the fake world: ``web-5xx`` goes to ALARM once ``bad`` says the world is
    hurting users (e.g. green serving), with AWS's StateUpdatedTimestamp of that moment."""

    def __init__(self, world: "FakeWorld", bad=lambda: False, state: str = OK) -> None:
        self.world = world
        self.bad = bad
        self.state = AlarmState("web-5xx", state, world.now_utc().timestamp(), "initial")
        self.reads = 0

    def alarms(self, names):
        self.reads += 1
        if self.state.state != ALARM and self.bad():
            self.state = AlarmState("web-5xx", ALARM, self.world.now_utc().timestamp(),
                                    "Threshold Crossed: 1 out of the last 1 datapoints [12.0] >= 5.0")
        return {n: self.state for n in names if n == self.state.name}

    def target_group_samples(self, *args: Any, **kwargs: Any):
        return []
