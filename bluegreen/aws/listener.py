"""``ports.Listener`` over boto3: the forward action of an ALB listener (DescribeListeners /
ModifyListener) or of one listener rule (DescribeRules / ModifyRule), with ForwardConfig weights.

ModifyListener replaces the whole DefaultActions list and ModifyRule the rule's Actions, so the
new action keeps everything of the old forward action but the weights (stickiness included)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..errors import AwsError
from .session import AwsClients, aws_call, count_calls


def forward_weights(actions: list[dict[str, Any]]) -> dict[str, int]:
    """Pure: target group ARN -> weight of the forward action in ``actions``. A plain
    ``TargetGroupArn`` forward (no ForwardConfig) is one target group at weight 1."""
    for action in actions:
        if action.get("Type") != "forward":
            continue
        config = action.get("ForwardConfig") or {}
        groups = config.get("TargetGroups") or []
        if groups:
            return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
        if action.get("TargetGroupArn"):
            return {action["TargetGroupArn"]: 1}
    return {}


def with_weights(actions: list[dict[str, Any]], weights: dict[str, int]) -> list[dict[str, Any]]:
    """Pure: ``actions`` with the forward action's weights replaced (other actions, the order and
    the stickiness config kept). AWS accepts either TargetGroupArn or ForwardConfig, not a
    mismatch of both, so the plain form is dropped."""
    result = []
    replaced = False
    for action in actions:
        if action.get("Type") == "forward" and not replaced:
            config = dict(action.get("ForwardConfig") or {})
            config["TargetGroups"] = [{"TargetGroupArn": arn, "Weight": int(w)} for arn, w in weights.items()]
            new = {k: v for k, v in action.items() if k not in ("TargetGroupArn", "ForwardConfig")}
            new["ForwardConfig"] = config
            result.append(new)
            replaced = True
        else:
            result.append(action)
    if not replaced:
        result.append({"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": arn, "Weight": int(w)} for arn, w in weights.items()]}})
    return result


class ListenerWeights:
    def __init__(self, elbv2: Any, listener_arn: str, *, rule_arn: str | None = None,
                 calls: Counter[str] | None = None) -> None:
        self._elbv2 = elbv2
        self.listener_arn = listener_arn
        self.rule_arn = rule_arn
        self.calls: Counter[str] = calls if calls is not None else Counter()
        count_calls(elbv2, self.calls)

    @classmethod
    def from_clients(cls, clients: AwsClients, listener_arn: str, rule_arn: str | None = None) -> ListenerWeights:
        return cls(clients.client("elbv2"), listener_arn, rule_arn=rule_arn, calls=clients.calls)

    def _actions(self) -> list[dict[str, Any]]:
        if self.rule_arn:
            with aws_call(f"describe listener rule {self.rule_arn}"):
                rules = self._elbv2.describe_rules(RuleArns=[self.rule_arn]).get("Rules", [])
            if not rules:
                raise AwsError(f"listener rule {self.rule_arn} does not exist", code="RuleNotFound")
            return list(rules[0].get("Actions", []))
        with aws_call(f"describe listener {self.listener_arn}"):
            listeners = self._elbv2.describe_listeners(ListenerArns=[self.listener_arn]).get("Listeners", [])
        if not listeners:
            raise AwsError(f"listener {self.listener_arn} does not exist", code="ListenerNotFound")
        return list(listeners[0].get("DefaultActions", []))

    def weights(self) -> dict[str, int]:
        return forward_weights(self._actions())

    def set_weights(self, weights: dict[str, int]) -> None:
        actions = with_weights(self._actions(), weights)
        if self.rule_arn:
            with aws_call(f"set the weights of listener rule {self.rule_arn}"):
                self._elbv2.modify_rule(RuleArn=self.rule_arn, Actions=actions)
            return
        with aws_call(f"set the weights of listener {self.listener_arn}"):
            self._elbv2.modify_listener(ListenerArn=self.listener_arn, DefaultActions=actions)
