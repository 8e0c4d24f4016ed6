"""``shrinknets train``: train one ShrinkNet MLP on a bundled dataset and report what it learned.

The report shows, per epoch, the live hidden widths, parameter count, validation loss and
accuracy, and the epoch's cost (MACs, forward+backward counted as 3×, and the paper's Σ live
inputs); then the final widths, the shrink factor against the starting network and the
test score. Nothing is downloaded: the datasets are bundled.
"""

from __future__ import annotations

from shrinknets_core.datasets import load_dataset
from shrinknets_core.network.models import ModelSpec, build_model
from shrinknets_core.training.trainer import EpochRecord, TrainConfig, Trainer, TrainResult

__all__ = ["train_demo"]


def train_demo(
    dataset: str = "digits",
    *,
    epochs: int = 20,
    lam: float = 4e-3,
    hidden: tuple[int, ...] = (256, 256),
    device: str = "auto",
    seed: int = 0,
) -> str:
    """Train a ShrinkNet MLP that starts at ``hidden`` widths and shrinks while it trains.

    Args:
        dataset: a bundled dataset name (``digits``, ``mnist_5k``, ``oes97``, ...).
        epochs: training epochs.
        lam: λ, the switch penalty: larger ⇒ smaller network.
        hidden: starting hidden widths.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` (falls back to CPU with a warning).
        seed: seeds the model initialisation and the batch order.

    Returns:
        A readable multi-line report (the caller prints it).

    Raises:
        ConfigError, DatasetError: for a bad option or an unknown dataset name.
    """
    data = load_dataset(dataset, seed=seed)
    spec = ModelSpec(kind="mlp", in_features=data.n_features, out_features=data.n_outputs,
                     hidden=hidden, switch_init="uniform")
    config = TrainConfig(epochs=epochs, batch_size=64, lam=lam, beta_lr=2.0, device=device,
                         seed=seed)
    model = build_model(spec, seed=seed)
    start_params = model.param_count()
    trainer = Trainer(model, data, config)
    result = trainer.fit()
    lines = [
        f"ShrinkNet MLP on {data.label}: {data.x_train.shape[0]} train rows, "
        f"{data.n_features} features, {data.n_outputs} "
        f"{'classes' if data.task == 'classification' else 'targets'}",
        f"start widths {list(hidden)} ({start_params:,} params); λ={lam:g}, "
        f"{epochs} epochs on {trainer.device.type}",
        "",
        f"{'epoch':>5}  {'widths':<16} {'params':>9} {'val_loss':>9} {'val_acc':>8} "
        f"{'MACs':>10} {'Σinputs':>8} {'time':>6}",
    ]
    lines += [_row(r) for r in result.history]
    lines += ["", *_summary(result, start_params)]
    return "\n".join(lines)


def _row(r: EpochRecord) -> str:
    acc = f"{r.val_accuracy:.3f}" if r.val_accuracy is not None else "-"
    return (f"{r.epoch:>5}  {r.widths!s:<16} {r.params:>9,} {r.val_loss:>9.4f} {acc:>8} "
            f"{r.cost_macs:>10.2e} {r.live_inputs:>8.0f} {r.wall_time_s:>5.2f}s")


def _summary(result: TrainResult, start_params: int) -> list[str]:
    test = "no test split"
    if result.test_loss is not None:
        test = f"test loss {result.test_loss:.4f}"
    if result.test_accuracy is not None:
        test += f", test accuracy {result.test_accuracy:.3f}"
    return [
        f"learned widths {result.final_widths}: {result.params:,} params "
        f"({start_params / max(result.params, 1):.1f}× smaller than at the start)",
        f"{test}; val loss {result.val_loss:.4f}",
        f"training cost {result.cost_macs:.3e} MACs (forward+backward), Σ live inputs "
        f"{result.cost_inputs:.0f}, {result.wall_time_s:.1f}s"
        + (f"; stopped early: {result.stop_reason}" if result.stopped_early else ""),
    ]
