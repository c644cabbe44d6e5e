"""Commands from other distributions (the lab's `demo` and `rehearse`) come through the
``bluegreen.commands`` entry points; without the lab, each says in one line how to get it.
The lookup is injected (``register_plugins(app, entries=...)``): nothing here patches importlib."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from bluegreen import cli
from bluegreen.errors import ExitCode


def fresh_app() -> typer.Typer:
    """A CLI to register into, so the module's own ``cli.app`` is left as it was."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """bluegreen (test)"""

    return app


class Entry:
    def __init__(self, name: str, register) -> None:
        self.name = name
        self._register = register

    def load(self):
        return self._register


def test_without_the_lab_demo_and_rehearse_say_how_to_install_it_in_one_line():
    app = fresh_app()
    cli.register_plugins(app, entries=[])
    for argv in (["demo"], ["demo", "--broken", "--workdir", "/tmp/x"], ["rehearse", "--stack", "stack"]):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == ExitCode.CONFIG == 3, (argv, result.output)
        lines = result.stderr.splitlines()
        assert lines == [f"error: `bluegreen {argv[0]}` needs the lab, which is not installed: "
                         "run `make demo` from the repository, or `pip install -e ./lab`"], lines
        assert result.stdout == ""
    listing = CliRunner().invoke(app, ["--help"]).stdout
    assert "needs the lab" in listing


def test_the_lab_entry_point_registers_its_commands_instead():
    calls: list[typer.Typer] = []

    def register(app: typer.Typer) -> None:
        calls.append(app)

        @app.command()
        def demo() -> None:
            typer.echo("the lab's demo")

    app = fresh_app()
    cli.register_plugins(app, entries=[Entry("lab", register)])
    assert calls == [app]
    result = CliRunner().invoke(app, ["demo"])
    assert (result.exit_code, result.stdout) == (0, "the lab's demo\n")
    # `rehearse` was not added by the stand-in lab, and no "needs the lab" placeholder either.
    assert CliRunner().invoke(app, ["rehearse"]).exit_code == 2


def test_another_distributions_commands_do_not_stand_for_the_lab():
    def register(app: typer.Typer) -> None:
        @app.command()
        def hello() -> None:
            typer.echo("hi")

    app = fresh_app()
    cli.register_plugins(app, entries=[Entry("team-tools", register)])
    assert CliRunner().invoke(app, ["hello"]).stdout == "hi\n"
    assert CliRunner().invoke(app, ["demo"]).exit_code == ExitCode.CONFIG

