"""Traffic timeline of a lab run: which version served each request over time, and the errors.

``write_png`` draws stacked bars of successful responses per version per 250 ms bin, failed
requests as red marks, and vertical markers for release phases given as ``(time, label)`` on the
load generator's clock (``LoadGenerator.now()``). ``text_summary`` is the same story in text.

A progressive release (the weighted mode) adds a second panel under it when ``weights`` or
``gates`` are given: each color's share of the listener's weight over time (``weights``: ``(time,
{name: percent})`` at each change, a step line), the error rate per bin (failed / all requests,
right axis) and each gate decision (``gates``: ``(time, tripped, label)``; a pass is a green dot, a
trip a red cross), on the same clock.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .load import RequestRecord, summarize

Phase = tuple[float, str]
WeightChange = tuple[float, Mapping[str, int]]  # (time, {color or version: percent})
GateMark = tuple[float, bool, str]  # (time, tripped, gate)

_COLOR_OF = {"blue": "#1f4fb4", "green": "#2a9d2a"}  # a weight line per color, in its color
_PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def bin_counts(records: Iterable[RequestRecord], bin_s: float = 0.25
               ) -> tuple[list[float], dict[str, list[int]], list[int]]:
    """(bin start times, successful responses per version per bin, failures per bin).

    A request is binned by its start time.
    """
    records = list(records)
    if not records:
        return [], {}, []
    n = int(max(r.start for r in records) // bin_s) + 1
    starts = [i * bin_s for i in range(n)]
    versions: dict[str, list[int]] = {}
    errors = [0] * n
    for r in records:
        i = int(r.start // bin_s)
        if r.ok:
            versions.setdefault(r.version or "?", [0] * n)[i] += 1
        else:
            errors[i] += 1
    return starts, versions, errors


def error_rate(records: Iterable[RequestRecord], bin_s: float = 0.25) -> tuple[list[float], list[float | None]]:
    """(bin start times, failed / all requests started in the bin, in percent; ``None`` for a bin
    without requests)."""
    records = list(records)
    starts, per_version, errors = bin_counts(records, bin_s)
    totals = [e + sum(counts[i] for counts in per_version.values()) for i, e in enumerate(errors)]
    return starts, [100.0 * e / t if t else None for e, t in zip(errors, totals)]


def weight_steps(changes: Sequence[WeightChange], end: float) -> dict[str, tuple[list[float], list[int]]]:
    """Each name's share as a step line: ``{name: (xs, ys)}`` with a point at every change and one
    at ``end`` (the share holds until the next change). A name missing from a change is at 0 %."""
    changes = sorted(changes, key=lambda c: c[0])
    names: list[str] = []
    for _, shares in changes:
        names += [n for n in shares if n not in names]
    lines: dict[str, tuple[list[float], list[int]]] = {}
    for name in names:
        xs = [t for t, _ in changes] + ([end] if changes and end > changes[-1][0] else [])
        ys = [int(shares.get(name, 0)) for _, shares in changes]
        lines[name] = (xs, ys + ys[-1:] * (len(xs) - len(ys)))
    return lines


def _version_order(records: Sequence[RequestRecord]) -> list[str]:
    order: list[str] = []
    for r in sorted(records, key=lambda r: r.start):
        if r.ok and (r.version or "?") not in order:
            order.append(r.version or "?")
    return order


def write_png(records: Iterable[RequestRecord], path: str | Path, *,
              phases: Sequence[Phase] = (), bin_s: float = 0.25,
              title: str = "Served versions under load",
              weights: Sequence[WeightChange] | None = None,
              gates: Sequence[GateMark] | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(records)
    starts, per_version, errors = bin_counts(records, bin_s)
    progressive = bool(weights) or bool(gates)
    if progressive:
        fig, (ax, wax) = plt.subplots(2, 1, figsize=(11, 7), dpi=100, sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    else:
        fig, ax = plt.subplots(figsize=(11, 4.5), dpi=100)
    try:
        bottom = [0] * len(starts)
        for i, version in enumerate(_version_order(records)):
            counts = per_version.get(version, [0] * len(starts))
            ax.bar(starts, counts, width=bin_s, bottom=bottom, align="edge",
                   color=_PALETTE[i % len(_PALETTE)], label=version, linewidth=0)
            bottom = [b + c for b, c in zip(bottom, counts)]
        err_x = [r.start for r in records if not r.ok]
        if err_x:
            top = max(bottom) if bottom else 1
            ax.scatter(err_x, [top * 1.02] * len(err_x), marker="|", color="red", s=120,
                       label=f"errors ({len(err_x)})", zorder=5)
        ymax = ax.get_ylim()[1] * 1.45  # headroom above the bars for the phase labels
        ax.set_ylim(0, ymax)
        for i, (t, label) in enumerate(sorted(phases)):
            ax.axvline(t, color="black", linestyle="--", linewidth=0.8)
            # Staggered heights: phases often come a fraction of a second apart.
            ax.text(t, ymax * (0.99 - 0.1 * (i % 3)), f" {label}", va="top", ha="left",
                    fontsize=8, bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0})
        ax.set_ylabel(f"responses per {int(bin_s * 1000)} ms")
        ax.set_title(title)
        ax.legend(loc="lower left", fontsize=8)
        ax.set_xlim(left=0)
        if progressive:
            _progress_panel(wax, records, weights or (), gates or (), bin_s,
                            end=max([starts[-1] + bin_s] if starts else [0.0]))
            wax.set_xlabel("seconds since load start")
        else:
            ax.set_xlabel("seconds since load start")
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out


def _progress_panel(ax, records: list[RequestRecord], weights: Sequence[WeightChange],
                    gates: Sequence[GateMark], bin_s: float, end: float) -> None:
    """Weights (left axis, percent), gate decisions (on top of it) and the error rate (right axis)."""
    for i, (name, (xs, ys)) in enumerate(weight_steps(weights, end).items()):
        color = _COLOR_OF.get(name, _PALETTE[(i + 3) % len(_PALETTE)])
        ax.step(xs, ys, where="post", color=color, linewidth=2, label=f"weight {name} (%)")
    passes = [t for t, tripped, _ in gates if not tripped]
    trips = [(t, label) for t, tripped, label in gates if tripped]
    if passes:
        ax.scatter(passes, [108] * len(passes), marker="o", s=14, color="#2ca02c", zorder=5,
                   label=f"gate pass ({len(passes)})")
    for t, label in trips:
        ax.scatter([t], [108], marker="X", s=90, color="red", zorder=6)
        ax.annotate(f"{label} tripped", (t, 108), xytext=(4, -12), textcoords="offset points", fontsize=8,
                    color="red")
    if trips:
        ax.scatter([], [], marker="X", color="red", label=f"gate tripped ({len(trips)})")
    ax.set_ylim(-5, 118)
    if weights:
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.set_ylabel("weight (%)")
    else:  # the attach mode: no weights, only the gates' decisions and the error rate
        ax.set_yticks([])
        ax.set_ylabel("gate decisions")
    # Per second at least: at 200 req/s a 250 ms bin holds ~50 requests, too few for a rate.
    rate_bin = max(bin_s, 1.0)
    starts, rates = error_rate(records, rate_bin)
    rax = ax.twinx()
    xs = [t + rate_bin / 2 for t, r in zip(starts, rates) if r is not None]
    ys = [r for r in rates if r is not None]
    rax.plot(xs, ys, color="red", linewidth=0.8, alpha=0.8, label=f"error rate (%, per {rate_bin:g} s)")
    rax.set_ylabel("error rate (%)", color="red")
    rax.set_ylim(0, max([10.0] + [y * 1.2 for y in ys]))
    handles, labels = ax.get_legend_handles_labels()
    rhandles, rlabels = rax.get_legend_handles_labels()
    ax.legend(handles + rhandles, labels + rlabels, loc="center left", fontsize=8)


def text_summary(records: Iterable[RequestRecord], *, phases: Sequence[Phase] = (),
                 old: str | None = None, new: str | None = None) -> str:
    records = list(records)
    s = summarize(records, old=old, new=new)
    lines = [s.as_text()]
    if phases:
        lines.append("phases:")
        lines += [f"  {t:7.2f}s  {label}" for t, label in sorted(phases)]
    if s.versions_over_time:
        lines.append("per second:")
        errs = Counter(int(r.start) for r in records if not r.ok)
        for sec, counts in s.versions_over_time.items():
            parts = ", ".join(f"{v} {n}" for v, n in sorted(counts.items()))
            lines.append(f"  {sec:4d}s  {parts}" + (f", errors {errs[sec]}" if errs[sec] else ""))
    return "\n".join(lines)
