"""The color module has one source, terraform/modules/color (the example stacks use it); the copy
`bluegreen init --write-module` writes is package data (bluegreen/templates/color_module) that
must stay byte-identical to it: `make color-module` refreshes the copy."""

from __future__ import annotations

from pathlib import Path

from bluegreen import stackcheck

SOURCE = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "color"


def test_the_packaged_color_module_is_the_terraform_module():
    packaged = stackcheck.module_template_dir()
    source_files = sorted(p.name for p in SOURCE.glob("*.tf"))
    assert source_files == sorted(p.name for p in packaged.glob("*.tf"))
    assert tuple(sorted(stackcheck.MODULE_FILES)) == tuple(source_files)
    stale = [name for name in source_files
             if (SOURCE / name).read_bytes() != (packaged / name).read_bytes()]
    assert not stale, f"bluegreen/templates/color_module/{stale[0]} differs from terraform/modules/color: run `make color-module`"


def test_write_module_writes_the_terraform_module(tmp_path):
    written = stackcheck.write_module(tmp_path / "color", force=False)
    assert {p.name for p in written} == set(stackcheck.MODULE_FILES)
    for path in written:
        assert path.read_bytes() == (SOURCE / path.name).read_bytes()
