"""What ``status`` and ``plan`` print: pure functions from values to text or JSON-ready dicts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .blast_radius import PlanSummary
from .journal import RunView
from .model import Color
from .commands import Situation
from .stack import Preview


# -- status ------------------------------------------------------------------------------------


def kept_warm(situation: Situation, last_run: RunView | None) -> dict[str, Any] | None:
    """The idle color still running, detached, after a ``--keep-old`` release: until when."""
    live = situation.assessment.live
    if live is None or last_run is None or last_run.outcome != "completed":
        return None
    seconds = int(last_run.header.get("keep_old_seconds") or 0)
    idle = situation.observed.group(live.other())
    if not seconds or not idle.instances or situation.observed.attached(live.other()):
        return None
    until = None
    if last_run.finished_at:
        finished = dt.datetime.fromisoformat(last_run.finished_at.replace("Z", "+00:00"))
        until = (finished + dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")
    return {"color": live.other().value, "run_id": last_run.run_id, "until": until}


def status_document(situation: Situation, service: str, run: RunView | None,
                    last_run: RunView | None = None) -> dict[str, Any]:
    a = situation.assessment
    colors: dict[str, Any] = {}
    for color in Color:
        group = situation.observed.group(color)
        targets: dict[str, int] = {}
        for instance in group.instances:
            state = situation.observed.traffic.health_of(instance.id) or "not registered"
            targets[state] = targets.get(state, 0) + 1
        colors[color.value] = {
            "asg": group.name,
            "ami_configured": situation.tfvars.colors[color].ami,
            "amis_running": sorted({i.image_id for i in group.instances if i.image_id}),
            "release": situation.tfvars.colors[color].release,
            "launch_template_id": group.launch_template_id,
            "launch_template_version": group.launch_template_version,
            "min": group.min_size,
            "desired": group.desired_capacity,
            "max": group.max_size,
            "instances": group.counts_by_state(),
            "targets": targets,
            "attached": situation.observed.attached(color),
            "suspended_processes": sorted(group.suspended_processes),
        }
    return {
        "service": service,
        "live": a.live.value if a.live else None,
        "clean": a.clean,
        "problems": list(a.problems),
        "serving": [c.value for c in a.serving],
        "tfvars_live": situation.tfvars.live_color.value,
        "outputs_live": situation.outputs.live_color.value,
        "load_balancer": situation.outputs.lb_dns_name,
        "traffic": {"kind": situation.outputs.traffic_kind.value, "name": situation.outputs.traffic_name},
        "colors": colors,
        "kept_warm": kept_warm(situation, last_run),
        "in_flight": None if run is None else {
            "run_id": run.run_id,
            "kind": run.kind,
            "last_step": run.started[-1].value if run.started else None,
        },
    }


def status_text(doc: dict[str, Any]) -> str:
    lines = []
    if doc["clean"]:
        lines.append(f"{doc['service']}: {doc['live']} is live (load balancer {doc['load_balancer']})")
    else:
        lines.append(f"{doc['service']}: NOT ONE CLEAN LIVE COLOR")
        lines += [f"  problem: {p}" for p in doc["problems"]]
    lines.append(f"  terraform: tfvars live_color={doc['tfvars_live']}, output live_color={doc['outputs_live']}")
    if doc.get("kept_warm"):
        k = doc["kept_warm"]
        lines.append(f"  kept warm: {k['color']} runs detached for an instant `bluegreen rollback`"
                     f" until {k['until'] or '?'}; `bluegreen finalize` scales it to zero")
    if doc.get("journal"):
        lines.append(f"  lock and journal: {doc['journal']}")
    if doc["in_flight"]:
        f = doc["in_flight"]
        lines.append(f"  in flight: {f['kind']} run {f['run_id']} stopped at {f['last_step']} "
                     "(`bluegreen resume` or `bluegreen abort`)")
    header = f"  {'color':6} {'asg':22} {'ami (configured)':23} {'launch template':26} {'min/des/max':11} {'instances':24} {'targets':22} attached"
    lines.append(header)
    for color, c in doc["colors"].items():
        lt = f"{c['launch_template_id'] or '-'} v{c['launch_template_version'] or '-'}"
        instances = _counts(c["instances"])
        targets = _counts(c["targets"])
        running = c["amis_running"]
        ami = c["ami_configured"] + ("" if not running or running == [c["ami_configured"]] else " (runs " + ",".join(running) + ")")
        lines.append(
            f"  {color:6} {c['asg']:22} {ami:23} {lt:26} {c['min']}/{c['desired']}/{c['max']:<7} "
            f"{instances:24} {targets:22} {'yes' if c['attached'] else 'no'}"
        )
        if c["suspended_processes"]:
            lines.append(f"         suspended: {', '.join(c['suspended_processes'])}")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "-"


# -- plan --------------------------------------------------------------------------------------


def plan_document(preview: Preview, live: Color, idle: Color) -> dict[str, Any]:
    summary: PlanSummary = preview.summary
    verdict = preview.verdict
    return {
        "live": live.value,
        "target": idle.value,
        "ami": preview.vars.colors[idle].ami,
        "size": preview.vars.colors[idle].size,
        "plan_file": str(preview.plan_file),
        "counts": summary.counts,
        "changes": [{"address": c.address, "action": c.action} for c in summary.changes],
        "blast_radius": {
            "ok": preview.ok,
            "reason": verdict.reason if verdict else "",
            "violations": [{"address": v.address, "action": v.action} for v in (verdict.violations if verdict else ())],
        },
    }


def plan_text(doc: dict[str, Any]) -> str:
    lines = [f"Plan: release {doc['ami']} x{doc['size']} onto {doc['target']} ({doc['live']} stays live)"]
    counts = doc["counts"]
    lines.append("  " + ", ".join(f"{n} to {action}" for action, n in counts.items()))
    for change in doc["changes"]:
        lines.append(f"  {_symbol(change['action'])} {change['address']} ({change['action']})")
    br = doc["blast_radius"]
    lines.append(("Blast radius OK: " if br["ok"] else "BLAST RADIUS VIOLATION: ") + br["reason"])
    return "\n".join(lines)


def plan_markdown(doc: dict[str, Any]) -> str:
    br = doc["blast_radius"]
    status = "✅ touches only the idle color" if br["ok"] else "❌ **blast-radius violation**"
    lines = [
        f"### bluegreen plan: `{doc['ami']}` onto **{doc['target']}** ({doc['live']} stays live)",
        "",
        f"Blast radius: {status}",
        "",
        "| action | address |",
        "|---|---|",
    ]
    lines += [f"| {c['action']} | `{c['address']}` |" for c in doc["changes"]]
    if not doc["changes"]:
        lines.append("| (none) | |")
    if not br["ok"]:
        lines += ["", f"> {br['reason']}"]
    counts = doc["counts"]
    lines += ["", " · ".join(f"{n} to {action}" for action, n in counts.items())]
    return "\n".join(lines)


def _symbol(action: str) -> str:
    return {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}.get(action, "?")
