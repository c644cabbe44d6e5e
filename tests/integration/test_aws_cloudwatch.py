"""CloudWatchGates (bluegreen/aws/cloudwatch.py) against moto in-process: alarm states through
DescribeAlarms, a target group's RequestCount and HTTPCode_Target_5XX_Count through GetMetricData
with AWS's namespace and both dimensions. The p99 query is tested through the lab's fidelity
layer (tests/fidelity/test_fidelity_cloudwatch.py): moto 5.2.5 cannot answer a percentile."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from moto import mock_aws

from bluegreen.aws.cloudwatch import CloudWatchGates, load_balancer_dimension, target_group_dimension
from bluegreen.aws.session import AwsClients, ClientSettings
from bluegreen.errors import AwsError
from bluegreen.gates import CloudWatchGateWatch, GateSettings, MetricGate, TargetGroupRef

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield AwsClients(ClientSettings(region=REGION))


@pytest.fixture
def alb(aws):
    """An ALB forwarding to a target group: the target group then names its load balancer."""
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for n, az in ((1, "a"), (2, "b"))]
    lb = elbv2.create_load_balancer(Name="web", Subnets=subnets, Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(Name="web-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return {"lb": lb, "tg": tg}


def test_dimensions_are_the_arn_suffixes() -> None:
    assert target_group_dimension(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef") == "targetgroup/web/0123456789abcdef"
    assert load_balancer_dimension(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188") == "app/web/50dc6c495c0c9188"
    with pytest.raises(ValueError):
        target_group_dimension("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1")


def put(aws, dims, at: datetime, **values: float) -> None:
    aws.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
        {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": value, "Unit": "Count"}
        for name, value in values.items()])


def test_target_group_samples_read_both_dimensions(aws, alb) -> None:
    cw = CloudWatchGates.from_clients(aws)
    dims = cw.dimensions(alb["tg"])
    assert dims == [{"Name": "TargetGroup", "Value": target_group_dimension(alb["tg"])},
                    {"Name": "LoadBalancer", "Value": load_balancer_dimension(alb["lb"])}]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    put(aws, dims, now - timedelta(seconds=50), RequestCount=400, HTTPCode_Target_5XX_Count=20)
    put(aws, dims, now - timedelta(seconds=25), RequestCount=300)  # no 5xx datapoint: none were answered
    # Another target group's traffic, and this one's under only one dimension: neither counts.
    put(aws, [{"Name": "TargetGroup", "Value": "targetgroup/other/1"}, dims[1]], now - timedelta(seconds=25), RequestCount=999)
    put(aws, dims[:1], now - timedelta(seconds=25), RequestCount=999)
    samples = cw.target_group_samples(alb["tg"], (now - timedelta(seconds=60)).timestamp(), now.timestamp(), 10,
                                      latency=False)
    assert [(s.requests, s.errors_5xx, s.p99_seconds) for s in samples] == [(400, 20, None), (300, 0, None)]
    assert all(now.timestamp() - 60 <= s.timestamp < now.timestamp() for s in samples)
    # The load balancer is looked up once per target group.
    aws.calls.clear()
    cw.target_group_samples(alb["tg"], now.timestamp() - 60, now.timestamp(), 10, latency=False)
    assert aws.calls["DescribeTargetGroups"] == 0 and aws.calls["GetMetricData"] == 1


def test_alarm_states(aws) -> None:
    cloudwatch = aws.client("cloudwatch")
    for name in ("web-5xx", "web-latency"):
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
                                    ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="Threshold Crossed:\n 1 datapoint [9.0]")
    found = CloudWatchGates.from_clients(aws).alarms(["web-5xx", "web-latency", "nope"])
    assert set(found) == {"web-5xx", "web-latency"}
    alarm = found["web-5xx"]
    assert alarm.state == "ALARM" and alarm.reason == "Threshold Crossed: 1 datapoint [9.0]"
    assert abs(alarm.updated - time.time()) < 60


def test_a_failing_call_is_one_aws_error(aws) -> None:
    cw = CloudWatchGates.from_clients(aws)
    with pytest.raises(AwsError, match="failed to describe target group") as info:
        cw.dimensions("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef")
    assert info.value.code and "\n" not in str(info.value)


def test_the_watch_over_the_adapter_trips_on_the_5xx_rate(aws, alb) -> None:
    """The gate and the adapter together, on moto's clock (now): 5 % of 400 requests fail."""
    cw = CloudWatchGates.from_clients(aws)
    settings = GateSettings(interval=1, period=10, window=60, metrics=(MetricGate("5xx_rate", 0.02, min_requests=100),))
    start = time.time() - 30  # the watch "started" 30 s ago: its window covers the datapoint below
    watch = CloudWatchGateWatch(settings, cw, new=TargetGroupRef(alb["tg"]),
                                wall=time.time)
    watch.start(0.0)
    watch.started_wall = start
    put(aws, cw.dimensions(alb["tg"]), datetime.fromtimestamp(start + 5, timezone.utc), RequestCount=400,
        HTTPCode_Target_5XX_Count=20)
    verdict = watch.check(5.0)
    assert verdict is not None and verdict.tripped, verdict
    assert "5.0% (20 of 400 requests)" in verdict.reason
