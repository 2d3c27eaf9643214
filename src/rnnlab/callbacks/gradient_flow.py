"""Gradient flow through time: how much the loss at the end reaches back to step t.

On a fixed validation batch, the stack is unrolled one step at a time so that every
hidden state h_t is a node of the graph, and ``‖∂L/∂h_t‖`` (top layer, mean over the
batch) is recorded for every t. A vanilla RNN's norms fall geometrically as t moves
away from the loss (vanishing gradients); gated cells keep them up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch import Tensor

from rnnlab.callbacks.figures import log_figure
from rnnlab.errors import ConfigError
from rnnlab.io import write_json


def hidden_state_gradients(task: pl.LightningModule, batch: Sequence[Tensor]) -> Tensor:
    """``‖∂L/∂h_t‖`` for t = 1..T as a ``[T]`` tensor, for a task that reads the final state."""
    rnn = task.rnn
    x = task.encode_inputs(batch[0]) if hasattr(task, "encode_inputs") else batch[0]
    was_training = rnn.training
    rnn.train()  # cuDNN computes RNN gradients only in training mode
    try:
        with torch.enable_grad():
            state, hidden = None, []
            for t in range(x.shape[1]):
                _, state = rnn(x[:, t : t + 1], state)
                hidden.append(state[0] if isinstance(state, tuple) else state)
            loss = task.loss_from_final(rnn.final_features(state), batch)
            grads = torch.autograd.grad(loss, hidden)  # leaves parameter .grad untouched
    finally:
        rnn.train(was_training)
    return torch.stack([g[-1].norm(dim=-1).mean() for g in grads]).detach().cpu()


class GradientFlow(pl.Callback):
    """Record ``‖∂L/∂h_t‖`` at the start and at chosen epochs; save a figure and JSON.

    Args:
        dirpath: where ``gradient_flow.png`` and ``gradient_flow.json`` go.
        epochs: epochs after which to record (the untrained network is always recorded).
        batch_size: examples of the first validation batch to use.
    """

    def __init__(
        self, dirpath: str, epochs: Sequence[int] = (1, 5, 10), batch_size: int = 64
    ) -> None:
        if any(not isinstance(e, int) or e < 0 for e in epochs):
            raise ConfigError("epochs", list(epochs), "a list of epoch numbers >= 0")
        self.dirpath, self.epochs, self.batch_size = Path(dirpath), set(epochs), batch_size
        self.records: dict[str, list[float]] = {}
        self._batch: Sequence[Tensor] | None = None

    def _record(self, trainer: pl.Trainer, task: pl.LightningModule, label: str) -> None:
        if task.rnn.num_directions != 1 or not hasattr(task, "loss_from_final"):
            return  # stepping one step at a time is defined for forward-only stacks
        if self._batch is None:
            first = next(iter(trainer.datamodule.val_dataloader()))
            self._batch = [t[: self.batch_size] for t in first]
        self.records[label] = hidden_state_gradients(task, self._batch).tolist()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer, pl_module, "epoch 0")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch in self.epochs:
            self._record(trainer, pl_module, f"epoch {epoch}")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or not self.records:
            return
        cell = pl_module.rnn.cell
        write_json(self.dirpath / "gradient_flow.json", {"cell": cell, "norms": self.records})
        fig = plot_norms({f"{cell}, {k}": v for k, v in self.records.items()})
        log_figure(trainer, "gradient_flow", fig, self.dirpath / "gradient_flow.png")
        import matplotlib.pyplot as plt

        plt.close(fig)


def plot_norms(curves: dict[str, Sequence[float]]):
    """Norm against time step, log scale, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, norms in curves.items():
        ax.semilogy(range(1, len(norms) + 1), norms, label=label)
    ax.set_xlabel("time step t")
    ax.set_ylabel("‖∂L/∂h_t‖ (mean over batch)")
    ax.set_title("Gradient of the final loss with respect to each hidden state")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def compare(run_dirs: Sequence[str], output: str, label: str = "epoch 0") -> dict[str, float]:
    """One figure of several runs' recorded norms; returns ``‖∂L/∂h_1‖ / ‖∂L/∂h_T‖`` per run."""
    curves, ratios = {}, {}
    for run in run_dirs:
        data = json.loads((Path(run) / "gradient_flow.json").read_text())
        norms = data["norms"][label]
        name = f"{data['cell']} ({Path(run).name})"
        curves[name], ratios[name] = norms, norms[0] / norms[-1]
    plot_norms(curves).savefig(output, dpi=120, bbox_inches="tight")
    return ratios


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Compare gradient flow of several runs.")
    parser.add_argument("runs", nargs="+", help="run directories with gradient_flow.json")
    parser.add_argument("--output", default="gradient_flow_comparison.png")
    parser.add_argument("--label", default="epoch 0", help="which recording, e.g. 'epoch 5'")
    args = parser.parse_args()
    for name, ratio in compare(args.runs, args.output, args.label).items():
        print(f"{name}: |dL/dh_1| / |dL/dh_T| = {ratio:.3g}")
    print(f"figure: {args.output}")
