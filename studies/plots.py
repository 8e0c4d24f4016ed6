"""Plotly figures of studies, for the API (``fig.to_json()``) and offline HTML reports.

Every function takes one or more studies (``optuna.Study`` or a list of ``FrozenTrial``)
and returns a :class:`studies._figure.Figure`: plotly's figure JSON kept in dicts, built
without plotly's object layer (``to_plotly()`` gives the ``go.Figure``). Trials are told
apart by their attributes, not by the study: a trial with a ``lam`` attribute is a λ trial
(λ search, λ path, target size), any other is a width-search trial. Trace names start
with the study's label so two studies can be overlaid. :data:`PLOTS` maps the API's plot
names to the functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import optuna

from studies._figure import Figure
from studies._trials import StudyLike, TrialPoint, source_info, trial_points, unique_labels
from studies.arms import ARM_COLOURS
from studies.compare import compare_studies
from studies.pareto import pareto_front

__all__ = [
    "PLOTS",
    "colours",
    "compute_figure",
    "lambda_figure",
    "pareto_figure",
    "size_space_figure",
    "widths_figure",
]



def log_axis(title: str, *, narrow: bool = False) -> dict[str, Any]:
    """A log axis whose tick labels are numbers: plotly's default labels the ticks
    between decades with bare leading digits (``2 5``), which read as values.

    ``narrow``: an axis of widths or λ, written in full (``~g``: 0.9, 4, 45, 0.0082).
    Otherwise (parameters, MACs) SI-prefixed (``.3~s``: 200, 500, 1k, 2M).
    :func:`fit_log_ticks` then places the ticks by the span of the data."""
    if narrow:
        return {"title": {"text": title}, "type": "log", "tickformat": "~g"}
    return {"title": {"text": title}, "type": "log", "tickformat": ".3~s"}


def _log_tick_values(lo: float, hi: float, *, integers: bool) -> list[float]:
    """Ticks of a narrow log axis spanning ``lo``…``hi``: every digit within a decade,
    1, 2 and 5 of each decade up to three, powers of ten beyond; ``integers`` (widths)
    drops the ticks below 1, which no width takes."""
    span = math.log10(hi / lo)
    mantissas = (1, 2, 3, 4, 5, 6, 7, 8, 9) if span <= 1 else (1, 2, 5) if span <= 3 else (1,)
    ticks = []
    for exponent in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in mantissas:
            value = float(f"{m}e{exponent}")  # exact decimal, no 3.0000000000000004
            if lo / 1.3 <= value <= hi * 1.3 and not (integers and value < 1):
                ticks.append(value)
    return ticks


def fit_log_ticks(fig: Figure) -> Figure:
    """Space the ticks of ``fig``'s log axes (:func:`log_axis`) by the span of their data
    so labels never crowd. Wide axes: under a decade plotly's automatic ticks (350, 400,
    450…); up to three decades 1, 2 and 5 of each; beyond, the powers of ten. Narrow
    axes get explicit ticks (:func:`_log_tick_values`); an axis of whole numbers (widths)
    gets no tick below 1 (plotly's padding would label 0.8 and 0.9) and a fixed range
    a quarter beyond its data."""
    for name, axis in fig.layout.items():
        if not name.startswith(("xaxis", "yaxis")) or axis.get("type") != "log":
            continue
        ref, letter = name[0] + name[5:], name[0]  # "yaxis2" → "y2"
        values = [
            float(v) for t in fig.data if (t.get(f"{letter}axis") or letter) == ref
            for v in (t.get(letter) or ())
            if isinstance(v, int | float) and math.isfinite(v) and v > 0
        ]
        if not values:
            continue
        lo, hi = min(values), max(values)
        if axis.get("tickformat") == ".3~s":
            span = math.log10(hi / lo)
            axis["dtick"] = None if span < 1 else "D2" if span < 3 else 1
            continue
        integers = all(v == int(v) for v in values)
        axis["tickvals"] = _log_tick_values(lo, hi, integers=integers)
        if integers:
            axis["range"] = [math.log10(lo / 1.25), math.log10(hi * 1.25)]
    return fig


def _labelled(sources: tuple[StudyLike, ...]) -> list[tuple[str, list[TrialPoint]]]:
    return [
        (label, trial_points(s)) for label, s in zip(unique_labels(sources), sources, strict=True)
    ]


_SPARE_COLOURS = ("#d62728", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
_WIDTH_SYMBOLS = ("circle", "square", "triangle-up", "diamond-wide")


def colours(sources: tuple[StudyLike, ...]) -> list[str]:
    """One colour per source: its arm's colour (``studies.arms.ARM_COLOURS``) everywhere, so
    an arm looks the same on every figure and page; a second study of the same arm gets a
    spare colour."""
    out: list[str] = []
    spare = iter(_SPARE_COLOURS * 4)
    for s in sources:
        if isinstance(s, optuna.Study):
            arm = str(s.user_attrs.get("arm") or s.user_attrs.get("kind") or "")
        else:
            arm = source_info(s)[1]
        colour = ARM_COLOURS.get(arm)
        out.append(colour if colour and colour not in out else next(spare))
    return out


def _hover(p: TrialPoint) -> str:
    lam = f"λ = {p.lam:.3g}<br>" if p.lam is not None else ""
    loss = f"{p.val_loss:.4g}" if p.val_loss is not None else p.state.lower()
    widths = "×".join(str(w) for w in p.final_widths)
    return f"trial {p.number}<br>{lam}widths {widths}<br>val loss {loss}<br>params {p.params}"


def _path(p: TrialPoint, layer: int) -> list[int]:
    # A layer whose neurons all died keeps one (β = 0) physically; its live width is 0,
    # which a log axis cannot show, so it is drawn at 1.
    start = p.initial_widths[layer : layer + 1]
    widths = start + [int(h["widths"][layer]) for h in p.history if len(h["widths"]) > layer]
    return [max(w, 1) for w in widths]


def _tag(p: TrialPoint) -> str:
    return f"trial {p.number}" + (f" (λ={p.lam:.3g})" if p.lam is not None else "")


def _epochs(p: TrialPoint) -> list[int]:
    return [0] * bool(p.initial_widths) + [int(h["epoch"]) for h in p.history]


def _path_hover(p: TrialPoint) -> list[str]:
    return [f"epoch {e}<br>{_hover(p)}" for e in _epochs(p)]


def _layer_series(p: TrialPoint, layer: int) -> tuple[list[Any], list[Any], list[str]]:
    return _epochs(p), _path(p, layer), [_tag(p)]


def _joined(
    points: list[TrialPoint],
    series: Callable[[TrialPoint], tuple[list[Any], list[Any], list[str]]],
) -> dict[str, list[Any]]:
    """``x``, ``y`` and ``text`` of several trials' lines in one trace, split by gaps.

    ``series(p)`` gives a trial's x, y and text; a one-item text is repeated on every point.
    """
    xs: list[Any] = []
    ys: list[Any] = []
    texts: list[Any] = []
    for p in points:
        x, y, text = series(p)
        if xs:
            xs.append(None)
            ys.append(None)
            texts.append(None)
        xs += x
        ys += y
        texts += text * len(x) if len(text) == 1 else text
    return {"x": xs, "y": ys, "text": texts}


def _end(p: TrialPoint, layer: int) -> int:
    return max(p.final_widths[layer], 1)


def size_space_figure(*sources: StudyLike) -> Figure:
    """Width of hidden layer 1 (x) against layer 2 (y), log axes.

    Width-search trials are markers coloured by validation loss; each λ trial is the path
    of its live widths epoch by epoch, from where it started (``max_width`` × ``max_width``)
    to where it ended; the λ trials' end points are joined in order of increasing λ.
    Hover shows λ, loss and parameter count. Needs two or more hidden layers (layers 1
    and 2 are drawn); otherwise the figure carries only a note.
    """
    fig = Figure()
    drawable = False
    labelled = _labelled(sources)
    losses = [
        float(p.val_loss) for _, pts in labelled for p in pts
        if p.complete and not p.is_lambda and p.val_loss is not None
    ]
    loss_range = (min(losses), max(losses)) if losses else (0.0, 1.0)
    symbols = iter(_WIDTH_SYMBOLS * 4)
    for (label, points), colour in zip(labelled, colours(sources), strict=True):
        points = [p for p in points if len(p.final_widths) >= 2]
        drawable = drawable or bool(points)
        width_pts = [p for p in points if not p.is_lambda and p.complete]
        if width_pts:
            # one loss colour scale for every arm (shown once); the arm is the outline
            # colour and the symbol
            fig.add_trace(
                dict(
                    x=[_end(p, 0) for p in width_pts],
                    y=[_end(p, 1) for p in width_pts],
                    mode="markers",
                    name=f"{label}: width trials",
                    text=[_hover(p) for p in width_pts],
                    hoverinfo="text",
                    marker={
                        "color": [p.val_loss for p in width_pts],
                        "coloraxis": "coloraxis",
                        "size": 9,
                        "symbol": next(symbols),
                        "line": {"color": colour, "width": 1.5},
                    },
                )
            )
        lam_pts = sorted((p for p in points if p.is_lambda), key=lambda p: float(p.lam or 0))
        if lam_pts:
            # one trace for every trajectory (gaps between trials): a trace per trial makes
            # a figure of hundreds of trials slow to build and to draw
            fig.add_trace(
                dict(
                    **_joined(lam_pts, lambda p: (_path(p, 0), _path(p, 1), _path_hover(p))),
                    mode="lines+markers",
                    name=f"{label}: λ trajectories",
                    marker={"size": 4, "color": colour},
                    line={"width": 1.5, "color": colour},
                    hoverinfo="text",
                    opacity=0.8,
                    connectgaps=False,
                )
            )
        ends = [p for p in lam_pts if p.complete]
        if ends:
            fig.add_trace(
                dict(
                    x=[_end(p, 0) for p in ends],
                    y=[_end(p, 1) for p in ends],
                    mode="lines+markers",
                    name=f"{label}: end points by λ",
                    text=[_hover(p) for p in ends],
                    hoverinfo="text",
                    marker={"size": 9, "symbol": "diamond", "color": colour},
                    line={"dash": "dot", "width": 2, "color": colour},
                )
            )
    fig.update_layout(
        title="Size space: width of layer 1 × width of layer 2",
        # the loss scale lives in the layout, so the dashboard's dark theme can swap it
        coloraxis={"colorscale": "Viridis", "cmin": loss_range[0], "cmax": loss_range[1],
                   "colorbar": {"title": {"text": "val loss"}}},
        xaxis=log_axis("width of hidden layer 1", narrow=True),
        yaxis=log_axis("width of hidden layer 2", narrow=True),
        legend={"orientation": "h", "y": -0.2},
    )
    if not drawable:
        fig.add_annotation(
            text="the size-space plot needs trials with at least two hidden layers",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
    return fit_log_ticks(fig)


def pareto_figure(*sources: StudyLike) -> Figure:
    """Validation loss against parameter count: every complete trial, each arm's Pareto
    front, pruned trials' last epoch (hollow, never on a front) and the useful region's
    reference loss (``studies.compare``) as a dashed line."""
    fig = Figure()
    comparison = compare_studies(*sources, sensitivity_factors=()) if sources else None
    for (label, points), colour in zip(_labelled(sources), colours(sources), strict=True):
        done = [p for p in points if p.complete]
        fig.add_trace(
            dict(
                x=[p.params for p in done],
                y=[p.val_loss for p in done],
                mode="markers",
                name=f"{label}: trials",
                text=[_hover(p) for p in done],
                hoverinfo="text",
                opacity=0.6,
                marker={"color": colour},
            )
        )
        pruned = [p for p in points if p.state == "PRUNED" and p.history]
        if pruned:
            fig.add_trace(
                dict(
                    x=[p.history[-1].get("params") for p in pruned],
                    y=[p.history[-1].get("val_loss") for p in pruned],
                    mode="markers",
                    name=f"{label}: pruned (last epoch)",
                    text=[f"pruned after epoch {p.history[-1].get('epoch')}<br>{_hover(p)}"
                          for p in pruned],
                    hoverinfo="text",
                    marker={"color": colour, "symbol": "circle-open", "size": 7},
                    opacity=0.6,
                )
            )
        front = pareto_front((p.val_loss, p.params) for p in done)  # type: ignore[misc]
        fig.add_trace(
            dict(
                x=[y for _, y in front],
                y=[x for x, _ in front],
                mode="lines+markers",
                line={"color": colour, "shape": "hv"},
                name=f"{label}: Pareto front",
            )
        )
    region = comparison.region if comparison else None
    if region is not None:
        fig.add_hline(
            region.loss, line={"dash": "dash", "width": 1, "color": "#888"},
            text=f"useful region: loss < {region.loss:.3g}", left=True,
        )
    fig.update_layout(
        title="Pareto fronts: validation loss vs parameters",
        xaxis=log_axis("parameters"),
        yaxis={"title": {"text": "validation loss"}},
    )
    return fit_log_ticks(fig)


def compute_figure(*sources: StudyLike, cost: Literal["macs", "wall"] = "macs") -> Figure:
    """Useful-region hypervolume (left) and best validation loss (right) against
    cumulative compute, with the level (the baseline's final hypervolume) dotted.

    Args:
        sources: the studies; hypervolumes share one useful region (``studies.compare``).
        cost: ``macs`` (training MACs, forward+backward) or ``wall`` (seconds).
    """
    x_title = "cumulative training MACs" if cost == "macs" else "cumulative wall time (s)"
    fig = Figure(_two_plots(("useful-region hypervolume", "best validation loss"),
                            log_axis(x_title)))
    fig.update_layout(title="Search progress against training compute")
    if not sources:
        return fig
    comparison = compare_studies(*sources, sensitivity_factors=())
    for summary, colour in zip(comparison.arms, colours(sources), strict=True):
        xs = [
            c.cumulative_cost_macs if cost == "macs" else c.cumulative_wall_time_s
            for c in summary.curve
        ]
        common: dict[str, Any] = {
            "mode": "lines+markers", "line": {"color": colour, "shape": "hv"}
        }
        fig.add_trace(
            dict(
                x=xs,
                y=[c.hypervolume for c in summary.curve],
                name=f"{summary.label}: hypervolume",
                **common,
            )
        )
        fig.add_trace(
            dict(
                x=xs,
                y=[c.best_val_loss for c in summary.curve],
                name=f"{summary.label}: best loss",
                xaxis="x2",
                yaxis="y2",
                **common,
            )
        )
    if comparison.level > 0:
        fig.add_hline(
            comparison.level, line={"dash": "dot", "width": 1, "color": "#888"},
            text=f"level ({comparison.baseline})",
        )
    return fit_log_ticks(fig)


_DASHES = ("solid", "dash", "dot", "dashdot")


def widths_figure(*sources: StudyLike) -> Figure:
    """Live width of every hidden layer over epochs: one trace per layer, one line (with
    gaps between them) per trial; hover names the trial."""
    fig = Figure()
    for (label, points), colour in zip(_labelled(sources), colours(sources), strict=True):
        points = [p for p in points if p.history]
        for layer in range(max((len(p.final_widths) for p in points), default=0)):
            drawn = [p for p in points if len(p.final_widths) > layer]
            joined = _joined(drawn, partial(_layer_series, layer=layer))
            fig.add_trace(
                dict(
                    x=joined["x"],
                    y=joined["y"],
                    customdata=joined["text"],
                    hovertemplate="%{customdata}<br>epoch %{x}: width %{y}<extra></extra>",
                    mode="lines",
                    line={"color": colour, "dash": _DASHES[layer % len(_DASHES)]},
                    name=f"{label}: layer {layer + 1}",
                    connectgaps=False,
                )
            )
    fig.update_layout(
        title="Live widths over epochs",
        xaxis={"title": {"text": "epoch"}},
        yaxis=log_axis("width", narrow=True),
    )
    return fit_log_ticks(fig)


def lambda_figure(*sources: StudyLike) -> Figure:
    """Final validation loss (left axis) and parameter count (right axis) against λ."""
    fig = Figure({
        "title": "Loss and size against λ",
        # a right-hand axis over the same plot, as make_subplots(secondary_y=True) lays out
        "xaxis": {**log_axis("λ", narrow=True), "domain": [0.0, 0.94], "anchor": "y"},
        "yaxis": {"title": {"text": "validation loss"}, "anchor": "x"},
        "yaxis2": {**log_axis("parameters"), "anchor": "x", "overlaying": "y",
                   "side": "right"},
    })
    for (label, points), colour in zip(_labelled(sources), colours(sources), strict=True):
        done = sorted(
            (p for p in points if p.complete and p.is_lambda), key=lambda p: float(p.lam or 0)
        )
        if not done:
            continue
        lams = [p.lam for p in done]
        text = [_hover(p) for p in done]
        fig.add_trace(
            dict(
                x=lams,
                y=[p.val_loss for p in done],
                mode="lines+markers",
                name=f"{label}: val loss",
                text=text,
                hoverinfo="text",
                line={"color": colour},
            )
        )
        fig.add_trace(
            dict(
                x=lams,
                y=[p.params for p in done],
                mode="lines+markers",
                name=f"{label}: params",
                text=text,
                hoverinfo="text",
                line={"dash": "dash", "color": colour},
                yaxis="y2",
            )
        )
    return fit_log_ticks(fig)


def _two_plots(titles: tuple[str, str], xaxis: dict[str, Any]) -> dict[str, Any]:
    """The layout of two plots side by side, both with x axis ``xaxis``, titled ``titles``
    (what ``make_subplots(rows=1, cols=2, subplot_titles=titles)`` lays out)."""
    return {
        "xaxis": {**xaxis, "domain": [0.0, 0.45], "anchor": "y"},
        "yaxis": {"domain": [0.0, 1.0], "anchor": "x"},
        "xaxis2": {**xaxis, "domain": [0.55, 1.0], "anchor": "y2"},
        "yaxis2": {"domain": [0.0, 1.0], "anchor": "x2"},
        "annotations": [
            {"text": title, "x": x, "y": 1.0, "xref": "paper", "yref": "paper",
             "xanchor": "center", "yanchor": "bottom", "showarrow": False,
             "font": {"size": 16}}
            for title, x in zip(titles, (0.225, 0.775), strict=True)
        ],
    }


PLOTS: dict[str, Callable[..., Figure]] = {
    "size_space": size_space_figure,
    "pareto": pareto_figure,
    "compute": compute_figure,
    "widths": widths_figure,
    "lambda": lambda_figure,
}
"""Plot functions by the name the API uses; each takes one or more studies."""
