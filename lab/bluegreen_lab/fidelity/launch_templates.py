"""Launch template versions that can be launched from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.utils import parse_user_data

from ._patching import Patcher

if TYPE_CHECKING:
    from .core import Fidelity


def launch_template_version_user_data(p: Patcher, fid: "Fidelity") -> None:
    """AWS (EC2 API, CreateLaunchTemplateVersion): takes the same ``RequestLaunchTemplateData`` as
    CreateLaunchTemplate, whose ``UserData`` is "The user data to make available to the instance
    ... must be base64-encoded"; instances launched from any version receive it.

    moto 5.2.5: CreateLaunchTemplate parses ``UserData`` into a ``Base64EncodedString`` but
    CreateLaunchTemplateVersion stores the raw str, so the next Auto Scaling launch from that version
    fails ``assert isinstance(user_data, Base64EncodedString)`` in
    ``ec2/models/launch_templates.py`` ``LaunchTemplateVersion.user_data`` (an HTTP 500 over the
    server; gap 6). Terraform's provider creates such a version whenever the AMI changes. Wraps
    ``LaunchTemplate.create_version`` to parse ``UserData`` the way CreateLaunchTemplate does
    (invalid base64 is then rejected with moto's ``InvalidUserData.Malformed``, as on AWS)."""

    def make_create_version(original: Any) -> Any:
        def create_version(self: LaunchTemplate, data: dict[str, Any], description: str) -> Any:
            if isinstance(data.get("UserData"), (str, bytes)):
                data = dict(data)
                data["UserData"] = parse_user_data(data["UserData"])
            return original(self, data, description)

        return create_version

    p.wrap(LaunchTemplate, "create_version", make_create_version)


def launch_template_tags_stay_on_the_template(p: Patcher, fid: "Fidelity") -> None:
    """AWS (EC2 API, CreateLaunchTemplate): ``TagSpecifications`` "The tags to apply to the launch
    template on creation. To tag the launch template, the resource type must be
    ``launch-template``." Those tags belong to the template resource; the version's
    ``LaunchTemplateData.TagSpecifications`` holds only what the request put there (tags for the
    instances, volumes, ... it launches), and DescribeLaunchTemplateVersions returns exactly that.

    moto 5.2.5: ``responses/launch_templates.py`` ``create_launch_template`` appends the request's
    ``launch-template`` tag specification to the version's ``LaunchTemplateData``, so Terraform's
    provider reads back a tag specification it never configured and plans a perpetual update of
    every tagged ``aws_launch_template`` (and, through ``latest_version``, of its Auto Scaling
    group): the live color would show a change in every plan. Wraps
    ``EC2Backend.create_launch_template`` to drop ``launch-template`` entries from the version data
    (they are not a valid ``LaunchTemplateTagSpecificationRequest`` resource type there)."""
    from moto.ec2.models import EC2Backend

    def make_create(original: Any) -> Any:
        def create_launch_template(self: Any, name: str, description: str, template_data: dict[str, Any],
                                   tag_spec: dict[str, Any]) -> Any:
            specs = template_data.get("TagSpecifications")
            if specs:
                template_data = dict(template_data)
                template_data["TagSpecifications"] = [
                    spec for spec in specs if spec.get("ResourceType") != "launch-template"
                ]
                if not template_data["TagSpecifications"]:
                    del template_data["TagSpecifications"]
            return original(self, name, description, template_data, tag_spec)

        return create_launch_template

    p.wrap(EC2Backend, "create_launch_template", make_create)
