"""A stack directory bluegreen cannot write is refused up front with exit 3 naming the folder,
before Terraform or AWS is called, instead of failing at the first write mid-run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bluegreen import stack
from bluegreen.errors import ConfigError, ExitCode
from bluegreen.stack import SCRATCH_DIR, ensure_writable


def refused(stack_dir: Path) -> str:
    with pytest.raises(ConfigError) as info:
        ensure_writable(stack_dir)
    assert info.value.exit_code is ExitCode.CONFIG
    message = str(info.value)
    assert "\n" not in message and "nothing was changed" in message
    return message


def test_a_writable_stack_passes_and_leaves_only_the_scratch_folder(tmp_path):
    ensure_writable(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [SCRATCH_DIR]
    assert list((tmp_path / SCRATCH_DIR).iterdir()) == []


def test_a_read_only_stack_directory_is_named(tmp_path, monkeypatch):
    # Root (CI, this container) may write anywhere, so simulate what a read-only mount answers.
    def read_only(*_args, **kwargs):
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr(stack.tempfile, "mkstemp", read_only)
    message = refused(tmp_path)
    assert message.startswith(f"{tmp_path}: not writable (Read-only file system)")


def test_scratch_path_taken_by_a_file(tmp_path):
    (tmp_path / SCRATCH_DIR).write_text("not a folder")
    assert refused(tmp_path).startswith(f"{tmp_path / SCRATCH_DIR}: not writable")


def test_a_journal_left_by_another_user_is_named(tmp_path, monkeypatch):
    scratch = tmp_path / SCRATCH_DIR
    scratch.mkdir()
    (scratch / "journal.jsonl").write_text("")
    real_access = os.access
    monkeypatch.setattr(stack.os, "access",
                        lambda path, mode: False if Path(path).name == "journal.jsonl" else real_access(path, mode))
    assert refused(tmp_path).startswith(f"{scratch / 'journal.jsonl'}: not writable (Permission denied)")
