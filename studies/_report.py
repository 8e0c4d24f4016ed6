"""The offline HTML report of a comparison: a summary table and the figures.

plotly.js is embedded once in the page (``include_plotlyjs=True`` on the first figure), so
the file opens on a machine without network access; nothing is fetched from a CDN.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from studies._figure import Figure
from studies._trials import StudyLike
from studies.plots import compute_figure, lambda_figure, pareto_figure, size_space_figure

if TYPE_CHECKING:
    from studies.compare import ArmSummary, Comparison

__all__ = ["write_comparison", "write_report"]


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return html.escape(str(value))


def _row(summary: ArmSummary) -> str:
    cells = [
        summary.label,
        summary.n_complete,
        summary.n_pruned,
        summary.best_val_loss,
        summary.hypervolume,
        summary.raw_hypervolume,
        summary.total_cost_macs,
        summary.total_wall_time_s,
        summary.compute_share,
        "yes" if summary.reached else "never",
        summary.hv_at_baseline_compute,
        summary.test_hypervolume,
        summary.test_hv_at_baseline_compute,
        (summary.smallest_within_loss or {}).get("params"),
    ]
    return "<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>"


def write_report(path: Path, comparison: Comparison, *sources: StudyLike) -> Path:
    """Write the comparison's standalone HTML page to ``path`` and return it."""
    figures: list[Figure] = [
        pareto_figure(*sources),
        compute_figure(*sources, cost="macs"),
        compute_figure(*sources, cost="wall"),
        size_space_figure(*sources),
        lambda_figure(*sources),
    ]
    parts = [
        fig.to_plotly().to_html(full_html=False, include_plotlyjs=(i == 0), default_height="520px")
        for i, fig in enumerate(figures)
    ]
    head = (
        "<tr><th>arm</th><th>complete</th><th>pruned</th><th>best val loss</th>"
        "<th>useful hypervolume</th><th>raw hypervolume</th><th>training MACs</th>"
        "<th>wall time (s)</th><th>compute share to the level</th><th>reached</th>"
        "<th>hypervolume at the baseline's compute</th>"
        "<th>test hypervolume of its front</th><th>test hypervolume at the baseline's compute</th>"
        "<th>smallest net within 10 % of the best loss (params)</th></tr>"
    )
    rows = "".join(_row(a) for a in comparison.arms)
    title = " vs ".join(a.label for a in comparison.arms)
    body = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ShrinkNets comparison</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;border:1px solid #ccc}}
table{{border-collapse:collapse}}</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{head}{rows}</table>
<p>{html.escape(comparison.reference_text())}. Compute share: the compute an arm needed to
reach the level ÷ the compute the baseline needed (an arm that never reached it: its total
÷ the baseline's). Sensitivity (shares at other useful factors):
{_fmt({k: _fmt(v) for k, v in comparison.sensitivity.items()})}.</p>
{"".join(parts)}
</body></html>
"""
    path.write_text(body, encoding="utf-8")
    return path


def write_comparison(
    comparison: Comparison, directory: str | Path, *, figures: bool = True
) -> dict[str, Path]:
    """Write ``comparison.json``, ``comparison.csv`` and ``comparison.html`` into a folder.

    Args:
        directory: created if missing.
        figures: also write the offline HTML report (plotly.js embedded, no CDN); needs
            the compared studies (:attr:`Comparison.sources`).

    Returns:
        The written paths by kind (``json``, ``csv``, ``html``).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "comparison.json", "csv": out / "comparison.csv"}
    paths["json"].write_text(json.dumps(comparison.to_dict(), indent=2, default=str), "utf-8")
    paths["csv"].write_text(comparison.csv_text(), "utf-8")
    if figures and comparison.sources:
        paths["html"] = write_report(out / "comparison.html", comparison, *comparison.sources)
    return paths
