"""Plotly figures as plain JSON data, built without plotly's object layer.

``plotly.graph_objects`` validates and deep-copies every property on assignment: for a
study of 500 λ trials that is about 100 ms of a 120 ms figure build, all of it holding
the GIL of the API process that serves the figure (``service/api/_cache.py`` rebuilds the
figures of running studies in a background thread). A :class:`Figure` is the same figure
schema (``{"data": [...], "layout": {...}}``, what ``Figure.to_plotly_json()`` gives and
plotly.js draws) kept in dicts; :meth:`Figure.to_plotly` turns it into a validated
``go.Figure`` where the offline reports want one (HTML, PNG).

Traces and layout parts are :class:`Node` dicts whose keys also read as attributes
(``fig.data[0].x``, ``fig.layout.xaxis.tickvals``; a missing key reads as ``None``, as an
unset plotly property does).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["Figure", "Node"]


class Node(dict[str, Any]):
    """A dict of figure properties whose keys read as attributes (``None`` when absent)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy, pickle and friends probe dunders
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = node(value)


def node(value: Any) -> Any:
    """``value`` with every dict in it (nested, or items of a list of dicts) a :class:`Node`."""
    if isinstance(value, dict):
        return Node({k: node(v) for k, v in value.items()})
    if isinstance(value, list | tuple) and value and isinstance(value[0], dict):
        return [node(v) for v in value]
    return value


def _merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    """Merge ``update`` into ``target``: nested dicts key by key, anything else replaced."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = node(value)


def _finite(value: Any) -> Any:
    """``value`` with NaN and ±inf floats replaced by ``None`` (JSON ``null``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class Figure:
    """A plotly figure as dicts: ``data`` (a list of traces) and ``layout``."""

    def __init__(self, layout: dict[str, Any] | None = None) -> None:
        self.data: list[Node] = []
        self.layout: Node = Node()
        if layout:
            self.update_layout(**layout)

    def add_trace(self, trace: dict[str, Any]) -> None:
        """Append a trace (``{"type": "scatter", ...}``; ``type`` defaults to scatter)."""
        self.data.append(node({"type": "scatter", **trace}))

    def update_layout(self, **props: Any) -> None:
        """Merge ``props`` into the layout; a string ``title`` becomes ``{"text": title}``."""
        if isinstance(props.get("title"), str):
            props["title"] = {"text": props["title"]}
        _merge(self.layout, props)

    def add_hline(self, y: float, *, line: dict[str, Any], text: str, axes: str = "",
                  left: bool = False) -> None:
        """A horizontal line across the plot of axes ``x{axes}``/``y{axes}`` at ``y``, with
        ``text`` above its right end (its left end when ``left``), as plotly's ``add_hline``.
        """
        xref, yref = f"x{axes} domain", f"y{axes}"
        self.layout.setdefault("shapes", []).append(node({
            "type": "line", "xref": xref, "x0": 0, "x1": 1, "yref": yref, "y0": y, "y1": y,
            "line": line,
        }))
        self.layout.setdefault("annotations", []).append(node({
            "text": text, "showarrow": False, "xref": xref, "x": 0 if left else 1,
            "xanchor": "left" if left else "right", "yref": yref, "y": y,
            "yanchor": "bottom",
        }))

    def add_annotation(self, **props: Any) -> None:
        self.layout.setdefault("annotations", []).append(node(props))

    def to_dict(self) -> dict[str, Any]:
        """``{"data": [...], "layout": {...}}`` (the live objects: treat as read-only)."""
        return {"data": self.data, "layout": self.layout}

    to_plotly_json = to_dict

    def to_json(self) -> str:
        """Compact JSON; NaN and infinite numbers are written as ``null``, as plotly does."""
        text = json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)
        if "NaN" in text or "Infinity" in text:  # rare: a diverged trial's loss
            text = json.dumps(_finite(self.to_dict()), separators=(",", ":"),
                              ensure_ascii=False)
        return text

    def to_plotly(self) -> go.Figure:
        """The validated ``plotly.graph_objects.Figure`` (for ``to_html``, ``write_image``)."""
        import plotly.graph_objects as go

        return go.Figure(json.loads(self.to_json()))
