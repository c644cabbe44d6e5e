"""The ``bluegreen`` command line. Parses flags into settings, runs one command flow, and maps
every error to its exit code in exactly one place (``run_command``)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Optional

import typer

from . import __version__, commands, drift, views
from .app import App
from .config import DEFAULT_CONFIG_NAME, Settings, check_endpoint_url, load_settings, parse_duration
from .errors import BluegreenError, ConfigError, ExitCode
from .strategy import StrategyError, parse_steps
from .report import Reporter
from .stop import RunStopped, StopToken

app = typer.Typer(
    name="bluegreen",
    help="Zero-downtime blue/green releases of a machine image to AWS Auto Scaling groups, "
    "driven by Terraform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="bluegreen.toml of the service.")]
TerraformBinOpt = Annotated[
    Optional[str],
    typer.Option("--terraform-bin", help='"embedded", "auto", or a terraform/tofu binary (overrides [terraform] binary).'),
]
EndpointOpt = Annotated[
    Optional[str], typer.Option("--endpoint-url", help="AWS endpoint override, e.g. the local emulation.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output: JSON on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show a traceback for internal errors.")]
AmiOpt = Annotated[Optional[str], typer.Option("--ami", help="The AMI to release.")]
ManifestOpt = Annotated[
    Optional[Path], typer.Option("--packer-manifest", help="Read the AMI from a Packer manifest (last run).")
]
SizeOpt = Annotated[
    Optional[int], typer.Option("--size", help="Instances in the new color (default: the live color's desired capacity).")
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the steps; touch nothing.")]


class PlanFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def _settings(config: Path, terraform_bin: str | None, endpoint_url: str | None) -> Settings:
    settings = load_settings(config, required=config.name != DEFAULT_CONFIG_NAME or config.exists())
    if terraform_bin is not None:
        settings = settings.replace("terraform", binary=terraform_bin)
    if endpoint_url is not None:
        settings = check_endpoint_url(settings.replace("aws", endpoint_url=endpoint_url), "--endpoint-url")
    return settings


def run_command(
    body: Callable[[Reporter], int | None],
    *,
    service: str = "bluegreen",
    json_output: bool = False,
    debug: bool = False,
    stop: StopToken | None = None,
) -> None:
    """The one place that turns errors into exit codes and one-line messages.

    SIGINT and SIGTERM (a CI cancel) go to ``stop``'s handler: inside ``stop.deferred()`` (a
    run in progress) the first one only requests a stop, which waits and Terraform runs honour at
    once, without undoing anything; a second one, or one outside a run, raises at once."""
    reporter = Reporter(service=service, json_stream=sys.stdout if json_output else None)
    token = stop if stop is not None else StopToken()
    restore = _install(token)
    try:
        code = body(reporter) or ExitCode.OK
    except BluegreenError as error:
        reporter.error(str(error))
        reporter.event("exit", code=int(error.exit_code), error=type(error).__name__)
        raise typer.Exit(int(error.exit_code)) from None
    except RunStopped as stopped:
        reporter.error(str(stopped))
        reporter.event("exit", code=int(stopped.exit_code), error=type(stopped).__name__)
        raise typer.Exit(int(stopped.exit_code)) from None
    except KeyboardInterrupt:  # a SIGINT before the token's handler was installed
        reporter.error("interrupted")
        reporter.event("exit", code=int(ExitCode.INTERRUPTED), error="KeyboardInterrupt")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except Exception as error:  # noqa: BLE001 - a traceback in front of a user is a bug
        if isinstance(error, OSError) and error.filename is not None:
            # A file bluegreen must read or write (permissions, a read-only mount, a full disk):
            # the machine's setup, not a bug. The known writes are checked up front (exit 3 too).
            reporter.error(f"{error.filename}: {error.strerror or error}; check its permissions and free space")
            reporter.event("exit", code=int(ExitCode.CONFIG), error=type(error).__name__)
            raise typer.Exit(int(ExitCode.CONFIG)) from None
        if debug:
            traceback.print_exc()
        reporter.error(
            f"internal error: {type(error).__name__}: {error} (a bug in bluegreen {__version__}; "
            "re-run with --debug and report it)"
        )
        raise typer.Exit(int(ExitCode.INTERNAL)) from None
    finally:
        restore()
    raise typer.Exit(int(code))


def _install(token: StopToken) -> Callable[[], None]:
    """Route SIGINT/SIGTERM to ``token`` for the command; returns what puts the previous handlers
    back (tests and the lab call commands in-process). Signals reach the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    token.install()

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def _with_app(config: Path, terraform_bin: str | None, endpoint_url: str | None, json_output: bool, debug: bool,
              body: Callable[[App], int | None],
              adjust: Callable[[Settings], Settings] | None = None,
              *, mutates: bool = False) -> None:
    """Build the App and run ``body``. ``mutates``: the command changes AWS or Terraform state
    (release, rollback, swap, resume, abort, finalize, bootstrap), so its body runs inside
    ``StopToken.deferred()``: a first signal stops it at the next safe point instead of mid-call."""
    token = StopToken()

    def run(reporter: Reporter) -> int | None:
        settings = _settings(config, terraform_bin, endpoint_url)
        if adjust is not None:  # a command's own flags, applied where errors map to exit codes
            settings = adjust(settings)
        reporter.service = settings.service.name
        a = App(settings, reporter, stop=token)
        if not mutates:
            return body(a)
        with token.deferred():
            return body(a)

    run_command(run, json_output=json_output, debug=debug, stop=token)


