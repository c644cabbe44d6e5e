"""``bluegreen rehearse --stack DIR``: the lab with the user's own stack.

The stack is copied to a scratch directory (with the local modules it sources, at the same
relative places), and only the copy is touched: a provider override pointing the AWS provider at
the emulation (and the state at a local backend) is written into the copy, never into the
user's files. Then the lab: moto with its fidelity layer, Terraform with the provider from the
offline mirror, HAProxy and one process per instance; a bootstrap (a VPC and subnets in the
emulation for the stack's network variables, an AMI of the sample app, bluegreen's tfvars);
the plan is checked for resource types the emulation cannot run (one line, exit 3, before any
apply); the stack is applied, the live color attached, ``bluegreen check`` run against it; and
one release v1 -> v2 under load, with the demo's summary and timeline.

Config: ``--config FILE``, else ``DIR/bluegreen.toml``, else what ``bluegreen init`` would find.
From it the rehearsal keeps the service name, the color address patterns and the tfvars file
name; endpoints, timeouts and the lock location are the lab's.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from bluegreen.errors import ConfigError
from bluegreen.report import Reporter
from .emulator import LAB_REGION, register_lab_image
from .lab import Lab, LabOptions

# Resource types the emulation (moto 5.2 + the fidelity layer, through provider 3.39) is known
# to create, read and update the way Terraform expects. Anything else is refused from the plan
# before apply: a half-applied stack would tell the user nothing about their release.
SUPPORTED_RESOURCES = frozenset({
    "aws_vpc", "aws_subnet", "aws_internet_gateway", "aws_route_table", "aws_route",
    "aws_route_table_association", "aws_security_group", "aws_security_group_rule",
    "aws_launch_template", "aws_autoscaling_group", "aws_autoscaling_policy",
    "aws_elb", "aws_lb", "aws_alb", "aws_lb_target_group", "aws_alb_target_group",
    "aws_lb_listener", "aws_alb_listener", "aws_cloudwatch_metric_alarm",
    "aws_iam_role", "aws_iam_role_policy", "aws_iam_instance_profile", "aws_iam_policy",
    "aws_iam_role_policy_attachment", "aws_key_pair",
})
SUPPORTED_DATA_SOURCES = frozenset({
    "aws_availability_zones", "aws_region", "aws_caller_identity", "aws_partition",
    "aws_iam_policy_document", "aws_vpc", "aws_subnet", "aws_subnet_ids", "aws_subnets",
})

# Stack variables the rehearsal sets when the stack declares them (and no --var does): the
# lab's instances boot at once and a rehearsal should not wait AWS's 300 s drain.
LAB_TIMERS = {"deregistration_delay": 3, "health_check_grace_period": 0,
              "health_check_interval": 5, "unhealthy_threshold": 2}
# Variables bluegreen itself writes (bluegreen.auto.tfvars.json).
OWNED_VARIABLES = ("live_color", "colors")

OVERRIDE_FILE = "zzz_bluegreen_rehearsal_override.tf"  # last in lexical order: its settings win
_SKIP = shutil.ignore_patterns(".terraform", "*.tfstate", "*.tfstate.*", ".terraform.lock.hcl",
                               "*.tfplan", ".bluegreen", ".git", OVERRIDE_FILE)
LAB_VPC_CIDR = "10.77.0.0/16"


# -- pure: what the plan holds, what the variables need ---------------------------------------------


def unsupported(plan: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(address, type)`` of each resource (and data source) of the plan the emulation cannot run."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for change in plan.get("resource_changes") or []:
        address, type_, mode = change.get("address"), change.get("type"), change.get("mode", "managed")
        if not isinstance(address, str) or not isinstance(type_, str) or address in seen:
            continue
        seen.add(address)
        allowed = SUPPORTED_DATA_SOURCES if mode == "data" else SUPPORTED_RESOURCES
        if type_ not in allowed:
            found.append((address, type_))
    return found


def unsupported_message(found: Sequence[tuple[str, str]], stack: Path) -> str:
    address, type_ = found[0]
    more = f" (and {len(found) - 1} more: {', '.join(a for a, _ in found[1:4])})" if len(found) > 1 else ""
    return (f"{stack}: {address} is a {type_}, which the lab's emulation cannot run{more}; "
            f"nothing was applied (rehearse supports {', '.join(sorted(_short_list()))}, ...)")


def _short_list() -> list[str]:
    return ["aws_launch_template", "aws_autoscaling_group", "aws_elb", "aws_lb", "aws_security_group"]


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_id: str


def variable_values(required: Sequence[str], declared: Sequence[str], given: Mapping[str, Any], *,
                    network: Network, ami: str, service: str) -> tuple[dict[str, Any], list[str]]:
    """Values for the stack's root variables: ``given`` (``--var``) first, then the lab's network,
    AMI, service and region for the usual names, then the lab's timers for declared ones.
    Returns ``(values, missing)``: the required variables nothing could fill."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    for name in required:
        if name in OWNED_VARIABLES:
            continue
        if name in given:
            values[name] = given[name]
            continue
        guess = _guess(name, network=network, ami=ami, service=service)
        if guess is None:
            missing.append(name)
        else:
            values[name] = guess
    for name in declared:
        if name in given and name not in OWNED_VARIABLES:
            values[name] = given[name]
        elif name in LAB_TIMERS and name not in values:
            values[name] = LAB_TIMERS[name]
    return values, missing


