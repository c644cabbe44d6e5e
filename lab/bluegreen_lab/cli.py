"""The lab's commands, added to ``bluegreen`` through the ``bluegreen.commands`` entry point.

Only typer is imported here: moto, matplotlib and the data plane load when a command runs, so
``bluegreen --help`` stays fast with the lab installed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Module level, not inside register(): with postponed annotations typer resolves the commands'
# annotations against this module's globals, where a name imported inside register() is missing.
from bluegreen.cli import DebugOpt, run_command
from bluegreen.report import Reporter


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        broken: Annotated[bool, typer.Option("--broken", help="Release a broken v2 and show the automatic rollback.")] = False,
        canary: Annotated[bool, typer.Option("--canary", help="The weighted stack: canary releases under an alarm gate (a good v2, then a v3 failing 5 % of requests, flipped back).")] = False,
        workdir: Annotated[Path, typer.Option("--workdir", help="Where the lab keeps its files and the timeline PNG.")] = Path(".lab/demo"),
        debug: DebugOpt = False,
    ) -> None:
        """The local lab end to end: emulated AWS, real Terraform, real HAProxy, a release under load."""

        def body(reporter: Reporter) -> int:
            from bluegreen.errors import ConfigError

            from .demo import run_demo

            if broken and canary:
                raise ConfigError("--broken and --canary are two demos: pass one of them")
            return run_demo(broken=broken, workdir=workdir, reporter=reporter, canary=canary)

        run_command(body, service="demo", debug=debug)

    @app.command()
    def rehearse(
        stack: Annotated[Path, typer.Option("--stack", help="Your Terraform stack's root directory (never modified: a scratch copy is used).")],
        config: Annotated[Path | None, typer.Option("--config", help="The stack's bluegreen.toml (default: STACK/bluegreen.toml, else what `init` finds).")] = None,
        var: Annotated[list[str] | None, typer.Option("--var", help="NAME=VALUE for a stack variable the lab cannot fill (repeatable; VALUE as JSON if it parses).")] = None,
        workdir: Annotated[Path, typer.Option("--workdir", help="Where the scratch copy, the lab's files and the timeline PNG go.")] = Path(".lab/rehearse"),
        debug: DebugOpt = False,
    ) -> None:
        """Rehearse a release of YOUR stack locally: emulated AWS, real Terraform, real HAProxy, under load."""

        def body(reporter: Reporter) -> int:
            from .rehearse import parse_var, run_rehearsal

            variables = dict(parse_var(v) for v in (var or []))
            return run_rehearsal(stack, workdir=workdir, reporter=reporter, config=config, variables=variables)

        run_command(body, service="rehearse", debug=debug)
