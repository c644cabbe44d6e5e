"""The lab: everything the demo, the end-to-end tests and the benchmarks stand on.

Control plane: moto's server on 127.0.0.1 with the fidelity layer. Terraform: embedded, with
HashiCorp's AWS provider from the verified offline mirror. Data plane (optional): a real HAProxy
whose dynamic servers follow the serving target group, and one real HTTP process per emulated
instance; HAProxy's own health checks then decide what DescribeTargetHealth reports.

    with Lab(tmp_path) as lab:
        v1 = lab.bake("v1")
        lab.deploy_initial(v1, size=2)       # Terraform apply + attach blue
        app = lab.app(reporter)              # a bluegreen App wired to the lab

With ``LabOptions(dataplane=True)``, ``lab.url`` is HAProxy's frontend; its servers follow every
target group's registrations in the emulation (the lab has one: the example stack's), so another
tool registering with that target group (the benchmarks' plain-Terraform configuration, run with
``lab.terraform(dir)``) is served by the same HAProxy. ``bluegreen_lab.demo.TrafficWatch`` measures
load, served versions and API calls against it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.app import App
from bluegreen.config import Settings, load_settings
from bluegreen.observe import AwsCallEvent, Listeners, TerraformEvent
from bluegreen.report import Reporter
from .emulator import LAB_IMAGE_VERSION_TAG, LAB_REGION, Emulator, prepare_stack, register_lab_image
from .toolchain import LAB_CREDENTIAL

# The emulated S3 bucket of `LabOptions(state="s3")`: one per process (moto's backends are
# process-wide), a prefix per lab service.
LAB_STATE_BUCKET = "bluegreen-lab-state"

# AMI tag that makes the sample app fail its health checks: "now" or "after:SECONDS".
LAB_BROKEN_TAG = "bluegreen-lab:broken"
# AMI tag of a version that passes its health checks but hurts users: the sample app's --fault,
# e.g. "errors=0.05" (5 % of requests answer 500) or "latency_ms=300".
LAB_FAULT_TAG = "bluegreen-lab:fault"

_LAB_ENV = {
    "AWS_ACCESS_KEY_ID": LAB_CREDENTIAL,
    "AWS_SECRET_ACCESS_KEY": LAB_CREDENTIAL,
    "AWS_DEFAULT_REGION": LAB_REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class LabOptions:
    traffic_kind: str = "alb"  # or "elb" (classic)
    deregistration_delay: int = 2  # seconds of draining; AWS's default is 300
    dataplane: bool = False  # real HAProxy + instance processes
    boot_delay: float = 0.0  # seconds an instance's app takes to start answering (data plane)
    initial_seconds: float = 0.5  # scripted health: seconds in `initial` (no data plane)
    poll_seconds: float = 0.25
    verify_seconds: int = 2
    unhealthy_grace_seconds: int = 2
    # The stack's health timers (Terraform variables). The lab's instances boot at once, so no
    # grace period; the health check at AWS's minimum interval (5 s) and unhealthy threshold (2).
    health_check_grace_period: int = 0
    health_check_interval: int = 5
    unhealthy_threshold: int = 2
    instance_timeout_seconds: int = 60
    healthy_timeout_seconds: int = 30
    service: str = "web"
    # "weighted": the example stack's weighted variant (a target group per color, a weighted
    # listener) and `[traffic] mode = "weighted"`, with these extra [traffic] TOML lines.
    traffic_mode: str = "attach"
    traffic_toml: str = ""
    extra_tfvars: dict[str, Any] = field(default_factory=dict)
    # Where the release lock and journal live: "local" (the stack's .bluegreen/, `[state]
    # local_lock = true` so the lab also runs where CI is set) or "s3" (`[state] url` on a bucket
    # of the emulated S3, shared by every App of the lab as by every CI runner).
    state: str = "local"

    @classmethod
    def named(cls, service: str, **changes: Any) -> "LabOptions":
        """A lab whose every resource (groups, launch templates, LB, target groups) is named after
        ``service`` through the stack's `service` variable: moto's backends are shared by every
        lab in the process, so labs that may meet there need names of their own."""
        return cls(service=service, extra_tfvars={"service": service}, **changes)

    @property
    def unhealthy_fails_after(self) -> float:
        """Seconds a new target stays unhealthy before a release fails on it (health.HealthTimers)."""
        return self.health_check_interval * self.unhealthy_threshold + self.unhealthy_grace_seconds


class Lab:
    def __init__(self, workdir: Path, options: LabOptions | None = None) -> None:
        self.workdir = Path(workdir)
        self.options = options or LabOptions()
        self.emulator = Emulator()
        self.fidelity: Any = None
        self.health: Any = None  # ScriptedHealth, or the data plane
        self.dataplane: Any = None
        self.cloudwatch: Any = None  # the CloudWatch model (data plane only): bluegreen_lab.cloudwatch
        self.stack_dir: Path | None = None
        self.config_path = self.workdir / "bluegreen.toml"
        self._saved_env: dict[str, str | None] = {}
        self._saved_fidelity: tuple[Any, Any] | None = None
        self._tf_env: dict[str, str] = {}
        # Every App this lab makes (and every `lab.terraform(dir)` runner) reports to these, so a
        # benchmark or a test subscribes once for the lab's whole life (bluegreen.observe).
        self.terraform_events: Listeners[TerraformEvent] = Listeners()
        self.aws_events: Listeners[AwsCallEvent] = Listeners()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "Lab":
        from .fidelity import ScriptedHealth

        self.workdir.mkdir(parents=True, exist_ok=True)
        self._set_env(_LAB_ENV)
        self.emulator.start()
        self.fidelity = self.emulator.fidelity
        # The fidelity layer is process-wide: take the real clock (a test may have left a manual
        # one) and give back what we found on stop.
        self._saved_fidelity = (self.fidelity.health, self.fidelity.clock)
        self.fidelity.clock = time.monotonic
        stack = prepare_stack(self.workdir, self.emulator.endpoint_url)
        self.stack_dir = stack.stack_dir
        self._tf_env = stack.env
        self._set_env(stack.env)  # the embedded Terraform inherits it: mirror only, no network
        self._write_config(stack.toolchain.mirror_dir)
        if self.options.dataplane:
            self._start_dataplane()
        else:
            self.health = ScriptedHealth(initial_seconds=self.options.initial_seconds)
            self.fidelity.health = self.health
        return self

    def stop(self) -> None:
        try:
            if self.cloudwatch is not None:
                self.cloudwatch.stop()
                self.cloudwatch = None
            if self.dataplane is not None:
                self.dataplane.stop()
                self.dataplane = None
        finally:
            try:
                if self.fidelity is not None and self._saved_fidelity is not None:
                    self.fidelity.health, self.fidelity.clock = self._saved_fidelity
                self.emulator.stop()
            finally:
                self._restore_env()

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _write_config(self, mirror: Path) -> None:
        o = self.options
        assert self.stack_dir is not None
        self.config_path.write_text(
            "# Written by bluegreen's lab: the local emulation, fast timeouts.\n"
            f'[service]\nname = "{o.service}"\nregion = "{LAB_REGION}"\n\n'
            f'[terraform]\ndir = "{self.stack_dir}"\nbinary = "embedded"\nplugin_dir = "{mirror}"\n'
            "lock_timeout_seconds = 30\n\n"
            f'[aws]\nendpoint_url = "{self.emulator.endpoint_url}"\n\n'
            f"[release]\nverify_seconds = {o.verify_seconds}\nlock_ttl_seconds = 300\n\n"
            f"[timeouts]\ninstances_in_service_seconds = {o.instance_timeout_seconds}\n"
            f"targets_healthy_seconds = {o.healthy_timeout_seconds}\ndrain_seconds = 30\n"
            f"unhealthy_grace_seconds = {o.unhealthy_grace_seconds}\npoll_seconds = {o.poll_seconds}\n\n"
            + self._state_config() + self._traffic_config(),
            encoding="utf-8",
        )

    def _traffic_config(self) -> str:
        if self.options.traffic_mode == "attach":
            return ""
        return f'\n[traffic]\nmode = "{self.options.traffic_mode}"\n{self.options.traffic_toml}\n'

    def _state_config(self) -> str:
        if self.options.state == "local":
            # The lab is one machine: a local lock is right even where CI is set.
            return "[state]\nlocal_lock = true\n"
        if self.options.state != "s3":
            raise ValueError(f"LabOptions.state {self.options.state!r}: expected 'local' or 's3'")
        return f'[state]\nurl = "{self.state_url(self.options.service)}"\n'

    def state_url(self, prefix: str) -> str:
        """A ``[state] url`` on the emulated S3 (the bucket is made on first use)."""
        s3 = self.client("s3")
        try:
            s3.create_bucket(Bucket=LAB_STATE_BUCKET)
        except Exception as error:  # noqa: BLE001 - another lab of this process made it already
            if getattr(error, "response", {}).get("Error", {}).get("Code") not in (
                    "BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        return f"s3://{LAB_STATE_BUCKET}/{prefix}"

    # -- using it ----------------------------------------------------------------------------

    def settings(self) -> Settings:
        return load_settings(self.config_path)

    def app(self, reporter: Reporter | None = None, settings: Settings | None = None) -> App:
        reporter = reporter or Reporter(service=self.options.service)
        # Waits in the lab poll every fraction of a second: jitter would only add noise.
        return App(settings or self.settings(), reporter, poll_jitter=0.0,
                   terraform_events=self.terraform_events, aws_events=self.aws_events)

    def client(self, service: str) -> Any:
        return self.emulator.client(service)

    def bake(self, version: str, *, broken: str | None = None, fault: str | None = None) -> str:
        """An "AMI" of the sample app at ``version`` (``broken``: "now" or "after:SECONDS";
        ``fault``: "errors=0.05", "latency_ms=300" or both, comma-separated: it passes its health
        checks while failing or slowing that share of real requests)."""
        ec2 = self.client("ec2")
        ami = register_lab_image(ec2, f"web-{version}-{time.time_ns()}", version)
        if broken:
            ec2.create_tags(Resources=[ami], Tags=[{"Key": LAB_BROKEN_TAG, "Value": broken}])
        if fault:
            ec2.create_tags(Resources=[ami], Tags=[{"Key": LAB_FAULT_TAG, "Value": fault}])
        return ami

    def deploy_initial(self, ami: str, *, size: int = 2, reporter: Reporter | None = None) -> App:
        """The first deployment: the stack with blue live at ``size``, then blue attached."""
        from bluegreen import commands, tfvars
        from bluegreen.model import Color, ColorVars, TfVars

        assert self.stack_dir is not None
        vars_ = TfVars(Color.BLUE, {Color.BLUE: ColorVars(ami, size, "initial"), Color.GREEN: ColorVars(ami, 0, "")})
        o = self.options
        extra = {"deregistration_delay": o.deregistration_delay, "traffic_kind": o.traffic_kind,
                 "health_check_grace_period": o.health_check_grace_period,
                 "health_check_interval": o.health_check_interval,
                 "unhealthy_threshold": o.unhealthy_threshold,
                 **({"traffic_mode": o.traffic_mode} if o.traffic_mode != "attach" else {}), **o.extra_tfvars}
        tfvars.write(self.stack_dir / "bluegreen.auto.tfvars.json", tfvars.render(vars_, extra))
        app = self.app(reporter)
        scratch = self.stack_dir / ".bluegreen"
        scratch.mkdir(exist_ok=True)
        plan_file = scratch / "initial.tfplan"
        app.terraform.plan(self.stack_dir / "bluegreen.auto.tfvars.json", plan_file)
        app.terraform.apply_plan(plan_file)
        commands.bootstrap(app)
        return self.app(reporter)

    def terraform(self, config_dir: Path) -> Any:
        """A ``TerraformRunner`` for another Terraform configuration (e.g. the benchmarks' plain
        pattern) wired to this lab exactly as the example stack is: the provider override pointing
        at the emulation, the offline mirror through the CLI configuration, the lab credentials."""
        from bluegreen.terraform.runner import TerraformRunner
        from .toolchain import write_provider_override

        write_provider_override(Path(config_dir), self.emulator.endpoint_url)
        return TerraformRunner(config_dir, env=dict(self._tf_env), timeout=900, events=self.terraform_events)

    # -- data plane --------------------------------------------------------------------------

    def _start_dataplane(self) -> None:
        from .dataplane import DataPlane

        self.dataplane = DataPlane(self._desired_state)
        self.dataplane.start()
        self.health = self.dataplane
        self.fidelity.health = self.dataplane
        self._start_cloudwatch()

    def _start_cloudwatch(self) -> None:
        """Per-target-group ALB metrics from HAProxy's request log into the emulated CloudWatch."""
        from .cloudwatch import CloudWatchModel

        dataplane = self.dataplane
        self.cloudwatch = CloudWatchModel(lambda: dataplane.haproxy.log_path, self._metric_targets,
                                          self._put_metrics).start()

    def _metric_targets(self) -> dict[str, list[tuple[str, str]]]:
        """Instance id -> (TargetGroup, LoadBalancer) dimensions of every target group it is
        registered with (draining included), read from moto's backends under the fidelity lock."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.elbv2.models import elbv2_backends

        from bluegreen.aws.cloudwatch import load_balancer_dimension, target_group_dimension

        with self.fidelity.lock:
            records = self.fidelity.snapshot()
            groups = {tg.arn: tg for tg in elbv2_backends[DEFAULT_ACCOUNT_ID][LAB_REGION].target_groups.values()}
            mapping: dict[str, list[tuple[str, str]]] = {}
            for arn, targets in records.items():
                tg = groups.get(arn)
                if tg is None or not tg.load_balancer_arns:
                    continue  # behind no load balancer: no traffic, no metrics
                dims = (target_group_dimension(arn), load_balancer_dimension(tg.load_balancer_arns[0]))
                for record in targets:
                    if record.state in ("initial", "healthy", "unhealthy", "draining"):
                        mapping.setdefault(record.instance_id, []).append(dims)
        return mapping

    def _put_metrics(self, data: list[dict[str, Any]]) -> None:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core import DEFAULT_ACCOUNT_ID

        from .cloudwatch import NAMESPACE

        with self.fidelity.lock:
            cloudwatch_backends[DEFAULT_ACCOUNT_ID][LAB_REGION].put_metric_data(NAMESPACE, data)

    @property
    def url(self) -> str:
        assert self.dataplane is not None, "the lab runs without a data plane"
        return self.dataplane.url

    def _desired_state(self) -> dict[str, Any]:
        """Running instances (with the version their AMI carries) and the serving target
        group's registrations, read straight from moto's backends under the fidelity lock."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ec2.models import ec2_backends

        with self.fidelity.lock:
            ec2 = ec2_backends[DEFAULT_ACCOUNT_ID][LAB_REGION]
            instances: dict[str, Any] = {}
            for reservation in list(ec2.reservations.values()):
                for instance in reservation.instances:
                    if instance.state != "running":
                        continue
                    if not self._serves(ec2.tags.get(instance.id, {})):
                        continue
                    tags = _image_tags(ec2, instance.image_id)
                    instances[instance.id] = (tags.get(LAB_IMAGE_VERSION_TAG, "v0"), tags.get(LAB_BROKEN_TAG),
                                              self.options.boot_delay, tags.get(LAB_FAULT_TAG))
            targets: dict[str, str] = {}
            for records in self.fidelity.snapshot().values():
                for record in records:
                    if record.instance_id not in instances:
                        continue
                    if record.state == "draining":
                        targets.setdefault(record.instance_id, "draining")
                    elif record.state in ("initial", "healthy", "unhealthy"):
                        targets[record.instance_id] = "registered"
            weights = self._server_weights(instances)
        return {"instances": instances, "targets": targets, "weights": weights}

    def _server_weights(self, instances: dict[str, Any]) -> dict[str, int]:
        """The weighted mode: each registered instance's HAProxy weight from the listener's target
        group weights. An ALB picks a target group by weight, then a target within it, so a
        target's share is its group's weight over the sum, divided among the group's registered
        targets; scaled to HAProxy's 0-256. Empty when no listener of this lab's load balancer
        forwards to more than one target group (the attach mode). Caller holds the fidelity lock."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.elbv2.models import elbv2_backends

        backend = elbv2_backends[DEFAULT_ACCOUNT_ID][LAB_REGION]
        tg_weights: dict[str, int] = {}
        for lb in list(backend.load_balancers.values()):
            if lb.name != self.options.service:
                continue
            for listener in list(lb.listeners.values()):
                for action in listener.default_actions:
                    groups = (action.data.get("ForwardConfig") or {}).get("TargetGroups") or []
                    if len(groups) > 1:
                        tg_weights.update({g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups})
        total = sum(w for w in tg_weights.values() if w > 0)
        if not tg_weights or total <= 0:
            return {}
        result: dict[str, int] = {}
        snapshot = self.fidelity.snapshot()
        for arn, weight in tg_weights.items():
            registered = [r.instance_id for r in snapshot.get(arn, [])
                          if r.instance_id in instances and r.state != "draining"]
            for iid in registered:
                share = weight / total / len(registered)
                result[iid] = 0 if weight <= 0 else max(1, round(256 * share))
        return result


    def _serves(self, instance_tags: dict[str, str]) -> bool:
        """Whether an instance (by its tags) is this lab's: moto's backends are process-wide, so
        serve only this lab's service (a rehearsal serves its stack's groups instead)."""
        return instance_tags.get("Service") == self.options.service


def _image_tags(ec2: Any, image_id: str) -> dict[str, str]:
    """The AMI's tags straight from the EC2 backend's tag store (``{key: value}``).

    moto 5.2's ``describe_images`` takes ``ami_ids=`` (not ``image_ids=``) and its
    ``describe_tags`` returns dicts of another shape: reading through them failed, was
    swallowed, and every instance came up as an unversioned, never-broken "v0".
    """
    tags = getattr(ec2, "tags", None)
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in dict(tags.get(image_id) or {}).items()}
    return {}  # pragma: no cover - a moto without the tag store: unversioned instances
