"""The saved plan: what ``bluegreen plan --out FILE`` writes and ``bluegreen release --plan FILE``
applies, so the change a reviewer read is exactly the change that is applied.

One JSON document: a format tag and version, the release intent (AMI, size, live and target
colors, the release label the release will record), the world the plan was made against
(Terraform state lineage and serial, sha256 of the committed tfvars text, the live color's
desired capacity, the Terraform version), the rendered variables text (the committed tfvars after
the apply), the plan summary, and Terraform's binary plan file embedded base64.

Why JSON and not a zip: the plan file is already a zip (compressing it again gains nothing); one
JSON document is readable with ``jq`` in a CI log, needs no second parser to validate, and keeps
the facts a refusal quotes next to each other. Base64 costs a third more bytes on a plan of a few
tens of KB.

Freshness is decided by ``staleness`` (pure): what moved between the plan and now, one reason per
fact. Terraform itself refuses to apply a plan whose state serial moved, but only after bluegreen
would have suspended processes; checking first means a stale plan touches nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .blast_radius import PlanSummary, ResourceChange
from .errors import InputError
from .model import Color

FORMAT = "bluegreen-saved-plan"
VERSION = 1
_HINT = "make one with `bluegreen plan --out FILE`"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StateIdentity:
    """Which Terraform state, and which write of it: Terraform bumps ``serial`` on every change
    of the state and gives each new state its own ``lineage``."""

    lineage: str
    serial: int


@dataclass(frozen=True)
class Intent:
    """The release the plan is for."""

    ami: str
    size: int
    live: Color
    target: Color
    release_label: str  # recorded in the target's tfvars entry by this very plan
    plan_id: str  # names the plan in the label; each release run still gets its own run id


@dataclass(frozen=True)
class Basis:
    """The world the plan was made against."""

    state: StateIdentity
    tfvars_sha256: str
    live_desired: int  # the plan keeps the live color at this capacity
    terraform_version: str  # Terraform applies a plan file only with the version that made it


@dataclass(frozen=True)
class SavedPlan:
    service: str
    created_at: str
    intent: Intent
    basis: Basis
    vars_text: str  # the rendered tfvars: the committed file once the plan is applied
    summary: PlanSummary
    plan_bytes: bytes  # Terraform's own plan file

    @property
    def plan_sha256(self) -> str:
        return hashlib.sha256(self.plan_bytes).hexdigest()


@dataclass(frozen=True)
class Facts:
    """What the world looks like now, as ``staleness`` compares it."""

    state: StateIdentity
    tfvars_sha256: str
    live: Color | None  # the one clean live color, or None
    problems: tuple[str, ...]  # why there is no clean live color
    desired: Mapping[Color, int]
    instances: Mapping[Color, int]
    terraform_version: str


def staleness(saved: SavedPlan, now: Facts) -> list[str]:
    """What moved since the plan was made, one reason each; empty when it may be applied."""
    basis, intent = saved.basis, saved.intent
    reasons: list[str] = []
    if now.state.lineage != basis.state.lineage:
        reasons.append(f"the Terraform state is another one (lineage {_short(basis.state.lineage)} -> "
                       f"{_short(now.state.lineage)})")
    elif now.state.serial != basis.state.serial:
        reasons.append(f"the Terraform state moved (serial {basis.state.serial} -> {now.state.serial}: "
                       "something was applied since)")
    if now.tfvars_sha256 != basis.tfvars_sha256:
        reasons.append(f"the tfvars file changed (sha256 {_short(basis.tfvars_sha256)} -> "
                       f"{_short(now.tfvars_sha256)})")
    if now.live is None:
        reasons.append("no clean live color now: " + "; ".join(now.problems or ("unknown",)))
    elif now.live != intent.live:
        reasons.append(f"the live color moved ({intent.live} -> {now.live})")
    else:
        live_now = now.desired.get(intent.live, 0)
        if live_now != basis.live_desired:
            reasons.append(f"{intent.live}'s desired capacity moved ({basis.live_desired} -> {live_now})")
        idle_instances = now.instances.get(intent.target, 0)
        idle_desired = now.desired.get(intent.target, 0)
        if idle_instances or idle_desired:
            reasons.append(f"the idle color {intent.target} is no longer empty ({idle_instances} "
                           f"instance(s), desired {idle_desired})")
    if now.terraform_version != basis.terraform_version:
        reasons.append(f"Terraform's version moved ({basis.terraform_version} -> {now.terraform_version})")
    return reasons


def _short(digest: str) -> str:
    return digest[:12] if digest else "(none)"


# -- the file --------------------------------------------------------------------------------


def to_document(saved: SavedPlan) -> dict[str, Any]:
    i, b = saved.intent, saved.basis
    return {
        "format": FORMAT,
        "version": VERSION,
        "service": saved.service,
        "created_at": saved.created_at,
        "intent": {"ami": i.ami, "size": i.size, "live": i.live.value, "target": i.target.value,
                   "release_label": i.release_label, "plan_id": i.plan_id},
        "basis": {"state_lineage": b.state.lineage, "state_serial": b.state.serial,
                  "tfvars_sha256": b.tfvars_sha256, "live_desired": b.live_desired,
                  "terraform_version": b.terraform_version},
        "vars_text": saved.vars_text,
        "summary": [{"address": c.address, "action": c.action} for c in saved.summary.changes],
        "terraform_plan": {"sha256": saved.plan_sha256,
                           "base64": base64.b64encode(saved.plan_bytes).decode("ascii")},
    }


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def save(path: Path, saved: SavedPlan) -> None:
    """Atomic replace: a crash never leaves half a plan where `release --plan` would read it."""
    text = json.dumps(to_document(saved), indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> SavedPlan:
    """The saved plan in ``path``; ``InputError`` (one line naming the file) for a missing,
    corrupt or foreign file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: saved plan not found", hint=_HINT) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the saved plan: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InputError(f"{path}: not a bluegreen saved plan (not JSON)", hint=_HINT) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path}: not a bluegreen saved plan (no \"format\": \"{FORMAT}\")", hint=_HINT)
    if doc.get("version") != VERSION:
        raise InputError(f"{path}: saved plan format version {doc.get('version')!r}; this bluegreen "
                         f"reads version {VERSION}", hint="plan again with this bluegreen")
    try:
        return _parse(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: saved plan is corrupt: {_describe(exc)}", hint=_HINT) from None


class _Corrupt(ValueError):
    pass


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]}"
    return str(exc)


