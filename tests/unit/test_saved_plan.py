"""The saved plan (`bluegreen plan --out` / `release --plan`): the file format round trip, every
way a file can be bad (one InputError line naming the file), and the pure freshness decision."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from bluegreen import saved_plan, tfvars
from bluegreen.blast_radius import PlanSummary, ResourceChange
from bluegreen.errors import ExitCode, InputError
from bluegreen.model import Color, ColorVars, TfVars
from bluegreen.plan import release_vars
from bluegreen.saved_plan import Basis, Facts, Intent, SavedPlan, StateIdentity, staleness

AMI_OLD = "ami-0123456789abcdef0"
AMI_NEW = "ami-0fedcba9876543210"
LINEAGE = "8a5c3f0e-1111-2222-3333-444455556666"
PLAN_BYTES = b"PK\x03\x04 not really a zip, but bytes that must survive base64 \x00\xff"

VARS = TfVars(Color.BLUE, {Color.BLUE: ColorVars(AMI_OLD, 2, "v1"),
                           Color.GREEN: ColorVars(AMI_NEW, 2, "release-20261205-1310-abcd1234")})
VARS_TEXT = tfvars.render(VARS, {"service": "web"})


def make_saved(**changes) -> SavedPlan:
    saved = SavedPlan(
        service="web",
        created_at="2026-12-05T13:10:00Z",
        intent=Intent(ami=AMI_NEW, size=2, live=Color.BLUE, target=Color.GREEN,
                      release_label="release-20261205-1310-abcd1234", plan_id="abcd1234"),
        basis=Basis(state=StateIdentity(LINEAGE, 12), tfvars_sha256=saved_plan.sha256_text("committed"),
                    live_desired=2, terraform_version="1.15.5"),
        vars_text=VARS_TEXT,
        summary=PlanSummary((ResourceChange("module.green.aws_launch_template.this", "update"),
                             ResourceChange("module.green.aws_autoscaling_group.this", "update"))),
        plan_bytes=PLAN_BYTES,
    )
    return dataclasses.replace(saved, **changes)


def facts(saved: SavedPlan, **changes) -> Facts:
    """The world exactly as the plan saw it, with ``changes``."""
    base = Facts(
        state=saved.basis.state,
        tfvars_sha256=saved.basis.tfvars_sha256,
        live=saved.intent.live,
        problems=(),
        desired={saved.intent.live: saved.basis.live_desired, saved.intent.target: 0},
        instances={saved.intent.live: saved.basis.live_desired, saved.intent.target: 0},
        terraform_version=saved.basis.terraform_version,
    )
    return dataclasses.replace(base, **changes)


# -- the file ----------------------------------------------------------------------------------


def test_save_then_load_round_trips_every_field(tmp_path: Path):
    path = tmp_path / "out" / "release.plan"
    saved = make_saved()
    saved_plan.save(path, saved)
    assert saved_plan.load(path) == saved
    doc = json.loads(path.read_text())
    # Readable in a CI log with jq: the facts a refusal quotes sit in plain JSON.
    assert doc["format"] == "bluegreen-saved-plan" and doc["version"] == 1
    assert doc["basis"]["state_serial"] == 12 and doc["basis"]["state_lineage"] == LINEAGE
    assert doc["intent"]["release_label"] == "release-20261205-1310-abcd1234"
    assert doc["terraform_plan"]["sha256"] == hashlib.sha256(PLAN_BYTES).hexdigest()
    assert base64.b64decode(doc["terraform_plan"]["base64"]) == PLAN_BYTES
    assert not list(path.parent.glob(".release.plan.*"))  # no temporary file left behind


def test_save_replaces_an_older_plan(tmp_path: Path):
    path = tmp_path / "release.plan"
    saved_plan.save(path, make_saved())
    newer = make_saved(intent=dataclasses.replace(make_saved().intent, plan_id="ffff0000"))
    saved_plan.save(path, newer)
    assert saved_plan.load(path).intent.plan_id == "ffff0000"


def _document() -> dict:
    return saved_plan.to_document(make_saved())


def _corrupt(doc: dict, dotted: str, value=None, *, delete: bool = False) -> dict:
    node = doc
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    if delete:
        del node[last]
    else:
        node[last] = value
    return doc


BAD_FILES = {
    "not json": (b"{not json", "not a bluegreen saved plan (not JSON)"),
    "binary": (b"\xff\xfe\x00garbage", "not a bluegreen saved plan (not JSON)"),
    "json list": (b"[1, 2]", "not a bluegreen saved plan"),
    "a terraform state": (json.dumps({"version": 4, "serial": 3, "lineage": LINEAGE}).encode(),
                          'no "format": "bluegreen-saved-plan"'),
    "newer format": (json.dumps(_corrupt(_document(), "version", 2)).encode(),
                     "saved plan format version 2; this bluegreen reads version 1"),
    "missing intent": (json.dumps(_corrupt(_document(), "intent", delete=True)).encode(),
                       "saved plan is corrupt: missing key intent"),
    "missing serial": (json.dumps(_corrupt(_document(), "basis.state_serial", delete=True)).encode(),
                       "missing key basis.state_serial"),
    "serial as text": (json.dumps(_corrupt(_document(), "basis.state_serial", "12")).encode(),
                       "basis.state_serial must be a whole number"),
    "size as bool": (json.dumps(_corrupt(_document(), "intent.size", True)).encode(),
                     "intent.size must be a whole number"),
    "size zero": (json.dumps(_corrupt(_document(), "intent.size", 0)).encode(),
                  "intent.size must be at least 1"),
    "unknown color": (json.dumps(_corrupt(_document(), "intent.target", "red")).encode(),
                      "intent.target: unknown color 'red'"),
    "same colors": (json.dumps(_corrupt(_document(), "intent.target", "blue")).encode(),
                    "intent.live and intent.target are both blue"),
    "summary entry": (json.dumps(_corrupt(_document(), "summary", ["x"])).encode(),
                      "summary[0] is not an object"),
    "bad base64": (json.dumps(_corrupt(_document(), "terraform_plan.base64", "***")).encode(),
                   "terraform_plan.base64 is not base64"),
    "plan edited": (json.dumps(_corrupt(_document(), "terraform_plan.base64",
                                        base64.b64encode(b"other plan").decode())).encode(),
                    "the embedded Terraform plan does not match its sha256"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_input_error_naming_it(tmp_path: Path, case: str):
    content, needle = BAD_FILES[case]
    path = tmp_path / "release.plan"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        saved_plan.load(path)
    message = str(info.value)
    assert info.value.exit_code == ExitCode.INPUT == 4
    assert message.startswith(f"{path}: ")
    assert needle in message
    assert "\n" not in message


def test_a_missing_file_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(InputError) as info:
        saved_plan.load(tmp_path / "nope.plan")
    assert str(info.value) == (f"{tmp_path / 'nope.plan'}: saved plan not found "
                               "(make one with `bluegreen plan --out FILE`)")


# -- freshness ---------------------------------------------------------------------------------


def test_nothing_moved_means_fresh():
    saved = make_saved()
    assert staleness(saved, facts(saved)) == []


def test_each_moved_fact_has_its_reason():
    saved = make_saved()
    cases = {
        "serial": (facts(saved, state=StateIdentity(LINEAGE, 13)),
                   "the Terraform state moved (serial 12 -> 13: something was applied since)"),
        "lineage": (facts(saved, state=StateIdentity("0b1d0000-aaaa-bbbb-cccc-ddddeeeeffff", 12)),
                    "the Terraform state is another one (lineage 8a5c3f0e-111 -> 0b1d0000-aaa)"),
        "tfvars": (facts(saved, tfvars_sha256=saved_plan.sha256_text("edited")),
                   f"the tfvars file changed (sha256 {saved_plan.sha256_text('committed')[:12]} -> "
                   f"{saved_plan.sha256_text('edited')[:12]})"),
        "live": (facts(saved, live=Color.GREEN), "the live color moved (blue -> green)"),
        "unclean": (facts(saved, live=None, problems=("both colors are attached to the load balancer",)),
                    "no clean live color now: both colors are attached to the load balancer"),
        "live capacity": (facts(saved, desired={Color.BLUE: 3, Color.GREEN: 0}),
                          "blue's desired capacity moved (2 -> 3)"),
        "idle busy": (facts(saved, desired={Color.BLUE: 2, Color.GREEN: 1},
                            instances={Color.BLUE: 2, Color.GREEN: 1}),
                      "the idle color green is no longer empty (1 instance(s), desired 1)"),
        "terraform": (facts(saved, terraform_version="1.16.0"),
                      "Terraform's version moved (1.15.5 -> 1.16.0)"),
    }
    for name, (now, reason) in cases.items():
        assert staleness(saved, now) == [reason], name


def test_a_lineage_change_is_not_also_reported_as_a_serial_move():
    saved = make_saved()
    assert len(staleness(saved, facts(saved, state=StateIdentity("other", 1)))) == 1


def test_everything_moved_lists_every_reason_in_a_stable_order():
    saved = make_saved()
    now = facts(saved, state=StateIdentity(LINEAGE, 20), tfvars_sha256="x", live=Color.GREEN,
                terraform_version="1.16.0")
    reasons = staleness(saved, now)
    assert [r.split(" (")[0] for r in reasons] == [
        "the Terraform state moved", "the tfvars file changed", "the live color moved",
        "Terraform's version moved",
    ]


# -- the plan's variables and the text bluegreen commits ----------------------------------------


def _plan_json(vars_: TfVars, **extra) -> dict:
    doc = json.loads(tfvars.render(vars_, extra))
    return {"variables": {key: {"value": value} for key, value in doc.items()}}


def test_variables_agree_with_the_text_that_made_them():
    assert saved_plan.variables_disagree(_plan_json(VARS, service="web"), VARS_TEXT) == []


def test_an_edited_variables_text_is_caught():
    edited = VARS.with_color(Color.GREEN, ColorVars(AMI_OLD, 2, "hand-edited"))
    assert saved_plan.variables_disagree(_plan_json(VARS, service="web"),
                                         tfvars.render(edited, {"service": "web"})) == ["colors"]
    assert saved_plan.variables_disagree(_plan_json(VARS), "not json") == ["(the variables text is not JSON)"]


def test_keys_terraform_does_not_declare_are_not_compared():
    plan = _plan_json(VARS)  # no "service" variable declared
    assert saved_plan.variables_disagree(plan, tfvars.render(VARS, {"service": "anything"})) == []


# -- the variables a release applies -----------------------------------------------------------


def test_release_vars_sets_the_target_and_keeps_the_live_color_at_its_real_capacity():
    current = TfVars(Color.BLUE, {Color.BLUE: ColorVars(AMI_OLD, 2, "v1"), Color.GREEN: ColorVars(AMI_OLD, 0, "")})
    new = release_vars(current, Color.GREEN, ColorVars(AMI_NEW, 3, "release-x"), live_desired=4)
    assert new.colors[Color.GREEN] == ColorVars(AMI_NEW, 3, "release-x")
    assert new.colors[Color.BLUE] == ColorVars(AMI_OLD, 4, "v1")  # scaled by hand: follow AWS
    assert new.live_color is Color.BLUE  # the live color is recorded only after the switch
    same = release_vars(current, Color.GREEN, ColorVars(AMI_NEW, 2, "release-x"), live_desired=2)
    assert same.colors[Color.BLUE] is current.colors[Color.BLUE]
