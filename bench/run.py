"""Side-by-side release benchmarks in one lab (``python -m bench.run``, ``make bench``).

One lab (moto + fidelity layer, real HAProxy data plane, one process per instance), one steady load
(200 req/s through HAProxy for the whole run), one target group (the example stack's: same health
checks, same deregistration delay), the same fleet size, one after the other:

  (a)  ``bluegreen release`` v1 -> v2 (blue -> green), then a broken v3 that bluegreen rolls back;
  (b)  the plain-Terraform pattern (``bench/plain_terraform``): a new ASG per launch template
       version, ``create_before_destroy``, ``target_group_arns`` + ``wait_for_elb_capacity``, old
       ASG destroyed by the same apply; run by the same embedded Terraform and offline provider,
       registering with the lab's target group (so HAProxy serves it exactly as it serves bluegreen);
  (c)  the naive relink: a new ASG, then AttachLoadBalancerTargetGroups(new) and
       DetachLoadBalancerTargetGroups(old) back to back (boto3; no health wait, no draining wait).

Writes ``bench/results/results.json``, ``results.md`` and PNG timelines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bluegreen import commands
from bluegreen.errors import RolledBackError
from bluegreen_lab.demo import (DEMO_OPTIONS, RATE_PER_S, TrafficWatch, Window, offset_of, reporter_like,
                                rollback_metrics, switch_metrics)
from bluegreen_lab.lab import Lab, LabOptions
from bluegreen_lab.timeline import write_png
from bluegreen.report import Reporter

HERE = Path(__file__).resolve().parent
PLAIN_SOURCE = HERE / "plain_terraform"
SETTLE_S = 3.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--size", type=int, default=2, help="instances per release (every pattern)")
    p.add_argument("--rate", type=float, default=RATE_PER_S, help="requests per second")
    p.add_argument("--workdir", type=Path, default=None, help="lab work dir (default: a temp dir)")
    args = p.parse_args(argv)
    reporter = Reporter(service="web")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bluegreen-bench-"))
    shutil.rmtree(workdir / "lab", ignore_errors=True)
    started = time.monotonic()
    try:
        results = run(workdir, args.size, args.rate, reporter)
    except KeyboardInterrupt:
        reporter.error("interrupted: the lab was torn down")
        return 130
    results["wall_time_s"] = round(time.monotonic() - started, 1)
    write_results(results, args.out)
    print(markdown(results))
    print(f"\nresults: {args.out / 'results.json'}, {args.out / 'results.md'}, "
          f"{', '.join(sorted(p.name for p in args.out.glob('*.png')))}")
    return 0


def run(workdir: Path, size: int, rate: float, reporter: Reporter) -> dict[str, Any]:
    options = LabOptions(**DEMO_OPTIONS)
    out: dict[str, Any] = {
        "setup": {"fleet_size": size, "rate_per_s": rate, "deregistration_delay_s": options.deregistration_delay,
                  "verify_seconds": options.verify_seconds, "unhealthy_grace_seconds": options.unhealthy_grace_seconds,
                  "haproxy": "check inter 200ms rise 2 fall 2; retries 3, redispatch, retry-on conn-failure empty-response",
                  "python": platform.python_version()},
        "scenarios": {},
    }
    with Lab(workdir / "lab", options) as lab:
        v1 = lab.bake("v1")
        reporter.info("terraform apply of the example stack (about 80 s)")
        app = lab.deploy_initial(v1, size=size, reporter=reporter)
        outputs = app.stack.outputs()
        tg_arn = outputs.traffic_name
        with TrafficWatch(lab, rate_per_s=rate) as watch:
            time.sleep(2)
            windows: dict[str, tuple[Window, str, str]] = {}

            # (a) bluegreen release
            v2 = lab.bake("v2")
            w = _bluegreen(lab, watch, reporter, v2, "a_bluegreen")
            out["scenarios"]["a_bluegreen"] = switch_metrics(watch, w, "v1", "v2", SETTLE_S)
            windows["a_bluegreen"] = (w, "v1", "v2")

            # (a') bluegreen, broken AMI: automatic rollback
            v3 = lab.bake("v3", broken="now")
            w = _bluegreen(lab, watch, reporter, v3, "a_bluegreen_broken", expect_rollback=True)
            m = switch_metrics(watch, w, "v2", "v3", SETTLE_S)
            m["rollback"] = rollback_metrics(watch, w, "v3")
            m["rolled_back"] = w.name.endswith("(rolled back)")
            out["scenarios"]["a_bluegreen_broken"] = m
            windows["a_bluegreen_broken"] = (w, "v2", "v3")

            # (b) plain Terraform: set up with v2 beside bluegreen's green, hand traffic over
            # (unmeasured, all v2), then the measured apply v2 -> v4.
            plain = _PlainTerraform(lab, workdir / "plain", tg_arn, size)
            reporter.info("plain Terraform: init + first apply with v2 (setup, not measured)")
            plain.apply(v2)
            _detach_and_drain(lab, outputs.asg_names[_live_color(lab)], tg_arn, reporter)
            time.sleep(2)
            v4 = lab.bake("v4")
            reporter.info("(b) plain Terraform apply v2 -> v4 (new ASG, create_before_destroy)")
            with watch.measure("b_plain_terraform") as w:
                plain.apply(v4, phases=w.phases, watch=watch)
            time.sleep(SETTLE_S)
            out["scenarios"]["b_plain_terraform"] = switch_metrics(watch, w, "v2", "v4", SETTLE_S)
            windows["b_plain_terraform"] = (w, "v2", "v4")

            # (c) naive relink: new ASG, attach new + detach old at once
            v5 = lab.bake("v5")
            reporter.info("(c) naive relink v4 -> v5 (attach new, detach old, no waits)")
            with watch.measure("c_naive_relink") as w:
                _naive_relink(lab, watch, w, v5, plain.asg_name(), tg_arn, size)
            time.sleep(SETTLE_S + 2)
            out["scenarios"]["c_naive_relink"] = switch_metrics(watch, w, "v4", "v5", SETTLE_S + 2)
            windows["c_naive_relink"] = (w, "v4", "v5")
        out["dataplane_errors"] = list(lab.dataplane.errors)
        out["_records"] = watch.records
        out["_windows"] = windows
    return out


# -- (a) -----------------------------------------------------------------------------------------


def _bluegreen(lab: Lab, watch: TrafficWatch, reporter: Reporter, ami: str, name: str,
               expect_rollback: bool = False) -> Window:
    rep = reporter_like(reporter)
    app = lab.app(rep)
    offset = offset_of(watch, rep)
    rolled_back = False
    with watch.measure(name) as w:
        try:
            commands.release(app, ami=ami, manifest=None, size=None, keep_old=False, dry_run=False)
        except RolledBackError:
            rolled_back = True
            if not expect_rollback:
                raise
    watch.add_phases(w, rep, offset)
    if rolled_back:
        w.name += " (rolled back)"
    time.sleep(SETTLE_S)
    return w


def _live_color(lab: Lab) -> Any:
    app = lab.app(Reporter(service="web", quiet=True))
    return commands.observe(app).assessment.live


def _detach_and_drain(lab: Lab, asg_name: str, tg_arn: str, reporter: Reporter) -> None:
    """Hand traffic from bluegreen's live color to the plain group: detach and wait for draining."""
    asg, elb = lab.client("autoscaling"), lab.client("elbv2")
    ids = [i["InstanceId"] for g in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"]
           for i in g["Instances"]]
    asg.detach_load_balancer_target_groups(AutoScalingGroupName=asg_name, TargetGroupARNs=[tg_arn])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = [d for d in elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
                if d["Target"]["Id"] in ids]
        if not left:
            break
        time.sleep(0.25)
    reporter.info(f"{asg_name} detached and drained: the plain group serves alone")


