"""What ``status`` and ``plan`` print: pure functions from values to text or JSON-ready dicts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Sequence

from .blast_radius import SENSITIVE, UNKNOWN, PlanSummary, ResourceChange
from .journal import RunView
from .runstate import RunState
from .model import Color
from .commands import Situation
from .drift import Drift
from .history import HistoryList, RunHistory
from .stack import Preview


# -- status ------------------------------------------------------------------------------------


def kept_warm(situation: Situation, last_run: RunView | None, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The idle color still running, detached, after a ``--keep-old`` release: until when, and
    whether the window is over (the next release, rollback or swap scales it to zero first)."""
    live = situation.assessment.live
    until = last_run.warm_until if last_run is not None else None
    if live is None or until is None:
        return None
    idle = situation.observed.group(live.other())
    if not idle.instances or situation.observed.attached(live.other()):
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    return {"color": live.other().value, "run_id": last_run.run_id,
            "until": until.isoformat(timespec="seconds"), "overdue": now >= until}


def status_document(situation: Situation, service: str, run: RunView | None,
                    last_run: RunView | None = None, drift: Sequence[Drift] = ()) -> dict[str, Any]:
    """``clean`` means one live color, Terraform agreeing, and no drift (``drift.find``)."""
    a = situation.assessment
    colors: dict[str, Any] = {}
    for color in Color:
        group = situation.observed.group(color)
        targets: dict[str, int] = {}
        # Weighted mode: each color's targets in its own target group.
        traffic = situation.health[color] if situation.health else situation.observed.traffic
        for instance in group.instances:
            state = traffic.health_of(instance.id) or "not registered"
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
            "attached": situation.observed.attached(color) if situation.shares is None
            else situation.shares[color] > 0,
            **({"weight_percent": situation.shares[color]} if situation.shares is not None else {}),
            "suspended_processes": sorted(group.suspended_processes),
        }
    return {
        "service": service,
        "live": a.live.value if a.live else None,
        "clean": a.clean and not drift,
        "problems": list(a.problems),
        "drift": [d.document() for d in drift],
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
            "state": run.state.value,
            "error": run.error,
            "next": run.next_command,
            **({"waiting_for": waiting_for(run)} if waiting_for(run) else {}),
        },
    }


def waiting_for(run: RunView) -> str | None:
    """What a weighted run waits for, in one line (``None`` unless it is paused)."""
    if run.state is not RunState.PAUSED:
        return None
    at = run.data.paused_at if run.data.paused_at is not None else run.data.shift_index
    share = f" with {run.header.target} at {run.data.shift_percent} %" if run.data.shift_percent is not None else ""
    return (f"approval of step {(at or 0) + 1}{share}: `bluegreen promote` goes on, "
            f"`bluegreen abort` flips all traffic back to {run.header.live}")