def _get(doc: Mapping[str, Any], key: str, kind: type, where: str = "") -> Any:
    if not isinstance(doc, Mapping):
        raise _Corrupt(f"{where or 'document'} is not an object")
    name = f"{where}.{key}" if where else key
    if key not in doc:
        raise KeyError(name)
    value = doc[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _Corrupt(f"{name} must be a whole number, got {value!r}")
    if not isinstance(value, kind):
        raise _Corrupt(f"{name} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _color(doc: Mapping[str, Any], key: str) -> Color:
    value = _get(doc, key, str, "intent")
    try:
        return Color.parse(value)
    except ValueError as exc:
        raise _Corrupt(f"intent.{key}: {exc}") from None


def _parse(doc: dict[str, Any]) -> SavedPlan:
    intent_doc = _get(doc, "intent", dict)
    basis_doc = _get(doc, "basis", dict)
    intent = Intent(
        ami=_get(intent_doc, "ami", str, "intent"),
        size=_get(intent_doc, "size", int, "intent"),
        live=_color(intent_doc, "live"),
        target=_color(intent_doc, "target"),
        release_label=_get(intent_doc, "release_label", str, "intent"),
        plan_id=_get(intent_doc, "plan_id", str, "intent"),
    )
    if intent.live == intent.target:
        raise _Corrupt(f"intent.live and intent.target are both {intent.live}")
    if intent.size < 1:
        raise _Corrupt(f"intent.size must be at least 1, got {intent.size}")
    basis = Basis(
        state=StateIdentity(_get(basis_doc, "state_lineage", str, "basis"),
                            _get(basis_doc, "state_serial", int, "basis")),
        tfvars_sha256=_get(basis_doc, "tfvars_sha256", str, "basis"),
        live_desired=_get(basis_doc, "live_desired", int, "basis"),
        terraform_version=_get(basis_doc, "terraform_version", str, "basis"),
    )
    changes = []
    for index, entry in enumerate(_get(doc, "summary", list)):
        where = f"summary[{index}]"
        changes.append(ResourceChange(_get(entry, "address", str, where), _get(entry, "action", str, where)))
    plan_doc = _get(doc, "terraform_plan", dict)
    try:
        plan_bytes = base64.b64decode(_get(plan_doc, "base64", str, "terraform_plan"), validate=True)
    except binascii.Error:
        raise _Corrupt("terraform_plan.base64 is not base64") from None
    if hashlib.sha256(plan_bytes).hexdigest() != _get(plan_doc, "sha256", str, "terraform_plan"):
        raise _Corrupt("the embedded Terraform plan does not match its sha256")
    if not plan_bytes:
        raise _Corrupt("the embedded Terraform plan is empty")
    return SavedPlan(
        service=_get(doc, "service", str),
        created_at=_get(doc, "created_at", str),
        intent=intent,
        basis=basis,
        vars_text=_get(doc, "vars_text", str),
        summary=PlanSummary(tuple(changes)),
        plan_bytes=plan_bytes,
    )


def variables_disagree(plan_json: Mapping[str, Any], vars_text: str) -> list[str]:
    """The tfvars keys whose value in ``vars_text`` differs from the value Terraform recorded in
    the plan (``show -json``'s ``variables``): the text is what bluegreen commits after applying,
    so it must describe exactly what the plan applies. Keys Terraform does not declare are skipped."""
    try:
        wanted = json.loads(vars_text)
    except ValueError:
        return ["(the variables text is not JSON)"]
    if not isinstance(wanted, dict):
        return ["(the variables text is not a JSON object)"]
    recorded = plan_json.get("variables") or {}
    return sorted(
        key for key, value in wanted.items()
        if key in recorded and (recorded[key] or {}).get("value") != value
    )
