"""``bluegreen check`` and ``bluegreen init``: gather facts about a stack through Terraform (and,
for an S3 backend, the lock's bucket), judge them with the pure ``contract`` checks, print them.

``check`` runs ``init`` if needed, ``validate``, ``output`` and one dry plan: a release of the
live color's image onto the idle color with the release label ``bluegreen-check``, planned from a
scratch variables file (``.bluegreen/check.tfvars.json``) and never applied. The committed tfvars
file and the state are left as they were.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import contract, tfvars
from .app import App
from .config import TerraformSettings
from .contract import Check, Facts, IgnoreFact, LocationFact
from .errors import BluegreenError, ConfigError, TerraformError
from .model import ColorVars
from .stack import SCRATCH_DIR
from .terraform import argv as tfargv
from .terraform import hcl
from .terraform.runner import TerraformRunner


def color_patterns(settings_tf: TerraformSettings) -> tuple[str, ...]:
    """The color address patterns of the settings (``[terraform] color_addresses``)."""
    return tuple(settings_tf.color_addresses)


# -- gathering -------------------------------------------------------------------------------------


def gather(app: App) -> Facts:
    """Every fact ``contract.evaluate`` needs. Terraform and AWS failures become facts (the check
    reports them with a fix) instead of errors."""
    settings = app.settings
    patterns = color_patterns(settings.terraform)
    location = probe_location(app)
    try:
        tf = app.terraform  # version check, `terraform init` when the stack needs it
    except TerraformError as error:
        return Facts(patterns=patterns, location=location, terraform_error=_one_line(str(error)))

    try:
        validate = _json_or_none(tf.run(tfargv.validate_argv(), ok=(0, 1)).stdout)
    except TerraformError as error:
        return Facts(patterns=patterns, location=location, terraform_error=_one_line(str(error)))
    outputs: Mapping[str, Any] | None = None
    outputs_error = None
    try:
        outputs = tf.raw_outputs()
    except TerraformError as error:
        outputs_error = str(error)

    plan = None
    plan_error = None
    plan_fix = ""
    idle = None
    if validate is not None and not validate.get("valid", True):
        plan_error = "the configuration is invalid"
    else:
        try:
            current, extra = tfvars.read(settings.terraform.tfvars_path)
            live = current.live_color
            idle = live.other()
            serving = current.colors[live]
            # The live color's image onto the idle color: an AMI that surely exists, so the plan
            # is exactly the shape of a release without naming a new image.
            dry = current.with_color(
                idle, ColorVars(serving.ami, serving.size or 1, contract.DRY_RUN_RELEASE)
            )
            scratch = settings.terraform.dir / SCRATCH_DIR
            scratch.mkdir(parents=True, exist_ok=True)
            var_file = scratch / "check.tfvars.json"
            tfvars.write(var_file, tfvars.render(dry, extra))
            plan_file = scratch / "check.tfplan"
            tf.plan(var_file, plan_file)
            plan = tf.show_plan(plan_file)
        except ConfigError as error:  # the variables file bluegreen owns
            plan_error = _one_line(str(error))
            plan_fix = ("create or fix it: live_color and colors.blue/green with ami, size and "
                        "release (README 'The tfvars file')")
            idle = None
        except BluegreenError as error:
            plan_error = _one_line(str(error))
            plan_fix = ("fix what `terraform plan` reports (provider credentials and endpoint, "
                        "variables), then re-run `bluegreen check`")
            idle = None

    groups_hcl = read_groups_hcl(settings.terraform.dir, plan, tf.env) if plan is not None else {}
    return Facts(
        patterns=patterns,
        location=location,
        validate=validate,
        outputs=outputs,
        outputs_error=outputs_error,
        plan=plan,
        plan_error=plan_error,
        plan_fix=plan_fix,
        idle=idle,
        groups_hcl=groups_hcl,
    )


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else text


def _json_or_none(text: str) -> dict[str, Any] | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def module_dirs(stack_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Module key (``""`` for the root, ``blue``, ``app.web``) -> its directory, from the
    manifest ``terraform init`` writes (``.terraform/modules/modules.json``)."""
    data_dir = Path((env or {}).get("TF_DATA_DIR") or os.environ.get("TF_DATA_DIR") or ".terraform")
    if not data_dir.is_absolute():
        data_dir = stack_dir / data_dir
    dirs = {"": stack_dir}
    try:
        manifest = json.loads((data_dir / "modules" / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dirs
    for entry in manifest.get("Modules") or []:
        key, directory = entry.get("Key"), entry.get("Dir")
        if isinstance(key, str) and isinstance(directory, str):
            path = Path(directory)
            dirs[key] = path if path.is_absolute() else (stack_dir / path)
    return dirs


def read_groups_hcl(stack_dir: Path, plan: Mapping[str, Any],
                    env: Mapping[str, str] | None = None) -> dict[str, IgnoreFact | None]:
    """Each configured ``aws_autoscaling_group``'s ``ignore_changes``, read from its module's
    ``.tf`` files (Terraform's JSON does not carry lifecycle arguments)."""
    dirs = {**_local_sources(stack_dir, plan), **module_dirs(stack_dir, env)}
    found: dict[str, IgnoreFact | None] = {}
    for key, resource in contract.config_resources(plan).items():
        if resource.get("type") != contract.ASG:
            continue
        parts = key.split(".")
        module_key = ".".join(parts[i + 1] for i in range(0, len(parts) - 2, 2) if parts[i] == "module")
        directory = dirs.get(module_key)
        block = hcl.find_resource(directory, parts[-2], parts[-1]) if directory else None
        if block is None:
            found[key] = None
            continue
        found[key] = IgnoreFact(file=_shown(block.file, stack_dir), line=block.line,
                                names=block.ignore_changes)
    return found


def _local_sources(stack_dir: Path, plan: Mapping[str, Any]) -> dict[str, Path]:
    """Module key -> directory for local sources (``./``, ``../``), from the plan's
    configuration: the fallback when the ``init`` manifest is not where we look."""
    found: dict[str, Path] = {}

    def walk(module: Mapping[str, Any], key: str, directory: Path) -> None:
        for name, call in (module.get("module_calls") or {}).items():
            source = str(call.get("source") or "")
            if not source.startswith(("./", "../")):
                continue
            child_key = f"{key}.{name}" if key else name
            child_dir = directory / source
            found[child_key] = child_dir
            walk(call.get("module") or {}, child_key, child_dir)

    walk((plan.get("configuration") or {}).get("root_module") or {}, "", stack_dir)
    return found


def _shown(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), base.resolve())
    except ValueError:
        return str(path)


def probe_location(app: App) -> LocationFact:
    """Can the release lock and journal be reached where they live (beside the state)?"""
    loc = app.location
    if loc.kind == "s3":
        where = f"s3://{loc.bucket}/{loc.key}.bluegreen-"
        try:
            app.lease.read()  # GetObject on the lock key: bucket, credentials, region, permission
        except BluegreenError as error:
            return LocationFact(where, "s3", str(error))
        return LocationFact(where, "s3")
    directory = app.settings.terraform.dir / SCRATCH_DIR
    probe = directory / ".check-probe"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_text("bluegreen check\n", encoding="utf-8")
        probe.unlink()
    except OSError as error:
        return LocationFact(str(directory), "local", error.strerror or str(error))
    return LocationFact(str(directory), "local")


# -- reporting -------------------------------------------------------------------------------------


def checks_text(checks: Sequence[Check], stack_dir: Path) -> str:
    lines = [f"bluegreen check: {stack_dir}"]
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"  {mark}  {check.name}: {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"        fix: {check.fix}")
    failed = sum(1 for c in checks if not c.ok)
    if failed:
        lines.append(f"{len(checks) - failed} passed, {failed} failed: a release cannot run until "
                     "the failures are fixed")
    else:
        lines.append(f"all {len(checks)} checks passed: a release can run")
    return "\n".join(lines)


def checks_document(checks: Sequence[Check], stack_dir: Path) -> dict[str, Any]:
    return {
        "stack": str(stack_dir),
        "ok": all(c.ok for c in checks),
        "checks": [c.as_dict() for c in checks],
    }


# -- init --------------------------------------------------------------------------------------------

MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf")


@dataclasses.dataclass(frozen=True)
class Discovery:
    service: str
    patterns: tuple[str, ...]
    outputs_missing: tuple[str, ...]  # empty when the state has them all (or was not read)
    applied: bool
    notes: tuple[str, ...]


def discover(stack_dir: Path, *, binary: str = "auto") -> Discovery:
    """What ``init`` can learn about a stack: the addresses of the groups and launch templates
    (from the state when it has been applied, else from the root module's ``.tf`` files) and
    the outputs it has. Terraform failing is a note, not an error: the files still tell a lot."""
    from .terraform.outputs import REQUIRED_OUTPUTS

    notes: list[str] = []
    addresses: list[str] = []
    outputs: dict[str, Any] = {}
    try:
        runner = TerraformRunner(stack_dir, binary=binary)
        runner.ensure_ready()
        outputs = runner.raw_outputs()
        state = _json_or_none(runner.run(tfargv.show_state_argv()).stdout) or {}
        root = (state.get("values") or {}).get("root_module")
        addresses = [
            r["address"] for r in contract.module_resources(root)
            if r.get("type") in (contract.ASG, contract.LAUNCH_TEMPLATE)
        ]
    except BluegreenError as error:
        notes.append(f"Terraform could not read the stack ({error}); read its .tf files only")
    if not addresses:
        addresses = _addresses_from_files(stack_dir)
    patterns = contract.suggest_patterns(sorted(addresses))
    if not patterns:
        patterns = ("module.{color}",)
        notes.append("found no blue/green group or launch template; wrote the default "
                     'color_address "module.{color}" (see README "The Terraform contract")')
    service_entry = outputs.get("service")
    service = service_entry.get("value") if isinstance(service_entry, Mapping) else None
    if not isinstance(service, str) or not service:
        service = stack_dir.resolve().name
        notes.append(f'service name "{service}" is the directory name: check [service] name')
    missing = tuple(n for n in REQUIRED_OUTPUTS if n not in outputs
                    and n not in ("target_group_arn", "elb_name")) if outputs else ()
    return Discovery(service, patterns, missing, bool(outputs), tuple(notes))


def _addresses_from_files(stack_dir: Path) -> list[str]:
    addresses = []
    for path in sorted(stack_dir.glob("*.tf")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for block in hcl.resource_blocks(text):
            if block.type in (contract.ASG, contract.LAUNCH_TEMPLATE):
                addresses.append(f"{block.type}.{block.name}")
        for name in hcl.module_names(text):
            addresses.append(f"module.{name}")
    return addresses


def render_config(discovery: Discovery, stack_dir: Path, config_path: Path, *, binary: str,
                  region: str) -> str:
    rel = os.path.relpath(stack_dir.resolve(), config_path.resolve().parent)
    lines = [
        "# Written by `bluegreen init`: review it, then run `bluegreen check`.",
        "# Every key: README \"Configuration (bluegreen.toml)\".",
        "[service]",
        f"name = {json.dumps(discovery.service)}",
        f"region = {json.dumps(region)}",
        "",
        "[terraform]",
        f"dir = {json.dumps(rel)}",
        'tfvars = "bluegreen.auto.tfvars.json"',
        f"binary = {json.dumps(binary)}",
    ]
    patterns = discovery.patterns
    lines.append(f"color_addresses = [{', '.join(json.dumps(p) for p in patterns)}]")
    lines += ["", "[release]", "verify_seconds = 30", "keep_old_seconds = 0", ""]
    lines[2:2] = [f"# note: {note}" for note in discovery.notes]
    return "\n".join(lines)


def module_template_dir() -> Path:
    return Path(__file__).parent / "templates" / "color_module"


def write_module(path: Path, *, force: bool) -> list[Path]:
    """The color module (``terraform/modules/color``: a launch template and a group, version
    pinned, attachments ignored) into ``path``."""
    path = Path(path)
    targets = [path / name for name in MODULE_FILES]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} already exists; pass --force to overwrite it")
    path.mkdir(parents=True, exist_ok=True)
    for name, target in zip(MODULE_FILES, targets):
        target.write_text((module_template_dir() / name).read_text(encoding="utf-8"), encoding="utf-8")
    return targets
