"""Auto Scaling groups drive their target groups as on AWS: only InService instances are registered,
everything that leaves service is deregistered through ``draining``, EnterStandby waits for it,
ExitStandby goes through ``Pending``, and scale-in never picks a Standby instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import AutoScalingBackend, ExitStandbyActivity, FakeAutoScalingGroup, InstanceState

from ._patching import Patcher
from .targets import live_registrations, registrations, resync

if TYPE_CHECKING:
    from .core import Fidelity

IN_SERVICE = "InService"
STANDBY = "Standby"
ENTERING_STANDBY = "EnteringStandby"
PENDING = "Pending"

_MEMBERS = "_bluegreen_tg_members"  # on a group: {target group arn: instance ids the group registered}
_STANDBY_AT = "_bluegreen_standby_at"  # on an InstanceState in EnteringStandby: clock time it becomes Standby
_IN_SERVICE_AT = "_bluegreen_in_service_at"  # on an InstanceState Pending after ExitStandby: clock time it becomes InService


def _members(group: FakeAutoScalingGroup) -> dict[str, set[str]]:
    return group.__dict__.setdefault(_MEMBERS, {})


def _registered_by(group: FakeAutoScalingGroup, tg: Any, fid: "Fidelity") -> set[str]:
    """What this group has registered in ``tg`` (on a new attachment: those of its instances that
    are already registered there, e.g. by hand)."""
    members = _members(group)
    if tg.arn not in members:
        live = live_registrations(fid, tg)
        members[tg.arn] = {
            s.instance.id
            for s in group.instance_states
            if s.instance.id in live and live[s.instance.id].draining_until is None
        }
    return members[tg.arn]


def _deregister(fid: "Fidelity", tg: Any, instance_ids: set[str]) -> None:
    live = live_registrations(fid, tg)
    ids = sorted(i for i in instance_ids if i in live and live[i].draining_until is None)
    if ids:
        tg.deregister([{"Id": i} for i in ids])


def _all_backends(backend_dict: Any) -> list[Any]:
    # dict.values: only backends that exist, without making moto create one per region
    return [b for account in list(dict.values(backend_dict)) for b in list(dict.values(account))]


def adopt_existing_state(fid: "Fidelity") -> None:
    """At install: take moto's current registrations as the starting point, and record which of
    them each group made (a group's instances registered in its attached target groups)."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.elbv2.models import elbv2_backends

    for elbv2 in _all_backends(elbv2_backends):
        for tg in list(elbv2.target_groups.values()):
            resync(tg)
    for backend in _all_backends(autoscaling_backends):
        for group in list(backend.autoscaling_groups.values()):
            members = _members(group)
            members.clear()
            for arn in group.target_group_arns:
                tg = backend.elbv2_backend.target_groups.get(arn)
                if tg is None:
                    continue
                live = live_registrations(fid, tg)
                members[arn] = {
                    s.instance.id
                    for s in group.instance_states
                    if s.instance.id in live and live[s.instance.id].draining_until is None
                }


def asg_registers_in_service_only(p: Patcher, fid: "Fidelity") -> None:
    """AWS (Auto Scaling User Guide, "Elastic Load Balancing"): "Amazon EC2 Auto Scaling registers
    your instances with the target group" once they are InService; "When you put an instance on
    standby ... Amazon EC2 Auto Scaling deregisters the instance from the load balancer"; detached
    and terminated instances are deregistered too, with the deregistration delay honoured.

    moto: ``update_attached_target_groups`` registers every instance (Standby included) and never
    deregisters; ASG terminations skip ELBv2 (AWS-SEMANTICS.md gap 1). Replaces
    ``AutoScalingBackend.update_attached_target_groups`` (called by moto after every capacity
    change, EnterStandby, ExitStandby, DetachInstances, AttachInstances, create/delete) with a
    reconcile: register InService instances the group has not registered yet, deregister (-> draining)
    those it registered that are no longer InService or no longer in the group. Also reconciles after
    ``notify_terminate_instances`` (an EC2 TerminateInstances of a group's instance, whose replacement
    moto never registered)."""

    def make_update(_original: Any) -> Any:
        def update_attached_target_groups(self: AutoScalingBackend, group_name: str) -> None:
            group = self.autoscaling_groups[group_name]
            wanted = {s.instance.id for s in group.instance_states if s.lifecycle_state == IN_SERVICE}
            for arn in list(group.target_group_arns):
                tg = self.elbv2_backend.target_groups.get(arn)
                if tg is None:  # deleted under the group: nothing to register with
                    continue
                have = _registered_by(group, tg, fid)
                new = sorted(wanted - have)
                if new:
                    tg.register([{"Id": i, "Port": tg.port} for i in new])
                _deregister(fid, tg, have - wanted)
                _members(group)[arn] = set(wanted)

        return update_attached_target_groups

    def make_notify(original: Any) -> Any:
        def notify_terminate_instances(self: AutoScalingBackend, instance_ids: list[str]) -> None:
            original(self, instance_ids)
            for name, group in list(self.autoscaling_groups.items()):
                if group.target_group_arns:
                    self.update_attached_target_groups(name)

        return notify_terminate_instances

    adopt_existing_state(fid)
    p.wrap(AutoScalingBackend, "update_attached_target_groups", make_update)
    p.wrap(AutoScalingBackend, "notify_terminate_instances", make_notify)


def detach_target_groups_drains(p: Patcher, fid: "Fidelity") -> None:
    """AWS (DetachLoadBalancerTargetGroups): "When you detach a target group, it enters the Removing
    state while deregistering the instances in the group. When all instances are deregistered, then
    you can no longer describe the target group using the DescribeLoadBalancerTargetGroups API call."
    Deregistration honours the deregistration delay (targets read ``draining``).

    moto deregisters every instance of the group at once (and raises InvalidTarget for any that
    is not registered, e.g. a Standby instance once registrations are truthful). Replaces
    ``AutoScalingBackend.detach_load_balancer_target_groups``: the group's registrations drain."""

    def make_detach(_original: Any) -> Any:
        def detach_load_balancer_target_groups(
            self: AutoScalingBackend, group_name: str, target_group_arns: list[str]
        ) -> None:
            group = self.autoscaling_groups[group_name]
            for arn in target_group_arns:
                tg = self.elbv2_backend.target_groups.get(arn)
                if tg is not None and arn in group.target_group_arns:
                    _deregister(fid, tg, _registered_by(group, tg, fid))
                _members(group).pop(arn, None)
            group.target_group_arns = [x for x in group.target_group_arns if x not in target_group_arns]

        return detach_load_balancer_target_groups

    p.wrap(AutoScalingBackend, "detach_load_balancer_target_groups", make_detach)


def attach_target_groups_validates(p: Patcher, fid: "Fidelity") -> None:
    """AWS (AWS-SEMANTICS.md): "AttachLoadBalancerTargetGroups / AttachLoadBalancers: up to 10 per
    call, additive, register the group's InService instances." A request naming a target group that
    does not exist fails (ValidationError) and, like any failed AWS request, changes nothing. (The
    exact AWS message was not verified; ours is modelled on it.)

    moto appends the ARN first and then fails, leaving the group unusable: every later capacity
    change raises TargetGroupNotFound (gap 9). Wraps
    ``AutoScalingBackend.attach_load_balancer_target_groups`` to validate before changing anything."""

    def make_attach(original: Any) -> Any:
        def attach_load_balancer_target_groups(
            self: AutoScalingBackend, group_name: str, target_group_arns: list[str]
        ) -> None:
            missing = [a for a in target_group_arns if a not in self.elbv2_backend.target_groups]
            if missing:
                raise ValidationError(
                    f"Provided Target Groups may not be valid. Please ensure they exist and try again: {missing}"
                )
            original(self, group_name, target_group_arns)

        return attach_load_balancer_target_groups

    p.wrap(AutoScalingBackend, "attach_load_balancer_target_groups", make_attach)


def enter_standby_waits_for_draining(p: Patcher, fid: "Fidelity") -> None:
    """AWS (AWS-SEMANTICS.md, from the Auto Scaling User Guide "Temporarily remove instances"):
    "EnterStandby deregisters the instance from every attached classic ELB and target group; with
    connection draining / a deregistration delay the instance sits in EnteringStandby until draining
    ends. The call is asynchronous: poll until LifecycleState == Standby".

    moto moves the instance to Standby at once. Wraps ``AutoScalingBackend.enter_standby_instances``:
    an instance whose targets are draining reads ``EnteringStandby`` until the last of its target
    groups' deregistration delays ends, then ``Standby``. ``InstanceState.lifecycle_state`` becomes a
    property that resolves the transition from the fidelity clock when read (nothing has to tick).
    Classic ELB connection draining is not modelled (moto deregisters from classic ELBs at once)."""

    def get_state(self: InstanceState) -> str:
        state = self.__dict__.get("lifecycle_state")
        if state == ENTERING_STANDBY:
            at = self.__dict__.get(_STANDBY_AT)
            if at is None or fid.now() >= at:
                state = STANDBY
                self.__dict__["lifecycle_state"] = state
                self.__dict__.pop(_STANDBY_AT, None)
        return state  # type: ignore[return-value]

    def set_state(self: InstanceState, value: str) -> None:
        if value != ENTERING_STANDBY:
            self.__dict__.pop(_STANDBY_AT, None)
        self.__dict__["lifecycle_state"] = value

    def make_enter(original: Any) -> Any:
        def enter_standby_instances(
            self: AutoScalingBackend, group_name: str, instance_ids: list[str], should_decrement: bool
        ) -> Any:
            activities = original(self, group_name, instance_ids, should_decrement)
            group = self.autoscaling_groups[group_name]
            now = fid.now()
            for state in group.instance_states:
                if state.instance.id not in instance_ids or state.lifecycle_state != STANDBY:
                    continue
                until = now
                for arn in group.target_group_arns:
                    tg = self.elbv2_backend.target_groups.get(arn)
                    reg = registrations(tg).get(state.instance.id) if tg is not None else None
                    if reg is not None and reg.draining_until is not None:
                        until = max(until, reg.draining_until)
                if until > now:
                    state.__dict__[_STANDBY_AT] = until
                    state.lifecycle_state = ENTERING_STANDBY
            return activities

        return enter_standby_instances

    p.replace(InstanceState, "lifecycle_state", property(get_state, set_state))
    p.wrap(AutoScalingBackend, "enter_standby_instances", make_enter)


def settle_exits_from_standby(fid: "Fidelity") -> None:
    """Instances Pending after ExitStandby whose time has come turn InService, and their groups
    register them (target groups and classic ELBs) as for any instance entering service. The
    registration is dated when the instance turned InService, not when this runs."""
    from moto.autoscaling.models import autoscaling_backends

    now = fid.now()
    for backend in _all_backends(autoscaling_backends):
        for name, group in list(backend.autoscaling_groups.items()):
            due = [
                (s, s.__dict__[_IN_SERVICE_AT])
                for s in group.instance_states
                if s.__dict__.get("lifecycle_state") == PENDING and s.__dict__.get(_IN_SERVICE_AT, now + 1) <= now
            ]
            if not due:
                continue
            for state, _at in due:
                state.lifecycle_state = IN_SERVICE
            backend.update_attached_elbs(name)
            backend.update_attached_target_groups(name)
            for arn in list(group.target_group_arns):
                tg = backend.elbv2_backend.target_groups.get(arn)
                records = registrations(tg) if tg is not None else {}
                for state, at in due:
                    reg = records.get(state.instance.id)
                    if reg is not None and reg.draining_until is None and reg.registered_at >= now:
                        reg.registered_at = at


def exit_standby_goes_through_pending(p: Patcher, fid: "Fidelity") -> None:
    """AWS (ExitStandby API reference): "Moves the specified instances out of the standby state.
    After you put the instances back in service, the desired capacity is incremented." The call
    is asynchronous: it returns an activity in progress (the reference's sample response has
    ``Progress`` 30; moto's own ``ExitStandbyActivity`` says ``PreInService``) and, per the instance
    lifecycle of the Auto Scaling User Guide, the instance goes Standby -> ``Pending`` ->
    ``InService``; and (User Guide, "How the standby state works") "If there is a load balancer
    target group or Classic Load Balancer attached to your Auto Scaling group, the instance is
    registered with the load balancer" once back in service. (How long Pending lasts is not
    documented; ``fid.pending_seconds``, 0.5 s of the fidelity clock by default.)

    moto 5.2.5: ``autoscaling/models.py`` ``AutoScalingBackend.exit_standby_instances`` sets
    ``InService`` at once (AWS-SEMANTICS.md gap 3) and registers the instance in the same call.
    Replaces it: the instances read ``Pending`` (counted in the group's capacity, so nothing is
    launched for them: ``FakeAutoScalingGroup.active_instances`` counts Pending ones, and the
    corrected ``update_attached_*`` register InService ones only) until ``fid.pending_seconds`` of
    the fidelity clock have passed; then ``fid.settle()`` -- at the start of every API call, before
    ``Fidelity.targets()``, or when the due state is read outside a call -- makes them
    ``InService`` and runs the group's ``update_attached_elbs``/``update_attached_target_groups``,
    so they are registered (``initial``, then what the health source says) exactly when they turn
    InService. ``pending_seconds <= 0`` settles within the ExitStandby call."""
    previous = InstanceState.__dict__.get("lifecycle_state")

    def read(self: InstanceState) -> str:
        if isinstance(previous, property) and previous.fget is not None:
            return previous.fget(self)  # type: ignore[no-any-return]
        return self.__dict__.get("lifecycle_state")  # type: ignore[return-value]

    def write(self: InstanceState, value: str) -> None:
        if isinstance(previous, property) and previous.fset is not None:
            previous.fset(self, value)
        else:
            self.__dict__["lifecycle_state"] = value

    def get_state(self: InstanceState) -> str:
        d = self.__dict__
        if (
            d.get("lifecycle_state") == PENDING
            and d.get(_IN_SERVICE_AT) is not None
            and fid.now() >= d[_IN_SERVICE_AT]
            and not fid.is_busy()
        ):
            fid.settle()  # outside an API call: turn InService *with* the registrations
        return read(self)

    def set_state(self: InstanceState, value: str) -> None:
        if value != PENDING:
            self.__dict__.pop(_IN_SERVICE_AT, None)
        write(self, value)

    def make_active(_original: Any) -> Any:
        def active_instances(self: FakeAutoScalingGroup) -> list[InstanceState]:
            return [s for s in self.instance_states if s.lifecycle_state in (IN_SERVICE, PENDING)]

        return active_instances

    def make_exit(_original: Any) -> Any:
        def exit_standby_instances(self: AutoScalingBackend, group_name: str, instance_ids: list[str]) -> Any:
            group = self.autoscaling_groups[group_name]
            due = fid.now() + max(0.0, float(fid.pending_seconds))
            activities = []
            for state in group.instance_states:
                if state.instance.id in instance_ids:
                    state.lifecycle_state = PENDING
                    state.__dict__[_IN_SERVICE_AT] = due
                    original_size = group.desired_capacity
                    group.desired_capacity += 1  # type: ignore[operator]
                    activities.append(ExitStandbyActivity(state.instance, original_size))
            group.set_desired_capacity(group.desired_capacity)  # as moto: Pending counts, nothing launched
            if due <= fid.now():
                settle_exits_from_standby(fid)
            return activities

        return exit_standby_instances

    p.replace(InstanceState, "lifecycle_state", property(get_state, set_state))
    p.wrap(FakeAutoScalingGroup, "active_instances", make_active)
    p.wrap(AutoScalingBackend, "exit_standby_instances", make_exit)
    fid.add_settler(lambda: settle_exits_from_standby(fid))


def standby_never_scaled_in(p: Patcher, fid: "Fidelity") -> None:
    """AWS (Auto Scaling User Guide, "Temporarily remove instances"): "Instances that are on standby
    are still part of the Auto Scaling group, but they do not actively handle load balancer traffic"
    and AWS-SEMANTICS.md: "Standby instances get no health checks and are not chosen for scale-in."

    moto picks the first unprotected instances in list order, Standby included (gap 5). Wraps
    ``FakeAutoScalingGroup.set_desired_capacity``: for the duration of the call, instances that are
    not InService count as protected from scale-in."""

    def make_set(original: Any) -> Any:
        def set_desired_capacity(self: FakeAutoScalingGroup, new_capacity: int | None) -> None:
            shielded = [
                s for s in self.instance_states if s.lifecycle_state != IN_SERVICE and not s.protected_from_scale_in
            ]
            for s in shielded:
                s.protected_from_scale_in = True
            try:
                original(self, new_capacity)
            finally:
                for s in shielded:
                    s.protected_from_scale_in = False

        return set_desired_capacity

    p.wrap(FakeAutoScalingGroup, "set_desired_capacity", make_set)


def delete_group_terminates_everything(p: Patcher, fid: "Fidelity") -> None:
    """AWS (DeleteAutoScalingGroup): "To remove instances from the Auto Scaling group before deleting
    it, call DetachInstances ... To terminate all instances before deleting the Auto Scaling group,
    call UpdateAutoScalingGroup and set the minimum size and desired capacity to zero", or ForceDelete:
    "Specifies that the group is to be deleted along with all instances associated with the group".

    moto scales to zero (which, with ``standby_never_scaled_in``, keeps Standby instances) and drops
    the group, leaving Standby instances running with no group. Wraps
    ``AutoScalingBackend.delete_auto_scaling_group`` to terminate what is left, as ForceDelete does.
    (Refusing a delete without ForceDelete while instances remain, as AWS does, is not modelled.)"""

    def make_delete(original: Any) -> Any:
        def delete_auto_scaling_group(self: AutoScalingBackend, group_name: str) -> None:
            group = self.autoscaling_groups.get(group_name)
            original(self, group_name)
            if group is not None and group.instance_states:
                leftovers = [s.instance.id for s in group.instance_states]
                group.instance_states = []
                self.ec2_backend.terminate_instances(leftovers)

        return delete_auto_scaling_group

    p.wrap(AutoScalingBackend, "delete_auto_scaling_group", make_delete)