def _guess(name: str, *, network: Network, ami: str, service: str) -> Any:
    n = name.lower()
    if n in ("vpc_id", "vpc"):
        return network.vpc_id
    if "subnet" in n:
        return list(network.subnet_ids) if (n.endswith("s") or n.endswith("_ids")) else network.subnet_ids[0]
    if "security_group" in n:
        return [network.security_group_id] if n.endswith(("s", "_ids")) else network.security_group_id
    if n in ("ami", "ami_id", "image_id") or n.endswith("_ami"):
        return ami
    if n in ("service", "service_name", "name", "app_name"):
        return service
    if "region" in n:
        return LAB_REGION
    return None


def parse_var(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` of ``--var``: VALUE as JSON when it parses (numbers, lists), else a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--var {text!r}: expected NAME=VALUE (e.g. --var instance_type=t3.small)")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name.strip(), value


# -- the scratch copy -----------------------------------------------------------------------------------


def module_dirs(stack: Path) -> list[Path]:
    """The stack and every local module directory it reaches (``source = "../modules/x"``)."""
    from bluegreen.terraform import hcl

    found: list[Path] = []
    todo = [stack.resolve()]
    while todo:
        directory = todo.pop()
        if directory in found:
            continue
        found.append(directory)
        for path in sorted(directory.glob("*.tf")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for source in hcl.local_module_sources(text):
                child = (directory / source).resolve()
                if child.is_dir():
                    todo.append(child)
    return found


def copy_stack(stack: Path, dest: Path) -> Path:
    """Copy the stack and its local modules under ``dest``, keeping their relative positions
    (so ``../../modules/color`` still resolves); Terraform's working files and any state are
    left behind. Returns the copied stack directory."""
    dirs = module_dirs(stack)
    base = Path(os.path.commonpath([str(d) for d in dirs]))
    for directory in dirs:
        target = dest / directory.relative_to(base)
        shutil.copytree(directory, target, ignore=_SKIP, dirs_exist_ok=True)
    return dest / stack.resolve().relative_to(base)


def render_override(endpoint_url: str, *, local_backend: bool) -> str:
    from .toolchain import render_provider_override

    provider = render_provider_override(endpoint_url).replace(
        'provider "aws" {\n', f'provider "aws" {{\n  region                      = "{LAB_REGION}"\n', 1)
    text = ("# Written by `bluegreen rehearse` into its scratch copy (never into your stack):\n"
            + provider)
    if local_backend:
        text += ('\n# The state stays in the scratch copy, whatever backend the stack uses.\n'
                 'terraform {\n  backend "local" {}\n}\n')
    return text


def declares_backend(stack: Path) -> bool:
    for path in stack.glob("*.tf"):
        try:
            if 'backend "' in path.read_text(encoding="utf-8"):
                return True
        except (OSError, UnicodeDecodeError):
            continue
    return False


def tfvars_names(stack: Path) -> set[str]:
    """Variables the stack's own ``terraform.tfvars(.json)`` / ``*.auto.tfvars(.json)`` set:
    Terraform reads those files in the copy too, so they are not missing."""
    import re

    names: set[str] = set()
    for path in sorted(stack.glob("*.tfvars*")):
        if not (path.name.startswith("terraform.tfvars") or ".auto.tfvars" in path.name):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.name.endswith(".json"):
            try:
                document = json.loads(text)
            except ValueError:
                continue
            names.update(document if isinstance(document, dict) else {})
        else:
            names.update(re.findall(r"(?m)^[ \t]*([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=", text))
    return names


def root_variables(stack: Path) -> tuple[list[str], list[str]]:
    """``(required, declared)`` root variable names (required: no default)."""
    from bluegreen.terraform import hcl

    required, declared = [], []
    for path in sorted(stack.glob("*.tf")):
        for block in hcl.variable_blocks(path.read_text(encoding="utf-8")):
            declared.append(block.name)
            if not block.has_default:
                required.append(block.name)
    return required, declared


# -- the rehearsal ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackConfig:
    """What the rehearsal keeps of the user's bluegreen.toml."""

    source: Path | None
    service: str | None
    patterns: tuple[str, ...] | None
    tfvars: str = "bluegreen.auto.tfvars.json"


def stack_config(stack: Path, config: Path | None) -> StackConfig:
    from bluegreen.config import load_settings

    path = config or (stack / "bluegreen.toml")
    if config is None and not path.is_file():
        return StackConfig(None, None, None)
    settings = load_settings(path)
    return StackConfig(path, settings.service.name, tuple(settings.terraform.color_addresses),
                       settings.terraform.tfvars)


class RehearsalLab(Lab):
    """The lab without the bundled example: the user's stack copy is prepared by ``rehearse``."""

    def __init__(self, workdir: Path, options: LabOptions) -> None:
        super().__init__(workdir, options)
        self.group_names: set[str] = set()
        self.mirror: Path | None = None

    def start(self) -> "RehearsalLab":
        from .lab import _LAB_ENV
        from .toolchain import prepare_toolchain

        self.workdir.mkdir(parents=True, exist_ok=True)
        self._set_env(_LAB_ENV)
        self.emulator.start()
        self.fidelity = self.emulator.fidelity
        self._saved_fidelity = (self.fidelity.health, self.fidelity.clock)
        self.fidelity.clock = time.monotonic
        tools = prepare_toolchain()
        self.mirror = tools.mirror_dir
        self._tf_env = tools.env()
        self._set_env(self._tf_env)
        self._start_dataplane()
        return self

    def _serves(self, instance_tags: dict[str, str]) -> bool:
        # The user's stack may tag nothing: serve the instances of its two groups.
        return instance_tags.get("aws:autoscaling:groupName") in self.group_names

    def _desired_state(self) -> dict[str, Any]:
        """The lab's desired state (target groups' registrations) plus the classic ELBs'
        registered instances: the data plane then serves a classic-ELB stack too. A deregistered
        instance's server is removed gracefully (no new requests, in-flight ones finish), which
        is what connection draining does."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.elb.models import elb_backends

        state = super()._desired_state()
        with self.fidelity.lock:
            elbs = list(elb_backends[DEFAULT_ACCOUNT_ID][LAB_REGION].load_balancers.values())
            for elb in elbs:
                for instance_id in list(elb.instance_ids):
                    if instance_id in state["instances"]:
                        state["targets"].setdefault(instance_id, "registered")
        return state

    def write_config(self, stack_dir: Path, service: str, patterns: Sequence[str], tfvars: str) -> None:
        self.stack_dir = stack_dir
        self._write_config(self.mirror)  # type: ignore[arg-type]
        text = self.config_path.read_text(encoding="utf-8")
        head, _, rest = text.partition("[terraform]\n")
        extra = (f"tfvars = {json.dumps(tfvars)}\n"
                 f"color_addresses = [{', '.join(json.dumps(p) for p in patterns)}]\n")
        self.config_path.write_text(head.replace(f'name = "{self.options.service}"', f"name = {json.dumps(service)}")
                                    + "[terraform]\n" + extra + rest, encoding="utf-8")


@dataclass
class Rehearsal:
    stack: Path
    workdir: Path
    reporter: Reporter
    config: Path | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    size: int = 2
    lab: RehearsalLab | None = None
    stack_dir: Path | None = None  # the scratch copy
    service: str = ""
    patterns: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def prepare(self) -> None:
        """Everything up to a stack applied with blue live and attached."""
        from bluegreen import commands, tfvars
        from bluegreen.model import Color, ColorVars, TfVars
        from bluegreen.terraform.runner import TerraformRunner

        stack = self.stack.resolve()
        if not stack.is_dir() or not list(stack.glob("*.tf")):
            raise ConfigError(f"--stack {self.stack}: no Terraform files (*.tf) there; pass the stack's root directory")
        required, declared = root_variables(stack)
        for name in OWNED_VARIABLES:
            if name not in declared:
                raise ConfigError(
                    f"{stack}: the stack declares no variable {name!r}; bluegreen writes live_color and "
                    "colors (per color ami, size, release) to its tfvars file: declare them "
                    "(README 'Stack layouts', terraform/examples/web/variables.tf)")
        cfg = stack_config(stack, self.config)
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.workdir / "stack", ignore_errors=True)
        stack_dir = copy_stack(stack, self.workdir / "stack")
        self.stack_dir = stack_dir
        service = cfg.service or stack.name
        self.service = service
        lab = self.lab = RehearsalLab(self.workdir / "lab", LabOptions(
            dataplane=True, deregistration_delay=LAB_TIMERS["deregistration_delay"], verify_seconds=2,
            unhealthy_grace_seconds=2, poll_seconds=0.2, service=service))
        lab.start()
        reporter = self.reporter
        reporter.info(f"lab up: AWS emulation {lab.emulator.endpoint_url}, load balancer {lab.url}; "
                      f"your stack copied to {stack_dir}")
        (stack_dir / OVERRIDE_FILE).write_text(
            render_override(lab.emulator.endpoint_url, local_backend=declares_backend(stack_dir)), encoding="utf-8")

        network = self._network()
        v1 = register_lab_image(lab.client("ec2"), f"{service}-v1-{time.time_ns()}", "v1")
        values, missing = variable_values(required, declared, self.variables, network=network, ami=v1,
                                          service=service)
        missing = [name for name in missing if name not in tfvars_names(stack_dir)]
        if missing:
            raise ConfigError(
                f"{stack}: variable {missing[0]!r} has no default and the lab has no value for it; "
                f"pass --var {missing[0]}=VALUE" + (f" (also: {', '.join(missing[1:])})" if missing[1:] else ""))
        initial = TfVars(Color.BLUE, {Color.BLUE: ColorVars(v1, self.size, "initial"),
                                      Color.GREEN: ColorVars(v1, 0, "")})
        tfvars.write(stack_dir / cfg.tfvars, tfvars.render(initial, values))

        started = time.monotonic()
        runner = TerraformRunner(stack_dir, env=dict(lab._tf_env), plugin_dirs=[lab.mirror], timeout=900)
        runner.ensure_ready()
        scratch = stack_dir / ".bluegreen"
        scratch.mkdir(exist_ok=True)
        plan_file = scratch / "initial.tfplan"
        runner.plan(stack_dir / cfg.tfvars, plan_file)
        found = unsupported(runner.show_plan(plan_file))
        if found:
            raise ConfigError(unsupported_message(found, stack))
        reporter.info("terraform apply of your stack in the emulation")
        runner.apply_plan(plan_file)
        self.timings["apply_s"] = round(time.monotonic() - started, 1)
        outputs = runner.raw_outputs()
        names = (outputs.get("asg_names") or {}).get("value")
        if isinstance(names, Mapping):
            lab.group_names = {str(v) for v in names.values()}

        patterns = cfg.patterns
        if patterns is None:
            from bluegreen.stackcheck import discover

            found_by_init = discover(stack_dir, binary="embedded")
            patterns = found_by_init.patterns
            reporter.info(f"no bluegreen.toml in {stack}: `bluegreen init` found color_addresses = "
                          f"{list(patterns)}")
        self.patterns = tuple(patterns)
        lab.write_config(stack_dir, service, self.patterns, cfg.tfvars)
        started = time.monotonic()
        commands.bootstrap(lab.app(reporter))
        self.timings["bootstrap_s"] = round(time.monotonic() - started, 1)

    def _network(self) -> Network:
        assert self.lab is not None
        ec2 = self.lab.client("ec2")
        vpc = ec2.create_vpc(CidrBlock=LAB_VPC_CIDR)["Vpc"]["VpcId"]
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
        subnets = tuple(
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{16 * i}.0/20", AvailabilityZone=zone)["Subnet"]["SubnetId"]
            for i, zone in enumerate(zones))
        group = ec2.create_security_group(GroupName=f"rehearsal-{time.time_ns()}", Description="bluegreen rehearsal",
                                          VpcId=vpc)["GroupId"]
        return Network(vpc, subnets, group)

    def check(self) -> list[Any]:
        """``bluegreen check`` against the applied copy (a release can run when all pass)."""
        from bluegreen import contract, stackcheck

        assert self.lab is not None
        return contract.evaluate(stackcheck.gather(self.lab.app(self.reporter)))

    def stop(self) -> None:
        if self.lab is not None:
            self.lab.stop()


def run_rehearsal(stack: Path, *, workdir: Path, reporter: Reporter, config: Path | None = None,
                  variables: Mapping[str, Any] | None = None) -> int:
    """The whole rehearsal; returns the exit code: 0 (released, 0 failed requests), 1 (the release
    failed or requests failed), 3 (the stack cannot be rehearsed or fails `check`)."""
    from bluegreen import commands, stackcheck, views
    from bluegreen.errors import RolledBackError
    from .demo import (RATE_PER_S, TrafficWatch, _print_status, _say, _summary_dict, _traffic_text,
                       offset_of, reporter_like, switch_metrics)
    from .load import summarize
    from .timeline import text_summary, write_png

    started = time.monotonic()
    workdir = Path(workdir).resolve()
    say = lambda text="": _say(reporter, text)  # noqa: E731
    say(f"bluegreen rehearse --stack {stack}: your stack in the emulation (moto), real Terraform, "
        f"real HAProxy, {RATE_PER_S} req/s; work dir {workdir}")
    rehearsal = Rehearsal(Path(stack), workdir, reporter, config=config, variables=dict(variables or {}))
    try:
        rehearsal.prepare()
        lab = rehearsal.lab
        assert lab is not None and rehearsal.stack_dir is not None
        checks = rehearsal.check()
        say("\n$ bluegreen check")
        say(stackcheck.checks_text(checks, rehearsal.stack_dir))
        if not all(c.ok for c in checks):
            failed = next(c for c in checks if not c.ok)
            raise ConfigError(f"{stack}: `bluegreen check` failed on {failed.name}: {failed.fix or failed.detail} "
                              "(the list above has every point)")
        app = lab.app(reporter)
        _print_status(app, reporter, "blue v1 live")
        v2 = register_lab_image(lab.client("ec2"), f"{rehearsal.service}-v2-{time.time_ns()}", "v2")
        preview, live, idle = commands.plan(app, ami=v2, manifest=None, size=None)
        say(f"$ bluegreen plan --ami {v2}")
        say(views.plan_text(views.plan_document(preview, live, idle)) + "\n")
        results: dict[str, Any] = {"stack": str(Path(stack).resolve()), "scratch_copy": str(rehearsal.stack_dir),
                                   "color_addresses": list(rehearsal.patterns), "rate_per_s": RATE_PER_S,
                                   "fleet_size": rehearsal.size, "timings": rehearsal.timings, "releases": []}
        ok = True
        with TrafficWatch(lab) as watch:
            watch.settle(2)
            say(f"\n$ bluegreen release --ami {v2}    # v2")
            rep = reporter_like(reporter)
            offset = offset_of(watch, rep)
            failed_release: Exception | None = None
            with watch.measure("release v1->v2") as window:
                try:
                    commands.release(lab.app(rep), ami=v2, manifest=None, size=None, keep_old=False, dry_run=False)
                except RolledBackError as exc:
                    failed_release = exc
                    rep.warn(f"automatic rollback: {exc}")
            watch.add_phases(window, rep, offset)
            watch.settle(2)
            metrics = switch_metrics(watch, window, "v1", "v2")
            ok = failed_release is None and metrics["failed_requests"] == 0
            results["releases"].append(metrics)
        records = watch.records
        phases = [p for w in watch.windows for p in w.phases] + [(w.start, w.name) for w in watch.windows]
        _print_status(lab.app(reporter), reporter, "after the rehearsal")
        png = write_png(records, workdir / "timeline.png", phases=phases,
                        title=f"bluegreen rehearse {Path(stack).name}: served versions and errors under load")
        results.update(traffic=_summary_dict(summarize(records)), timeline_png=str(png),
                       wall_time_s=round(time.monotonic() - started, 1), ok=ok,
                       release_failed=str(failed_release) if failed_release else None)
        (workdir / "timeline.txt").write_text(text_summary(records, phases=phases) + "\n", encoding="utf-8")
        (workdir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    finally:
        rehearsal.stop()
    say("\n== traffic during the rehearsal ==")
    say(_traffic_text(records, {**results, "deregistration_delay_s": LAB_TIMERS["deregistration_delay"],
                                "verify_seconds": 2}))
    say(f"\ntimeline (PNG): {png}\nper-second text: {workdir / 'timeline.txt'}\n"
        f"numbers (JSON): {workdir / 'results.json'}")
    say(f"rehearsal wall time {time.monotonic() - started:.0f}s (apply {rehearsal.timings.get('apply_s')}s); "
        "lab torn down (no process left); your stack's files were not changed")
    return 0 if ok else 1
