"""Traffic timeline of a lab run: which version served each request over time, and the errors.

``write_png`` draws stacked bars of successful responses per version per 250 ms bin, failed
requests as red marks, and vertical markers for release phases given as ``(time, label)`` on the
load generator's clock (``LoadGenerator.now()``). ``text_summary`` is the same story in text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from .load import RequestRecord, summarize

Phase = tuple[float, str]

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


def _version_order(records: Sequence[RequestRecord]) -> list[str]:
    order: list[str] = []
    for r in sorted(records, key=lambda r: r.start):
        if r.ok and (r.version or "?") not in order:
            order.append(r.version or "?")
    return order


def write_png(records: Iterable[RequestRecord], path: str | Path, *,
              phases: Sequence[Phase] = (), bin_s: float = 0.25,
              title: str = "Served versions under load") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(records)
    starts, per_version, errors = bin_counts(records, bin_s)
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
        ax.set_xlabel("seconds since load start")
        ax.set_ylabel(f"responses per {int(bin_s * 1000)} ms")
        ax.set_title(title)
        ax.legend(loc="lower left", fontsize=8)
        ax.set_xlim(left=0)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out


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
