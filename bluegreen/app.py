"""Wiring: build the adapters a command needs from settings, lazily, so a read-only command never
opens a client it does not use and a bad input fails before anything is built."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping

from .aws.autoscaling import AutoScalingAdapter
from .aws.cloudwatch import CloudWatchGates
from .aws.elb import ClassicElbTraffic, TargetGroupTraffic
from .aws.listener import ListenerWeights
from .aws.images import ImagesAdapter
from .aws.journal_store import FileJournalStore, S3JournalStore
from .aws.lease import FileLease, S3Lease
from .aws.session import AwsClients
from .config import Settings, StateSettings
from .errors import ConfigError
from .heartbeat import Heartbeat
from .hooks import HookRunner, Hooks
from .journal import Journal
from .model import Color, TrafficKind
from .observe import AwsCallEvent, Listeners, TerraformEvent
from .ports import LoadBalancer
from .report import Reporter
from .stack import SCRATCH_DIR, Stack
from .stop import StopToken
from .terraform.runner import TerraformRunner
from .waits import SystemClock, Waiter


@dataclass(frozen=True)
class Backend:
    """The Terraform backend the stack was initialised with."""

    type: str  # "local" (also: no backend block), "s3", or another backend's name (gcs, remote, ...)
    bucket: str = ""
    key: str = ""
    region: str = ""


def terraform_backend(stack_dir: Path) -> Backend:
    """From the backend Terraform initialised (``.terraform/terraform.tfstate``); none recorded
    means Terraform's default, the local backend."""
    marker = stack_dir / ".terraform" / "terraform.tfstate"
    try:
        backend = json.loads(marker.read_text(encoding="utf-8")).get("backend") or {}
    except (OSError, ValueError):
        return Backend("local")
    kind = str(backend.get("type") or "local")
    config = backend.get("config") or {}
    if kind == "s3":
        return Backend("s3", str(config.get("bucket") or ""), str(config.get("key") or ""),
                       str(config.get("region") or ""))
    return Backend(kind)


@dataclass(frozen=True)
class StateLocation:
    """Where the release lease and journal live, and why. ``refusal`` (one line) set means they
    would be local where they must be shared: commands that change anything refuse with it, while
    read-only ones may still read the local journal."""

    kind: str  # "local" or "s3"
    bucket: str = ""
    lock_key: str = ""  # s3: the lease object
    journal_prefix: str = ""  # s3: runs/<id>.jsonl and runs/index.json go under it
    legacy_key: str = ""  # s3: the single journal object of earlier versions, read only
    why: str = ""
    refusal: str = ""

    def describe(self) -> str:
        if self.kind == "s3":
            where = f"s3://{self.bucket}/{self.journal_prefix}".rstrip("/")
            return f"{where}/runs ({self.why})"
        return f"local {SCRATCH_DIR}/ ({self.why})"


CI_FALSE = frozenset({"", "0", "false", "no"})


def in_ci(environ: Mapping[str, str]) -> bool:
    """``CI`` is set by GitHub Actions, GitLab, Travis, CircleCI, Buildkite, Jenkins (with the
    plugin) ...; ``CI=false`` or empty counts as unset."""
    value = environ.get("CI")
    return value is not None and value.strip().lower() not in CI_FALSE


