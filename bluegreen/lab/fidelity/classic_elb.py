"""Classic ELB attributes as AWS stores them."""

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
