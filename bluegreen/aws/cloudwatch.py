"""``gates.CloudWatchPort`` over boto3: alarm states (DescribeAlarms) and a target group's metrics
(GetMetricData in ``AWS/ApplicationELB``).

An ALB publishes its target-group metrics with two dimensions: ``TargetGroup`` (the ARN's
``targetgroup/NAME/ID`` suffix) and ``LoadBalancer`` (``app/NAME/ID``); a query naming only one
of them finds nothing, so the load balancer is looked up once per target group
(DescribeTargetGroups). An ALB publishes a datapoint only for periods with requests, and
``HTTPCode_Target_5XX_Count`` only for periods with 5xx answers: a period without it is 0 errors.

Periods: ALB metrics have 60-second resolution, so 60 s is the period on AWS (``[gates] period``).
The lab's CloudWatch model publishes every second and its configuration uses a shorter period,
so a gate decides within seconds and the lab tests stay short; the queries are the same.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from ..gates import AlarmState, MetricSample
from .session import AwsClients, aws_call

NAMESPACE = "AWS/ApplicationELB"
REQUESTS, ERRORS_5XX, RESPONSE_TIME = "RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime"
DESCRIBE_ALARMS_LIMIT = 100  # AlarmNames: at most 100 per DescribeAlarms call


def target_group_dimension(arn: str) -> str:
    """``arn:aws:elasticloadbalancing:R:A:targetgroup/web/0123`` -> ``targetgroup/web/0123``."""
    suffix = arn.rsplit(":", 1)[-1]
    if not suffix.startswith("targetgroup/"):
        raise ValueError(f"{arn!r} is not a target group ARN")
    return suffix


def load_balancer_dimension(arn: str) -> str:
    """``arn:aws:elasticloadbalancing:R:A:loadbalancer/app/web/0123`` -> ``app/web/0123``."""
    _, found, suffix = arn.partition(":loadbalancer/")
    if not found or not suffix:
        raise ValueError(f"{arn!r} is not a load balancer ARN")
    return suffix


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


class CloudWatchGates:
    def __init__(self, cloudwatch: Any, elbv2: Any) -> None:
        self._cloudwatch = cloudwatch
        self._elbv2 = elbv2
        self._dimensions: dict[str, list[dict[str, str]]] = {}

    @classmethod
    def from_clients(cls, clients: AwsClients) -> "CloudWatchGates":
        return cls(clients.client("cloudwatch"), clients.client("elbv2"))

    # -- alarms ---------------------------------------------------------------------------------

    def alarms(self, names: Sequence[str]) -> dict[str, AlarmState]:
        found: dict[str, AlarmState] = {}
        names = list(dict.fromkeys(names))
        for start in range(0, len(names), DESCRIBE_ALARMS_LIMIT):
            batch = names[start:start + DESCRIBE_ALARMS_LIMIT]
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"AlarmNames": batch, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
                if token:
                    kwargs["NextToken"] = token
                with aws_call(f"describe CloudWatch alarms {', '.join(batch)}"):
                    page = self._cloudwatch.describe_alarms(**kwargs)
                for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    name = alarm["AlarmName"]
                    found[name] = AlarmState(
                        name=name,
                        state=alarm.get("StateValue", "INSUFFICIENT_DATA"),
                        updated=_epoch(alarm.get("StateUpdatedTimestamp", 0)),
                        reason=" ".join(str(alarm.get("StateReason", "")).split()),
                    )
                token = page.get("NextToken")
                if not token:
                    break
        return found

    # -- target-group metrics ---------------------------------------------------------------------

    def dimensions(self, target_group_arn: str) -> list[dict[str, str]]:
        """CloudWatch's dimensions of a target group's metrics (its load balancer read once)."""
        if target_group_arn not in self._dimensions:
            with aws_call(f"describe target group {target_group_arn}"):
                groups = self._elbv2.describe_target_groups(TargetGroupArns=[target_group_arn])["TargetGroups"]
            balancers = groups[0].get("LoadBalancerArns", []) if groups else []
            if not balancers:
                # Not behind a load balancer: nothing publishes its metrics; no dimension matches.
                return [{"Name": "TargetGroup", "Value": target_group_dimension(target_group_arn)}]
            self._dimensions[target_group_arn] = [
                {"Name": "TargetGroup", "Value": target_group_dimension(target_group_arn)},
                {"Name": "LoadBalancer", "Value": load_balancer_dimension(balancers[0])},
            ]
        return self._dimensions[target_group_arn]

    def target_group_samples(self, target_group_arn: str, start: float, end: float,
                             period: int, *, latency: bool = True) -> list[MetricSample]:
        dims = self.dimensions(target_group_arn)

        def query(qid: str, metric: str, stat: str) -> dict[str, Any]:
            return {"Id": qid, "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dims},
                "Period": period, "Stat": stat}}

        queries = [query("requests", REQUESTS, "Sum"), query("errors", ERRORS_5XX, "Sum")]
        if latency:
            queries.append(query("p99", RESPONSE_TIME, "p99"))
        series: dict[str, dict[float, float]] = {"requests": {}, "errors": {}, "p99": {}}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": _utc(start),
                                      "EndTime": _utc(end), "ScanBy": "TimestampAscending"}
            if token:
                kwargs["NextToken"] = token
            with aws_call(f"get CloudWatch metrics of target group {target_group_dimension(target_group_arn)}"):
                page = self._cloudwatch.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                values = series.setdefault(result["Id"], {})
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    if value is not None:
                        values[_epoch(stamp)] = float(value)
            token = page.get("NextToken")
            if not token:
                break
        samples = []
        for stamp in sorted(series["requests"]):
            samples.append(MetricSample(
                timestamp=stamp,
                requests=series["requests"][stamp],
                errors_5xx=series["errors"].get(stamp, 0.0),
                p99_seconds=series["p99"].get(stamp),
            ))
        return samples
