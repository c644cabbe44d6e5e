"""End-to-end fixtures: moto's server (with the fidelity layer), the example stack copied into a
session work dir, real Terraform (embedded) with the AWS provider from the offline mirror.

The stack is applied once per session: ``aws_lb`` alone takes about 60 s against moto.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from bluegreen.lab.emulator import (
    Emulator,
    LabStack,
    color_tfvars,
    prepare_stack,
    register_lab_image,
)
from bluegreen.lab.toolchain import prepare_toolchain
from bluegreen.terraform import TerraformRunner, still_running

# Generous bounds: a command that hits a moto 500 is retried by the provider for many minutes.
APPLY_TIMEOUT = 300.0


@dataclass
class E2EStack:
    emulator: Emulator
    stack: LabStack
    tf: TerraformRunner
    images: dict[str, str]  # release label -> AMI id
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self.emulator.client(service)


def _heartbeat(command: str, elapsed: float) -> None:
    print(still_running(command, elapsed), file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir = tmp_path_factory.mktemp("e2e")
    timings: dict[str, float] = {}
    with Emulator() as emulator:
        ec2 = emulator.client("ec2")
        images = {
            "v1": register_lab_image(ec2, "web-v1", "v1"),
            "v2": register_lab_image(ec2, "web-v2", "v2"),
        }
        stack = prepare_stack(workdir, emulator.endpoint_url, toolchain=prepare_toolchain())
        stack.write_tfvars(color_tfvars("blue", (images["v1"], 2, "v1"), (images["v1"], 0, "")))
        tf = TerraformRunner(
            stack.stack_dir, env=stack.env, heartbeat=_heartbeat, timeout=APPLY_TIMEOUT, stop_grace=30
        )

        started = time.monotonic()
        tf.check_version()
        tf.init()
        timings["init"] = time.monotonic() - started

        started = time.monotonic()
        assert tf.plan(stack.tfvars_file, workdir / "initial.tfplan") is True
        timings["first_plan"] = time.monotonic() - started

        started = time.monotonic()
        tf.apply_plan(workdir / "initial.tfplan")
        timings["first_apply"] = time.monotonic() - started

        yield E2EStack(emulator, stack, tf, images, workdir, timings)

        print(
            "\ne2e timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()),
            file=sys.stderr,
        )
