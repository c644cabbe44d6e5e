"""Terraform argument vectors, built by pure functions (no binary prefix; the backend adds it).

Variables reach Terraform only through ``-var-file``; ``apply`` applies exactly a saved plan;
``plan``/``apply`` speak the ``-json`` UI protocol so nothing downstream reads human output.
Tests assert these lists exactly (the style of hashicorp/terraform-exec ``tfexec/apply.go``).
"""

from __future__ import annotations

import os
from typing import Sequence

DEFAULT_LOCK_TIMEOUT = "5m"

StrPath = str | os.PathLike[str]


def init_argv(*, plugin_dirs: Sequence[StrPath] = (), upgrade: bool = False) -> list[str]:
    """``init``. ``plugin_dirs`` (``-plugin-dir``, repeatable) restrict provider installation to
    those directories, as an offline alternative to a CLI-config filesystem mirror."""
    argv = ["init", "-input=false", "-no-color"]
    if upgrade:
        argv.append("-upgrade")
    argv += [f"-plugin-dir={os.fspath(d)}" for d in plugin_dirs]
    return argv


def plan_argv(
    var_file: StrPath, out: StrPath, *, lock_timeout: str = DEFAULT_LOCK_TIMEOUT
) -> list[str]:
    """``plan`` saving the plan to ``out``. Exit code 0 = no changes, 2 = changes, 1 = error."""
    return [
        "plan",
        "-input=false",
        f"-lock-timeout={lock_timeout}",
        "-detailed-exitcode",
        "-json",
        f"-var-file={os.fspath(var_file)}",
        f"-out={os.fspath(out)}",
    ]


def apply_argv(plan_file: StrPath, *, lock_timeout: str = DEFAULT_LOCK_TIMEOUT) -> list[str]:
    """``apply`` of exactly the saved plan: no re-plan, no variables (they are in the plan)."""
    return [
        "apply",
        "-input=false",
        f"-lock-timeout={lock_timeout}",
        "-auto-approve",
        "-json",
        os.fspath(plan_file),
    ]


def show_plan_argv(plan_file: StrPath) -> list[str]:
    return ["show", "-json", "-no-color", os.fspath(plan_file)]


def show_state_argv() -> list[str]:
    """``show -json`` without a plan file: the current state (no refresh, no lock)."""
    return ["show", "-json", "-no-color"]


def state_pull_argv() -> list[str]:
    """``state pull``: the current state as JSON from any backend (read-only, no lock needed)."""
    return ["state", "pull"]


def output_argv() -> list[str]:
    return ["output", "-json", "-no-color"]


def version_argv() -> list[str]:
    return ["version", "-json"]


def validate_argv() -> list[str]:
    """``validate -json``: exit 0 valid, 1 invalid, the diagnostics in the JSON either way."""
    return ["validate", "-json", "-no-color"]

