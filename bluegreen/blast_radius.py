"""The blast-radius check on a saved plan (``terraform show -json PLAN``), and the plan summary a
reviewer reads: pure.

A release may create, update or replace only the addresses of the color it is changing. Anything
else (the live color, the load balancer, listener, target group, network) is a violation, listed
by address, because a reviewer must see exactly what would have been touched.

A color's addresses are recognised by patterns (``[terraform] color_addresses``), each an address
prefix with ``{color}`` in it: ``module.{color}`` (a module per color), ``module.app["{color}"]``
(``for_each`` over the colors), ``aws_launch_template.{color}`` (plain root resources). A prefix
matches on address step boundaries only: ``module.blue`` covers ``module.blue.x``,
``module.blue[0].x`` and ``module.blue`` itself, never ``module.blueprint.x``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .model import Color

# Actions a release may take on the color it changes. A plain delete is not among them: the stack
# always keeps both colors' groups, so deleting one is a mistake in the stack or the variables.
_ALLOWED_ON_TARGET = {"create", "update", "replace"}
_NO_CHANGE = {"no-op", "read"}

UNKNOWN = "(known after apply)"
SENSITIVE = "(sensitive)"

# The attributes a reviewer of a release must see (by top-level attribute name): the image, the
# launch template version a group is pinned to, the group's capacity, and tags (the release
# label travels in a tag). Other changed attributes are named, not shown.
MATTERS = (
    "image_id",
    "ami",
    "latest_version",
    "default_version",
    "launch_template",
    "mixed_instances_policy",
    "min_size",
    "desired_capacity",
    "max_size",
    "tag",
    "tags",
    "tag_specifications",
)


@dataclass(frozen=True)
class AttributeDiff:
    """One leaf attribute, ``before`` -> ``after``, as display text: ``None`` when the side has no
    value (a create's before, a delete's after), ``UNKNOWN`` or ``SENSITIVE`` as Terraform masks."""

    path: str  # e.g. image_id, launch_template[0].version, tag.Release
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ResourceChange:
    address: str
    action: str  # create, update, delete, replace, no-op, read
    diffs: tuple[AttributeDiff, ...] = ()  # the attributes that matter (MATTERS), changed
    others: tuple[str, ...] = ()  # other changed top-level attributes of an update/replace
    forces_replacement: tuple[str, ...] = ()  # Terraform's replace_paths


@dataclass(frozen=True)
class PlanSummary:
    changes: tuple[ResourceChange, ...]  # only real changes, in the plan's order

    @property
    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] = counts.get(change.action, 0) + 1
        return counts

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class Finding:
    """Why one change is a violation, and the pattern that would recognise it when that is the
    problem."""

    change: ResourceChange
    owner: Color | None  # the color whose patterns recognise the address; None: no pattern does
    why: str
    pattern: str | None = None  # add this to [terraform] color_addresses


@dataclass(frozen=True)
class BlastRadiusVerdict:
    ok: bool
    allowed_color: Color
    violations: tuple[ResourceChange, ...]
    findings: tuple[Finding, ...] = ()

    @property
    def reason(self) -> str:
        if self.ok:
            return f"the plan changes only {self.allowed_color} addresses"
        listed = ", ".join(f"{v.action} {v.address}" for v in self.violations)
        return f"the plan changes addresses outside {self.allowed_color}: {listed}"

    @property
    def patterns_to_add(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.pattern for f in self.findings if f.pattern))

    @property
    def fix(self) -> str:
        """One line: why each violation is one, and what to change. Unrecognised addresses come
        first: they are the common case of a stack laid out differently from the patterns."""
        if self.ok:
            return ""
        parts = []
        unrecognised = [f for f in self.findings if f.pattern]
        if unrecognised:
            by_color: dict[str, list[str]] = {}
            for f in unrecognised:
                by_color.setdefault(f.why, []).append(f.change.address)
            for why, addresses in by_color.items():
                verb = "is" if len(addresses) == 1 else "are"
                parts.append(f"{_listing(addresses)} {verb} {why}")
            patterns = ", ".join(json.dumps(p) for p in self.patterns_to_add)
            parts[-1] += f": add {patterns} to [terraform] color_addresses"
        parts += [f"{f.change.address} {f.why}" for f in self.findings if not f.pattern]
        return "; ".join(parts)


# -- summarize ---------------------------------------------------------------------------------


def summarize(plan_json: dict[str, Any]) -> PlanSummary:
    changes = []
    for rc in plan_json.get("resource_changes") or []:
        change = rc.get("change") or {}
        action = _action(change.get("actions") or ["no-op"])
        if action in _NO_CHANGE:
            continue
        diffs, others = attribute_diffs(change, with_others=action in ("update", "replace"))
        forces = tuple(_path_text(p) for p in change.get("replace_paths") or [] if isinstance(p, list))
        changes.append(
            ResourceChange(
                address=rc.get("address", "?"),
                action=action,
                diffs=diffs,
                others=others,
                forces_replacement=forces,
            )
        )
    return PlanSummary(changes=tuple(changes))


def _action(actions: Iterable[str]) -> str:
    actions = list(actions)
    if set(actions) == {"delete", "create"}:
        return "replace"
    return actions[0] if len(actions) == 1 else "+".join(actions)


def attribute_diffs(
    change: dict[str, Any], *, with_others: bool = True
) -> tuple[tuple[AttributeDiff, ...], tuple[str, ...]]:
    """The changed leaves of the attributes in ``MATTERS``, and the names of the other changed
    top-level attributes. Sensitive leaves are masked on the side Terraform marks sensitive
    (``before_sensitive`` / ``after_sensitive``); unknown ones (``after_unknown``) read
    ``UNKNOWN``. Values are compared before masking, so a changed secret still shows as changed."""
    before = _leaves(change.get("before"), None, change.get("before_sensitive"))
    after = _leaves(change.get("after"), change.get("after_unknown"), change.get("after_sensitive"))
    _align(before, after, change.get("before"))
    _align(after, before, change.get("after"))
    diffs: list[AttributeDiff] = []
    others: dict[str, None] = {}
    for path in sorted(set(before) | set(after), key=_path_sort_key):
        b, a = before.get(path), after.get(path)
        if b is not None and a is not None and b.raw == a.raw and b.shown == a.shown:
            continue
        if (b is None or b.raw is None) and (a is None or a.raw is None):
            continue  # null on both sides (or null against absent): nothing a reviewer needs
        top = path[0]
        if top in MATTERS:
            diffs.append(
                AttributeDiff(
                    _path_text(path),
                    None if b is None or b.raw is None else b.shown,
                    None if a is None or (a.raw is None and a.shown != UNKNOWN) else a.shown,
                )
            )
        elif with_others:
            others[str(top)] = None
    return tuple(diffs), tuple(others)


@dataclass(frozen=True)
class _Leaf:
    raw: Any  # for comparison (an _Unknown marker when unknown)
    shown: str


class _Unknown:
    def __eq__(self, other: object) -> bool:  # an unknown value never equals a known one
        return False

    __hash__ = object.__hash__


Path = tuple  # of str (object keys) and int (list indexes)


def _leaves(value: Any, unknown: Any, sensitive: Any, path: Path = ()) -> dict[Path, _Leaf]:
    """``path -> leaf`` of one side of a change. ``unknown`` and ``sensitive`` mirror ``value``'s
    shape (Terraform's ``after_unknown`` / ``*_sensitive``): ``True`` marks a whole subtree."""
    if unknown is True:
        return {path: _Leaf(_Unknown(), UNKNOWN)}
    if sensitive is True:
        return {path: _Leaf(value, SENSITIVE)}
    if len(path) == 1 and path[0] in ("tag", "tags") and _is_tag_list(value):
        value, unknown, sensitive = _tag_map(value, unknown, sensitive)
    out: dict[Path, _Leaf] = {}
    if isinstance(value, dict) or isinstance(unknown, dict):
        mapping = value if isinstance(value, dict) else {}
        keys = list(mapping) + [k for k in (unknown or {}) if k not in mapping]
        for key in keys:
            out.update(_leaves(mapping.get(key), _sub(unknown, key), _sub(sensitive, key), path + (key,)))
        return out
    if isinstance(value, list) or isinstance(unknown, list):
        items = value if isinstance(value, list) else []
        count = max(len(items), len(unknown) if isinstance(unknown, list) else 0)
        for index in range(count):
            item = items[index] if index < len(items) else None
            out.update(_leaves(item, _sub(unknown, index), _sub(sensitive, index), path + (index,)))
        return out
    if not path:
        return out  # a null resource (a create's before, a delete's after)
    return {path: _Leaf(value, _show(value))}


def _align(side: dict[Path, _Leaf], other: dict[Path, _Leaf], value: Any) -> None:
    """Where ``other`` masks a whole subtree (sensitive or unknown), fold ``side``'s leaves under
    it into one leaf at the same path, so the diff reads ``tags: ... -> (sensitive)`` instead of
    one line per tag; masked if anything in it was sensitive, as Terraform does."""
    for path, leaf in list(other.items()):
        if leaf.shown not in (SENSITIVE, UNKNOWN):
            continue
        under = [p for p in side if len(p) > len(path) and p[: len(path)] == path]
        if not under:
            continue
        masked = any(side[p].shown == SENSITIVE for p in under)
        for p in under:
            del side[p]
        subtree = _at(value, path)
        side[path] = _Leaf(subtree, SENSITIVE if masked else _show(subtree))


def _at(value: Any, path: Path) -> Any:
    for part in path:
        value = _sub(value, part)
    return value


def _sub(mirror: Any, key: Any) -> Any:
    if isinstance(mirror, dict):
        return mirror.get(key)
    if isinstance(mirror, list) and isinstance(key, int) and key < len(mirror):
        return mirror[key]
    return None


def _is_tag_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, dict) and isinstance(t.get("key"), str) for t in value)
    )


