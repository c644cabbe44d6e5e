"""Classic ELBs as AWS keeps them: attributes as stored, and registrations per Auto Scaling group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._patching import Patcher

if TYPE_CHECKING:
    from .core import Fidelity


def connection_draining_keeps_its_timeout(p: Patcher, fid: "Fidelity") -> None:
    """AWS (Elastic Load Balancing API, ModifyLoadBalancerAttributes): ``ConnectionDraining``
    has ``Enabled`` and an optional ``Timeout``, "The maximum time, in seconds, to keep the
    existing connections open before deregistering the instances"; a modification that leaves
    ``Timeout`` out keeps the timeout already set, and DescribeLoadBalancerAttributes returns it.
    (HashiCorp's provider relies on this: it sets ``Enabled`` and ``Timeout``, then ``Enabled``
    alone.)

    moto 5.2.5: ``elb/models.py`` ``modify_load_balancer_attributes`` replaces the whole
    connection draining dict with the request's and, finding no lowercase ``timeout`` key, adds
    ``timeout: 300``. After Terraform's second call the ELB reads a 300 s timeout: Terraform plans
    a perpetual change of ``connection_draining_timeout`` and anything that waits for draining
    waits for the wrong time. Wraps ``ELBBackend.modify_load_balancer_attributes`` to keep the
    current timeout when the request has none."""
    from moto.elb.models import ELBBackend

    def make_modify(original: Any) -> Any:
        def modify_load_balancer_attributes(self: Any, load_balancer_name: str, *args: Any, **kwargs: Any) -> Any:
            draining = kwargs.get("connection_draining")
            if draining and "Timeout" not in draining and "timeout" not in draining:
                current = self.get_load_balancer(load_balancer_name).attributes.get("connection_draining", {})
                timeout = current.get("Timeout", current.get("timeout"))
                if timeout is not None:
                    kwargs["connection_draining"] = {**draining, "Timeout": timeout, "timeout": timeout}
            return original(self, load_balancer_name, *args, **kwargs)

        return modify_load_balancer_attributes

    p.wrap(ELBBackend, "modify_load_balancer_attributes", make_modify)


def classic_elb_registers_per_group(p: Patcher, fid: "Fidelity") -> None:
    """AWS (Auto Scaling User Guide, "Use Elastic Load Balancing to distribute incoming application
    traffic in your Auto Scaling group"; AttachLoadBalancers): attaching a Classic Load Balancer
    registers *the group's* InService instances with it, and a group deregisters only its own
    instances (on EnterStandby: "the instance is deregistered from the load balancer"; on
    DetachInstances, scale-in, termination). AWS-SEMANTICS.md: "AttachLoadBalancerTargetGroups /
    AttachLoadBalancers: ... additive, register the group's InService instances." Instances of
    another group attached to the same load balancer stay registered.

    moto 5.2.5: ``autoscaling/models.py`` ``AutoScalingBackend.update_attached_elbs`` (called after
    every capacity change, attach, EnterStandby, DetachInstances...) deregisters every instance the
    ELB got from Auto Scaling that is not InService in the group being updated. With blue and green
    on one classic ELB, attaching green deregisters blue, and blue's next EnterStandby deregisters
    green: the ELB ends with no instance at all. Replaces ``update_attached_elbs``: register the
    group's InService instances, deregister only instances that are in no other Auto Scaling group
    (this group's own, no longer InService or gone from it). Hand-registered instances stay, as in
    moto (``from_autoscaling=True`` only touches the ELB's Auto Scaling list)."""
    from moto.autoscaling.models import AutoScalingBackend
    from moto.elb.exceptions import LoadBalancerNotFoundError

    def make_update(_original: Any) -> Any:
        def update_attached_elbs(self: AutoScalingBackend, group_name: str) -> None:
            group = self.autoscaling_groups[group_name]
            if not group.load_balancer_names:
                return  # (moto: describe_load_balancers with no names lists every ELB)
            in_service = {s.instance.id for s in group.instance_states if s.lifecycle_state == "InService"}
            other_groups = {
                s.instance.id
                for name, other in list(self.autoscaling_groups.items())
                if name != group_name
                for s in other.instance_states
            }
            try:
                elbs = self.elb_backend.describe_load_balancers(names=group.load_balancer_names)
            except LoadBalancerNotFoundError:  # ELBs can be deleted before their group
                return
            for elb in elbs:
                registered = set(elb.instance_ids)
                new = sorted(in_service - registered)
                if new:
                    self.elb_backend.register_instances(elb.name, new, from_autoscaling=True)
                gone = registered - in_service - other_groups
                if gone:
                    self.elb_backend.deregister_instances(elb.name, gone, from_autoscaling=True)

        return update_attached_elbs

    p.wrap(AutoScalingBackend, "update_attached_elbs", make_update)
