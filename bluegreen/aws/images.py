"""``ports.Images`` over boto3: does an AMI exist in the configured region?"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..errors import AwsError, InputError
from .session import AwsClients, aws_call, count_calls

# What EC2 answers for an id that is well formed but unknown, or not an AMI id at all.
NOT_FOUND_CODES = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})
MALFORMED_CODES = frozenset({"InvalidAMIID.Malformed"})
AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
# A deregistered AMI stays visible for a while; a failed one never becomes usable.
_UNUSABLE_STATES = frozenset({"deregistered", "failed", "invalid", "error"})


class ImagesAdapter:
    def __init__(self, ec2: Any, *, region: str | None = None, calls: Counter[str] | None = None) -> None:
        self._ec2 = ec2
        self.region = region or ec2.meta.region_name
        self.calls: Counter[str] = calls if calls is not None else Counter()
        count_calls(ec2, self.calls)

    @classmethod
    def from_clients(cls, clients: AwsClients) -> "ImagesAdapter":
        return cls(clients.client("ec2"), region=clients.region, calls=clients.calls)

    def state(self, ami: str) -> str | None:
        """The image's ``State`` ("available", "pending", ...); ``None`` when EC2 does not know it
        (including a malformed id, which EC2 rejects with InvalidAMIID.Malformed)."""
        try:
            with aws_call(f"describe image {ami} in {self.region}"):
                answer = self._ec2.describe_images(ImageIds=[ami])
        except AwsError as error:
            if error.code in NOT_FOUND_CODES or error.code in MALFORMED_CODES:
                return None
            raise
        for image in answer.get("Images", []):
            if image.get("ImageId") == ami:
                return image.get("State", "available")
        return None

    def exists(self, ami: str) -> bool:
        state = self.state(ami)
        return state is not None and state not in _UNUSABLE_STATES

    def require(self, ami: str) -> None:
        """``InputError`` with a message a person can act on, unless ``ami`` is usable here."""
        if not AMI_ID.match(ami):
            raise InputError(f"{ami!r} is not an AMI id", hint="expected ami- followed by 8 or 17 hex digits")
        state = self.state(ami)
        if state is None:
            raise InputError(
                f"AMI {ami} not found in region {self.region}",
                hint="check the id and region, and that the image is shared with this account",
            )
        if state in _UNUSABLE_STATES:
            raise InputError(f"AMI {ami} in region {self.region} is {state}", hint="build or pick another image")
