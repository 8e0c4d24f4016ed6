"""``shrinknets export`` and ``shrinknets predict``: the trained networks of a search.

``export`` reads a trial's stored network straight from the service's storage and
artifact store (the same ``SHRINKNETS_*`` settings as ``serve`` and ``worker``); over HTTP
the same file is ``GET /api/v1/studies/{id}/trials/{number}/model?format=…``.
``predict`` needs only the file: it applies the stored standardisation and prints one
prediction per row, and the accuracy or MSE when the file has the targets.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path
from typing import Any

from service.errors import NotFoundError, ServiceError

__all__ = ["add_model_commands"]

_FORMATS = ("torchscript", "state_dict", "onnx")  # shrinknets_core.export.FORMATS, torch-free


def _cmd_export(args: argparse.Namespace) -> int:
    import optuna

    from service.artifacts import open_artifact_store
    from service.settings import Settings
    from service.storage import get_study_record, make_engine
    from studies.models import open_model, removed_models

    settings = Settings(**({"storage_url": args.storage} if args.storage else {}))
    engine = make_engine(settings.storage_url)
    try:
        record = get_study_record(engine, args.study_id)
        study = optuna.load_study(study_name=record.study_name, storage=settings.storage_url)
    finally:
        engine.dispose()
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == args.trial), None)
    if trial is None:
        raise NotFoundError(f"trial {args.trial} of study", args.study_id)
    try:
        reader, filename, _ = open_model(open_artifact_store(settings), trial, args.format,
                                         removed_models(study))
    except LookupError as e:
        raise ServiceError(f"trial {args.trial} has no {args.format} network: {e}") from e
    out = Path(args.out or filename)
    with reader, out.open("wb") as handle:
        shutil.copyfileobj(reader, handle)
    print(f"wrote {out} ({out.stat().st_size} bytes, {args.format})")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from shrinknets_core.errors import ShrinkNetsError
    from shrinknets_core.export import load_exported
    from shrinknets_core.export.predict import predict_csv

    try:
        model = load_exported(args.model)
        result = predict_csv(model, args.data)
    except ShrinkNetsError as e:
        raise ServiceError(str(e)) from e
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(out)
        meta: dict[str, Any] = model.metadata
        if result.labels is not None:
            writer.writerow(["row", "prediction"])
            writer.writerows([i, label] for i, label in enumerate(result.labels))
        else:
            names = meta.get("target_names") or [f"y{i}" for i in range(int(meta["n_outputs"]))]
            writer.writerow(["row", *names])
            writer.writerows([i, *v] for i, v in enumerate(result.values or []))
    finally:
        if out is not sys.stdout:
            out.close()
    summary = f"{result.n_rows} rows predicted by {model.format} model of {meta.get('dataset')}"
    if result.accuracy is not None:
        summary += f"; accuracy {result.accuracy:.4f}"
    if result.mse is not None:
        summary += f"; MSE {result.mse:.6g} (data units)"
    print(summary, file=sys.stderr)
    return 0


def add_model_commands(sub: Any) -> None:
    """Register ``export`` and ``predict`` on the ``shrinknets`` sub-parsers."""
    export = sub.add_parser("export", help="write a trial's trained network to a file")
    export.add_argument("study_id", help="the study's id (as in the API and dashboard)")
    export.add_argument("trial", type=int, metavar="TRIAL_NUMBER")
    export.add_argument("--format", choices=_FORMATS, default="torchscript")
    export.add_argument("--out", default=None, help="file to write (default: its stored name)")
    export.add_argument("--storage", metavar="URL", default=None,
                        help="storage URL (default SHRINKNETS_STORAGE_URL or "
                        "<data_dir>/shrinknets.db)")
    export.set_defaults(func=_cmd_export)

    predict = sub.add_parser("predict", help="predict the rows of a CSV file with a model file")
    predict.add_argument("model", help="a file from export or the API (any format)")
    predict.add_argument("data", help="CSV of raw feature rows (targets optional)")
    predict.add_argument("--out", default=None, help="write predictions here (default stdout)")
    predict.set_defaults(func=_cmd_predict)
