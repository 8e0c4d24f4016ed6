"""Writing an experiment's outputs: offline HTML figures, optional PNGs, CSV and summary JSON.

Every experiment writes into one directory:

- ``<name>.html`` per figure. plotly.js is never loaded from a CDN: it is written once
  as ``plotly.min.js`` beside the HTML files (plotly's ``include_plotlyjs="directory"``),
  so the directory opens offline and stays small when it holds several figures.
- ``<name>.png`` per figure when a working static exporter exists (kaleido with a local
  Chromium); otherwise the summary says why PNGs are missing and the HTML is the figure.
- ``<name>.csv`` tables and ``summary.json`` (config, datasets, key numbers, file list).

:func:`publish` copies an experiment's figures, tables and summary into one flat folder
(``docs/figures``: every experiment's files side by side, one ``plotly.min.js``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from studies._figure import Figure

__all__ = ["ReportWriter", "png_exporter_status", "publish"]

_PNG_SIZE = {"width": 1100, "height": 700}


@lru_cache(maxsize=1)
def png_exporter_status() -> str | None:
    """Probe once whether plotly can export PNGs offline.

    Returns:
        None when exporting works, else a sentence saying why it does not (for the summary).
    """
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return "kaleido is not installed; PNG export skipped, open the HTML figures instead"
    probe = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
    try:
        probe.to_image(format="png", width=50, height=50)
    except Exception as exc:  # kaleido raises several unrelated types when Chrome is missing
        return f"PNG export failed ({type(exc).__name__}: {exc}); open the HTML figures instead"
    return None


def _jsonable(value: Any) -> Any:
    """Make floats JSON-safe (NaN/inf become None) and tuples/paths plain."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class ReportWriter:
    """Collects one experiment's files in ``out_dir`` and lists them in the summary.

    Args:
        out_dir: Directory to write into (created if missing).
        experiment: Experiment name, recorded in the summary.
        png: True = export PNGs (error if impossible), False = never, None = when possible.

    Raises:
        RuntimeError: ``png=True`` but no exporter works (the message says why).
    """

    def __init__(self, out_dir: Path | str, *, experiment: str, png: bool | None = None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.experiment = experiment
        self.files: dict[str, str] = {}
        self.png_note: str | None = None
        self._png = False
        if png is not False:
            problem = png_exporter_status()
            if problem is None:
                self._png = True
            elif png:
                raise RuntimeError(f"png=True but {problem}")
            else:
                self.png_note = problem
        else:
            self.png_note = "PNG export turned off (--no-png)"

    def figure(self, name: str, fig: go.Figure | Figure, *, png_height: int | None = None
               ) -> None:
        """Write ``<name>.html`` (plotly.js beside it, no CDN) and ``<name>.png`` if possible
        (1100 × 700 px, or ``png_height`` px high for a figure of many rows)."""
        if isinstance(fig, Figure):
            fig = fig.to_plotly()
        html = self.out_dir / f"{name}.html"
        fig.write_html(html, include_plotlyjs="directory", full_html=True)
        self.files[f"{name}.html"] = "figure (interactive, offline)"
        if self._png:
            size = _PNG_SIZE | ({"height": png_height} if png_height else {})
            fig.write_image(self.out_dir / f"{name}.png", **size)
            self.files[f"{name}.png"] = "figure (static)"

    def csv(self, name: str, rows: Sequence[Mapping[str, Any]]) -> Path:
        """Write ``<name>.csv`` with the union of the rows' keys as columns (first-seen order).

        Raises:
            ValueError: ``rows`` is empty (an empty table means the experiment did not run).
        """
        if not rows:
            raise ValueError(f"csv {name!r}: no rows to write; the experiment produced nothing")
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        path = self.out_dir / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(row.get(k)) for k in columns})
        self.files[f"{name}.csv"] = "table"
        return path

    def summary(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``summary.json``: ``data`` plus the experiment name, file list and PNG note.

        Returns:
            What was written (JSON types).
        """
        payload = {"experiment": self.experiment, **data}
        payload["files"] = dict(sorted(self.files.items()))
        payload["png_note"] = self.png_note
        path = self.out_dir / "summary.json"
        tmp = path.with_suffix(".json.tmp")
        clean: dict[str, Any] = _jsonable(payload)
        tmp.write_text(json.dumps(clean, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
        return clean


def _cell(value: Any) -> Any:
    """CSV cell: floats with 6 significant digits, lists joined by ';', None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


_PUBLISHED = (".html", ".png", ".csv")


def publish(out_dir: Path | str, summary: Mapping[str, Any], target: Path | str) -> list[Path]:
    """Copy one experiment's figures (HTML, PNG), tables (CSV) and summary into ``target``.

    The summary becomes ``<experiment>_summary.json``; ``plotly.min.js`` is copied when
    ``target`` has none or another version (every HTML figure loads it from its own
    folder), so a folder holding several experiments keeps one copy. Folders and databases
    the experiment also wrote stay in ``out_dir``.

    Returns:
        The written paths.
    """
    source, dest = Path(out_dir), Path(target)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in summary.get("files", {}):
        if name.endswith(_PUBLISHED) and (source / name).is_file():
            written.append(Path(shutil.copy2(source / name, dest / name)))
    js, old_js = source / "plotly.min.js", dest / "plotly.min.js"
    if js.is_file() and (not old_js.is_file() or old_js.stat().st_size != js.stat().st_size):
        written.append(Path(shutil.copy2(js, old_js)))
    summary_path = dest / f"{summary['experiment']}_summary.json"
    shutil.copy2(source / "summary.json", summary_path)
    return [*written, summary_path]