def status_text(doc: dict[str, Any]) -> str:
    lines = []
    drift = doc.get("drift") or []
    if doc["live"] and not doc["problems"]:
        lines.append(f"{doc['service']}: {doc['live']} is live (load balancer {doc['load_balancer']})"
                     + (", but AWS has drifted from Terraform" if drift else ""))
    else:
        lines.append(f"{doc['service']}: NOT ONE CLEAN LIVE COLOR")
        lines += [f"  problem: {p}" for p in doc["problems"]]
    for d in drift:
        lines.append(f"  drift: {d['what']}")
        lines.append(f"    fix: {d['fix']}")
    lines.append(f"  terraform: tfvars live_color={doc['tfvars_live']}, output live_color={doc['outputs_live']}")
    if doc.get("kept_warm"):
        k = doc["kept_warm"]
        if k.get("overdue"):
            lines.append(f"  kept warm: {k['color']}'s window ended at {k['until']}; the next release, rollback "
                         "or swap scales it to zero first (`bluegreen finalize` does it now)")
        else:
            lines.append(f"  kept warm: {k['color']} runs detached for an instant `bluegreen rollback`"
                         f" until {k['until']}; then the next bluegreen command scales it to zero "
                         "(`bluegreen finalize` does it now)")
    if doc.get("journal"):
        lines.append(f"  lock and journal: {doc['journal']}")
    if doc["in_flight"]:
        f = doc["in_flight"]
        lines.append(f"  run: {f['kind']} run {f['run_id']} is {f['state']} at {f['last_step'] or 'start'}"
                     + (f" ({f['error']})" if f.get("error") else ""))
        if f.get("waiting_for"):
            lines.append(f"  waiting for: {f['waiting_for']}")
        lines.append(f"  next: {f['next']}")
    header = f"  {'color':6} {'asg':22} {'ami (configured)':23} {'launch template':26} {'min/des/max':11} {'instances':24} {'targets':22} attached"
    lines.append(header)
    for color, c in doc["colors"].items():
        lt = f"{c['launch_template_id'] or '-'} v{c['launch_template_version'] or '-'}"
        instances = _counts(c["instances"])
        targets = _counts(c["targets"])
        running = c["amis_running"]
        ami = c["ami_configured"] + ("" if not running or running == [c["ami_configured"]] else " (runs " + ",".join(running) + ")")
        attached = f"weight {c['weight_percent']} %" if "weight_percent" in c else ("yes" if c["attached"] else "no")
        lines.append(
            f"  {color:6} {c['asg']:22} {ami:23} {lt:26} {c['min']}/{c['desired']}/{c['max']:<7} "
            f"{instances:24} {targets:22} {attached}"
        )
        if c["suspended_processes"]:
            lines.append(f"         suspended: {', '.join(c['suspended_processes'])}")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "-"


# -- plan --------------------------------------------------------------------------------------


def plan_document(preview: Preview, live: Color, idle: Color) -> dict[str, Any]:
    """``live`` and the new color side by side (AMI, release label, size), then per changed
    resource the attribute diffs that matter, masked as Terraform masks them."""
    summary: PlanSummary = preview.summary
    verdict = preview.verdict
    new = preview.vars.colors[idle]
    # The live color's entry is the committed tfvars' AMI and label, with its size as AWS runs
    # it (commands.plan): what stays in service while the new color comes up.
    current = preview.vars.colors[live]
    return {
        "live": live.value,
        "target": idle.value,
        "ami": new.ami,
        "size": new.size,
        "release": new.release,
        "live_color": {"color": live.value, "ami": current.ami, "release": current.release, "size": current.size},
        "plan_file": str(preview.plan_file),
        "counts": summary.counts,
        "changes": [_change_document(c) for c in summary.changes],
        "blast_radius": {
            "ok": preview.ok,
            "reason": verdict.reason if verdict else "",
            "fix": verdict.fix if verdict else "",
            "violations": [{"address": v.address, "action": v.action} for v in (verdict.violations if verdict else ())],
        },
    }


def _change_document(change: ResourceChange) -> dict[str, Any]:
    return {
        "address": change.address,
        "action": change.action,
        "diffs": [{"attribute": d.path, "before": d.before, "after": d.after} for d in change.diffs],
        "other_attributes": list(change.others),
        "forces_replacement": list(change.forces_replacement),
    }


def plan_text(doc: dict[str, Any]) -> str:
    live = doc["live_color"]
    lines = [
        f"Plan: release {doc['ami']} x{doc['size']} onto {doc['target']} ({doc['live']} stays live)",
        f"  live {live['color']:5}  AMI {live['ami']}  release {live['release'] or '-'}  {live['size']} instance(s)",
        f"  new  {doc['target']:5}  AMI {doc['ami']}  release {doc['release'] or '-'}  {doc['size']} instance(s)",
    ]
    counts = doc["counts"]
    lines.append("  " + ", ".join(f"{n} to {action}" for action, n in counts.items()))
    for change in doc["changes"]:
        lines.append(f"  {_symbol(change['action'])} {change['address']} ({change['action']})")
        for diff in change["diffs"]:
            lines.append(f"      {diff['attribute']}: {_value(diff['before'])} -> {_value(diff['after'])}")
        if change["forces_replacement"]:
            lines.append(f"      forces replacement: {', '.join(change['forces_replacement'])}")
        if change["other_attributes"]:
            lines.append(f"      also changes: {', '.join(change['other_attributes'])}")
    br = doc["blast_radius"]
    lines.append(("Blast radius OK: " if br["ok"] else "BLAST RADIUS VIOLATION: ") + br["reason"])
    if br.get("fix"):
        lines.append(f"  fix: {br['fix']}")
    return "\n".join(lines)


