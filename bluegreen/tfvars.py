"""The tfvars file bluegreen owns: parse it strictly, render it with jinja2, write it atomically.

Rendering is pure (``render`` returns text); writing is separate (``write``), so ``plan`` can
render to a scratch copy and the committed file changes only when a release applies.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import jinja2

from .errors import ConfigError
from .model import Color, ColorVars, TfVars
from .packer import is_ami_id

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("bluegreen", "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)
_TEMPLATE = "tfvars.json.j2"
_OWN_KEYS = {"live_color", "colors"}

# A color's size becomes the group's desired capacity (an Int32 in the Auto Scaling API). Far above
# any blue/green fleet bluegreen was measured with (500); a larger number is a typo, not a fleet.
MAX_COLOR_SIZE = 10_000
# The release label becomes an EC2 tag value: AWS allows at most 256 characters.
MAX_RELEASE_LENGTH = 256


def read(path: Path) -> tuple[TfVars, dict[str, Any]]:
    """The parsed variables and any other top-level keys (kept as they are on every write)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: tfvars file not found; create it with live_color and colors.blue/green "
            "(see README 'The tfvars file')"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except _DuplicateKey as exc:
        raise ConfigError(
            f"{path}: key {exc.key!r} appears twice in one object; keep one (Terraform refuses a "
            "duplicate, Python would silently take the last)"
        ) from None
    return parse(data, source=path)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKey(key)
        data[key] = value
    return data


def parse(data: Any, *, source: Path) -> tuple[TfVars, dict[str, Any]]:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must hold a JSON object")
    if "live_color" not in data:
        raise ConfigError(f"{source}: missing key live_color (\"blue\" or \"green\")")
    try:
        live = Color.parse(data["live_color"]) if isinstance(data["live_color"], str) else None
    except ValueError as exc:
        raise ConfigError(f"{source}: live_color: {exc}") from None
    if live is None:
        raise ConfigError(f"{source}: live_color must be \"blue\" or \"green\"")
    colors_data = data.get("colors")
    if not isinstance(colors_data, dict):
        raise ConfigError(f"{source}: missing key colors (an object with blue and green)")
    colors: dict[Color, ColorVars] = {}
    for name, entry in colors_data.items():
        try:
            color = Color.parse(name)
        except ValueError as exc:
            raise ConfigError(f"{source}: colors.{name}: {exc}") from None
        colors[color] = _parse_color(entry, f"colors.{name}", source)
    for color in Color:
        if color not in colors:
            raise ConfigError(f"{source}: missing key colors.{color}")
    extra = {key: value for key, value in data.items() if key not in _OWN_KEYS}
    return TfVars(live_color=live, colors=colors), extra


def _parse_color(entry: Any, where: str, source: Path) -> ColorVars:
    if not isinstance(entry, dict):
        raise ConfigError(f"{source}: {where} must be an object with ami, size and release")
    for key in ("ami", "size", "release"):
        if key not in entry:
            raise ConfigError(f"{source}: missing key {where}.{key}")
    unknown = set(entry) - {"ami", "size", "release"}
    if unknown:
        raise ConfigError(f"{source}: unknown key {where}.{sorted(unknown)[0]}")
    ami, size, release = entry["ami"], entry["size"], entry["release"]
    # Everything Terraform or AWS would refuse later is refused here, while nothing has been
    # touched: at plan time processes are already suspended and a refusal means a rollback.
    if not isinstance(ami, str) or not is_ami_id(ami):
        raise ConfigError(
            f"{source}: {where}.ami must be an AMI id (ami- and 8 or 17 hex digits), got {ami!r}"
        )
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_COLOR_SIZE:
        raise ConfigError(
            f"{source}: {where}.size must be a whole number in [0, {MAX_COLOR_SIZE}], got {size!r}"
        )
    if not isinstance(release, str):
        raise ConfigError(f"{source}: {where}.release must be a string, got {release!r}")
    if len(release) > MAX_RELEASE_LENGTH or not release.isprintable():
        raise ConfigError(
            f"{source}: {where}.release must be at most {MAX_RELEASE_LENGTH} printable characters "
            f"(it becomes the instances' Release tag), got {release[:40]!r}"
            + ("..." if len(release) > 40 else "")
        )
    return ColorVars(ami=ami, size=size, release=release)


def render(tfvars: TfVars, extra: Mapping[str, Any] | None = None) -> str:
    """The file's text. Colors in a fixed order so diffs stay small."""
    colors = {
        str(color): {"ami": v.ami, "size": v.size, "release": v.release}
        for color, v in sorted(tfvars.colors.items(), key=lambda item: item[0].value)
    }
    return _ENV.get_template(_TEMPLATE).render(
        live_color=str(tfvars.live_color), colors=colors, extra=dict(extra or {})
    )


def write(path: Path, text: str) -> None:
    """Atomic replace: a crash mid-write never leaves Terraform a truncated variables file.
    ``ConfigError`` naming the folder when it cannot be written (read-only, disk full)."""
    try:
        _write(path, text)
    except OSError as exc:
        raise ConfigError(
            f"{path.parent}: cannot write {path.name} ({exc.strerror or exc}); make the folder "
            "writable for this user (and check free space)"
        ) from exc


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates 0600; keep the mode the reviewed file had (0644 when new).
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
