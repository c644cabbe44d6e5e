"""Terraform version constraints: read ``required_version`` from a stack without an HCL parser,
translate Terraform's constraint syntax into a ``packaging`` ``SpecifierSet`` and check a version.

Terraform's operators: ``=`` (or none), ``!=``, ``>``, ``>=``, ``<``, ``<=`` and ``~>``, which allows
only the rightmost given component to grow: ``~> 1.5`` is ``>= 1.5, < 2.0`` and ``~> 1.5.0`` is
``>= 1.5.0, < 1.6.0``.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..errors import TerraformError

# required_version = ">= 1.3.0" (in a terraform {} block; the only attribute with that name).
_REQUIRED_VERSION = re.compile(r'^\s*required_version\s*=\s*"([^"]*)"', re.MULTILINE)
_CONSTRAINT = re.compile(r"^\s*(~>|>=|<=|!=|=|>|<)?\s*v?([0-9][0-9A-Za-z.\-+]*)\s*$")


def read_required_versions(stack_dir: Path) -> list[str]:
    """Every ``required_version`` string in the stack's root ``*.tf`` files, in file order.
    Comments are stripped first so a commented-out constraint does not count."""
    found: list[str] = []
    for path in sorted(Path(stack_dir).glob("*.tf")):
        text = _strip_comments(path.read_text(encoding="utf-8"))
        found += _REQUIRED_VERSION.findall(text)
    return found


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return re.sub(r"(?m)(#|//).*$", "", text)


def _release(version: str) -> tuple[int, ...]:
    return Version(version).release


def translate_constraint(constraint: str) -> SpecifierSet:
    """A Terraform constraint string (comma-separated) as a ``SpecifierSet``. ``ValueError`` names
    the part that is not understood."""
    specs: list[str] = []
    for part in constraint.split(","):
        if not part.strip():
            continue
        match = _CONSTRAINT.match(part)
        if not match:
            raise ValueError(f"unsupported version constraint {part.strip()!r}")
        op, raw = match.group(1) or "=", match.group(2)
        try:
            release = _release(raw)
            raw = str(Version(raw))
        except InvalidVersion:
            raise ValueError(f"invalid version {raw!r} in constraint {part.strip()!r}") from None
        if op == "~>":
            specs.append(f">={raw}")
            if len(release) >= 2:
                # Bump the component left of the rightmost one: ~> 1.5 -> < 2.0, ~> 1.5.0 -> < 1.6.0.
                upper = list(release[:-1])
                upper[-1] += 1
                specs.append("<" + ".".join(str(n) for n in upper + [0]))
        elif op == "=":
            specs.append(f"=={raw}")
        else:
            specs.append(f"{op}{raw}")
    try:
        return SpecifierSet(",".join(specs))
    except InvalidSpecifier as exc:
        raise ValueError(f"unsupported version constraint {constraint!r}: {exc}") from None


def check_version(found: str, constraints: list[str], *, binary: str, stack_dir: Path) -> None:
    """``TerraformError`` unless ``found`` satisfies every constraint."""
    try:
        version = Version(found)
    except InvalidVersion:
        raise TerraformError(f"{binary} reports an unreadable version {found!r}") from None
    for constraint in constraints:
        try:
            spec = translate_constraint(constraint)
        except ValueError as exc:
            raise TerraformError(
                f"cannot read required_version in {stack_dir}: {exc}"
            ) from None
        if not spec.contains(version, prereleases=True):
            raise TerraformError(
                f"{binary} is Terraform {found}, but {stack_dir} requires {constraint!r}",
                hint="install a matching Terraform or set [terraform] binary = \"embedded\" in bluegreen.toml",
            )
