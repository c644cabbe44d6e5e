"""The two distributions: the product wheel (`pip wheel --no-deps .`) carries no lab code, no moto
dependency, and nothing under bluegreen/ imports the lab or a monkeypatching helper; the lab's
wheel (`pip wheel --no-deps ./lab`) carries its sample app and the entry point that adds `demo`.

The wheels are built from a copy of the repository in a temporary directory: setuptools writes
build/ and *.egg-info beside the sources, which must not land in (or race inside) the worktree.
Building uses the venv's pip with its usual build isolation (setuptools>=77 from the package
index, a few seconds each)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = REPO / "bluegreen"
LAB = REPO / "lab" / "bluegreen_lab"

# Top-level modules the product must never import: the lab, moto, and test/monkeypatching helpers.
FORBIDDEN = ("bluegreen_lab", "moto", "unittest", "mock", "pytest", "_pytest")
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".lab", "build", "dist", "*.egg-info", "__pycache__",
                                   ".pytest_cache", ".terraform", ".bluegreen", "*.tfstate*")


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """``"line N: module"`` for each import of a FORBIDDEN module: ``import x``, ``from x import
    y``, and ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name."""
    found = []

    def check(module: str, line: int) -> None:
        if module.split(".")[0] in FORBIDDEN:
            found.append(f"line {line}: {module}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            check(node.module, node.lineno)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                check(node.args[0].value, node.lineno)
    return found


def test_the_scan_finds_each_form_of_import():
    source = ("import moto\nfrom unittest import mock\nfrom bluegreen_lab.lab import Lab\n"
              "import importlib\nimportlib.import_module('bluegreen_lab.demo')\n__import__('pytest')\n"
              "from . import moto_like\nfrom .aws import session\nimport motorway\n")
    assert forbidden_imports(source) == [
        "line 1: moto", "line 2: unittest", "line 3: bluegreen_lab.lab", "line 5: bluegreen_lab.demo",
        "line 6: pytest"]


def test_no_product_module_imports_the_lab_moto_or_monkeypatching_helpers():
    modules = sorted(PRODUCT.rglob("*.py"))
    assert len(modules) > 30  # the scan sees the product
    offenders = {str(path.relative_to(REPO)): found for path in modules
                 if (found := forbidden_imports(path.read_text(encoding="utf-8"), str(path)))}
    assert offenders == {}


def _build(project: Path, out: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(project)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, zipfile.ZipFile]:
    copy = tmp_path_factory.mktemp("repo") / "bluegreen"
    shutil.copytree(REPO, copy, ignore=NOT_COPIED)
    out = tmp_path_factory.mktemp("wheels")
    built = {"product": _build(copy, out / "product"), "lab": _build(copy / "lab", out / "lab")}
    return {name: zipfile.ZipFile(path) for name, path in built.items()}


def _metadata(wheel: zipfile.ZipFile) -> tuple[list[str], str]:
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    message = Parser().parsestr(wheel.read(meta).decode("utf-8"))
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    return message.get_all("Requires-Dist") or [], wheel.read(entry_points).decode("utf-8")


def _sources(root: Path, base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_the_product_wheel_has_no_lab_code_and_no_moto(wheels):
    wheel = wheels["product"]
    names = wheel.namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"bluegreen", "bluegreen-0.1.0.dist-info"}, tops
    assert not [n for n in names if "bluegreen_lab" in n or n.startswith("lab/")]
    # Complete: every product source and template (package data) is in it.
    assert _sources(PRODUCT, REPO) <= set(names), _sources(PRODUCT, REPO) - set(names)
    assert "bluegreen/templates/tfvars.json.j2" in names
    requires, entry_points = _metadata(wheel)
    assert requires and not [r for r in requires if "moto" in r.lower()], requires
    # The lab is only an extra (`pip install 'bluegreen[lab]'`), never a dependency of the product.
    lab_requirements = [r for r in requires if r.lower().startswith(("bluegreen-lab", "bluegreen[lab]"))]
    assert lab_requirements and all("extra ==" in r for r in lab_requirements), lab_requirements
    assert "bluegreen = bluegreen.cli:main" in entry_points


def test_the_lab_wheel_carries_its_code_the_sample_app_and_the_entry_point(wheels):
    wheel = wheels["lab"]
    names = set(wheel.namelist())
    tops = {n.split("/")[0] for n in names}
    assert tops == {"bluegreen_lab", "bluegreen_lab-0.1.0.dist-info"}, tops
    expected = _sources(LAB, LAB.parent)
    assert "bluegreen_lab/app/sample_app.py" in expected  # data, not a package: package-data
    assert expected <= names, expected - names
    requires, entry_points = _metadata(wheel)
    assert any(r.replace(" ", "").startswith("moto[server]==") for r in requires), requires
    assert any(r.split(";")[0].strip() == "bluegreen" for r in requires), requires
    assert "[bluegreen.commands]\nlab = bluegreen_lab.cli:register" in entry_points
