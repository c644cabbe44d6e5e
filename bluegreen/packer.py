"""Read the AMI of the last Packer run from the manifest post-processor's file.

Format (packer.io/docs/post-processors/manifest)::

    {"builds": [{"name": "web", "builder_type": "amazon-ebs", "packer_run_uuid": "…",
                 "artifact_id": "us-east-1:ami-0abc,eu-west-1:ami-0def", …}],
     "last_run_uuid": "…"}

The manifest appends one build per run, so the last run is the one named by ``last_run_uuid``
(older Packer versions lack it: then the last entry wins). A ``last_run_uuid`` that
matches no build is refused: the last run made no image, and any other entry is an older one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import InputError

AMI_PATTERN = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")


def is_ami_id(value: str) -> bool:
    # fullmatch: with match, "$" also accepts a trailing newline ("ami-…\n" from a file).
    return bool(AMI_PATTERN.fullmatch(value))


def ami_from_manifest(path: Path, region: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{path}: Packer manifest not found; run `packer build` with the manifest "
            "post-processor, or pass --ami"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the Packer manifest: {_why(exc)}") from None
    if not text.strip():
        raise InputError(f"{path}: Packer manifest is empty; re-run `packer build`")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: Packer manifest is not valid JSON (line {exc.lineno})") from None
    builds = data.get("builds") if isinstance(data, dict) else None
    if not isinstance(builds, list) or not builds:
        raise InputError(f"{path}: Packer manifest has no builds[]; re-run `packer build`")

    last_run = data.get("last_run_uuid")
    if last_run is None:  # a Packer too old to write it: the last entry is the last run
        build = ([b for b in builds if isinstance(b, dict)] or [None])[-1]
    else:
        run_builds = [b for b in builds if isinstance(b, dict) and b.get("packer_run_uuid") == last_run]
        if not run_builds:
            # The last run recorded no build (it failed, or the manifest was edited or merged):
            # any entry we picked instead would be an older image, released as if it were new.
            raise InputError(
                f"{path}: last_run_uuid {last_run!r} matches no build's packer_run_uuid, so the last "
                "Packer run made no image here; re-run `packer build`, or pass --ami with the AMI to release"
            )
        build = run_builds[-1]
    if build is None or not isinstance(build.get("artifact_id"), str):
        raise InputError(f"{path}: the last build in the Packer manifest has no artifact_id")

    amis = _parse_artifact_id(build["artifact_id"], path)
    if region not in amis:
        found = ", ".join(sorted(amis)) or "none"
        raise InputError(
            f"{path}: the last Packer build made no AMI in region {region} (it has: {found}); "
            "add the region to the builder's ami_regions or set [service] region"
        )
    return amis[region]


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {exc.start})"
    return getattr(exc, "strerror", None) or str(exc)


def _parse_artifact_id(artifact_id: str, path: Path) -> dict[str, str]:
    amis: dict[str, str] = {}
    for part in artifact_id.split(","):
        region, _, ami = part.strip().partition(":")
        if not region or not is_ami_id(ami):
            raise InputError(
                f"{path}: artifact_id {artifact_id!r} is not region:ami-… pairs (an amazon-ebs build?)"
            )
        amis[region] = ami
    return amis