def plan_markdown(doc: dict[str, Any]) -> str:
    br = doc["blast_radius"]
    live = doc["live_color"]
    status = "✅ touches only the idle color" if br["ok"] else "❌ **blast-radius violation**"
    lines = [
        f"### bluegreen plan: `{doc['ami']}` onto **{doc['target']}** ({doc['live']} stays live)",
        "",
        f"Blast radius: {status}",
        "",
        "| | color | AMI | release | instances |",
        "|---|---|---|---|---|",
        f"| live | {live['color']} | {_code(live['ami'])} | {_code(live['release'])} | {live['size']} |",
        f"| new | {doc['target']} | {_code(doc['ami'])} | {_code(doc['release'])} | {doc['size']} |",
        "",
        "| action | address | changes |",
        "|---|---|---|",
    ]
    for c in doc["changes"]:
        cells = [f"{_code(d['attribute'])}: {_md_value(d['before'])} → {_md_value(d['after'])}" for d in c["diffs"]]
        if c["forces_replacement"]:
            cells.append("forces replacement: " + ", ".join(_code(a) for a in c["forces_replacement"]))
        if c["other_attributes"]:
            cells.append("also: " + ", ".join(_code(a) for a in c["other_attributes"]))
        lines.append(f"| {c['action']} | {_code(c['address'])} | {'<br>'.join(cells)} |")
    if not doc["changes"]:
        lines.append("| (none) | | |")
    if not br["ok"]:
        lines += ["", f"> {br['reason']}"]
        if br.get("fix"):
            lines += [">", f"> **fix:** {_md_escape(br['fix'])}"]
    counts = doc["counts"]
    lines += ["", " · ".join(f"{n} to {action}" for action, n in counts.items())]
    return "\n".join(lines)


_MASKS = (UNKNOWN, SENSITIVE)
_LONGEST = 200  # a value longer than this (a whole block as JSON) is cut: the full plan has it


def _value(value: str | None) -> str:
    if value is None:
        return "(none)"
    if value in _MASKS:
        return value
    text = value if len(value) <= _LONGEST else value[:_LONGEST] + "…"
    return json.dumps(text) if text == "" or text != text.strip() else text


def _md_value(value: str | None) -> str:
    if value is None or value in _MASKS:
        return _value(value)
    return _code(value if len(value) <= _LONGEST else value[:_LONGEST] + "…")


def _code(text: str) -> str:
    """``text`` as a markdown code span inside a table cell."""
    if text == "":
        return '`""`'
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text.replace('|', '&#124;')}{pad}{fence}"


def _md_escape(text: str) -> str:
    return text.replace("|", "&#124;").replace("<", "&lt;")


def _symbol(action: str) -> str:
    return {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}.get(action, "?")


# -- history -----------------------------------------------------------------------------------


def history_run_document(run: RunHistory) -> dict[str, Any]:
    """One run, every fact ``history`` knows (``history --json``; ``history RUN_ID --json``)."""
    return {
        "run_id": run.run_id, "kind": run.kind, "state": run.state, "final": run.final,
        "started_at": run.started_at, "finished_at": run.finished_at,
        "seconds": None if run.seconds is None else round(run.seconds, 3),
        "caller": run.caller, "owner": run.owner,
        "from": {"color": run.from_color, "ami": run.from_ami},
        "to": {"color": run.to_color, "ami": run.to_ami, "size": run.size, "release_label": run.release_label},
        "traffic": run.traffic, "strategy": run.strategy,
        "error": run.error or None, "failed_at": run.failed_at or None,
        "slowest": [{"step": step, "seconds": round(seconds, 3)} for step, seconds in run.slowest()],
        "steps": [p.document() for p in run.phases],
        "hooks": [h.document() for h in run.hooks],
        "notifications": list(run.notifications),
        "events": [e.document() for e in run.events],
    }


