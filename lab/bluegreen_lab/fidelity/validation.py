"""Auto Scaling request validation AWS performs and moto skips (AWS-SEMANTICS.md gap 4).

Hooked at moto's response layer (``AutoScalingResponse``), i.e. where AWS validates the request:
moto's backend methods are also called internally (e.g. DeleteAutoScalingGroup scales to 0 through
``set_desired_capacity``), where AWS's API checks do not apply. Messages quoted where known
(``Desired capacity:N must be between ...``, ``New SetDesiredCapacity value N is above max value M
...``, the standard ``1 validation error detected`` constraint text); the others are modelled on
them. The error code, ``ValidationError`` (HTTP 400), is AWS's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.responses import AutoScalingResponse

from ._patching import Patcher

if TYPE_CHECKING:
    from .core import Fidelity

MAX_INSTANCE_IDS = 20


def _check_bounds(min_size: int | None, max_size: int | None, desired: int | None) -> None:
    if min_size is not None and max_size is not None and min_size > max_size:
        raise ValidationError(f"Max bound, {max_size}, must be greater than or equal to min bound, {min_size}")
    if desired is not None and min_size is not None and max_size is not None:
        if not min_size <= desired <= max_size:
            raise ValidationError(
                f"Desired capacity:{desired} must be between the specified min size:{min_size} and max size:{max_size}"
            )


def _validating(check: Callable[[AutoScalingResponse], None]) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def action(self: AutoScalingResponse) -> Any:
            check(self)
            return original(self)

        return action

    return make


def capacity_bounds(p: Patcher, fid: "Fidelity") -> None:
    """AWS (CreateAutoScalingGroup / UpdateAutoScalingGroup / SetDesiredCapacity): "The desired
    capacity ... must be greater than or equal to the minimum size of the group and less than or
    equal to the maximum size of the group"; otherwise ``ValidationError`` ("Desired capacity:2 must
    be between the specified min size:4 and max size:10", "New SetDesiredCapacity value 3 is above
    max value 2 for the AutoScalingGroup."). For UpdateAutoScalingGroup without DesiredCapacity AWS
    moves the desired capacity into the new bounds instead (moto already does).

    moto accepts any numbers. Wraps ``AutoScalingResponse.create_auto_scaling_group``,
    ``update_auto_scaling_group`` and ``set_desired_capacity``."""

    def check_create(self: AutoScalingResponse) -> None:
        _check_bounds(
            self._get_int_param("MinSize"), self._get_int_param("MaxSize"), self._get_int_param("DesiredCapacity")
        )

    def check_update(self: AutoScalingResponse) -> None:
        group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
        if group is None:
            return  # moto's own "not found" error
        min_size = self._get_int_param("MinSize")
        max_size = self._get_int_param("MaxSize")
        _check_bounds(
            group.min_size if min_size is None else min_size,
            group.max_size if max_size is None else max_size,
            self._get_int_param("DesiredCapacity"),
        )

    def check_set(self: AutoScalingResponse) -> None:
        group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
        desired = self._get_int_param("DesiredCapacity")
        if group is None or desired is None:
            return
        if group.max_size is not None and desired > group.max_size:
            raise ValidationError(
                f"New SetDesiredCapacity value {desired} is above max value {group.max_size} for the AutoScalingGroup."
            )
        if group.min_size is not None and desired < group.min_size:
            raise ValidationError(
                f"New SetDesiredCapacity value {desired} is below min value {group.min_size} for the AutoScalingGroup."
            )

    p.wrap(AutoScalingResponse, "create_auto_scaling_group", _validating(check_create))
    p.wrap(AutoScalingResponse, "update_auto_scaling_group", _validating(check_update))
    p.wrap(AutoScalingResponse, "set_desired_capacity", _validating(check_set))


def instance_id_limit(p: Patcher, fid: "Fidelity") -> None:
    """AWS (EnterStandby, ExitStandby, DetachInstances, AttachInstances): "InstanceIds ... You can
    specify up to 20 instances." More fail the request with ``ValidationError``.

    moto accepts any number. Wraps those four ``AutoScalingResponse`` actions."""

    def check(self: AutoScalingResponse) -> None:
        ids = self._get_param("InstanceIds", []) or []
        if len(ids) > MAX_INSTANCE_IDS:
            raise ValidationError(
                f"1 validation error detected: Value '{ids}' at 'instanceIds' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_INSTANCE_IDS}"
            )

    for action in ("enter_standby", "exit_standby", "detach_instances", "attach_instances"):
        p.wrap(AutoScalingResponse, action, _validating(check))


def _group_and_states(self: AutoScalingResponse) -> tuple[Any, dict[str, Any], list[str]]:
    group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
    ids = list(self._get_param("InstanceIds", []) or [])
    states = {s.instance.id: s for s in group.instance_states} if group is not None else {}
    return group, states, ids


def _require_members_in(group: Any, states: dict[str, Any], ids: list[str], lifecycle_state: str) -> None:
    """Every id is an instance of ``group`` in ``lifecycle_state``, or a ValidationError."""
    for instance_id in ids:
        state = states.get(instance_id)
        if state is None:
            raise ValidationError(f"The instance {instance_id} is not part of Auto Scaling group {group.name}.")
        if state.lifecycle_state != lifecycle_state:
            raise ValidationError(f"The instance {instance_id} is not in {lifecycle_state}.")


def standby_bounds(p: Patcher, fid: "Fidelity") -> None:
    """AWS (EnterStandby): "If you choose to decrement the desired capacity of the Auto Scaling group,
    the instances can enter standby as long as the desired capacity of the Auto Scaling group after
    the instances are placed into standby is equal to or greater than the minimum capacity of the
    group." ExitStandby "increments the desired capacity" and so cannot take it above MaxSize.
    Only InService instances can enter standby, and only Standby instances can exit it (an instance
    still ``EnteringStandby`` cannot).

    moto decrements/increments without looking, and moves instances in any state. Wraps
    ``AutoScalingResponse.enter_standby`` and ``exit_standby``; ``ValidationError`` otherwise."""

    def check_enter(self: AutoScalingResponse) -> None:
        group, states, ids = _group_and_states(self)
        if group is None:
            return
        _require_members_in(group, states, ids, "InService")
        if self._get_bool_param("ShouldDecrementDesiredCapacity") and group.min_size is not None:
            if group.desired_capacity - len(ids) < group.min_size:
                raise ValidationError(
                    f"The instance(s) {', '.join(ids)} cannot enter standby: decrementing the desired capacity "
                    f"{group.desired_capacity} by {len(ids)} would make it less than the min size {group.min_size}."
                )

    def check_exit(self: AutoScalingResponse) -> None:
        group, states, ids = _group_and_states(self)
        if group is None:
            return
        _require_members_in(group, states, ids, "Standby")
        if group.max_size is not None and group.desired_capacity + len(ids) > group.max_size:
            raise ValidationError(
                f"The instance(s) {', '.join(ids)} cannot exit standby: incrementing the desired capacity "
                f"{group.desired_capacity} by {len(ids)} would make it greater than the max size {group.max_size}."
            )

    p.wrap(AutoScalingResponse, "enter_standby", _validating(check_enter))
    p.wrap(AutoScalingResponse, "exit_standby", _validating(check_exit))


MAX_FORWARD_TARGET_GROUPS = 5
MAX_FORWARD_WEIGHT = 999


def _forward_problem(actions: Any, field: str) -> str | None:
    for a_index, action in enumerate(actions or [], start=1):
        if not isinstance(action, dict):
            continue
        groups = ((action.get("ForwardConfig") or {}).get("TargetGroups")) or []
        if len(groups) > MAX_FORWARD_TARGET_GROUPS:
            return (f"1 validation error detected: Value at '{field}.{a_index}.member.forwardConfig.targetGroups' "
                    f"failed to satisfy constraint: Member must have length less than or equal to "
                    f"{MAX_FORWARD_TARGET_GROUPS}")
        for g_index, group in enumerate(groups, start=1):
            weight = group.get("Weight") if isinstance(group, dict) else None
            if weight is None:
                continue
            value = int(weight)
            if not 0 <= value <= MAX_FORWARD_WEIGHT:
                bound = ("greater than or equal to 0" if value < 0 else
                         f"less than or equal to {MAX_FORWARD_WEIGHT}")
                return (f"1 validation error detected: Value '{value}' at '{field}.{a_index}.member.forwardConfig."
                        f"targetGroups.{g_index}.member.weight' failed to satisfy constraint: Member must have "
                        f"value {bound}")
    return None


def listener_weights_validated(p: Patcher, fid: "Fidelity") -> None:
    """AWS (CreateListener, ModifyListener, CreateRule, ModifyRule): a forward action's
    ``ForwardConfig`` holds at most 5 target groups, each ``Weight`` in 0-999; otherwise
    ``ValidationError`` ("1 validation error detected: Value '1000' at
    'defaultActions.1.member.forwardConfig.targetGroups.1.member.weight' failed to satisfy
    constraint: Member must have value less than or equal to 999"; the length message is modelled
    on it). AWS-SEMANTICS.md gap 4: moto accepts 1000, -1 and six target groups.

    moto stores and serves the weights it accepts faithfully (DescribeListeners returns what
    ModifyListener set), so only the validation is added. Wraps those four ``ELBV2Response``
    actions."""
    from moto.elbv2.exceptions import ValidationError as Elbv2ValidationError
    from moto.elbv2.responses import ELBV2Response

    def check(field: str, param: str) -> Callable[[Any], Any]:
        def make(original: Any) -> Any:
            def action(self: ELBV2Response) -> Any:
                problem = _forward_problem(self._get_param(param, []), field)
                if problem is not None:
                    raise Elbv2ValidationError(problem)
                return original(self)

            return action

        return make

    p.wrap(ELBV2Response, "create_listener", check("defaultActions", "DefaultActions"))
    p.wrap(ELBV2Response, "modify_listener", check("defaultActions", "DefaultActions"))
    p.wrap(ELBV2Response, "create_rule", check("actions", "Actions"))
    p.wrap(ELBV2Response, "modify_rule", check("actions", "Actions"))