# -- (b) -----------------------------------------------------------------------------------------


class _PlainTerraform:
    def __init__(self, lab: Lab, workdir: Path, tg_arn: str, size: int) -> None:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.copytree(PLAIN_SOURCE, workdir, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*_override.tf"))
        self.dir = workdir
        self.tf = lab.terraform(workdir)
        ec2 = lab.client("ec2")
        subnets = ec2.describe_subnets(Filters=[{"Name": "tag:Service", "Values": ["web"]}])["Subnets"]
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["web"]}])["SecurityGroups"]
        self.base = {"target_group_arn": tg_arn, "size": size,
                     "subnet_ids": sorted(s["SubnetId"] for s in subnets),
                     "security_group_ids": [g["GroupId"] for g in groups]}
        self.tf.ensure_ready()
        self.runs = 0

    def apply(self, ami: str, phases: list | None = None, watch: TrafficWatch | None = None) -> None:
        self.runs += 1
        var_file = self.dir / "bench.auto.tfvars.json"
        var_file.write_text(json.dumps({**self.base, "ami": ami}, indent=2), encoding="utf-8")
        plan = self.dir / f"run{self.runs}.tfplan"
        if watch is not None and phases is not None:
            phases.append((watch.now(), "terraform plan"))
        self.tf.plan(var_file, plan)
        if watch is not None and phases is not None:
            phases.append((watch.now(), "terraform apply"))
        self.tf.apply_plan(plan)

    def asg_name(self) -> str:
        return self.tf.raw_outputs()["asg_name"]["value"]