@app.command()
def status(
    config: ConfigOpt = Path(DEFAULT_CONFIG_NAME),
    terraform_bin: TerraformBinOpt = None,
    endpoint_url: EndpointOpt = None,
    json_output: JsonOpt = False,
    debug: DebugOpt = False,
    watch_flag: Annotated[
        bool,
        typer.Option("--watch", "-w", help="Follow the run in progress (journal and AWS) until it ends: exit 0 "
                     "completed, 10 rolled back/aborted, 11 needs-operator, 13 interrupted; read-only."),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", metavar="S", min=0.5, max=300.0, help="With --watch: seconds between polls.")
    ] = 2.0,
) -> None:
    """Which color is live, from what AWS serves, compared with Terraform."""
    if watch_flag:
        _with_app(config, terraform_bin, endpoint_url, False, debug,
                  lambda a: _watch(a, interval=interval, json_output=json_output))
        return

    def body(a: App) -> int:
        situation = commands.observe(a)
        last_run = a.journal.last_run()
        in_flight = last_run if last_run is not None and last_run.in_flight else None
        drifts = _drift(a, situation, in_flight)
        doc = views.status_document(situation, a.settings.service.name, in_flight, last_run, drifts)
        loc = a.location
        doc["journal"] = loc.describe() + ("; releases refused: set [state] url or [state] local_lock"
                                           if loc.refusal else "")
        typer.echo(json.dumps(doc, indent=2) if json_output else views.status_text(doc))
        return ExitCode.OK if doc["clean"] else ExitCode.STATE_MISMATCH

    # --json here means one JSON document on stdout, not the event stream.
    _with_app(config, terraform_bin, endpoint_url, False, debug, body)


def _watch(a: App, *, interval: float, json_output: bool, console=None,
           sleep: Callable[[float], bool] | None = None, echo: Callable[[str], None] = typer.echo) -> int:
    """``status --watch``: redraw (a terminal) or print one line per change (a pipe; with --json
    one JSON object per change) until the followed run ends. The first Ctrl-C only asks the loop
    to stop between polls: nothing is touched, the run goes on (exit 13)."""
    from rich.console import Console
    from rich.live import Live

    from . import watch

    latest = a.journal.store.latest()
    read = commands.watch_reader(a, latest)
    console = console or Console(highlight=False)
    first = read()
    if first.run is None or first.run.final:
        # Nothing to follow: say what the last run did, as `status` would, and end.
        echo(json.dumps(watch.document(first)) if json_output else watch.line(first))
        a.reporter.info("no run in progress" + (f"; the last, {first.run.run_id}, is {first.run.state}"
                                                 if first.run else ""))
        return ExitCode.OK
    pending = [first]

    def read_next() -> watch.Snapshot:
        return pending.pop() if pending else read()

    # A real wait on the stop token: a Ctrl-C wakes it at once. Tests inject their own.
    sleep = sleep or a.stop.wait

    with a.stop.deferred():  # the first Ctrl-C requests a stop, which `sleep` notices at once
        if console.is_terminal and not json_output:
            with Live(watch.draw(first), console=console, auto_refresh=False) as live:
                last, stopped = watch.follow(read_next, lambda s: live.update(watch.draw(s), refresh=True),
                                             sleep=sleep, interval=interval)
        else:
            render = (lambda s: json.dumps(watch.document(s))) if json_output else watch.line
            last, stopped = watch.follow(read_next, watch.ChangePrinter(echo, render),
                                         sleep=sleep, interval=interval)
    if stopped:
        a.reporter.info(f"stopped watching; nothing was changed (run {latest} goes on)")
        return ExitCode.INTERRUPTED
    return watch.exit_code(last)


