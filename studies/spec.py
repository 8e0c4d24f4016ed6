"""The study specification: one typed, validated, JSON-serialisable description of a study.

The same :class:`StudySpec` is read by the CLI (``shrinknets study run SPEC.json``), stored
as the Optuna study's ``spec`` user attribute, and later posted to the HTTP API. Every
numeric field has an allowed range; an out-of-range value fails validation with a message
naming the field, the value and the range. The hard limits are class constants
(:attr:`StudySpec.MAX_WIDTH` ...) so the service can display them; the service tightens
them per deployment (``service/limits.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shrinknets_core.errors import ConfigError

__all__ = [
    "LAM_RANGES",
    "LEGACY_BETA_STEPS",
    "PATH_KINDS",
    "SEARCH_KINDS",
    "WARM_START_ATTR",
    "ArchitectureSpec",
    "DatasetSpec",
    "PathSpec",
    "SearchKind",
    "SearchSpec",
    "StudySpec",
    "TrainingSpec",
    "WarmStartSpec",
    "field_error",
    "load_spec",
]

MAX_WIDTH = 4096
MAX_DEPTH = 8
MAX_EPOCHS = 500
MAX_TRIALS = 100_000  # a server lowers it (``SHRINKNETS_MAX_TRIALS``, default 1000)
MAX_BATCH_SIZE = 65536

#: Legacy ``training.beta_step`` words → ``training.lam_scale`` (deprecated since 0.1.0,
#: removed in 0.3.0): stored specs and recorded variant strings still read.
LEGACY_BETA_STEPS: dict[str, str] = {"prox": "none", "layer_normalised": "grad"}

#: What a study searches (``search.kind``); the one list the API, the pages and the arms use.
SearchKind = Literal["lambda", "width", "lambda_path", "prune_path", "target_size"]
SEARCH_KINDS: tuple[str, ...] = get_args(SearchKind)
#: The kinds that run as one training whose steps are trials (``studies.lambda_path``).
PATH_KINDS: tuple[str, ...] = ("lambda_path", "prune_path")

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\- ]{1,100}$")


def _bounded(lo: float, hi: float) -> tuple[AfterValidator, Any]:
    """``Annotated`` extras (``Annotated[int, *_bounded(lo, hi)]``) that reject values
    outside ``[lo, hi]`` with a clear message.

    The bounds also appear in the JSON schema (``minimum``/``maximum``) so forms can show them.
    """

    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise PydanticCustomError(
                "out_of_range",
                "value {value} is outside the allowed range [{lo}, {hi}]",
                {"value": value, "lo": lo, "hi": hi},
            )
        return value

    return (AfterValidator(check), Field(json_schema_extra={"minimum": lo, "maximum": hi}))


def field_error(field: str, detail: str) -> PydanticCustomError:
    """A model validator's error about one of its fields, carried as data: ``ctx`` holds
    the ``field`` (dotted, below the model being validated) and the ``detail``, so readers
    point at the field without parsing the message (``service.api.errors``)."""
    return PydanticCustomError(
        "field_error", "{field}: {detail}", {"field": field, "detail": detail}
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatasetSpec(_Strict):
    """Which data to train on.

    Attributes:
        name: a registry name (``digits``, ``mnist_5k`` ...) or a display name for ``path``.
        path: a user file (CSV, NPZ, ARFF); ``None`` loads the named registry dataset.
        target_columns: target column names or indices for user files.
        task: ``classification`` or ``regression``; ``None`` keeps the dataset's own.
        max_rows: keep at most this many rows (after shuffling), for quick studies.
        seed: the train/val/test split seed.
    """

    name: Annotated[str, Field(min_length=1, max_length=200)]
    path: str | None = None
    target_columns: list[str | int] | None = None
    task: Literal["classification", "regression"] | None = None
    max_rows: Annotated[int, *_bounded(10, 10_000_000)] | None = None
    seed: Annotated[int, *_bounded(0, 2**31 - 1)] = 0


class ArchitectureSpec(_Strict):
    """The network searched over: ``depth`` hidden layers (MLP) or conv blocks (CNN).

    Attributes:
        kind: ``mlp`` or ``cnn`` (CNN needs an image dataset; widths are channel counts).
        depth: number of hidden layers / conv blocks.
        max_width: the width every layer starts at (λ search) and the upper bound of the
            width search space.
        switch_init: initial β of λ trials: ``ones`` (every neuron starts equal, so with the
            proximal step they tend to die together) or ``uniform`` / ``normal`` (spread
            magnitudes: neurons die one after another, so size follows λ more gradually).
            Default ``uniform`` (measured: bench/search_efficiency.py, see _search_space).
    """

    kind: Literal["mlp", "cnn"] = "mlp"
    depth: Annotated[int, *_bounded(1, MAX_DEPTH)] = 2
    max_width: Annotated[int, *_bounded(1, MAX_WIDTH)] = 256
    activation: Literal["relu", "tanh", "leaky_relu"] = "relu"
    batchnorm: bool = False
    dropout: Annotated[float, *_bounded(0.0, 0.9)] = 0.0
    switch_init: Literal["ones", "uniform", "normal"] = "uniform"


class TrainingSpec(_Strict):
    """How every trial trains; identical for λ search and width search.

    Attributes:
        gamma: sign-variance γ of λ trials; 0.9 kills a β parked at 0 after 2 steps
            (0.99: after 16), so dead neurons stop costing compute sooner (measured:
            docs/method.md §8).
        beta_lr: how far β moves per step in λ trials (|β| ≤ 1): with the layer-normalised
            step the gradient step is divided by each layer's gradient RMS, so ~0.01–0.2;
            with the prox step it is plain SGD and the threshold is ``beta_lr·λ``.
        removal_every_steps: physical removal interval of λ trials (``None`` = per epoch;
            measured: docs/method.md §8).
        finetune_epochs: λ trials train ``epochs`` with λ, then this many more with λ = 0
            on the shrunk network (undoes the L1 shrinkage of β; dead neurons stay gone);
            width trials train ``epochs + finetune_epochs``, so all trials get equal epochs.
        beta_optimizer: how λ trials update β, in the trainer's words
            (``shrinknets_core.training.TrainConfig``): ``"prox"`` = plain SGD on β with
            ``beta_lr`` then a soft threshold — the only one studies offer (``"same"``, β in
            the weight optimizer, is the core's and the γ experiment's; it has no exact zeros
            for a λ search to rank).
        lam_scale: the proximal step's scale (``shrinknets_core.training._optim``):
            ``"none"`` is the paper's objective — SGD on the raw gradient and the threshold
            ``beta_lr·λ``, a proximal step on L + λ‖β‖₁ (λ in units of the loss's gradient);
            ``"grad"`` divides each layer's β step by its RMS gradient and thresholds at
            ``beta_lr·λ·√n`` — it minimises no fixed objective (scaling the loss changes
            nothing) and keeps a neuron while it carries a share ≥ λ of its layer's gradient
            norm, so a layer settles near 1/λ² neurons. ``beta_step`` (``"prox"`` =
            ``"none"``, ``"layer_normalised"`` = ``"grad"``) is its legacy name, read from
            stored specs; deprecated since 0.1.0, removed in 0.3.0.
        penalty_weight: ``"uniform"`` (λ‖β‖₁: every neuron costs the same), ``"params"`` or
            ``"macs"`` (each neuron's |β| weighted by the parameters / MACs per sample it
            carries, recomputed after every removal: λ is the price of one parameter;
            ``shrinknets_core.network.pricing``).
    """

    epochs: Annotated[int, *_bounded(1, MAX_EPOCHS)] = 20
    batch_size: Annotated[int, *_bounded(1, MAX_BATCH_SIZE)] = 128
    optimizer: Literal["adam", "sgd", "adamw", "adagrad"] = "adam"
    lr: Annotated[float, *_bounded(1e-7, 10.0)] = 1e-3
    lam2: Annotated[float, *_bounded(0.0, 1.0)] = 1e-4
    gamma: Annotated[float, *_bounded(0.0, 0.99999)] = 0.9
    beta_lr: Annotated[float, *_bounded(1e-6, 100.0)] = 0.1
    removal_every_steps: Annotated[int, *_bounded(1, 1_000_000)] | None = 2
    finetune_epochs: Annotated[int, *_bounded(0, MAX_EPOCHS)] = 0
    beta_optimizer: Literal["prox"] = "prox"
    lam_scale: Literal["none", "grad"] = "grad"
    penalty_weight: Literal["uniform", "params", "macs"] = "uniform"
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _legacy_beta_step(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "beta_step" not in data:
            return data
        data = dict(data)
        step = data.pop("beta_step")
        if step not in LEGACY_BETA_STEPS:
            raise field_error("beta_step", f"must be one of {sorted(LEGACY_BETA_STEPS)} "
                              "(legacy name of lam_scale: set lam_scale to 'none' or 'grad')")
        scale = LEGACY_BETA_STEPS[step]
        if data.setdefault("lam_scale", scale) != scale:
            raise field_error("beta_step", f"{step!r} means lam_scale={scale!r}, but lam_scale "
                              f"is {data['lam_scale']!r}: set lam_scale only")
        return data


class PathSpec(_Strict):
    """How a path runs (``studies.lambda_path``): one network, shrunk step by step — by
    raising λ (``lambda_path``) or by pruning the least important neurons to a size target
    (``prune_path``). The prune path uses the warm-up, steps, fine-tunes, refinement and
    passes alike; λ's grid settings (``calibrate``, ``lam_ratio``, ``ratio_passes``) are
    the λ path's only.

    Attributes:
        warmup_epochs: epochs at λ = 0 and full width before the first step (fractional
            allowed); ``None`` = ``training.epochs``, so the path's first network is trained
            as long as one trial. The warm-up's cost is charged to the first step
            (measured: docs/method.md §8).
        epochs_per_step: training at each λ of the grid, continuing the same network and
            optimizer (fractional allowed: 0.5 = half an epoch of batches).
        finetune_epochs: each snapshot is debiased on a copy by this many epochs at λ = 0
            (cost counted in its step; cheap, as snapshots are small); ``None`` =
            ``training.finetune_epochs`` (5 and 1 epoch per step: measured, docs/method.md
            §8).
        calibrate: take the grid from the data and the β step instead of
            ``search.lam_min`` / ``lam_max`` (``studies.lambda_path``): for the prox step
            from λ_max (where a switched-off layer stays off, estimated at the warm-up's
            end) — bottom ``lam_ratio × λ_max``, top the larger of λ_max and the λ that
            zeroes ``|β| ≤ 1`` within one step; for the layer-normalised step
            ``[1/(4·√max_width), 1]`` (a quarter of an equal share … one neuron left).
        lam_ratio: the prox grid's bottom as a fraction of λ_max.
        refine: what the path does after its grid with the compute budget left
            (``studies._path_refine``): ``finetune`` continues the fine-tunes of the
            snapshots on its front, cheapest first, ``refine_epochs`` at a time, until the
            budget is spent; ``none`` ends the path at its grid. Refinement needs a compute
            budget (``max_macs`` / ``max_seconds``) or ``refine_rounds``.
        refine_epochs: epochs each continuation adds to a snapshot's fine-tune.
        refine_rounds: the most refinement rounds (a round continues every candidate
            once); ``None`` = until the compute budget is spent (no refinement without
            one).
        passes: the most shifted passes (the grid again from the warm-up's end, shifted
            by ½, ¼, ¾ … of a step) once refinement finds nothing left to improve.
        ratio_passes: after those, one pass over the grid per ratio r with the layers'
            λ spread by r: layer i of d gets λ × r^((d−1−2i)/(d−1)) (2 layers: × r and ÷ r),
            for networks whose layers want different widths. Empty (the default): none
            (measured weakest of the ways to spend the budget, docs/method.md §7).
        importance: the prune path's neuron ranking
            (``shrinknets_core.removal.importance``): ``l2`` (incoming × outgoing weight
            norms × |β|) or ``taylor`` (|activation × gradient| on a few training
            batches), each normalised per layer and ranked across layers; ``l2`` by
            measurement on the bench's three datasets (docs/method.md §8).
    """

    warmup_epochs: Annotated[float, *_bounded(0.0, MAX_EPOCHS)] | None = None
    epochs_per_step: Annotated[float, *_bounded(0.05, MAX_EPOCHS)] = 1.0
    finetune_epochs: Annotated[int, *_bounded(0, MAX_EPOCHS)] | None = 5
    calibrate: bool = True
    lam_ratio: Annotated[float, *_bounded(1e-6, 0.99)] = 0.01
    refine: Literal["finetune", "none"] = "finetune"
    refine_epochs: Annotated[int, *_bounded(1, MAX_EPOCHS)] = 5
    refine_rounds: Annotated[int, *_bounded(1, MAX_TRIALS)] | None = None
    passes: Annotated[int, *_bounded(0, 16)] = 3
    ratio_passes: list[Annotated[float, *_bounded(1e-3, 1e3)]] = Field(
        default_factory=list, max_length=8
    )
    importance: Literal["l2", "taylor"] = "l2"


#: The study user attribute naming a λ search's stored warm-up (``studies._warm_start``).
WARM_START_ATTR = "lambda_warm_start"


class WarmStartSpec(_Strict):
    """λ search from one shared warm start (``studies._warm_start``).

    Attributes:
        enabled: every λ trial starts from one λ = 0 warm-up of the ``max_width``
            ShrinkNet, trained once per study (charged to the trial that trains it),
            instead of from scratch. ``"warm_start": true`` is short for
            ``{"enabled": true}``.
        warmup_epochs: the warm-up's epochs (fractional allowed); ``None`` =
            ``training.epochs``.
        lam_epochs: each trial's epochs at its λ after the warm start (fractional);
            ``None`` = a third of ``training.epochs``.
        finetune_epochs: then its epochs at λ = 0 on the shrunk network; ``None`` = a
            third of ``training.epochs`` (at least 1).
    """

    enabled: bool = True
    warmup_epochs: Annotated[float, *_bounded(0.05, MAX_EPOCHS)] | None = None
    lam_epochs: Annotated[float, *_bounded(0.05, MAX_EPOCHS)] | None = None
    finetune_epochs: Annotated[int, *_bounded(0, MAX_EPOCHS)] | None = None

    def epochs(self, training_epochs: int) -> tuple[float, float, int]:
        """``(warm-up, λ phase, fine-tune)`` epochs for a spec of ``training_epochs``."""
        warm = float(training_epochs) if self.warmup_epochs is None else self.warmup_epochs
        lam = training_epochs / 3 if self.lam_epochs is None else self.lam_epochs
        tune = max(1, round(training_epochs / 3)) if self.finetune_epochs is None \
            else self.finetune_epochs
        return warm, lam, tune

    @model_validator(mode="before")
    @classmethod
    def _from_bool(cls, data: Any) -> Any:
        return {"enabled": data} if isinstance(data, bool) else data


#: Default λ range of each β step scale (``training.lam_scale``) and penalty weight, used when
#: ``search.lam_min`` / ``lam_max`` are not given: from about the full network to a
#: collapsed one (the single-λ trials that set them: docs/method.md §8, "λ range").
LAM_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("grad", "uniform"): (0.02, 0.5),
    ("grad", "params"): (0.02, 0.5),
    ("grad", "macs"): (0.02, 0.5),
    ("none", "uniform"): (1e-3, 0.1),
    ("none", "params"): (3e-6, 3e-4),
    ("none", "macs"): (3e-6, 3e-4),
}


def _default_objectives() -> list[Literal["val_loss", "params"]]:
    return ["val_loss"]


class SearchSpec(_Strict):
    """What Optuna searches and how.

    Attributes:
        kind: ``lambda`` (sample log λ, train wide with live removal), ``width`` (sample
            every layer's width, train a static net), ``lambda_path`` (one training whose λ
            is raised along a geometric grid; each step is a trial), ``prune_path`` (the same
            schedule at λ = 0, each step pruning the least important neurons to a size
            target) or ``target_size`` (bisection on log λ until the final network has at
            most ``target_params``).
        n_trials: the trial budget (for the paths: the number of steps);
            ``None`` leaves the trial count to the compute budget (up to ``MAX_TRIALS``).
        max_macs: compute budget in training MACs (forward+backward counted as 3× forward,
            the trainer's ``cost_macs``), summed over every trial the search runs (pruned
            and failed ones too); no trial starts once it is spent (``studies.budget``).
        max_seconds: wall-clock budget in trainer seconds, summed over trials the same way
            (what a user pays for: device time, whatever the number of workers).
        sampler: ``tpe``, ``random`` or ``nsga2`` (unused by ``lambda_path``/``target_size``).
        objectives: ``["val_loss"]`` or ``["val_loss", "params"]`` (both minimised).
        lam_min, lam_max: the λ range (log scale); ``None`` takes the default of the β
            step (:data:`LAM_RANGES`, :attr:`StudySpec.lam_range`).
        target_params: the parameter budget of ``target_size``.
        search_gamma, search_lr: λ search also samples γ (log of 1-γ) / the learning rate.
        pruner: ``median`` or ``hyperband`` (Optuna's ``HyperbandPruner``, epochs as the
            resource) prunes single-objective trials on the per-epoch val loss;
            ``mo_asha`` (``studies._mo_asha``) prunes at rungs of η^k epochs unless a trial
            is in the best 1/η of its rung by non-dominated sorting on (val loss,
            parameters) — multi-objective studies too.
        eta: MO-ASHA's reduction factor η (its rungs and the share that goes on).
        epochs_per_step: legacy name of ``path.epochs_per_step`` (whole epochs);
            deprecated since 0.1.0, removed in 0.3.0.
        path: how a λ path runs (:class:`PathSpec`).
        warm_start: λ search from one shared warm-up (:class:`WarmStartSpec`).
    """

    kind: SearchKind = "lambda"
    n_trials: Annotated[int, *_bounded(1, MAX_TRIALS)] | None = 20
    max_macs: Annotated[float, *_bounded(1.0, 1e21)] | None = None
    max_seconds: Annotated[float, *_bounded(1e-3, 1e8)] | None = None
    sampler: Literal["tpe", "random", "nsga2"] = "tpe"
    seed: Annotated[int, *_bounded(0, 2**31 - 1)] = 0
    objectives: list[Literal["val_loss", "params"]] = Field(default_factory=_default_objectives)
    lam_min: Annotated[float, *_bounded(1e-8, 100.0)] | None = None
    lam_max: Annotated[float, *_bounded(1e-8, 100.0)] | None = None
    target_params: Annotated[int, *_bounded(1, 10**10)] | None = None
    search_gamma: bool = False
    search_lr: bool = False
    pruner: Literal["none", "median", "hyperband", "mo_asha"] = "none"
    eta: Annotated[int, *_bounded(2, 10)] = 3
    epochs_per_step: Annotated[int, *_bounded(1, MAX_EPOCHS)] | None = None  # deprecated
    path: PathSpec = Field(default_factory=lambda: PathSpec())
    warm_start: WarmStartSpec = Field(default_factory=lambda: WarmStartSpec())

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpec:
        if self.objectives not in (["val_loss"], ["val_loss", "params"]):
            raise ValueError(
                f"objectives must be ['val_loss'] or ['val_loss', 'params'], got {self.objectives}"
            )
        if self.lam_min is not None and self.lam_max is not None and self.lam_min >= self.lam_max:
            raise ValueError(
                f"lam_min ({self.lam_min}) must be smaller than lam_max ({self.lam_max})"
            )
        if self.n_trials is None and self.max_macs is None and self.max_seconds is None:
            raise field_error(
                "n_trials", "a budget is required: set n_trials (a trial count), max_macs "
                "(training MACs) or max_seconds (trainer seconds)"
            )
        if self.epochs_per_step is not None and "epochs_per_step" in self.path.model_fields_set:
            raise field_error(
                "epochs_per_step", "set path.epochs_per_step only (epochs_per_step is its "
                "legacy name; both were given)"
            )
        if self.kind in PATH_KINDS and self.n_trials is None:
            raise field_error("n_trials", f"required when kind is {self.kind!r} (the path's "
                              "steps)")
        if self.kind == "prune_path" and self.path.ratio_passes:
            raise field_error("path.ratio_passes", "must be empty when kind is 'prune_path' "
                              "(ratio passes spread λ across layers; a prune path has no λ)")
        if self.kind == "target_size" and self.target_params is None:
            raise ValueError("target_params is required when kind is 'target_size'")
        if self.pruner in ("median", "hyperband") and len(self.objectives) > 1:
            raise ValueError(
                "pruner must be 'none' or 'mo_asha' for multi-objective studies (Optuna's "
                "pruners cannot prune them)"
            )
        return self

    @property
    def path_epochs_per_step(self) -> float:
        """Epochs per λ-path step: the legacy ``epochs_per_step`` or ``path.epochs_per_step``."""
        if self.epochs_per_step is not None:
            return float(self.epochs_per_step)
        return float(self.path.epochs_per_step)

    @property
    def trial_budget(self) -> int:
        """The most trials the search may run: ``n_trials``, or ``MAX_TRIALS`` without one."""
        return self.n_trials if self.n_trials is not None else MAX_TRIALS

    @property
    def compute_budget(self) -> bool:
        """True when the search has a compute budget (``max_macs`` or ``max_seconds``)."""
        return self.max_macs is not None or self.max_seconds is not None


class StudySpec(_Strict):
    """A complete study: dataset, architecture, training and search.

    The limits below are the hard maximum; a server may apply tighter ones.
    """

    MAX_WIDTH: ClassVar[int] = MAX_WIDTH
    MAX_DEPTH: ClassVar[int] = MAX_DEPTH
    MAX_EPOCHS: ClassVar[int] = MAX_EPOCHS
    MAX_TRIALS: ClassVar[int] = MAX_TRIALS

    name: Annotated[str, Field(min_length=1, max_length=100)]
    dataset: DatasetSpec
    architecture: ArchitectureSpec = Field(default_factory=ArchitectureSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    search: SearchSpec = Field(default_factory=SearchSpec)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME_RE.match(name):
            raise ValueError(
                f"{name!r} may only contain letters, digits, '-', '_', '.' and spaces "
                "(1 to 100 characters)"
            )
        return name

    @model_validator(mode="after")
    def _lam_range_ordered(self) -> StudySpec:
        lo, hi = self.lam_range
        if lo >= hi:
            raise field_error(
                "search",
                f"lam_min ({lo:g}) must be smaller than lam_max ({hi:g}) "
                f"(the default range of lam_scale {self.training.lam_scale!r} is "
                f"{LAM_RANGES[(self.training.lam_scale, self.training.penalty_weight)]})",
            )
        return self

    @property
    def lam_range(self) -> tuple[float, float]:
        """``(lam_min, lam_max)``: the spec's own, else the β step's default
        (:data:`LAM_RANGES`)."""
        lo, hi = LAM_RANGES[(self.training.lam_scale, self.training.penalty_weight)]
        search = self.search
        return (
            search.lam_min if search.lam_min is not None else lo,
            search.lam_max if search.lam_max is not None else hi,
        )

    @property
    def path_finetune_epochs(self) -> int:
        """Epochs a λ-path snapshot is fine-tuned: ``path.finetune_epochs``, else
        ``training.finetune_epochs``."""
        tune = self.search.path.finetune_epochs
        return self.training.finetune_epochs if tune is None else tune

    @property
    def path_refines(self) -> bool:
        """True when a λ path of this spec goes on past its grid (``studies._path_refine``):
        ``path.refine`` is on, its snapshots are fine-tuned, and a compute budget or
        ``path.refine_rounds`` bounds it. The one rule; progress reads it too."""
        path = self.search.path
        if path.refine == "none" or not self.path_finetune_epochs:
            return False
        return self.search.compute_budget or path.refine_rounds is not None

    @property
    def multi_objective(self) -> bool:
        """True when the study minimises (val_loss, params)."""
        return len(self.search.objectives) == 2

    def notes(self) -> list[str]:
        """Settings the spec holds that its search does not use, in words (the API's
        answer and the study page show them, so nothing is ignored silently)."""
        search = self.search
        notes = []
        if search.kind == "prune_path" and (search.lam_min is not None
                                            or search.lam_max is not None):
            notes.append("search.lam_min / search.lam_max are not used: a prune path trains "
                         "at λ = 0 and shrinks by importance to size targets")
        if (search.kind == "lambda_path" and search.path.calibrate
                and (search.lam_min is not None or search.lam_max is not None)):
            notes.append(
                "search.lam_min / search.lam_max are not used: path.calibrate takes the λ "
                "grid from the data at the warm-up's end (set path.calibrate to false to use "
                "your range)"
            )
        return notes

    def to_json(self) -> str:
        """The spec as a JSON string (what ``create_study`` stores)."""
        return self.model_dump_json()



def _describe(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "spec"
    ctx = error.get("ctx") or {}
    if error["type"] == "out_of_range":
        return f"field {field}: value {ctx['value']} is outside [{ctx['lo']}, {ctx['hi']}]"
    if error["type"] == "missing":
        return f"field {field}: required but missing"
    if error["type"] == "extra_forbidden":
        return f"field {field}: unknown field (check its spelling)"
    if error["type"] == "value_error":
        return f"field {field}: {error['msg'].removeprefix('Value error, ')}"
    if error["type"] == "field_error":
        inner = ".".join(p for p in (".".join(map(str, error["loc"])), ctx["field"]) if p)
        return f"field {inner}: {ctx['detail']}"
    value = error.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return f"field {field}: value {shown} is invalid: {error['msg']}"


def load_spec(source: str | Path | dict[str, Any] | StudySpec) -> StudySpec:
    """Read and validate a study spec from a JSON file, a JSON string or a dict.

    Args:
        source: a path to a JSON file, a JSON text, a dict, or an existing spec.

    Returns:
        The validated :class:`StudySpec`.

    Raises:
        ConfigError: the file cannot be read or is not JSON, or a field is invalid; the
            message names every bad field, its value and the allowed range.
    """
    if isinstance(source, StudySpec):
        return source
    data: Any = source
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith(("{", "["))
    ):
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"spec file {path}: cannot be read ({e}); check the path") from e
        except json.JSONDecodeError as e:
            raise ConfigError(f"spec file {path}: not valid JSON ({e})") from e
    elif isinstance(source, str):
        try:
            data = json.loads(source)
        except json.JSONDecodeError as e:
            raise ConfigError(f"spec: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"spec: expected a JSON object, got {type(data).__name__}")
    try:
        return StudySpec.model_validate(data)
    except ValidationError as e:
        raise ConfigError(
            "invalid study spec: " + "; ".join(_describe(x) for x in e.errors())
        ) from e
