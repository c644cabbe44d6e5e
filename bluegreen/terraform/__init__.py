"""Terraform: argv builders, version constraints, and the runner (embedded or external)."""

from .runner import EMBEDDED, AUTO, CommandResult, TerraformRunner, select_backend, still_running

__all__ = ["AUTO", "EMBEDDED", "CommandResult", "TerraformRunner", "select_backend", "still_running"]