def decide_location(state: StateSettings, backend: Backend, *, ci: bool, source: str = "bluegreen.toml") -> StateLocation:
    """Pure: where the lock and journal live (README "Where the lock and journal live").

    ``[state] url`` wins; else an S3 backend keeps them beside the state; else a local backend
    outside CI keeps them in the stack's ``.bluegreen/``; anything else would be a lock only this
    runner sees, so two CI runners could release at once: refused unless ``[state] local_lock``."""
    shared = state.s3
    if shared is not None:
        bucket, prefix = shared
        lock = f"{prefix}/release.lock" if prefix else "release.lock"
        return StateLocation("s3", bucket, lock, prefix, why="[state] url")
    if backend.type == "s3":
        return StateLocation(
            "s3", backend.bucket, f"{backend.key}.bluegreen-lock", f"{backend.key}.bluegreen",
            legacy_key=f"{backend.key}.bluegreen-journal.jsonl", why="beside the S3 state",
        )
    if backend.type == "local" and not ci:
        return StateLocation("local", why="local backend")
    if state.local_lock:
        return StateLocation("local", why="[state] local_lock = true")
    reason = (f'Terraform backend "{backend.type}" keeps no lock bluegreen can share'
              if backend.type != "local" else "CI is set and the Terraform backend is local")
    return StateLocation("local", why=reason, refusal=(
        f"{source}: the release lock and journal would live on this machine only ({reason}), so "
        'another runner could release at once; set [state] url = "s3://BUCKET/PREFIX" to share '
        "them, or [state] local_lock = true if this machine is the only one that releases"
    ))


