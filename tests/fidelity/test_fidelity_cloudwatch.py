"""The fidelity layer's CloudWatch: metric alarms evaluated as CloudWatch does (period, evaluation
periods, datapoints to alarm, threshold, comparison, treat-missing-data) and percentile statistics
in GetMetricData. The gaps in unpatched moto are pinned in test_fidelity_known_gaps.py."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from fidelity_support import REGION, Stack

from bluegreen.aws.cloudwatch import CloudWatchGates, load_balancer_dimension, target_group_dimension
from bluegreen_lab.fidelity import Fidelity
from bluegreen_lab.fidelity.cloudwatch import EVALUATION_DELAY_S

T = 1_800_000_000.0  # a multiple of 60 and of 10: period boundaries are easy to see
DIMS = [{"Name": "TargetGroup", "Value": "targetgroup/web/1"}, {"Name": "LoadBalancer", "Value": "app/web/2"}]


@pytest.fixture
def cw(fid: Fidelity, aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(fid, "wall", lambda: T)
    return boto3.client("cloudwatch", region_name=REGION)


def at(fid: Fidelity, monkeypatch: pytest.MonkeyPatch, epoch: float) -> None:
    monkeypatch.setattr(fid, "wall", lambda: epoch)


def put(cw: Any, epoch: float, value: float, name: str = "HTTPCode_Target_5XX_Count") -> None:
    cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
        "MetricName": name, "Dimensions": DIMS, "Value": value, "Unit": "Count",
        "Timestamp": datetime.fromtimestamp(epoch, timezone.utc)}])


def alarm(cw: Any, **overrides: Any) -> dict[str, Any]:
    kwargs = dict(AlarmName="web-5xx", Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
                  Dimensions=DIMS, Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=5.0,
                  ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    kwargs.update(overrides)
    cw.put_metric_alarm(**kwargs)
    return state(cw, kwargs["AlarmName"])


def state(cw: Any, name: str = "web-5xx") -> dict[str, Any]:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_an_alarm_goes_to_alarm_when_its_period_breaches_and_back_to_ok(fid: Fidelity, cw: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert alarm(cw)["StateValue"] == "OK"  # evaluated at once: no data, notBreaching
    put(cw, T + 1, 3)
    put(cw, T + 7, 4)  # 7 in [T, T+10): breaches 5
    at(fid, monkeypatch, T + 10 + EVALUATION_DELAY_S - 0.1)
    assert state(cw)["StateValue"] == "OK"  # the period has not been evaluated yet
    at(fid, monkeypatch, T + 10 + EVALUATION_DELAY_S)
    breached = state(cw)
    assert breached["StateValue"] == "ALARM"
    assert breached["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [7.0")
    assert "greater than or equal to the threshold (5.0)" in breached["StateReason"]
    assert breached["StateUpdatedTimestamp"].timestamp() == T + 10 + EVALUATION_DELAY_S
    put(cw, T + 12, 1)
    at(fid, monkeypatch, T + 20 + EVALUATION_DELAY_S)
    assert state(cw)["StateValue"] == "OK"


def test_datapoints_to_alarm_of_evaluation_periods(fid: Fidelity, cw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    alarm(cw, EvaluationPeriods=3, DatapointsToAlarm=2)
    put(cw, T + 1, 9)
    at(fid, monkeypatch, T + 30 + EVALUATION_DELAY_S)
    assert state(cw)["StateValue"] == "OK"  # 1 of 3 breaching
    put(cw, T + 31, 9)
    at(fid, monkeypatch, T + 40 + EVALUATION_DELAY_S)
    assert state(cw)["StateValue"] == "OK"  # [T+10, T+40): only T+31
    put(cw, T + 41, 9)
    at(fid, monkeypatch, T + 50 + EVALUATION_DELAY_S)
    got = state(cw)
    assert got["StateValue"] == "ALARM" and "2 out of the last 3 datapoints" in got["StateReason"]


@pytest.mark.parametrize("treat, expected", [("missing", "INSUFFICIENT_DATA"), ("notBreaching", "OK"),
                                             ("breaching", "ALARM")])
def test_treat_missing_data(fid: Fidelity, cw: Any, treat: str, expected: str) -> None:
    assert alarm(cw, TreatMissingData=treat)["StateValue"] == expected


def test_ignore_keeps_the_state_without_data(fid: Fidelity, cw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    put(cw, T - 15, 9)
    assert alarm(cw, TreatMissingData="ignore")["StateValue"] == "ALARM"
    at(fid, monkeypatch, T + 60)
    assert state(cw)["StateValue"] == "ALARM"


def test_lower_than_comparisons_and_average(fid: Fidelity, cw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    put(cw, T - 19, 10, name="RequestCount")
    put(cw, T - 15, 20, name="RequestCount")
    put(cw, T - 5, 1000, name="RequestCount")  # the period still open: not evaluated
    got = alarm(cw, AlarmName="low-traffic", MetricName="RequestCount", Statistic="Average", Threshold=16,
                ComparisonOperator="LessThanThreshold")
    assert got["StateValue"] == "ALARM" and "[15.0" in got["StateReason"]
    assert "less than the threshold (16.0)" in got["StateReason"]


def test_percentile_statistics_through_the_adapter(fid: Fidelity, stack: Stack) -> None:
    """The product's adapter asks for RequestCount, 5xx and TargetResponseTime p99 of a target
    group behind a load balancer; with the correction, moto answers the percentile."""
    stack.elbv2.create_listener(LoadBalancerArn=stack.elbv2.describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"],
                                Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": stack.tg_arn}])
    elbv2, cloudwatch = stack.elbv2, boto3.client("cloudwatch", region_name=REGION)
    lb = elbv2.describe_target_groups(TargetGroupArns=[stack.tg_arn])["TargetGroups"][0]["LoadBalancerArns"][0]
    dims = [{"Name": "TargetGroup", "Value": target_group_dimension(stack.tg_arn)},
            {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb)}]
    now = datetime.now(timezone.utc).replace(microsecond=0).timestamp()
    stamp = datetime.fromtimestamp(now - 15, timezone.utc)
    cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
        {"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": stamp, "Value": 100, "Unit": "Count"},
        {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": stamp, "Unit": "Seconds",
         "Values": [0.01, 0.02, 0.75], "Counts": [90, 8, 2]}])
    samples = CloudWatchGates(cloudwatch, elbv2).target_group_samples(stack.tg_arn, now - 30, now, 30)
    assert [(s.requests, s.errors_5xx, s.p99_seconds) for s in samples] == [(100, 0, 0.75)]
