"""Hooks and notifications: a team's own checks and announcements at named points of a run.

Points (where the executor calls ``Hooks``; see ``release.Switch.run``):

- ``pre-traffic``: just before ``attach-new`` starts. The new color's instances are InService on
  the new AMI (``wait-instances`` completed) and it is not attached, so it takes no traffic yet.
  A failing hook rolls the run back before any user sees the new color.
- ``post-step``: right after ``attach-new`` completed (the one traffic step of the attach mode;
  its targets may still be in the load balancer's initial health checks). Failing rolls back.
- ``post-traffic``: right after ``detach-old`` completed: the new color serves all traffic, the
  old one is still running (in Standby or leaving it). Past the commit point, so a failing hook
  leaves the run in needs-operator (``resume`` runs the hook again, ``abort`` switches back).
- ``on-rollback``: after an automatic rollback or an ``abort`` finished. Reported only.
- ``on-complete``: after the run completed. Reported only.

Gates run at least once per run: each runs when the step after its point is about to start (the
``post-step`` gate just before ``wait-healthy``, ``post-traffic`` just before ``exit-standby-old``),
so a ``resume`` after a failed gate or a crash runs it again rather than skipping it. Hooks must
be idempotent. A rollback run and ``abort`` run no gate: nothing may block going back. Notifications are at most once per run and event: the key is recorded
in the journal before the message is sent, so a ``resume`` never sends it again.

Building the event and the environment is pure; running is ``HookRunner`` (subprocess and HTTP
injectable), dispatching and deduplicating is ``Hooks``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Protocol

from .config import HookSettings, NotifySettings
from .errors import BluegreenError
from .stop import StopToken

GATES = frozenset({"pre-traffic", "post-step", "post-traffic"})
REPORTED = frozenset({"on-rollback", "on-complete"})
# Run events that are not hook points but are announced: the start of a run.
START = "start"
TAIL_LINES = 10  # the last lines of a failing hook's output that are shown
KILL_GRACE_SECONDS = 2.0  # after SIGTERM at the timeout, before SIGKILL


class HookFailed(BluegreenError):
    """A gate hook failed, timed out or was killed. Raised inside the step, so the executor's
    ordinary failure path (rollback before the commit point, needs-operator after) runs."""


# -- pure: the event and the environment -----------------------------------------------------


def build_event(point: str, facts: Mapping[str, Any], *, time_iso: str, **extra: Any) -> dict[str, Any]:
    """The JSON a hook receives on stdin (or a webhook as its POST body), and notifications are
    built from. ``facts``: the run's identity (``release._hook_facts``)."""
    event = {"event": point, "time": time_iso, **facts}
    event.update({k: v for k, v in extra.items() if v is not None})
    return event


_ENV_KEYS = ("run_id", "service", "mode", "from_color", "to_color", "from_group", "to_group", "ami", "size",
             "release_label", "error", "failed_at")


