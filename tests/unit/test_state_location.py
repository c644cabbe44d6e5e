"""[state] in bluegreen.toml, and the one decision of where the release lock and journal live."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bluegreen.app import App, Backend, StateLocation, decide_location, in_ci, terraform_backend
from bluegreen.config import Settings, StateSettings, load_settings, parse_state_url
from bluegreen.errors import ConfigError, ExitCode
from bluegreen.report import Reporter


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "bluegreen.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_state_defaults():
    assert Settings().state == StateSettings(url="", local_lock=False, keep_runs=100)


def test_state_section_parses(tmp_path):
    s = _load(tmp_path, '[state]\nurl = "s3://acme-releases/web/prod/"\nlocal_lock = false\nkeep_runs = 20\n')
    assert s.state.s3 == ("acme-releases", "web/prod") and s.state.keep_runs == 20


@pytest.mark.parametrize(("text", "problem"), [
    ('url = "https://acme/x"', "state.url 'https://acme/x' must be empty or \"s3://BUCKET/PREFIX\" (not an s3:// URL)"),
    ('url = "s3://Acme_Bucket/x"', "state.url 's3://Acme_Bucket/x' must be empty or \"s3://BUCKET/PREFIX\" (bucket 'Acme_Bucket' is not an S3 bucket name)"),
    ('url = "s3://"', "is not an S3 bucket name"),
    ('url = "s3://acme/a//b"', "empty segment"),
    ('url = "s3://acme/a b"', "whitespace"),
    ("keep_runs = 0", "state.keep_runs must be >= 1"),
    ('local_lock = "yes"', "state.local_lock must be true or false, got 'yes'"),
    ('bucket = "acme"', "unknown key state.bucket; known keys in [state]: keep_runs, local_lock, url"),
])
def test_state_errors_are_one_line_naming_the_key(tmp_path, text, problem):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f"[state]\n{text}\n")
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "bluegreen.toml") in message and problem in message
    assert caught.value.exit_code is ExitCode.CONFIG


def test_parse_state_url():
    assert parse_state_url("") is None
    assert parse_state_url("s3://acme") == ("acme", "")
    assert parse_state_url("s3://acme.releases/x/y") == ("acme.releases", "x/y")


# -- the decision --------------------------------------------------------------------------------

S3_BACKEND = Backend("s3", "tf-state", "envs/prod/web.tfstate", "eu-west-1")
SHARED = StateSettings(url="s3://acme-releases/web")


@pytest.mark.parametrize("backend", [S3_BACKEND, Backend("local"), Backend("gcs")])
@pytest.mark.parametrize("ci", [False, True])
def test_state_url_wins(backend, ci):
    loc = decide_location(SHARED, backend, ci=ci)
    assert loc == StateLocation("s3", "acme-releases", "web/release.lock", "web", why="[state] url")
    assert loc.describe() == "s3://acme-releases/web/runs ([state] url)"


def test_state_url_without_prefix():
    loc = decide_location(StateSettings(url="s3://acme-releases"), Backend("local"), ci=True)
    assert (loc.lock_key, loc.journal_prefix) == ("release.lock", "")


@pytest.mark.parametrize("ci", [False, True])
def test_s3_backend_keeps_them_beside_the_state(ci):
    loc = decide_location(StateSettings(), S3_BACKEND, ci=ci)
    assert loc == StateLocation(
        "s3", "tf-state", "envs/prod/web.tfstate.bluegreen-lock", "envs/prod/web.tfstate.bluegreen",
        legacy_key="envs/prod/web.tfstate.bluegreen-journal.jsonl", why="beside the S3 state")


def test_local_backend_outside_ci_is_local():
    loc = decide_location(StateSettings(), Backend("local"), ci=False)
    assert (loc.kind, loc.refusal) == ("local", "")


@pytest.mark.parametrize(("backend", "ci", "reason"), [
    (Backend("local"), True, "CI is set and the Terraform backend is local"),
    (Backend("gcs"), False, 'Terraform backend "gcs" keeps no lock bluegreen can share'),
    (Backend("remote"), True, 'Terraform backend "remote" keeps no lock bluegreen can share'),
])
def test_a_lock_only_this_machine_sees_is_refused(backend, ci, reason):
    loc = decide_location(StateSettings(), backend, ci=ci, source="/ci/bluegreen.toml")
    assert loc.kind == "local"  # what read-only commands may still read
    assert loc.refusal == (
        f"/ci/bluegreen.toml: the release lock and journal would live on this machine only ({reason}), "
        'so another runner could release at once; set [state] url = "s3://BUCKET/PREFIX" to share them, '
        "or [state] local_lock = true if this machine is the only one that releases")
    opted = decide_location(StateSettings(local_lock=True), backend, ci=ci)
    assert (opted.kind, opted.refusal, opted.why) == ("local", "", "[state] local_lock = true")


@pytest.mark.parametrize(("value", "ci"), [(None, False), ("", False), ("false", False), ("0", False),
                                           ("true", True), ("1", True), ("yes", True)])
def test_in_ci(value, ci):
    assert in_ci({} if value is None else {"CI": value}) is ci


def test_terraform_backend_from_the_init_marker(tmp_path):
    assert terraform_backend(tmp_path) == Backend("local")
    (tmp_path / ".terraform").mkdir()
    marker = tmp_path / ".terraform" / "terraform.tfstate"
    marker.write_text(json.dumps({"backend": {"type": "s3", "config": {"bucket": "b", "key": "k", "region": "r"}}}))
    assert terraform_backend(tmp_path) == Backend("s3", "b", "k", "r")
    marker.write_text(json.dumps({"backend": {"type": "gcs", "config": {"bucket": "b"}}}))
    assert terraform_backend(tmp_path) == Backend("gcs")


def test_app_refuses_the_lease_but_reads_the_local_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    (tmp_path / "stack").mkdir()
    settings = _load(tmp_path, '[terraform]\ndir = "stack"\n')
    app = App(settings, Reporter(service="web"))
    with pytest.raises(ConfigError, match=r"bluegreen.toml: the release lock and journal would live on this machine only"):
        app.lease  # noqa: B018 - the property is the check
    assert app.journal.last_run() is None  # status still works, from the stack's .bluegreen/runs
    assert app.journal.store.directory == tmp_path / "stack" / ".bluegreen" / "runs"
    assert not (tmp_path / "stack" / ".bluegreen").exists()  # and nothing was written

    monkeypatch.setenv("CI", "false")
    assert App(settings, Reporter(service="web")).lease.path == tmp_path / "stack" / ".bluegreen" / "release.lock"
