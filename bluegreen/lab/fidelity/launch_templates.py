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
