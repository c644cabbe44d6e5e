import pytest

from bluegreen.errors import TerraformError
from bluegreen.model import Color, TrafficKind
from bluegreen.terraform.outputs import parse_outputs


def _raw(**overrides):
    values = {
        "service": "web",
        "asg_names": {"blue": "web-blue", "green": "web-green"},
        "launch_template_ids": {"blue": "lt-1", "green": "lt-2"},
        "traffic_kind": "alb",
        "target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1",
        "elb_name": None,
        "lb_dns_name": "web-1.elb.amazonaws.com",
        "live_color": "blue",
    }
    values.update(overrides)
    # Terraform leaves null outputs out of `output -json`.
    return {k: {"value": v, "type": "string", "sensitive": False} for k, v in values.items() if v is not None}


def test_alb_outputs_parse():
    outputs = parse_outputs(_raw())
    assert outputs.asg_names == {Color.BLUE: "web-blue", Color.GREEN: "web-green"}
    assert outputs.traffic_kind is TrafficKind.ALB
    assert outputs.elb_name is None
    assert outputs.traffic_name.endswith("targetgroup/web/1")
    assert outputs.live_color is Color.BLUE


def test_elb_outputs_parse():
    outputs = parse_outputs(_raw(traffic_kind="elb", target_group_arn="", elb_name="web", live_color="green"))
    assert outputs.traffic_name == "web"
    assert outputs.target_group_arn is None
    assert outputs.live_color is Color.GREEN


@pytest.mark.parametrize("name", ["service", "asg_names", "lb_dns_name", "live_color"])
def test_missing_output_is_named(name):
    raw = _raw()
    del raw[name]
    with pytest.raises(TerraformError, match=f"'{name}' is missing"):
        parse_outputs(raw)


def test_alb_without_target_group_is_refused():
    with pytest.raises(TerraformError, match="target_group_arn"):
        parse_outputs(_raw(target_group_arn=None))


def test_color_map_must_name_both_colors():
    with pytest.raises(TerraformError, match="asg_names.*'green'"):
        parse_outputs(_raw(asg_names={"blue": "web-blue"}))
