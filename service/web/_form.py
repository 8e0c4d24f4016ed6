"""Field definitions of the new study / comparison form, with the server's limits.

The form posts the same spec JSON as the API (``studies.StudySpec``): each input's
``name`` is the dotted path of its spec field (``architecture.max_width``), which is also
what the API names in a 4xx error's ``field``, so the page shows the error next to the
input. Ranges, defaults and choices are read from ``StudySpec``'s JSON schema, then
tightened by the deployment limits in the settings (``max_width`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from service.limits import effective_limits
from service.settings import Settings
from studies.arms import ARM_COLOURS, ARM_LABELS, ARMS, DEFAULT_ARMS
from studies.spec import SearchSpec, StudySpec

__all__ = ["ArmChoice", "FormField", "FormGroup", "arm_choices", "form_groups", "form_limits"]

_CHOICE_LABELS = {
    "lambda": "λ search (ShrinkNets)", "width": "width search", "lambda_path": "λ path",
    "prune_path": "prune path (importance pruning, λ = 0)",
    "taylor": "Taylor (|activation × gradient|)", "l2": "weight norms (L2)",
    "target_size": "target size", "mlp": "MLP", "cnn": "small CNN (image data)",
    "relu": "ReLU", "leaky_relu": "leaky ReLU", "adam": "Adam", "sgd": "SGD",
    "adamw": "AdamW", "adagrad": "Adagrad", "tpe": "TPE", "nsga2": "NSGA-II",
    "uniform": "uniform (every neuron alike)",
    "params": "by parameters (λ = price of one parameter)", "macs": "by MACs per sample",
    "none": "none", "median": "median", "hyperband": "Hyperband",
}

#: ``training.lam_scale``'s values say what the β step does ("none" alone says nothing).
_LAM_SCALE_CHOICES = (
    ("grad", "layer-normalised (λ = a neuron's share of its layer's gradient)"),
    ("none", "proximal (the paper's λ‖β‖₁)"),
)


@dataclass(frozen=True)
class FormField:
    """One input of the form.

    Attributes:
        name: dotted spec path, e.g. ``"training.epochs"``.
        label: what the user reads.
        type: ``int``, ``float``, ``str``, ``bool`` or ``list`` (comma separated).
        default: initial value (``None``: empty).
        minimum, maximum: the allowed range, shown as ``min``/``max`` and in the hint.
        choices: ``(value, label)`` pairs for a select.
        hint: help text under the input.
        only_for: show only for this target/search kind (``study``, ``comparison``,
            ``target_size``).
        required: the input must not be empty.
        nullable: an empty input is sent as ``null`` (not left out, which would mean the
            spec's default).
    """

    name: str
    label: str
    type: str
    default: Any = None
    minimum: float | int | None = None
    maximum: float | int | None = None
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    only_for: str = ""
    required: bool = False
    nullable: bool = False


@dataclass(frozen=True)
class ArmChoice:
    """One arm checkbox of the comparison form (label and colour from ``studies.arms``)."""

    value: str
    label: str
    colour: str
    checked: bool


def arm_choices() -> list[ArmChoice]:
    """Every arm a comparison accepts, in ``studies.arms.ARMS`` order; the default arms
    (λ search and width search) checked."""
    return [ArmChoice(a, ARM_LABELS[a], ARM_COLOURS[a], a in DEFAULT_ARMS) for a in ARMS]


@dataclass(frozen=True)
class FormGroup:
    """A fieldset: one spec section such as ``architecture``."""

    key: str
    label: str
    fields: list[FormField] = field(default_factory=list)


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return StudySpec.model_json_schema()


def _property(name: str) -> dict[str, Any]:
    """The JSON-schema property of a dotted spec field, with an ``anyOf`` null unwrapped."""
    schema = _schema()
    props: dict[str, Any] = schema["properties"]
    *sections, leaf = name.split(".")
    for section in sections:
        node = props[section]
        ref = node.get("$ref") or next(o["$ref"] for o in node["anyOf"] if "$ref" in o)
        props = schema["$defs"][ref.rsplit("/", 1)[1]]["properties"]
    prop = dict(props[leaf])
    for option in prop.pop("anyOf", []):
        if option.get("type") != "null":
            prop.update(option)
    return prop


def form_limits(settings: Settings) -> dict[str, float]:
    """The upper limits this server enforces, by dotted spec field
    (:func:`service.limits.effective_limits`, the API's own)."""
    return dict(effective_limits(settings))


def _show(value: float) -> str:
    """A limit as people read it: ``1,024``, ``1e-07``, ``0.5``."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:g}"


def _field(name: str, label: str, *, limits: dict[str, float], hint: str = "",
           **overrides: Any) -> FormField:
    prop = _property(name)
    kind = {"integer": "int", "number": "float", "boolean": "bool", "array": "list"}.get(
        str(prop.get("type")), "str"
    )
    minimum = prop.get("minimum")
    maximum = limits.get(name, prop.get("maximum"))
    choices = tuple((str(v), _CHOICE_LABELS.get(str(v), str(v))) for v in prop.get("enum", ()))
    if minimum is not None and maximum is not None:
        hint = f"{_show(minimum)} – {_show(maximum)}" + (f"; {hint}" if hint else "")
    default = prop.get("default")
    if isinstance(default, int | float) and maximum is not None and default > maximum:
        default = maximum  # the spec's default is over this server's limit
    values: dict[str, Any] = {
        "name": name, "label": label, "type": kind, "default": default,
        "minimum": minimum, "maximum": maximum, "choices": choices, "hint": hint,
    }
    values.update(overrides)
    return FormField(**values)


def form_groups(*, limits: dict[str, float], datasets: list[tuple[str, str]]) -> list[FormGroup]:
    """The form's fieldsets.

    Args:
        limits: from :func:`form_limits`.
        datasets: ``(name, label)`` pairs for the dataset select (the page's script adds
            uploaded datasets from ``GET api/v1/datasets``).

    Returns:
        The fieldsets in display order.
    """
    def f(name: str, label: str, **overrides: Any) -> FormField:
        return _field(name, label, limits=limits, **overrides)

    objectives = (("val_loss", "validation loss"), ("val_loss,params", "loss and parameters"))
    return [
        FormGroup("basics", "Study", [
            f("name", "Name", type="str", required=True, default="",
              hint="letters, digits, '-', '_', '.', spaces; up to 100"),
            f("dataset.name", "Dataset", choices=tuple(datasets),
              default=datasets[0][0] if datasets else None),
            f("search.kind", "Search kind", only_for="study",
              hint="a comparison runs the arms picked below instead"),
        ]),
        FormGroup("architecture", "Network", [
            f("architecture.kind", "Kind"),
            f("architecture.depth", "Hidden layers", hint="2 draws the size space"),
            f("architecture.max_width", "Max width per layer"),
            f("architecture.activation", "Activation"),
        ]),
        FormGroup("training", "Training", [
            f("training.epochs", "Epochs"),
            f("training.batch_size", "Batch size"),
            f("training.optimizer", "Optimizer"),
            f("training.lr", "Learning rate"),
            f("training.lam2", "λ₂ (weight decay)", hint="> 0 needed by the method"),
            f("training.lam_scale", "β step (λ arms)", choices=_LAM_SCALE_CHOICES,
              hint="how λ acts; each step has its own default λ range"),
            f("training.penalty_weight", "Penalty weight (λ arms)",
              hint="price each neuron by what it carries"),
        ]),
        FormGroup("search", "Search", [
            f("search.n_trials", "Trials per study", nullable=True,
              hint="empty: only the compute budget below stops the search"),
            f("search.max_macs", "Compute budget (MACs)",
              hint="optional; training MACs summed over every trial (pruned ones too)"),
            f("search.max_seconds", "Time budget (s)",
              hint="optional; trainer seconds summed over every trial"),
            f("search.sampler", "Sampler"),
            f("search.seed", "Seed"),
            f("search.objectives", "Objectives", type="list", choices=objectives,
              default=",".join(SearchSpec.model_fields["objectives"].get_default(
                  call_default_factory=True)),
              hint="the API's default too: validation loss; add parameters for a "
              "multi-objective (Pareto) search"),
            f("search.lam_min", "λ min", hint="log scale; empty: the β step's default"),
            f("search.lam_max", "λ max", hint="empty: the β step's default"),
            f("search.path.warmup_epochs", "Paths: warm-up epochs",
              hint="λ and prune paths; empty: as many as the training epochs"),
            f("search.path.epochs_per_step", "Paths: epochs per step",
              hint="λ and prune paths; fractions allowed"),
            f("search.path.finetune_epochs", "Paths: fine-tune epochs per snapshot",
              hint="λ and prune paths"),
            f("search.path.importance", "Prune path: importance",
              hint="how the prune path ranks neurons (across all layers)"),
            f("search.target_params", "Target parameters", only_for="target_size"),
        ]),
    ]
