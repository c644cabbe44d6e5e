"""Client construction and the one-line errors for the failures a first-time user meets."""

from __future__ import annotations

import time
from collections import Counter
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

from bluegreen.aws.autoscaling import AutoScalingAdapter
from bluegreen.aws.session import AwsClients, ClientSettings, aws_call, chunks, translate
from bluegreen.errors import AwsError, ExitCode
from bluegreen.observe import AwsCallEvent, Listeners

REGION = "us-east-1"
CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-profile lookup


@pytest.fixture
def fake_credentials(monkeypatch, tmp_path):
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))


def test_no_credentials_preflight(no_credentials):
    with pytest.raises(AwsError) as caught:
        AwsClients(ClientSettings(region=REGION)).preflight()
    error = caught.value
    assert error.exit_code is ExitCode.AWS and error.code == "NoCredentials"
    assert str(error).startswith("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/")
    assert "\n" not in str(error)


def test_no_credentials_on_any_call(no_credentials):
    clients = AwsClients(ClientSettings(region=REGION))
    with pytest.raises(AwsError, match="^no AWS credentials found") as caught:
        AutoScalingAdapter.from_clients(clients).describe_group("web-blue")
    assert caught.value.code == "NoCredentials"


def test_unknown_profile(no_credentials):
    with pytest.raises(AwsError, match="AWS profile 'ci' not found") as caught:
        AwsClients(ClientSettings(region=REGION, profile="ci")).preflight()
    assert "[aws] profile in bluegreen.toml" in str(caught.value)


def test_unreachable_endpoint_preflight_is_fast_and_says_what_to_do(fake_credentials):
    clients = AwsClients(ClientSettings(region=REGION, endpoint_url="http://127.0.0.1:9"))
    started = time.monotonic()
    with pytest.raises(AwsError) as caught:
        clients.preflight()
    assert time.monotonic() - started < 5  # no standard-mode retries in the preflight
    message = str(caught.value)
    assert caught.value.code == "EndpointConnectionError"
    assert message.startswith("cannot reach AWS endpoint http://127.0.0.1:9")
    assert "start the local emulation, or fix [aws] endpoint_url in bluegreen.toml" in message


def test_unreachable_endpoint_on_a_call(fake_credentials):
    clients = AwsClients(ClientSettings(region=REGION, endpoint_url="http://127.0.0.1:9", max_attempts=0))
    with pytest.raises(AwsError, match="^cannot reach AWS endpoint http://127.0.0.1:9"):
        AutoScalingAdapter.from_clients(clients).set_min_size("web-blue", 0)


def test_unreachable_real_aws_hints_network():
    error = translate(
        __import__("botocore.exceptions").exceptions.EndpointConnectionError(
            endpoint_url="https://autoscaling.us-east-1.amazonaws.com/"
        ),
        "describe web-blue",
    )
    assert "check the network/proxy and [aws] region" in str(error)


def test_preflight_ok_and_clients_configured(fake_credentials):
    with mock_aws():
        clients = AwsClients(ClientSettings(region="eu-central-1", connect_timeout=3, read_timeout=7))
        identity = clients.preflight()
        assert identity["account"]
        autoscaling = clients.client("autoscaling")
        assert clients.client("autoscaling") is autoscaling  # one client per service
        config = autoscaling.meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": 9}  # botocore: 8 retries
        assert (config.connect_timeout, config.read_timeout) == (3, 7)
        assert autoscaling.meta.region_name == "eu-central-1"
        assert clients.calls["GetCallerIdentity"] == 1


def test_from_settings_reads_config_sections():
    settings = SimpleNamespace(
        service=SimpleNamespace(region="ap-south-1"),
        aws=SimpleNamespace(profile="", endpoint_url="http://127.0.0.1:5000"),
    )
    clients = AwsClients.from_settings(settings)
    assert clients.settings == ClientSettings(region="ap-south-1", endpoint_url="http://127.0.0.1:5000")


def _client_error(code: str, message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "AttachLoadBalancerTargetGroups")


def test_aws_call_classifies_by_code():
    with pytest.raises(AwsError) as caught:
        with aws_call("attach web-blue to tg-1"):
            raise _client_error("ResourceContention", "You already have a pending update\nto this group")
    assert caught.value.code == "ResourceContention"
    assert str(caught.value) == (
        "failed to attach web-blue to tg-1: ResourceContention (You already have a pending update to this group)"
    )
    assert isinstance(caught.value.__cause__, ClientError)