def _tag_map(value: list, unknown: Any, sensitive: Any) -> tuple[dict, dict, dict]:
    """An Auto Scaling group's ``tag`` blocks (a set: its order means nothing) as ``key ->
    value``, so a diff names the tag instead of a position."""
    values, unknowns, sensitives = {}, {}, {}
    for index, tag in enumerate(value):
        key = tag["key"]
        shown = tag.get("value")
        if tag.get("propagate_at_launch") is False and isinstance(shown, str):
            shown += " (not propagated at launch)"
        values[key] = shown
        u, s = _sub(unknown, index), _sub(sensitive, index)
        unknowns[key] = u is True or (isinstance(u, dict) and u.get("value") is True)
        sensitives[key] = s is True or (isinstance(s, dict) and s.get("value") is True)
    return values, unknowns, sensitives


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _path_text(path: Sequence[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENT.match(str(part)):
            text += ("." if text else "") + str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def _path_sort_key(path: Path) -> tuple:
    top = path[0]
    rank = MATTERS.index(top) if top in MATTERS else len(MATTERS)
    return (rank, tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path))


# -- address patterns --------------------------------------------------------------------------


def color_prefix(pattern: str, color: Color) -> str:
    # str.replace, not str.format: a pattern may hold other braces only as literal text.
    return pattern.replace("{color}", color.value)


def belongs_to(address: str, prefix: str) -> bool:
    return address == prefix or address.startswith((prefix + ".", prefix + "["))


def owner(address: str, patterns: Sequence[str]) -> Color | None:
    """The color whose patterns recognise ``address``, or ``None``."""
    for color in Color:
        if any(belongs_to(address, color_prefix(p, color)) for p in patterns):
            return color
    return None


def split_address(address: str) -> list[str]:
    """Address steps split on the dots outside ``[...]`` (an index key may hold dots):
    ``module.app["a.b"].aws_x.this[0]`` -> ``["module", 'app["a.b"]', "aws_x", "this[0]"]``.
    ``ValueError`` on unbalanced brackets or quotes."""
    steps, current, depth, quoted, escaped = [], "", 0, False, False
    for char in address:
        if quoted:
            current += char
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == '"' and depth:
            quoted = True
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in {address!r}")
        elif char == "." and depth == 0:
            steps.append(current)
            current = ""
            continue
        current += char
    if depth or quoted:
        raise ValueError(f"unbalanced brackets or quotes in {address!r}")
    steps.append(current)
    if any(not step for step in steps):
        raise ValueError(f"empty step in {address!r}")
    return steps


_STEP = re.compile(r"^(?P<name>[^\[]+)(?P<index>\[.*\])?$")


def suggest_pattern(address: str, color: Color) -> str | None:
    """The shortest ``color_addresses`` pattern that recognises ``address`` as ``color``'s: the
    address up to the first step naming the color (the whole name, a ``_``/``-`` separated part
    of it, or a ``["color"]`` key), with the color replaced by ``{color}``. ``None`` when no step
    names the color."""
    try:
        steps = split_address(address)
    except ValueError:
        return None
    word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(color.value)}(?![A-Za-z0-9])")
    for end, step in enumerate(steps):
        match = _STEP.match(step)
        if match is None:
            continue
        name, index = match.group("name"), match.group("index") or ""
        prefix = ".".join(steps[:end])
        join = prefix + "." if prefix else ""
        if index == f'["{color.value}"]':
            return f'{join}{name}["{{color}}"]'
        if word.search(name) and not (end == 0 and name in ("module", "data")):
            # A numeric index or another key after the name is left out: the pattern then
            # covers every instance of the resource or module.
            return join + word.sub("{color}", name)
    return None