# -- (c) -----------------------------------------------------------------------------------------


def _naive_relink(lab: Lab, watch: TrafficWatch, w: Window, ami: str, old_asg: str, tg_arn: str,
                  size: int) -> None:
    ec2, asg = lab.client("ec2"), lab.client("autoscaling")
    old = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[old_asg])["AutoScalingGroups"][0]
    lt = ec2.create_launch_template(LaunchTemplateName="naive-web",
                                    LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"})
    name = "naive-web-v5"
    w.phases.append((watch.now(), "create ASG"))
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=size, MaxSize=size, DesiredCapacity=size,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplate"]["LaunchTemplateId"], "Version": "1"},
        VPCZoneIdentifier=old["VPCZoneIdentifier"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        if sum(1 for i in g["Instances"] if i["LifecycleState"] == "InService") >= size:
            break
        time.sleep(0.5)
    w.phases.append((watch.now(), "attach new + detach old"))
    asg.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[tg_arn])
    asg.detach_load_balancer_target_groups(AutoScalingGroupName=old_asg, TargetGroupARNs=[tg_arn])


# -- output --------------------------------------------------------------------------------------

LABELS = {
    "a_bluegreen": "(a) bluegreen release",
    "a_bluegreen_broken": "(a) bluegreen, broken AMI (rolled back)",
    "b_plain_terraform": "(b) plain Terraform (new ASG, create_before_destroy)",
    "c_naive_relink": "(c) naive relink (attach new + detach old)",
}


def write_results(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    records = results.pop("_records")
    windows = results.pop("_windows")
    ordered = sorted(windows.items(), key=lambda kv: kv[1][0].start)
    for n, (key, (w, old, new)) in enumerate(ordered):
        # From 2 s before to a few seconds after, never into the next scenario's window.
        lo, hi = w.start - 2, w.end + SETTLE_S + 2
        if n + 1 < len(ordered):
            hi = min(hi, ordered[n + 1][1][0].start)
        recs = [dataclasses.replace(r, start=r.start - lo) for r in records if lo <= r.start < hi]
        phases = [(t - lo, label) for t, label in w.phases if lo <= t < hi]
        phases.append((w.start - lo, "start"))
        phases.append((w.end - lo, "done"))
        png = write_png(recs, out / f"timeline_{key}.png", phases=phases,
                        title=f"{LABELS[key]}: {old} -> {new}, {results['setup']['rate_per_s']:.0f} req/s")
        results["scenarios"][key]["timeline_png"] = png.name
    write_png(records, out / "timeline_all.png", phases=[(w.start, k) for k, (w, _, _) in windows.items()],
              title="bench: the whole run (one lab, one load)")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown(results) + "\n", encoding="utf-8")


def markdown(results: dict[str, Any]) -> str:
    s = results["setup"]
    lines = [
        "# Release benchmarks (lab)",
        "",
        f"One lab, one steady load ({s['rate_per_s']:.0f} req/s through HAProxy), fleet size {s['fleet_size']}, "
        f"one target group (deregistration delay {s['deregistration_delay_s']} s), bluegreen verify window "
        f"{s['verify_seconds']} s. HAProxy: {s['haproxy']}.",
        "",
        "| pattern | requests | failed | mixed-version window (s) | cutover (s) | total (s) | AWS API calls |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, m in results["scenarios"].items():
        lines.append(f"| {LABELS.get(key, key)} | {m['requests']} | {m['failed_requests']} | "
                     f"{m['mixed_version_window_s']:.2f} | {_fmt(m['cutover_s'])} | {m['total_s']:.1f} | {m['api_calls']} |")
    rb = results["scenarios"].get("a_bluegreen_broken", {}).get("rollback")
    if rb:
        lines += ["", f"Broken AMI with bluegreen: rolled back; {_fmt(rb.get('rollback_s'))} s from the first failed "
                  f"health check to traffic fully back on the old color (broken servers out of HAProxy, idle "
                  f"color detached); {rb.get('failed_requests_during')} failed requests during it; "
                  f"{rb.get('new_version_responses')} responses served by the broken version."]
    lines += [
        "",
        "Definitions: *failed* = requests without a 200 (errors, timeouts, 5xx) from the start of the release to "
        f"{SETTLE_S:.0f} s after it returned; *mixed-version window* = last old-version response minus first "
        "new-version response; *cutover* = release start to the last old-version response; *total* = release "
        "start to the tool returning (plan, apply, waits, scale-down); *AWS API calls* = calls moto served "
        "during the release (bluegreen's boto3 calls and Terraform's provider calls; the data plane reads moto "
        "directly and is not counted).",
        "",
        "Reading the numbers (measured in this lab, not on AWS):",
        "",
        "* **(a) bluegreen**: the new color takes traffic only once HAProxy's checks pass (`rise 2`); both colors "
        "serve during the verify window by design, then the old color goes to Standby and drains: the mixed-version "
        "window is the verify window plus a few hundred ms, under the deregistration delay. Its total time and API "
        "calls are dominated by three Terraform runs (apply idle, scale old to zero, the final no-changes plan), each "
        "refreshing the whole stack.",
        "* **(b) plain Terraform** also served every request here: `wait_for_elb_capacity` waits for healthy targets "
        "(HAProxy's checks), so the new group takes traffic only when healthy, and when the old group is scaled to "
        "zero the lab's data plane takes each server out of rotation (maint, wait for its sessions) before stopping "
        "the instance's process, while HAProxy retries connection failures (retries 3, redispatch). It is faster "
        "because moto terminates scaled-in instances at once: the emulation does not deregister-and-drain on "
        "scale-in as AWS does (AWS would add the deregistration delay, 300 s by default). What this row does not show "
        "is the failure path: a broken AMI makes the apply wait `wait_for_capacity_timeout` (10 min by default) and "
        "then fail with a tainted new group, with no automatic return to a clean state.",
        "* **(c) naive relink** fails requests: the old targets are draining before any new server has passed its "
        "checks, so for a few hundred ms HAProxy has no server to send to and answers 503. (An ALB may fail open to "
        "targets still in `initial`; HAProxy does not, so the size of this gap is specific to the lab.)",
        "",
        f"Wall time of the run: {results.get('wall_time_s', '?')} s.",
    ]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    sys.exit(main())
