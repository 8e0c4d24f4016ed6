"""The offline HTML report of a comparison: a summary table and the figures.

plotly.js is embedded once in the page (``include_plotlyjs=True`` on the first figure), so
the file opens on a machine without network access; nothing is fetched from a CDN.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from studies._trials import StudyLike
from studies.plots import compute_figure, lambda_figure, pareto_figure, size_space_figure

if TYPE_CHECKING:
    from studies.compare import Comparison, StudySummary

__all__ = ["write_report"]


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return html.escape(str(value))


def _row(summary: StudySummary) -> str:
    cells = [
        summary.label,
        summary.kind,
        summary.n_complete,
        summary.best_val_loss,
        summary.hypervolume,
        summary.total_cost_macs,
        summary.total_wall_time_s,
        len(summary.front),
    ]
    return "<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>"


def write_report(path: Path, comparison: Comparison, a: StudyLike, b: StudyLike) -> Path:
    """Write the comparison's standalone HTML page to ``path`` and return it."""
    figures: list[go.Figure] = [
        pareto_figure(a, b),
        compute_figure(a, b, cost="macs"),
        compute_figure(a, b, cost="wall"),
        size_space_figure(a, b),
        lambda_figure(a, b),
    ]
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_height="520px")
        for i, fig in enumerate(figures)
    ]
    head = (
        "<tr><th>study</th><th>kind</th><th>complete trials</th><th>best val loss</th>"
        "<th>hypervolume</th><th>training MACs</th><th>wall time (s)</th>"
        "<th>Pareto points</th></tr>"
    )
    ref = comparison.reference
    body = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ShrinkNets comparison</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;border:1px solid #ccc}}
table{{border-collapse:collapse}}</style></head><body>
<h1>{html.escape(comparison.a.label)} vs {html.escape(comparison.b.label)}</h1>
<table>{head}{_row(comparison.a)}{_row(comparison.b)}</table>
<p>Shared hypervolume reference point (val loss, params): {_fmt(ref[0]) if ref else "—"},
{_fmt(ref[1]) if ref else "—"}. Hypervolume ratio a/b: {_fmt(comparison.hypervolume_ratio)}.</p>
<p>Compute {html.escape(comparison.a.label)} needs to reach the other's final hypervolume:
{_fmt(comparison.compute_a_to_reach_b)}; the other way round:
{_fmt(comparison.compute_b_to_reach_a)} (— = never reached).</p>
{"".join(parts)}
</body></html>
"""
    path.write_text(body, encoding="utf-8")
    return path
