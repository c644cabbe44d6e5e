"""Gates in the lab (issue 8): a version that passes its health checks but answers 500 to 5 % of
requests, released in the attach mode with --keep-old under steady load, with a CloudWatch alarm
on the target group's HTTPCode_Target_5XX_Count as its gate. The lab's CloudWatch model publishes
the 5xx answers from HAProxy's request log, the fidelity layer evaluates the alarm as CloudWatch
would, the gate trips and traffic flips back to the warm old color: exit 10, with the alarm's
numbers in the message, and no request lost to the flip itself (the only failures are the bad
version's own 500s)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from bluegreen import commands
from bluegreen.aws.cloudwatch import load_balancer_dimension, target_group_dimension
from bluegreen.errors import ExitCode, RolledBackError
from bluegreen.gates import AlarmGate, GateSettings
from bluegreen.report import Reporter
from bluegreen_lab.demo import TrafficWatch
from bluegreen_lab.emulator import LAB_IMAGE_VERSION_TAG

pytestmark = pytest.mark.lab

RATE = 200
ALARM_NAME = "web-5xx-gate-lab"


@pytest.fixture
def lab(alb_lab):
    alb_lab.health = alb_lab.fidelity.health = alb_lab.dataplane
    return alb_lab


def _served(lab) -> tuple[object, str]:
    situation = commands.observe(lab.app(Reporter(service="web", quiet=True)))
    live = situation.assessment.live
    ami = situation.tfvars.colors[live].ami
    tags = lab.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [ami]}])["Tags"]
    return live, {t["Key"]: t["Value"] for t in tags}[LAB_IMAGE_VERSION_TAG]


def test_alarm_gate_flips_a_keep_old_release_of_a_failing_version_back(lab) -> None:
    live_before, old = _served(lab)
    bad = lab.bake("lab-5xx", fault="errors=0.05")
    outputs = lab.app(Reporter(service="web", quiet=True)).stack.outputs()
    elbv2, cloudwatch = lab.client("elbv2"), lab.client("cloudwatch")
    tg = outputs.target_group_arn
    lb = elbv2.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]["LoadBalancerArns"][0]
    # 10-second periods (a high-resolution alarm; the model publishes every second): at 200 req/s
    # the new color answers about 100 500s per period, the old one none.
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM_NAME, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "TargetGroup", "Value": target_group_dimension(tg)},
                    {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb)}],
        Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=5.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    settings = lab.settings().replace("release", keep_old_seconds=45)
    settings = dataclasses.replace(settings, gates=GateSettings(interval=1, period=10, window=60,
                                                                alarms=(AlarmGate(ALARM_NAME),)))
    started = time.monotonic()
    try:
        with TrafficWatch(lab, rate_per_s=RATE) as watch:
            reporter = Reporter(service="web", quiet=True, clock=watch.load.now)
            watch.settle(1.5)
            with watch.measure("release with a 5xx gate") as window:
                with pytest.raises(RolledBackError) as info:
                    commands.release(lab.app(reporter, settings), ami=bad, manifest=None, size=None,
                                     keep_old=True, dry_run=False)
            watch.settle(2)
    finally:
        cloudwatch.delete_alarms(AlarmNames=[ALARM_NAME])
    took = time.monotonic() - started
    message = str(info.value)
    print(f"\ngate trip: {message}\n({took:.1f}s)")
    assert info.value.exit_code is ExitCode.ROLLED_BACK and "\n" not in message
    # The gate's name and CloudWatch's numbers: the datapoint and the threshold.
    assert f"gate alarm {ALARM_NAME}: went to ALARM at" in message, message
    assert "Threshold Crossed: 1 out of the last 1 datapoints [" in message
    assert "greater than or equal to the threshold (5.0)" in message
    assert _served(lab) == (live_before, old)
    records = watch.records
    failed = [r for r in records if not r.ok]
    kinds = {r.error for r in failed}
    # Nothing lost to the flip itself: every failure is the bad version's own answer.
    assert kinds <= {"http_500"}, kinds
    served_bad = sum(1 for r in records if r.ok and r.version == "lab-5xx")
    assert served_bad and len(failed) <= served_bad * 0.06 + 2, (len(failed), served_bad)
    after = [r for r in records if r.start >= window.end]
    assert after and all(r.ok and r.version == old for r in after)
    tripped = [e for e in reporter.events if e["event"] == "gate" and e.get("tripped")]
    assert tripped and tripped[0]["gate"] == f"alarm {ALARM_NAME}"
    flipped_back = max(r.end for r in records if r.ok and r.version == "lab-5xx")
    print(f"requests {len(records)}, bad version served {served_bad}, failed {len(failed)}; "
          f"last bad response {flipped_back - (reporter._start + tripped[0]['elapsed']):.2f}s after the trip")
    # No wall-clock bound here (a busy machine is not a failure): that the gate, not the end of the
    # 45-s window, ended the watch is shown by the RolledBackError and the tripped gate event above.