def history_document(listing: HistoryList) -> dict[str, Any]:
    return {"runs": [history_run_document(r) for r in listing.runs],
            "unreadable": [{"run_id": run_id, "error": why} for run_id, why in listing.unreadable]}


def _when(iso_time: str) -> str:
    """``2026-12-05 14:18:46`` (UTC) from a record time."""
    return iso_time.replace("T", " ").replace("Z", "")[:19] if iso_time else "-"


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 120:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{seconds:.1f}s"


def _short_ami(ami: str) -> str:
    return ami or "?"


def history_text(listing: HistoryList) -> str:
    """``bluegreen history``: one line per run, newest first."""
    if not listing.runs and not listing.unreadable:
        return "no runs recorded"
    rows = [("RUN", "WHEN (UTC)", "WHO", "KIND", "FROM -> TO", "STRATEGY", "RESULT", "DURATION", "SLOWEST PHASES")]
    for run in listing.runs:
        move = (f"{run.from_color} {_short_ami(run.from_ami)} -> {run.to_color} {_short_ami(run.to_ami)}"
                if run.from_color else "?")
        slowest = ", ".join(f"{step} {_secs(s)}" for step, s in run.slowest()) or "-"
        rows.append((run.run_id, _when(run.started_at), run.who, run.kind, move,
                     f"{run.traffic}/{run.strategy}", run.state,
                     _secs(run.seconds) + ("" if run.final else "+"), slowest))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
    lines = [line.rstrip() for line in lines]
    lines += [f"{run_id}: unreadable ({why})" for run_id, why in listing.unreadable]
    return "\n".join(lines)


def history_run_text(run: RunHistory) -> str:
    """``bluegreen history RUN_ID``: the run's steps with their times, hooks, notifications."""
    lines = [f"run {run.run_id}: {run.kind} {run.from_color} -> {run.to_color}: {run.state}"
             + ("" if run.final else " (not final)")]
    ended = f" -> {_when(run.finished_at)[11:]}" if run.finished_at else ""
    lines.append(f"  when:     {_when(run.started_at)}{ended} UTC ({_secs(run.seconds)}"
                 + ("" if run.final else " so far") + ")")
    who = run.caller or "-"
    lines.append(f"  who:      {who}" + (f" ({run.owner})" if run.owner else ""))
    lines.append(f"  from:     {run.from_color} {run.from_ami or '?'}")
    lines.append(f"  to:       {run.to_color} {run.to_ami or '?'} x{run.size if run.size is not None else '?'}"
                 + (f" (release {run.release_label})" if run.release_label else ""))
    lines.append(f"  strategy: {run.strategy} (traffic: {run.traffic})")
    if run.error:
        lines.append(f"  error:    {run.error}" + (f" (at {run.failed_at})" if run.failed_at else ""))
    lines.append("  steps:")
    if not run.phases:
        lines.append("    (none started)")
    for phase in run.phases:
        name = ("undo " if phase.undo else "") + phase.step
        lines.append(f"    {_when(phase.started_at)[11:]}  {name:28} {_secs(phase.seconds):>8}  {phase.outcome}")
    if run.hooks:
        lines.append("  hooks:")
        for hook in run.hooks:
            verdict = "passed" if hook.ok else "FAILED"
            lines.append(f"    {_when(hook.time)[11:]}  {hook.point:13} {hook.hook}: {verdict}, {hook.reason}"
                         f" ({hook.seconds:.2f}s)" + (f": {hook.last_output}" if hook.last_output else ""))
    lines.append("  notifications: " + (", ".join(run.notifications) if run.notifications else "none"))
    if run.events:
        lines.append("  events:")
        for event in run.events:
            lines.append(f"    {_when(event.time)[11:]}  {event.event}" + (f": {event.detail}" if event.detail else ""))
    slowest = ", ".join(f"{step} {_secs(s)}" for step, s in run.slowest())
    if slowest:
        lines.append(f"  slowest:  {slowest}")
    return "\n".join(lines)
