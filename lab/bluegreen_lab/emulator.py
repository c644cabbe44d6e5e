"""The local AWS emulation: moto's server on 127.0.0.1 (a free port) in this process, with the
fidelity layer's corrections installed first; boto3 clients pointed at it; and a Terraform work
dir (a copy of ``terraform/`` whose example stack talks to the emulation through the offline
toolchain).

moto runs in-process on purpose: tests share its backends, so they can inject faults while
Terraform and bluegreen talk HTTP to it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bluegreen.errors import ToolchainError
from .toolchain import LAB_CREDENTIAL, Toolchain, prepare_toolchain, write_provider_override

LAB_REGION = "us-east-1"
LAB_IMAGE_VERSION_TAG = "bluegreen-lab:version"
TFVARS_FILE = "bluegreen.auto.tfvars.json"

# Left behind by earlier runs in a source tree; never copied into a work dir.
_IGNORED = shutil.ignore_patterns(
    ".terraform", "*.tfstate", "*.tfstate.*", ".terraform.lock.hcl", "*.tfplan", "*_override.tf"
)


def install_fidelity(**options: Any) -> tuple[Any, bool]:
    """Install the fidelity layer's corrections to moto (``bluegreen_lab.fidelity.install()``).
    Returns ``(handle, installed_here)``; ``(None, False)`` if the layer is not available.
    ``installed_here`` is false when something else (a test fixture) had installed it already."""
    if importlib.util.find_spec("bluegreen_lab.fidelity") is None:
        return None, False
    module = importlib.import_module("bluegreen_lab.fidelity")
    install = getattr(module, "install", None)
    if not callable(install):
        return None, False
    current = getattr(module, "current", None)
    already = current() if callable(current) else None
    return install(**options), already is None


class Emulator:
    """``with Emulator() as aws: aws.client("autoscaling")...``; ``aws.endpoint_url`` for Terraform."""

    # moto's backends are process-global: every emulator in a process shares one AWS. Counted so a
    # lab started after another one stopped (a test module after another, in one pytest worker)
    # starts from an empty account instead of inheriting "web-green" and failing Terraform's
    # CreateLaunchTemplate with AlreadyExists.
    _running = 0

    def __init__(
        self,
        *,
        region: str = LAB_REGION,
        fidelity: bool = True,
        fidelity_options: Mapping[str, Any] | None = None,
        quiet: bool = True,
    ) -> None:
        """``fidelity=False`` runs unpatched moto; ``fidelity_options`` go to ``fidelity.install``
        (e.g. ``health=``, ``clock=``)."""
        self.region = region
        self.quiet = quiet
        self.use_fidelity = fidelity
        self.fidelity_options = dict(fidelity_options or {})
        self.fidelity: Any = None  # the fidelity.install() handle, if installed
        self._owns_fidelity = False
        self._server: Any = None
        self._endpoint_url: str | None = None

    # lifecycle -------------------------------------------------------------------------------------

    def start(self) -> "Emulator":
        if self._server is not None:
            return self
        if self.use_fidelity:
            self.fidelity, self._owns_fidelity = install_fidelity(**self.fidelity_options)
        from moto.server import ThreadedMotoServer

        if self.quiet:
            # werkzeug logs every request at INFO even with verbose=False.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        if Emulator._running == 0:
            self.reset()  # nothing else uses the backends: forget what an earlier emulator left
        Emulator._running += 1
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            Emulator._running -= 1
            server.stop()
            # werkzeug's shutdown() leaves the listening socket open; close it too.
            inner = getattr(server, "_server", None)
            if inner is not None:
                inner.server_close()
        uninstall = getattr(self.fidelity, "uninstall", None)
        if self._owns_fidelity and callable(uninstall):
            uninstall()
        self.fidelity, self._owns_fidelity = None, False

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None or self._server is None:
            raise RuntimeError("the emulator is not running: call start() or use it as a context manager")
        return self._endpoint_url

    def reset(self) -> None:
        """Forget every resource (moto's ``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    # clients ----------------------------------------------------------------------------------------

    def session(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=LAB_CREDENTIAL,
            aws_secret_access_key=LAB_CREDENTIAL,
            region_name=self.region,
        )

    def client(self, service: str, **kwargs: Any) -> Any:
        from botocore.config import Config

        kwargs.setdefault("config", Config(retries={"mode": "standard", "max_attempts": 8}))
        return self.session().client(service, endpoint_url=self.endpoint_url, **kwargs)


def register_lab_image(ec2: Any, name: str, version: str) -> str:
    """Register an AMI in the emulation, tagged ``bluegreen-lab:version=<version>``; its id."""
    image_id = ec2.register_image(
        Name=name,
        Description=f"bluegreen lab image {version}",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        VirtualizationType="hvm",
    )["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": LAB_IMAGE_VERSION_TAG, "Value": version}])
    return image_id


def color_tfvars(
    live_color: str, blue: tuple[str, int, str], green: tuple[str, int, str]
) -> dict[str, Any]:
    """A ``bluegreen.auto.tfvars.json`` document for the lab: per color ``(ami, size, release)``."""
    return {
        "live_color": live_color,
        "colors": {
            name: {"ami": ami, "size": size, "release": release}
            for name, (ami, size, release) in (("blue", blue), ("green", green))
        },
    }


# --- Terraform work dir -------------------------------------------------------------------------------


def source_terraform_dir() -> Path:
    """``terraform/`` of the source tree (the lab runs from a checkout / editable install)."""
    candidate = Path(__file__).resolve().parents[2] / "terraform"
    if not (candidate / "examples").is_dir():
        raise ToolchainError(f"terraform stack sources not found at {candidate}: run from a checkout")
    return candidate


@dataclass(frozen=True)
class LabStack:
    """A copy of ``terraform/`` whose example stack is wired to the emulation."""

    root: Path  # the copied terraform/ tree
    stack_dir: Path  # root/examples/<example>
    toolchain: Toolchain
    endpoint_url: str
    env: dict[str, str] = field(default_factory=dict)  # pass to TerraformRunner(env=...)

    @property
    def tfvars_file(self) -> Path:
        return self.stack_dir / TFVARS_FILE

    def write_tfvars(self, document: Mapping[str, Any], path: Path | None = None) -> Path:
        """Write a tfvars JSON document (default: the stack's ``bluegreen.auto.tfvars.json``)."""
        target = path or self.tfvars_file
        target.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return target


def prepare_stack(
    dest: Path,
    endpoint_url: str,
    *,
    example: str = "web",
    toolchain: Toolchain | None = None,
    cache_dir: Path | None = None,
) -> LabStack:
    """Copy ``terraform/`` to ``dest/terraform`` (modules stay reachable by their relative
    sources), write the provider override into the example and return its env for Terraform."""
    tools = toolchain or prepare_toolchain(cache_dir)
    root = Path(dest) / "terraform"
    shutil.copytree(source_terraform_dir(), root, ignore=_IGNORED, dirs_exist_ok=True)
    stack_dir = root / "examples" / example
    if not stack_dir.is_dir():
        raise ToolchainError(f"no example stack {example!r} under {root / 'examples'}")
    write_provider_override(stack_dir, endpoint_url)
    return LabStack(
        root=root,
        stack_dir=stack_dir,
        toolchain=tools,
        endpoint_url=endpoint_url,
        env=tools.env(),
    )