def _drift(a: App, situation: commands.Situation, in_flight) -> tuple[drift.Drift, ...]:
    """The inputs of ``drift.find``: min/max as Terraform's state holds them (see drift.py)."""
    applied = drift.applied_capacity(a.stack.terraform.show_state(), situation.outputs.asg_names)
    where = drift.Where(stack_dir=_as_typed(a.settings.terraform.dir), region=a.settings.service.region)
    return drift.find(situation.observed, situation.assessment, situation.tfvars, situation.outputs,
                      applied, drift.InFlight.of(in_flight), where)


def _as_typed(path: Path) -> str:
    """``path`` as the user would type it here: relative to the current directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


@app.command()
def plan(
    ami: AmiOpt = None,
    packer_manifest: ManifestOpt = None,
    size: SizeOpt = None,
    output_format: Annotated[PlanFormat, typer.Option("--format", help="text, json, or markdown (a PR comment).")] = PlanFormat.text,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", metavar="FILE",
                     help="Save the plan (Terraform's plan file and what it was made against) for `release --plan FILE`."),
    ] = None,
    config: ConfigOpt = Path(DEFAULT_CONFIG_NAME),
    terraform_bin: TerraformBinOpt = None,
    endpoint_url: EndpointOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Terraform plan of a release onto the idle color, with the blast-radius check."""

    def body(a: App) -> int:
        preview, live, idle = commands.plan(a, ami=ami, manifest=packer_manifest, size=size, out=out)
        doc = views.plan_document(preview, live, idle)
        render = {PlanFormat.text: views.plan_text, PlanFormat.markdown: views.plan_markdown,
                  PlanFormat.json: lambda d: json.dumps(d, indent=2)}[output_format]
        typer.echo(render(doc))
        return ExitCode.OK if preview.ok else ExitCode.BLAST_RADIUS

    _with_app(config, terraform_bin, endpoint_url, False, debug, body)


