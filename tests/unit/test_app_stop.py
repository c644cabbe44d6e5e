"""App wiring of the StopToken: one token for the clock, every waiter and the Terraform runner,
with the [timeouts] Terraform bounds."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bluegreen.app import App
from bluegreen.config import Settings
from bluegreen.report import Reporter
from bluegreen.stop import StopToken
from bluegreen.terraform.runner import TerraformRunner


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings().replace("terraform", dir=tmp_path, binary="embedded")


def reporter() -> Reporter:
    return Reporter("web", json_stream=io.StringIO(), console=Console(file=io.StringIO()))


def test_one_token_reaches_clock_waiters_and_terraform(monkeypatch, settings):
    monkeypatch.setattr(TerraformRunner, "ensure_ready", lambda self: None)
    token = StopToken()
    app = App(settings, reporter(), stop=token)
    assert app.stop is token and app.clock.stop is token
    assert app.waiter().stop is token
    tf = app.terraform
    assert tf.stop is token
    assert (tf.stop_grace, tf.apply_timeout) == (60, 3600)


def test_apply_bound_of_zero_is_unbounded_and_a_default_token_exists(monkeypatch, settings):
    monkeypatch.setattr(TerraformRunner, "ensure_ready", lambda self: None)
    app = App(settings.replace("timeouts", terraform_apply_seconds=0, terraform_interrupt_seconds=5), reporter())
    assert isinstance(app.stop, StopToken)
    assert (app.terraform.apply_timeout, app.terraform.stop_grace) == (None, 5)


def test_the_runner_reports_to_the_apps_terraform_listeners(monkeypatch, settings):
    monkeypatch.setattr(TerraformRunner, "ensure_ready", lambda self: None)  # no Terraform in a unit test
    app = App(settings, reporter())
    assert app.terraform.events is app.terraform_events