def check(
    summary: PlanSummary, allowed_color: Color, color_addresses: str | Sequence[str]
) -> BlastRadiusVerdict:
    patterns = (color_addresses,) if isinstance(color_addresses, str) else tuple(color_addresses)
    findings = []
    for change in summary.changes:
        finding = _judge(change, allowed_color, patterns)
        if finding is not None:
            findings.append(finding)
    violations = tuple(f.change for f in findings)
    return BlastRadiusVerdict(
        ok=not violations, allowed_color=allowed_color, violations=violations, findings=tuple(findings)
    )


def _judge(change: ResourceChange, allowed: Color, patterns: Sequence[str]) -> Finding | None:
    recognised = owner(change.address, patterns)
    if recognised is allowed:
        if change.action in _ALLOWED_ON_TARGET:
            return None
        return Finding(
            change, allowed,
            f"({change.action}): a release may create, update or replace {allowed}'s resources, "
            "never delete them; check the stack and the variables",
        )
    if recognised is not None:
        return Finding(
            change, recognised,
            f"belongs to {recognised}, which a release of {allowed} must not change; does "
            f"{recognised}'s configuration read {allowed}'s variables?",
        )
    # No pattern recognises it: either a color's resource laid out unlike the patterns (the
    # fix is a pattern), or a shared one (the fix is to change it outside a release).
    pattern = suggest_pattern(change.address, allowed)
    if pattern is not None:
        return Finding(change, None, f"not recognised as {allowed}'s", pattern)
    pattern = suggest_pattern(change.address, allowed.other())
    if pattern is not None:
        # Recognised, it would still be refused: a release of one color never changes the other.
        return Finding(
            change, None,
            f"not recognised as {allowed.other()}'s (and a release of {allowed} must not change it)",
            pattern,
        )
    return Finding(
        change, None,
        "is shared (no color in its address): apply its change with `terraform apply` on its "
        "own, outside a release",
    )


def _listing(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