@app.command()
def release(
    ami: AmiOpt = None,
    packer_manifest: ManifestOpt = None,
    size: SizeOpt = None,
    keep_old: Annotated[
        Optional[str],
        typer.Option("--keep-old", metavar="DURATION",
                     help="Keep the old color running (detached) this long for an instant rollback: 600, 90s, 10m, 2h."),
    ] = None,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="With --keep-old: do not watch the window in the foreground; the first "
                     "release, rollback or swap after it ends scales the old color to zero."),
    ] = False,
    saved_plan: Annotated[
        Optional[Path],
        typer.Option("--plan", metavar="FILE",
                     help="Apply exactly the plan `bluegreen plan --out FILE` saved; refused (exit 7) if the state, "
                     "the tfvars or the live color moved since."),
    ] = None,
    steps: Annotated[
        Optional[str],
        typer.Option("--steps", metavar="STEPS",
                     help="Weighted mode: the new color's share and pause per step, e.g. 10:2m,50:pause,100 "
                     "(pause = wait for `bluegreen promote`); overrides [traffic] steps/strategy."),
    ] = None,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = Path(DEFAULT_CONFIG_NAME),
    terraform_bin: TerraformBinOpt = None,
    endpoint_url: EndpointOpt = None,
    json_output: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Release a new AMI onto the idle color with zero downtime; roll back on any failure."""

    def body(a: App) -> None:
        commands.release(a, ami=ami, manifest=packer_manifest, size=size,
                         keep_old=bool(a.settings.release.keep_old_seconds), dry_run=dry_run,
                         wait=not no_wait, saved_plan_file=saved_plan)

    def adjust(settings: Settings) -> Settings:
        if steps is not None:
            try:
                parse_steps(steps, "--steps")
            except StrategyError as exc:
                raise ConfigError(str(exc)) from None
            settings = settings.replace("traffic", steps=steps)
        if keep_old is None:
            return settings
        return settings.replace("release", keep_old_seconds=parse_duration(keep_old, "--keep-old"))

    _with_app(config, terraform_bin, endpoint_url, json_output, debug, body, adjust, mutates=not dry_run)


def _register(name: str, flow: Callable[..., object], doc: str, *, dry_run: bool = False) -> None:
    """A command whose only flags are the common ones (plus --dry-run when it has one)."""
    if dry_run:

        def command(
            dry_run_flag: DryRunOpt = False,
            config: ConfigOpt = Path(DEFAULT_CONFIG_NAME),
            terraform_bin: TerraformBinOpt = None,
            endpoint_url: EndpointOpt = None,
            json_output: JsonOpt = False,
            debug: DebugOpt = False,
        ) -> None:
            _with_app(config, terraform_bin, endpoint_url, json_output, debug,
                      lambda a: (flow(a, dry_run=dry_run_flag), None)[1], mutates=not dry_run_flag)

    else:

        def command(  # type: ignore[misc]
            config: ConfigOpt = Path(DEFAULT_CONFIG_NAME),
            terraform_bin: TerraformBinOpt = None,
            endpoint_url: EndpointOpt = None,
            json_output: JsonOpt = False,
            debug: DebugOpt = False,
        ) -> None:
            _with_app(config, terraform_bin, endpoint_url, json_output, debug, lambda a: (flow(a), None)[1],
                      mutates=True)

    command.__doc__ = doc
    app.command(name=name)(command)


_register("rollback", commands.rollback,
          "Put the previous color back in service (seconds if it is still warm).", dry_run=True)
_register("swap", commands.swap,
          "Swap traffic between two running colors, with the same checks and draining; no apply.", dry_run=True)
_register("resume", commands.resume, "Continue an interrupted release, rollback or swap from its journal.")
_register("abort", commands.abort,
          "Undo an interrupted release, rollback or swap (before the old color left service).")
_register("promote", commands.promote,
          "Weighted mode: end the approval pause a release waits at and skip its remaining timed pauses.")
_register("finalize", commands.finalize, "Scale a color kept warm by --keep-old to zero through Terraform.")
_register("bootstrap", commands.bootstrap,
          "First deployment of a new stack: attach the tfvars' live color and wait until healthy.")


@app.command()
def unlock(
    run_id: Annotated[str, typer.Argument(help="The run id the lock message names.")],
    config: ConfigOpt = Path(DEFAULT_CONFIG_NAME),
    terraform_bin: TerraformBinOpt = None,
    endpoint_url: EndpointOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Break a stale release lock (only the one of RUN_ID)."""
    _with_app(config, terraform_bin, endpoint_url, False, debug, lambda a: commands.unlock(a, run_id))


