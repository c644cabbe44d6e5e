"""The Terraform stack as a release sees it: read the variables bluegreen owns, preview a change
(render -> plan -> blast-radius check) and apply exactly the previewed plan.

The committed tfvars file is written only after its plan has been applied, so at every moment it
describes what AWS runs: a reviewer's ``terraform plan`` shows no changes, even after a crash.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import blast_radius, tfvars
from .blast_radius import BlastRadiusVerdict, PlanSummary
from .errors import BlastRadiusError, ConfigError
from .model import Color, StackOutputs, TfVars
from .ports import Terraform

SCRATCH_DIR = ".bluegreen"


def ensure_writable(stack_dir: Path) -> None:
    """``ConfigError`` unless bluegreen can write where it must, checked before any AWS change:
    the tfvars file is replaced atomically (a temporary file in the stack directory) and
    ``.bluegreen/`` holds the plans, the local lock and the journal. Found only at the first
    write, a read-only directory would stop a release halfway (or surface as an internal error)."""
    scratch = stack_dir / SCRATCH_DIR
    for directory in (stack_dir, scratch):
        try:
            directory.mkdir(exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".bluegreen-write-check.", dir=directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise not_writable(directory, exc) from None
    # Files an earlier run left behind, perhaps as another user (a `sudo bluegreen ...`).
    for path in sorted(scratch.iterdir()):
        if path.is_file() and not os.access(path, os.W_OK):
            raise not_writable(path, PermissionError(13, "Permission denied"))


def not_writable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"{path}: not writable ({exc.strerror or exc}); bluegreen writes the tfvars file and "
        f"{SCRATCH_DIR}/ (plans, local lock, journal) in the stack directory",
        hint="make them writable for this user, or run from a writable checkout; nothing was changed",
    )


@dataclass(frozen=True)
class Preview:
    label: str
    vars: TfVars
    text: str  # the rendered variables file
    plan_file: Path
    summary: PlanSummary
    verdict: BlastRadiusVerdict | None  # None when no resource may change at all

    @property
    def ok(self) -> bool:
        if self.verdict is None:
            return not self.summary.has_changes
        return self.verdict.ok


class Stack:
    def __init__(self, terraform: Terraform, tfvars_path: Path, color_address: str) -> None:
        self.terraform = terraform
        self.tfvars_path = tfvars_path
        self.color_address = color_address
        self.scratch = tfvars_path.parent / SCRATCH_DIR
        self._outputs: StackOutputs | None = None

    def outputs(self) -> StackOutputs:
        if self._outputs is None:
            self._outputs = self.terraform.outputs()
        return self._outputs

    def read_vars(self) -> tuple[TfVars, dict[str, Any]]:
        return tfvars.read(self.tfvars_path)

    def committed_text(self) -> str:
        return self.tfvars_path.read_text(encoding="utf-8")

    def preview(self, new_vars: TfVars, allowed: Color | None, label: str) -> Preview:
        """Plan ``new_vars`` from a scratch copy. ``allowed`` is the one color whose addresses may
        change; ``None`` means no resource may change (outputs may)."""
        _, extra = self.read_vars()
        text = tfvars.render(new_vars, extra)
        return self._preview_text(text, new_vars, allowed, label)

    def _preview_text(self, text: str, new_vars: TfVars, allowed: Color | None, label: str) -> Preview:
        self.scratch.mkdir(parents=True, exist_ok=True)
        var_file = self.scratch / f"{label}.tfvars.json"
        tfvars.write(var_file, text)
        plan_file = self.scratch / f"{label}.tfplan"
        self.terraform.plan(var_file, plan_file)
        summary = blast_radius.summarize(self.terraform.show_plan(plan_file))
        verdict = (
            blast_radius.check(summary, allowed, self.color_address) if allowed is not None else None
        )
        return Preview(label, new_vars, text, plan_file, summary, verdict)

    def apply(self, preview: Preview) -> None:
        """Apply exactly the previewed plan, then record its variables as the committed file."""
        if not preview.ok:
            raise _blast_radius_error(preview)
        self.terraform.apply_plan(preview.plan_file)
        tfvars.write(self.tfvars_path, preview.text)
        self._outputs = None

    def change(self, new_vars: TfVars, allowed: Color | None, label: str) -> Preview:
        preview = self.preview(new_vars, allowed, label)
        self.apply(preview)
        return preview

    def restore(self, text: str, allowed: Color | None, label: str) -> Preview:
        """Put the variables back to ``text`` (a release's starting point) and apply them."""
        parsed, _ = tfvars.parse(json.loads(text), source=self.tfvars_path)
        preview = self._preview_text(text, parsed, allowed, label)
        self.apply(preview)
        return preview

    def pending_changes(self) -> PlanSummary:
        """The plan of the committed variables: after a release it must be empty."""
        vars_, extra = self.read_vars()
        return self._preview_text(tfvars.render(vars_, extra), vars_, None, "confirm").summary


def _blast_radius_error(preview: Preview) -> BlastRadiusError:
    if preview.verdict is None:
        addresses = tuple(c.address for c in preview.summary.changes)
        reason = "the plan was expected to change no resources but changes: " + ", ".join(
            f"{c.action} {c.address}" for c in preview.summary.changes
        )
    else:
        addresses = tuple(v.address for v in preview.verdict.violations)
        reason = preview.verdict.reason
    return BlastRadiusError(
        f"blast-radius check failed for {preview.label}: {reason}",
        addresses=addresses,
        hint="nothing was applied; fix the stack or the variables so a release touches only "
        "the idle color",
    )
