"""``TerraformRunner.state_identity`` against real (embedded) Terraform: what a saved plan records
to tell when it is stale. A stack of ``terraform_data`` needs no provider download."""

from __future__ import annotations

import json
from pathlib import Path

from bluegreen.terraform.runner import TerraformRunner

STACK = """
variable "label" {
  type = string
}

resource "terraform_data" "this" {
  input = var.label
}
"""


def test_serial_moves_with_every_apply_and_lineage_stays(tmp_path: Path):
    (tmp_path / "main.tf").write_text(STACK)
    config = tmp_path / "empty.tfrc"
    config.write_text("disable_checkpoint = true\n")
    tf = TerraformRunner(tmp_path, env={"TF_CLI_CONFIG_FILE": str(config)})
    tf.ensure_ready()
    assert tf.state_identity() == ("", 0)  # no state yet
    serials = []
    for label in ("v1", "v2"):
        (tmp_path / f"{label}.tfvars.json").write_text(json.dumps({"label": label}))
        tf.plan(tmp_path / f"{label}.tfvars.json", tmp_path / f"{label}.tfplan")
        tf.apply_plan(tmp_path / f"{label}.tfplan")
        lineage, serial = tf.state_identity()
        state = json.loads((tmp_path / "terraform.tfstate").read_text())
        assert (lineage, serial) == (state["lineage"], state["serial"])
        serials.append((lineage, serial))
    assert serials[0][0] == serials[1][0] and serials[1][1] > serials[0][1]
    # A plan alone does not write the state: a plan saved now stays fresh.
    tf.plan(tmp_path / "v1.tfvars.json", tmp_path / "again.tfplan")
    assert tf.state_identity() == serials[1]
