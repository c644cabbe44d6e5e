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
from typing import Any, Sequence

from . import blast_radius, tfvars
from .blast_radius import BlastRadiusVerdict, PlanSummary
from .errors import BlastRadiusError, ConfigError, InputError
from .model import Color, StackOutputs, TfVars
from .ports import Terraform
from .saved_plan import StateIdentity, variables_disagree

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
    def __init__(self, terraform: Terraform, tfvars_path: Path, color_addresses: str | Sequence[str]) -> None:
        self.terraform = terraform
        self.tfvars_path = tfvars_path
        # The patterns recognising each color's addresses ([terraform] color_addresses).
        self.color_addresses = (
            (color_addresses,) if isinstance(color_addresses, str) else tuple(color_addresses)
        )
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
            blast_radius.check(summary, allowed, self.color_addresses) if allowed is not None else None
        )
        return Preview(label, new_vars, text, plan_file, summary, verdict)

    def saved_preview(self, plan_bytes: bytes, text: str, allowed: Color, label: str, source: str) -> Preview:
        """A preview of a plan file made earlier (``bluegreen plan --out``): written back to the
        scratch directory, read again with ``show -json`` (so the blast-radius check judges the
        plan itself, not a summary beside it) and checked against its own variables text, which
        becomes the committed tfvars once it is applied. ``source`` names the file in errors."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        plan_file = self.scratch / f"{label}.tfplan"
        plan_file.write_bytes(plan_bytes)
        plan_json = self.terraform.show_plan(plan_file)
        disagree = variables_disagree(plan_json, text)
        if disagree:
            raise InputError(
                f"{source}: saved plan is corrupt: its variables text disagrees with its Terraform "
                f"plan on {', '.join(disagree)}",
                hint="make one with `bluegreen plan --out FILE`",
            )
        try:
            parsed, _ = tfvars.parse(json.loads(text), source=Path(source))
        except ConfigError as exc:
            raise InputError(f"saved plan is corrupt: {exc}", hint="make one with `bluegreen plan --out FILE`") from None
        summary = blast_radius.summarize(plan_json)
        verdict = blast_radius.check(summary, allowed, self.color_addresses)
        return Preview(label, parsed, text, plan_file, summary, verdict)

    def state_identity(self) -> StateIdentity:
        lineage, serial = self.terraform.state_identity()
        return StateIdentity(lineage, serial)

    def require_ok(self, preview: Preview) -> None:
        """``BlastRadiusError`` unless the preview may be applied."""
        if not preview.ok:
            raise _blast_radius_error(preview)

    def apply(self, preview: Preview) -> None:
        """Apply exactly the previewed plan, then record its variables as the committed file."""
        self.require_ok(preview)
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
        if preview.verdict.fix:
            return BlastRadiusError(
                f"blast-radius check failed for {preview.label}: {reason}",
                addresses=addresses,
                hint=f"nothing was applied; {preview.verdict.fix}",
            )
    return BlastRadiusError(
        f"blast-radius check failed for {preview.label}: {reason}",
        addresses=addresses,
        hint="nothing was applied; fix the stack or the variables so a release touches only "
        "the idle color",
    )
