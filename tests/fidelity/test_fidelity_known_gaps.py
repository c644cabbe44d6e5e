"""Gaps the fidelity layer does not correct (yet): these pin moto's current behaviour, so a moto
upgrade that changes it fails here and the decision gets revisited."""

from __future__ import annotations

from fidelity_support import Stack

from bluegreen_lab.fidelity import Fidelity


def test_classic_elb_reports_unregistered_instances_unknown(fid: Fidelity, stack: Stack) -> None:
    """Gap 10. AWS: DescribeInstanceHealth of an instance that is not registered fails with
    ``InvalidInstance`` (which botocore's ``instance_deregistered`` waiter accepts as success);
    for one deregistered a moment ago AWS may still list it ``OutOfService``. moto answers
    ``Unknown``, which no waiter accepts. Not corrected: AWS distinguishes never-registered from
    recently-deregistered instances and we have no authoritative description of the second case;
    the product's adapter should treat ``Unknown`` (and InvalidInstance) as "not serving"."""
    elb = __import__("boto3").client("elb", region_name="us-east-1")
    elb.create_load_balancer(
        LoadBalancerName="classic",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
        AvailabilityZones=["us-east-1a"],
    )
    stack.create_group(desired=2, target_groups=False)
    stack.asg.attach_load_balancers(AutoScalingGroupName=stack.group, LoadBalancerNames=["classic"])
    victim, kept = stack.ids()
    stack.asg.enter_standby(AutoScalingGroupName=stack.group, InstanceIds=[victim], ShouldDecrementDesiredCapacity=True)
    assert stack.lifecycle(victim) == "Standby"  # classic ELB connection draining is not modelled
    states = elb.describe_instance_health(LoadBalancerName="classic", Instances=[{"InstanceId": victim}, {"InstanceId": kept}])
    assert {s["InstanceId"]: s["State"] for s in states["InstanceStates"]} == {victim: "Unknown", kept: "InService"}