class App:
    """The adapters of one command, built lazily from ``settings``.

    Seams for an embedder (the lab, the benchmarks), all constructor arguments, so nothing needs
    to patch the App or its adapters:

    - ``clock``: the ``ports.Clock`` every wait polls and sleeps on (default: real time that a
      stop request wakes);
    - ``poll_jitter``: the waits' jitter fraction (``Waiter.jitter``; AWS asks real clients to
      jitter their polls, the lab polls every fraction of a second and sets 0);
    - ``terraform_events`` / ``aws_events``: listeners of every Terraform command and every AWS
      call (``bluegreen.observe``), shared by whoever passes the same ``Listeners`` to several
      Apps; both are also readable as attributes for ``.add(listener)``.

    - ``heartbeat``: how the release lease is kept renewed while a run holds it, called as
      ``heartbeat(lease, ttl, stop, run_id=...)`` and returning a started object with ``stop()``
      (default: ``Heartbeat``'s daemon thread on real time; the unit tier's fake world beats on its
      own clock so a lost lease is noticed mid-run there too).

    Progress events come from the reporter: ``reporter.subscribe(listener)``."""

    # The gates of the release this process runs (commands.open_gates), kept so that its keep-old
    # watch judges against the same baseline: an alarm that went to ALARM since the release began
    # trips there too, one that was already in ALARM (and allowed) does not.
    gate_watch: Any = None

    def __init__(
        self,
        settings: Settings,
        reporter: Reporter,
        *,
        clock: Any = None,
        stop: StopToken | None = None,
        poll_jitter: float | None = None,
        terraform_events: Listeners[TerraformEvent] | None = None,
        aws_events: Listeners[AwsCallEvent] | None = None,
        heartbeat: Callable[..., Any] | None = None,
    ) -> None:
        self.settings = settings
        self.reporter = reporter
        # One token for everything this run does: waits and Terraform runs are its safe points.
        self.stop = stop if stop is not None else StopToken()
        self.clock = clock or SystemClock(self.stop)
        self.poll_jitter = poll_jitter
        self.terraform_events: Listeners[TerraformEvent] = (
            terraform_events if terraform_events is not None else Listeners())
        self.aws_events: Listeners[AwsCallEvent] = aws_events if aws_events is not None else Listeners()
        self._heartbeat_factory = heartbeat
        if not settings.terraform.dir.is_dir():
            where = f"{settings.source}: terraform.dir" if settings.source else "terraform.dir"
            raise ConfigError(
                f"{where}: Terraform directory {settings.terraform.dir} does not exist; "
                "point [terraform] dir at the stack"
            )

    @cached_property
    def clients(self) -> AwsClients:
        clients = AwsClients.from_settings(self.settings, events=self.aws_events)
        # One call without retries: missing credentials or an unreachable endpoint fail in a
        # second with what to do, instead of after half a minute of retries on the first real call.
        clients.preflight()
        return clients

    @cached_property
    def caller_identity(self) -> dict[str, str]:
        """The AWS identity this process acts as (``{"account", "arn"}``), as the preflight's
        sts:GetCallerIdentity reported it: a run records it as who started it."""
        return dict(self.clients.identity)

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
            events=self.terraform_events,
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
    def cloudwatch(self) -> CloudWatchGates:
        """Alarm states and target-group metrics for ``[gates]`` (built only when gates are configured)."""
        return CloudWatchGates.from_clients(self.clients)

    @cached_property
    def traffic(self) -> LoadBalancer:
        outputs = self.stack.outputs()
        if outputs.traffic_kind is TrafficKind.ALB:
            return TargetGroupTraffic.from_clients(self.clients, outputs.traffic_name)
        return ClassicElbTraffic.from_clients(self.clients, outputs.traffic_name)

    @cached_property
    def listener(self) -> ListenerWeights:
        """The weighted mode's listener (its forward action's weights)."""
        outputs = self.stack.outputs()
        assert outputs.listener_arn, "weighted outputs validated on load"
        return ListenerWeights.from_clients(self.clients, outputs.listener_arn)

    def traffic_of(self, color: Color) -> LoadBalancer:
        """The weighted mode: ``color``'s own target group (one adapter per color, reused)."""
        cache = self.__dict__.setdefault("_color_traffic", {})
        if color not in cache:
            groups = self.stack.outputs().color_target_groups
            assert groups, "weighted outputs validated on load"
            cache[color] = TargetGroupTraffic.from_clients(self.clients, groups[color])
        return cache[color]

    @cached_property
    def location(self) -> StateLocation:
        source = str(self.settings.source) if self.settings.source else "bluegreen.toml"
        return decide_location(self.settings.state, terraform_backend(self.settings.terraform.dir),
                               ci=in_ci(os.environ), source=source)

    @cached_property
    def journal(self) -> Journal:
        """Read-only commands get a journal even where the location is refused (the local one);
        writing happens only under the lease, which refuses first."""
        loc = self.location
        keep = self.settings.state.keep_runs
        if loc.kind == "s3":
            store: FileJournalStore | S3JournalStore = S3JournalStore(
                self.clients.client("s3"), loc.bucket, loc.journal_prefix,
                legacy_key=loc.legacy_key or None, keep_runs=keep)
        else:
            scratch = self.settings.terraform.dir / SCRATCH_DIR
            store = FileJournalStore(scratch / "runs", legacy_path=scratch / "journal.jsonl", keep_runs=keep)
        return Journal(store)

    @cached_property
    def lease(self) -> FileLease | S3Lease:
        """The release lease; refuses (ConfigError, exit 3) before any change when it would be a
        lock only this machine sees where others may release too."""
        loc = self.location
        if loc.refusal:
            raise ConfigError(loc.refusal)
        service = self.settings.service.name
        if loc.kind == "s3":
            return S3Lease(self.clients.client("s3"), loc.bucket, loc.lock_key, service=service)
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
                     runner=HookRunner(stop=self.stop), record=self.journal.hook_ran)

    def waiter(self, on_tick=None) -> Waiter:
        jitter = {} if self.poll_jitter is None else {"jitter": self.poll_jitter}
        return Waiter(
            clock=self.clock,
            reporter=self.reporter,
            poll_seconds=self.settings.timeouts.poll_seconds,
            on_tick=on_tick,
            stop=self.stop,
            **jitter,
        )

    def start_heartbeat(self, run_id: str, ttl_seconds: float) -> Any:
        """Start renewing the release lease just acquired for ``run_id`` (see ``heartbeat``)."""
        if self._heartbeat_factory is not None:
            return self._heartbeat_factory(self.lease, ttl_seconds, self.stop, run_id=run_id)
        return Heartbeat(self.lease, ttl_seconds, self.stop, run_id=run_id).start()
