"""ImagesAdapter against moto: existing, unknown and malformed AMI ids."""

from __future__ import annotations

import pytest
from moto import mock_aws

from bluegreen.aws.images import ImagesAdapter
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.errors import AwsError, InputError

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield AwsClients(ClientSettings(region=REGION))


@pytest.fixture
def ami(aws):
    return aws.client("ec2").register_image(
        Name="web-2", RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]


def test_existing_image(aws, ami):
    images = ImagesAdapter.from_clients(aws)
    assert images.exists(ami)
    assert images.state(ami) == "available"
    images.require(ami)
    assert aws.calls["DescribeImages"] == 3


def test_unknown_and_malformed_images_do_not_exist(aws, ami):
    images = ImagesAdapter.from_clients(aws)
    assert not images.exists("ami-0123456789abcdef0")
    assert not images.exists("not-an-ami")


def test_require_names_ami_and_region(aws, ami):
    images = ImagesAdapter.from_clients(aws)
    with pytest.raises(InputError, match=r"^AMI ami-0123456789abcdef0 not found in region eu-west-1 \("):
        images.require("ami-0123456789abcdef0")
    with pytest.raises(InputError, match="'web-2' is not an AMI id"):
        images.require("web-2")


def test_deregistered_image_does_not_exist(aws, ami):
    aws.client("ec2").deregister_image(ImageId=ami)
    assert not ImagesAdapter.from_clients(aws).exists(ami)


def test_other_errors_are_raised(aws):
    from botocore.stub import Stubber

    ec2 = aws.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_images", service_error_code="UnauthorizedOperation", http_status_code=403)
        with pytest.raises(AwsError) as caught:
            ImagesAdapter(ec2).exists("ami-0123456789abcdef0")
    assert caught.value.code == "UnauthorizedOperation"
    assert str(caught.value).startswith(
        "failed to describe image ami-0123456789abcdef0 in eu-west-1: UnauthorizedOperation"
    )
