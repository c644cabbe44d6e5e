"""The lab's commands, added to ``bluegreen`` through the ``bluegreen.commands`` entry point.

Only typer is imported here: moto, matplotlib and the data plane load when a command runs, so
``bluegreen --help`` stays fast with the lab installed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from bluegreen.cli import DebugOpt, run_command
    from bluegreen.report import Reporter

    @app.command()
    def demo(
        broken: Annotated[bool, typer.Option("--broken", help="Release a broken v2 and show the automatic rollback.")] = False,
        workdir: Annotated[Path, typer.Option("--workdir", help="Where the lab keeps its files and the timeline PNG.")] = Path(".lab/demo"),
        debug: DebugOpt = False,
    ) -> None:
        """The local lab end to end: emulated AWS, real Terraform, real HAProxy, a release under load."""

        def body(reporter: Reporter) -> int:
            from .demo import run_demo

            return run_demo(broken=broken, workdir=workdir, reporter=reporter)

        run_command(body, service="demo", debug=debug)