def hook_env(event: Mapping[str, Any], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment of a command hook: the caller's, plus BLUEGREEN_* facts."""
    env = dict(os.environ if base is None else base)
    env["BLUEGREEN_HOOK"] = str(event["event"])
    for key in _ENV_KEYS:
        if event.get(key) is not None:
            env["BLUEGREEN_" + key.upper()] = str(event[key])
    return env


def tail(text: str, lines: int = TAIL_LINES) -> list[str]:
    return [line for line in text.strip().splitlines()[-lines:]]


def summary_line(event: Mapping[str, Any]) -> str:
    """One readable line for people (Slack, SNS subject/body)."""
    what = f"{event.get('service')} {event.get('mode', 'run')} {event.get('from_color')} -> {event.get('to_color')}"
    ami = f" (AMI {event['ami']}, run {event.get('run_id')})" if event.get("ami") else f" (run {event.get('run_id')})"
    kind = event["event"]
    if kind == START:
        return f"started {what}{ami}"
    if kind == "on-complete":
        return f"completed {what}: {event.get('to_color')} serves{ami}"
    if kind == "on-rollback":
        how = "aborted" if event.get("outcome") == "aborted" else "rolled back"
        why = f": {event['error']}" if event.get("error") else ""
        return f"{how} {what}, {event.get('from_color')} serves{ami}{why}"
    if kind in GATES:
        verdict = "passed" if event.get("passed") else "FAILED"
        detail = f": {event['reason']}" if event.get("reason") else ""
        return f"{kind} gate {verdict} for {what}{ami}{detail}"
    return f"{kind} {what}{ami}"


def notify_event_kind(event: Mapping[str, Any]) -> str | None:
    """Which ``[[notify]] events`` entry an event belongs to."""
    kind = event["event"]
    return {START: "start", "on-rollback": "rollback", "on-complete": "complete"}.get(
        kind, "gate" if kind in GATES else None)


def dedupe_key(event: Mapping[str, Any]) -> str:
    """One message per run and event: a gate's decision is keyed with its verdict, so a gate that
    failed and passes on `resume` is announced twice (two different decisions), never the same one."""
    kind = event["event"]
    if kind in GATES:
        return f"{kind}:{'passed' if event.get('passed') else 'failed'}"
    return kind


def slack_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    icon = {"on-complete": ":white_check_mark:", "on-rollback": ":rewind:", START: ":rocket:"}.get(
        event["event"], ":vertical_traffic_light:" if event.get("passed", True) else ":x:")
    return {"text": f"{icon} bluegreen: {summary_line(event)}"}


# -- running one hook -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HookResult:
    hook: HookSettings
    ok: bool
    reason: str  # one line: "exited 0", "exited 1", "timed out after 5s (killed)", "HTTP 500"
    output: tuple[str, ...] = ()  # the last lines of its output
    seconds: float = 0.0


@dataclass(frozen=True)
class Completed:
    """What a command did: its exit status (negative: killed by that signal) and output."""

    returncode: int | None  # None: timed out (and was killed)
    output: str


STOP_POLL_SECONDS = 0.2  # how soon a stop request (Ctrl-C, CI cancel, lost lease) ends a hook


def run_process(argv: tuple[str, ...], *, stdin: bytes, env: Mapping[str, str], cwd: Any,
                timeout: float, stop: StopToken | None = None) -> Completed:
    """Run ``argv`` with ``stdin``, stdout and stderr merged. At the timeout its whole process group
    gets SIGTERM, then SIGKILL after a grace: a hook script's children must not outlive it. The
    hook runs in a session of its own (a Ctrl-C in the terminal is bluegreen's to handle): on a
    stop request it is ended the same way and the stop is raised (nothing undone; ``resume`` runs
    the gate again)."""
    proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True)
    deadline = time.monotonic() + timeout
    first = True
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (stop is not None and stop.stopped):
            break
        try:
            # Retrying communicate after its timeout loses no output; stdin is given only once.
            out, _ = proc.communicate(stdin if first else None,
                                      timeout=min(remaining, STOP_POLL_SECONDS) if stop else remaining)
            return Completed(proc.returncode, out.decode("utf-8", "replace"))
        except subprocess.TimeoutExpired:
            first = False
            continue
    _kill_group(proc, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_group(proc, signal.SIGKILL)
        out, _ = proc.communicate()
    if stop is not None:
        stop.check()  # stopped, not timed out: the run stops here
    return Completed(None, out.decode("utf-8", "replace"))


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no answer (timeout, refused)
    body: str


def http_post(url: str, body: bytes, *, timeout: float, content_type: str = "application/json") -> Response:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, "User-Agent": "bluegreen"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator's URL
            return Response(response.status, response.read(4096).decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read(4096).decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Response(None, f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason)


class HookRunner:
    """Runs one hook against one event. ``clock`` measures (monotonic seconds); ``process`` and
    ``post`` are the I/O, injected by unit tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 process: Callable[..., Completed] = run_process,
                 post: Callable[..., Response] = http_post, stop: StopToken | None = None) -> None:
        self.clock = clock
        self.process = process
        self.post = post
        self.stop = stop

    def run(self, hook: HookSettings, event: Mapping[str, Any]) -> HookResult:
        body = json.dumps(event, default=str).encode()
        start = self.clock()
        if hook.command:
            try:
                done = self.process(hook.command, stdin=body, env=hook_env(event), cwd=hook.cwd,
                                    timeout=hook.timeout_seconds, stop=self.stop)
            except OSError as exc:  # not found, not executable
                return HookResult(hook, False, f"could not start: {exc.strerror or exc}",
                                  seconds=self.clock() - start)
            seconds = self.clock() - start
            lines = tuple(tail(done.output))
            if done.returncode is None:
                return HookResult(hook, False, f"timed out after {hook.timeout_seconds:g}s (killed)", lines, seconds)
            if done.returncode < 0:
                name = _signal_name(-done.returncode)
                return HookResult(hook, False, f"killed by {name}", lines, seconds)
            return HookResult(hook, done.returncode == 0, f"exited {done.returncode}", lines, seconds)
        response = self.post(hook.url, body, timeout=hook.timeout_seconds)
        seconds = self.clock() - start
        lines = tuple(tail(response.body))
        if response.status is None:
            return HookResult(hook, False, f"no answer: {response.body}", lines, seconds)
        return HookResult(hook, 200 <= response.status < 300, f"HTTP {response.status}", lines, seconds)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# -- notifications ----------------------------------------------------------------------------------


class Publisher(Protocol):
    """``bluegreen.aws.sns.SnsPublisher``."""

    def publish(self, topic_arn: str, subject: str, message: str) -> None: ...


def deliver(target: NotifySettings, event: Mapping[str, Any], *, post: Callable[..., Response],
            sns: Callable[[], Publisher] | None) -> str | None:
    """Send one notification; the reason it failed, or ``None``."""
    if target.kind == "sns":
        if sns is None:
            return "no SNS client"
        try:
            sns().publish(target.topic_arn, summary_line(event)[:99], json.dumps(event, default=str))
        except BluegreenError as exc:
            return str(exc)
        return None
    url = target.url or os.environ.get(target.url_env, "")
    if not url.startswith(("http://", "https://")):
        return (f"environment variable {target.url_env} is not set" if not url
                else f"environment variable {target.url_env} is not an http(s) URL")
    payload = slack_payload(event) if target.kind == "slack" else dict(event)
    response = post(url, json.dumps(payload, default=str).encode(), timeout=target.timeout_seconds)
    if response.status is None:
        return f"no answer: {response.body}"
    if not 200 <= response.status < 300:
        return f"HTTP {response.status}"
    return None


class Ledger(Protocol):
    """What ``Hooks`` needs from the journal: which notification keys this run already sent."""

    def sent(self, run_id: str) -> set[str]: ...

    def mark_sent(self, run_id: str, key: str) -> None: ...


class Reporter(Protocol):
    def info(self, message: str, **kw: Any) -> None: ...
    def ok(self, message: str, **kw: Any) -> None: ...
    def warn(self, message: str, **kw: Any) -> None: ...
    def error(self, message: str, **kw: Any) -> None: ...
    def event(self, kind: str, **fields: Any) -> None: ...


# -- the dispatcher the executor calls ---------------------------------------------------------------


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Hooks:
    """``hooks(point, facts, **extra)``: announce the event, run the hooks configured at
    ``point``, announce a gate's decision, and raise ``HookFailed`` when a gate hook failed."""

    def __init__(self, hooks: Iterable[HookSettings], notify: Iterable[NotifySettings], *,
                 reporter: Reporter, ledger: Ledger | None, runner: HookRunner | None = None,
                 sns: Callable[[], Publisher] | None = None,
                 now_iso: Callable[[], str] = utc_now_iso,
                 record: Callable[[str, Mapping[str, Any]], None] | None = None) -> None:
        self.hooks = tuple(hooks)
        self.notify = tuple(notify)
        self.reporter = reporter
        self.ledger = ledger
        self.runner = runner or HookRunner()
        self.sns = sns
        self.now_iso = now_iso
        # Journal.hook_ran: each hook's verdict is kept with the run (``bluegreen history``).
        self.record = record
        self.results: list[HookResult] = []  # every hook run, for the summary and tests
        self.spent_seconds = 0.0  # wall time inside hooks and notifications: their cost to the run

    def __bool__(self) -> bool:
        return bool(self.hooks or self.notify)

    def describe(self) -> list[str]:
        """For ``--dry-run``: what would run where, without running it."""
        lines = [f"hook {h.point}: {h.label} (timeout {h.timeout_seconds:g}s)" for h in self.hooks]
        lines += [f"notify {n.label} on {', '.join(n.events)}" for n in self.notify]
        return lines

    def __call__(self, point: str, facts: Mapping[str, Any], **extra: Any) -> None:
        start = self.runner.clock()
        try:
            self._dispatch(point, build_event(point, facts, time_iso=self.now_iso(), **extra))
        finally:
            self.spent_seconds += self.runner.clock() - start

    def _dispatch(self, point: str, event: dict[str, Any]) -> None:
        if point not in GATES:
            self._announce(event)
        specs = [h for h in self.hooks if h.point == point]
        failed: HookResult | None = None
        for spec in specs:
            result = self._run(spec, event)
            if not result.ok and failed is None:
                failed = result
                if point in GATES:
                    break  # a gate is decided by its first failure: the rest would not change it
        if point in GATES and specs:
            verdict = {"passed": failed is None,
                       "reason": f"{failed.hook.label} {failed.reason}" if failed else f"{len(specs)} hook(s) passed"}
            self._announce({**event, **verdict})
        if failed is not None and point in GATES:
            last = f": {failed.output[-1]}" if failed.output else ""
            # The output's last lines were printed just above; the message carries the very last.
            raise HookFailed(f"{point} hook {failed.hook.label} {failed.reason}{last}")

    def _run(self, spec: HookSettings, event: Mapping[str, Any]) -> HookResult:
        point = event["event"]
        self.reporter.info(f"{point} hook {spec.label}: running (timeout {spec.timeout_seconds:g}s)",
                           color=event.get("to_color"))
        result = self.runner.run(spec, event)
        self.results.append(result)
        self.reporter.event("hook", point=point, hook=spec.label, ok=result.ok, reason=result.reason,
                            seconds=round(result.seconds, 3))
        self._record(event, result)
        if result.ok:
            self.reporter.ok(f"{point} hook {spec.label}: {result.reason} ({result.seconds:.2f}s)",
                             color=event.get("to_color"))
            return result
        say = self.reporter.error if point in GATES else self.reporter.warn
        say(f"{point} hook {spec.label} failed: {result.reason} ({result.seconds:.2f}s)"
            + ("; last output:" if result.output else "; no output"), color=event.get("to_color"))
        for line in result.output:
            self.reporter.info(f"  | {line}", color=event.get("to_color"))
        return result

    def _record(self, event: Mapping[str, Any], result: HookResult) -> None:
        if self.record is None:
            return
        entry = {"point": event["event"], "hook": result.hook.label, "ok": result.ok,
                 "reason": result.reason, "seconds": round(result.seconds, 3)}
        if not result.ok and result.output:
            entry["last_output"] = result.output[-1]
        try:
            self.record(str(event.get("run_id")), entry)
        except Exception as exc:  # noqa: BLE001 - the history of a hook must never change its verdict
            self.reporter.warn(f"could not record the {event['event']} hook {result.hook.label} in the journal ({exc})")

    def _announce(self, event: Mapping[str, Any]) -> None:
        kind = notify_event_kind(event)
        targets = [n for n in self.notify if kind in n.events]
        if not targets:
            return
        run_id = str(event.get("run_id"))
        key = dedupe_key(event)
        try:
            if self.ledger is not None:
                if key in self.ledger.sent(run_id):
                    return  # announced already (by this process or before a resume)
                # Recorded before sending: a crash in between loses a message, never repeats one.
                self.ledger.mark_sent(run_id, key)
        except Exception as exc:  # noqa: BLE001 - a notification must never fail a release
            self.reporter.warn(f"notification {key} not sent: cannot record it in the journal ({exc})")
            return
        for target in targets:
            try:
                problem = deliver(target, event, post=self.runner.post, sns=self.sns)
            except Exception as exc:  # noqa: BLE001 - delivery failures are reported, never raised
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                self.reporter.warn(f"notification {key} to {target.label} failed: {problem}")
            else:
                self.reporter.event("notified", target=target.label, key=key, run_id=run_id)