def test_aws_call_rejected_credentials():
    with pytest.raises(AwsError, match="AWS rejected the credentials while trying to attach") as caught:
        with aws_call("attach web-blue to tg-1"):
            raise _client_error("ExpiredToken")
    assert caught.value.code == "ExpiredToken"


def test_aws_call_read_timeout():
    with pytest.raises(AwsError, match="timed out waiting for AWS while trying to describe") as caught:
        with aws_call("describe web-blue"):
            raise ReadTimeoutError(endpoint_url="https://autoscaling.us-east-1.amazonaws.com/")
    assert caught.value.code == "ReadTimeout"


def test_aws_call_leaves_other_exceptions_alone():
    with pytest.raises(KeyError):
        with aws_call("describe web-blue"):
            raise KeyError("x")


def test_chunks():
    assert [len(c) for c in chunks([str(n) for n in range(45)], 20)] == [20, 20, 5]
    assert list(chunks([], 20)) == []


def test_counter_shared(fake_credentials):
    with mock_aws():
        clients = AwsClients(ClientSettings(region=REGION))
        clients.client("ec2").describe_vpcs()
        clients.client("autoscaling").describe_auto_scaling_groups()
        assert clients.calls == Counter({"DescribeVpcs": 1, "DescribeAutoScalingGroups": 1})


# -- the events seam (bluegreen.observe): every API call, for the lab and the benchmarks ----------


class Ticks:
    """A clock that moves one second per reading: durations are exact, no sleeping."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def test_events_report_each_call_with_its_service_duration_and_response(fake_credentials):
    with mock_aws():
        seen: list[AwsCallEvent] = []
        clients = AwsClients(ClientSettings(region=REGION), clock=Ticks())
        clients.events.add(seen.append)
        clients.preflight()
        clients.client("autoscaling").describe_auto_scaling_groups()
        assert [(e.service, e.operation, e.ok, e.status) for e in seen] == [
            ("sts", "GetCallerIdentity", True, 200), ("autoscaling", "DescribeAutoScalingGroups", True, 200)]
        assert [e.seconds for e in seen] == [1.0, 1.0]  # before-call to after-call: one tick
        assert seen[1].response is not None and seen[1].response["AutoScalingGroups"] == []
        assert len(seen) == sum(clients.calls.values())  # one event per counted call


def test_an_aws_error_is_reported_with_its_code_before_it_is_raised(fake_credentials):
    with mock_aws():
        seen: list[AwsCallEvent] = []
        clients = AwsClients(ClientSettings(region=REGION), events=Listeners())
        clients.events.add(seen.append)
        with pytest.raises(AwsError) as caught:
            AutoScalingAdapter.from_clients(clients).set_min_size("no-such-group", 0)
        (event,) = seen
        assert event.operation == "UpdateAutoScalingGroup" and not event.ok
        assert event.error == caught.value.code == "ValidationError" and event.status == 400


def test_an_unreachable_endpoint_is_reported_without_a_response(fake_credentials):
    seen: list[AwsCallEvent] = []
    clients = AwsClients(ClientSettings(region=REGION, endpoint_url="http://127.0.0.1:9", max_attempts=0))
    clients.events.add(seen.append)
    with pytest.raises(AwsError):
        AutoScalingAdapter.from_clients(clients).set_min_size("web-blue", 0)
    (event,) = seen
    assert (event.service, event.operation, event.status, event.response) == (
        "autoscaling", "UpdateAutoScalingGroup", None, None)
    assert event.error == "EndpointConnectionError"


def test_shared_listeners_hear_the_clients_of_every_app(fake_credentials, tmp_path):
    from bluegreen.app import App
    from bluegreen.config import Settings
    from bluegreen.report import Reporter

    with mock_aws():
        shared: Listeners[AwsCallEvent] = Listeners()
        seen: list[AwsCallEvent] = []
        shared.add(seen.append)
        settings = Settings().replace("terraform", dir=tmp_path)
        for _ in range(2):
            App(settings, Reporter(service="web", quiet=True), aws_events=shared).clients  # preflight: one call
        assert [e.operation for e in seen] == ["GetCallerIdentity", "GetCallerIdentity"]
