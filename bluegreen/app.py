"""Wiring: build the adapters a command needs from settings, lazily, so a read-only command never
opens a client it does not use and a bad input fails before anything is built."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .aws.autoscaling import AutoScalingAdapter
from .aws.elb import ClassicElbTraffic, TargetGroupTraffic
from .aws.images import ImagesAdapter
from .aws.journal_store import FileJournalStore, S3JournalStore
from .aws.lease import FileLease, S3Lease
from .aws.session import AwsClients
from .config import Settings
from .errors import ConfigError
from .hooks import HookRunner, Hooks
from .journal import Journal
from .model import TrafficKind
from .ports import LoadBalancer
from .report import Reporter
from .stack import SCRATCH_DIR, Stack
from .stop import StopToken
from .terraform.runner import TerraformRunner
from .waits import SystemClock, Waiter


@dataclass(frozen=True)
class StateLocation:
    """Where the release lease and journal live: beside the Terraform state."""

    kind: str  # "local" or "s3"
    bucket: str = ""
    key: str = ""
    region: str = ""


def state_location(stack_dir: Path) -> StateLocation:
    """From the backend Terraform initialised (``.terraform/terraform.tfstate``)."""
    marker = stack_dir / ".terraform" / "terraform.tfstate"
    try:
        backend = json.loads(marker.read_text(encoding="utf-8")).get("backend") or {}
    except (OSError, ValueError):
        return StateLocation("local")
    if backend.get("type") == "s3":
        config = backend.get("config") or {}
        return StateLocation("s3", config.get("bucket", ""), config.get("key", ""), config.get("region", ""))
    return StateLocation("local")


class App:
    def __init__(
        self, settings: Settings, reporter: Reporter, *, clock: Any = None, stop: StopToken | None = None
    ) -> None:
        self.settings = settings
        self.reporter = reporter
        # One token for everything this run does: waits and Terraform runs are its safe points.
        self.stop = stop if stop is not None else StopToken()
        self.clock = clock or SystemClock(self.stop)
        if not settings.terraform.dir.is_dir():
            where = f"{settings.source}: terraform.dir" if settings.source else "terraform.dir"
            raise ConfigError(
                f"{where}: Terraform directory {settings.terraform.dir} does not exist; "
                "point [terraform] dir at the stack"
            )

    @cached_property
    def clients(self) -> AwsClients:
        clients = AwsClients.from_settings(self.settings)
        # One call without retries: missing credentials or an unreachable endpoint fail in a
        # second with what to do, instead of after half a minute of retries on the first real call.
        clients.preflight()
        return clients

    @cached_property
    def terraform(self) -> TerraformRunner:
        tf = self.settings.terraform
        timeouts = self.settings.timeouts
        runner = TerraformRunner(
            tf.dir,
            binary=tf.binary,
            lock_timeout=f"{tf.lock_timeout_seconds}s",
            plugin_dirs=[tf.plugin_dir] if tf.plugin_dir else (),
            heartbeat=self.reporter.info,
            stop=self.stop,
            stop_grace=timeouts.terraform_interrupt_seconds,
            apply_timeout=timeouts.terraform_apply_seconds or None,
        )
        runner.ensure_ready()
        return runner

    @cached_property
    def stack(self) -> Stack:
        return Stack(self.terraform, self.settings.terraform.tfvars_path,
                     self.settings.terraform.color_addresses)

    @cached_property
    def autoscaling(self) -> AutoScalingAdapter:
        return AutoScalingAdapter.from_clients(self.clients)

    @cached_property
    def images(self) -> ImagesAdapter:
        return ImagesAdapter.from_clients(self.clients)

    @cached_property
    def traffic(self) -> LoadBalancer:
        outputs = self.stack.outputs()
        if outputs.traffic_kind is TrafficKind.ALB:
            return TargetGroupTraffic.from_clients(self.clients, outputs.traffic_name)
        return ClassicElbTraffic.from_clients(self.clients, outputs.traffic_name)

    @cached_property
    def location(self) -> StateLocation:
        return state_location(self.settings.terraform.dir)

    @cached_property
    def journal(self) -> Journal:
        loc = self.location
        if loc.kind == "s3":
            store = S3JournalStore(self.clients.client("s3"), loc.bucket, f"{loc.key}.bluegreen-journal.jsonl")
        else:
            store = FileJournalStore(self.settings.terraform.dir / SCRATCH_DIR / "journal.jsonl")
        return Journal(store)

    @cached_property
    def lease(self) -> FileLease | S3Lease:
        loc = self.location
        service = self.settings.service.name
        if loc.kind == "s3":
            return S3Lease(self.clients.client("s3"), loc.bucket, f"{loc.key}.bluegreen-lock", service=service)
        return FileLease(self.settings.terraform.dir / SCRATCH_DIR / "release.lock", service=service)

    @cached_property
    def hooks(self) -> Hooks | None:
        """``[[hooks]]`` and ``[[notify]]``; ``None`` when neither is configured (nothing runs)."""
        s = self.settings
        if not s.hooks and not s.notify:
            return None

        def sns() -> Any:
            from .aws.sns import SnsPublisher  # only a config with an SNS target builds its client

            return SnsPublisher.from_clients(self.clients)

        return Hooks(s.hooks, s.notify, reporter=self.reporter, ledger=self.journal, sns=sns,
                     runner=HookRunner(stop=self.stop))

    def waiter(self, on_tick=None) -> Waiter:
        return Waiter(
            clock=self.clock,
            reporter=self.reporter,
            poll_seconds=self.settings.timeouts.poll_seconds,
            on_tick=on_tick,
            stop=self.stop,
        )