@app.command()
def history(
    run_id: Annotated[Optional[str], typer.Argument(help="One run: its steps, timings, hooks and notifications.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many runs, newest first.")] = 20,
    config: ConfigOpt = Path(DEFAULT_CONFIG_NAME),
    terraform_bin: TerraformBinOpt = None,
    endpoint_url: EndpointOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Past runs from the release journal: when, who, from which color and AMI to which, result."""

    def body(a: App) -> int:
        if run_id is not None:
            run = commands.run_history(a, run_id)
            typer.echo(json.dumps(views.history_run_document(run), indent=2) if json_output
                       else views.history_run_text(run))
            return ExitCode.OK
        listing = commands.history_list(a, limit)
        typer.echo(json.dumps(views.history_document(listing), indent=2) if json_output
                   else views.history_text(listing))
        return ExitCode.OK

    _with_app(config, terraform_bin, endpoint_url, False, debug, body)


@app.command()
def check(
    config: ConfigOpt = Path(DEFAULT_CONFIG_NAME),
    terraform_bin: TerraformBinOpt = None,
    endpoint_url: EndpointOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Check the stack against bluegreen's Terraform contract; each point pass/fail with its fix."""
    from . import contract, stackcheck

    def body(a: App) -> int:
        checks = contract.evaluate(stackcheck.gather(a))
        stack_dir = a.settings.terraform.dir
        if json_output:
            typer.echo(json.dumps(stackcheck.checks_document(checks, stack_dir), indent=2))
        else:
            typer.echo(stackcheck.checks_text(checks, stack_dir))
        return ExitCode.OK if all(c.ok for c in checks) else ExitCode.CONFIG

    _with_app(config, terraform_bin, endpoint_url, False, debug, body)


@app.command(name="init")
def init_command(
    stack_dir: Annotated[Path, typer.Option("--dir", help="The Terraform stack directory.")] = Path("."),
    config: Annotated[Path, typer.Option("--config", "-c", help="Where to write bluegreen.toml.")] = Path(DEFAULT_CONFIG_NAME),
    write_module: Annotated[
        Optional[Path], typer.Option("--write-module", metavar="PATH", help="Also write a color module (launch template + group) into PATH.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    terraform_bin: TerraformBinOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Write a starting bluegreen.toml from what the stack has (and, on request, a color module)."""
    import os

    from . import stackcheck
    from .errors import ConfigError

    def body(reporter: Reporter) -> int:
        if not stack_dir.is_dir() or not any(stack_dir.glob("*.tf")):
            raise ConfigError(f"--dir {stack_dir}: no Terraform files (*.tf) there; point --dir at the stack")
        if config.exists() and not force:
            raise ConfigError(f"{config} already exists; pass --force to overwrite it, or --config elsewhere")
        binary = terraform_bin or "auto"
        discovery = stackcheck.discover(stack_dir, binary=binary)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        text = stackcheck.render_config(discovery, stack_dir, config, binary=binary, region=region)
        if write_module is not None:
            for path in stackcheck.write_module(write_module, force=force):
                reporter.info(f"wrote {path}")
        config.write_text(text, encoding="utf-8")
        reporter.info(f"wrote {config} (color addresses: {', '.join(discovery.patterns)})")
        for note in discovery.notes:
            reporter.warn(note)
        if discovery.outputs_missing:
            reporter.warn("the state lacks outputs " + ", ".join(discovery.outputs_missing)
                          + " (README 'The Terraform contract')")
        reporter.info(f"next: bluegreen check --config {config}")
        return ExitCode.OK

    run_command(body, debug=debug)


@app.command()
def version() -> None:
    """Print bluegreen's version."""
    typer.echo(f"bluegreen {__version__}")


# Commands other distributions add (the lab's `demo` and `rehearse`, from bluegreen-lab): each
# entry point of this group is a function ``register(app)``. The product never imports them by name,
# so its wheel carries no lab code and no moto dependency.
PLUGIN_GROUP = "bluegreen.commands"
LAB_COMMANDS = ("demo", "rehearse")


def register_plugins(target: typer.Typer, entries: Iterable[Any] | None = None) -> None:
    """Add the commands of every ``bluegreen.commands`` entry point to ``target``; without the
    lab's (``lab``), its commands say in one line how to install it.

    ``entries`` is the seam for the lookup (objects with ``name`` and ``load()``, as
    ``importlib.metadata`` returns them); ``None`` reads the installed distributions."""
    if entries is None:
        from importlib.metadata import entry_points

        entries = entry_points(group=PLUGIN_GROUP)
    registered = False
    for entry in entries:
        entry.load()(target)
        registered = registered or entry.name == "lab"
    if not registered:
        for name in LAB_COMMANDS:
            _register_missing_lab(target, name)


def _register_missing_lab(target: typer.Typer, name: str) -> None:
    @target.command(name, context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                    help="(needs the lab: pip install -e ./lab, or run `make demo`)")
    def missing() -> None:
        typer.echo(f"error: `bluegreen {name}` needs the lab, which is not installed: "
                   "run `make demo` from the repository, or `pip install -e ./lab`", err=True)
        raise typer.Exit(int(ExitCode.CONFIG))


def main() -> None:
    register_plugins(app)
    app()
