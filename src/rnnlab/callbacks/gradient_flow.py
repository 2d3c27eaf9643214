"""Gradient flow through time: how much the loss reaches back to each step t.

On a fixed validation batch, the stack is unrolled one step at a time so that every
hidden state h_t is a node of the graph, and ``‖∂L/∂h_t‖`` (top layer, mean over the
batch) is recorded for every t, with L the task's own loss (``probe_loss``). A vanilla
RNN's norms fall geometrically as t moves away from the loss (vanishing gradients);
gated cells keep them up. On the long-memory tasks the datamodule also says which steps
hold what the answer needs (``cue_steps``), and the record keeps the mean norm there:
how much gradient reaches the marked steps. In a batch of sequences of different lengths
(a last ``lengths`` entry after the task's fields) a sequence's padded steps keep its state,
output zeros, and count in no mean (their norms are NaN in the per-example tensor).

``python -m rnnlab.callbacks.gradient_flow RUN_DIR... --output cmp.png`` prints the runs'
recordings as a table (``flow_rows``) and overlays them in one figure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from rnnlab.callbacks.figures import log_figure
from rnnlab.callbacks.options import GradientFlowOptions as _DECLARED
from rnnlab.errors import ConfigError
from rnnlab.io.atomic import write_json, write_png


def _keep_where(real: Tensor, new: Any, old: Any) -> Any:
    """The new state where the step is real (``real`` [B]), the old one where it is padding."""
    if isinstance(new, tuple):
        return tuple(_keep_where(real, n, o) for n, o in zip(new, old, strict=True))
    return torch.where(real[None, :, None], new, old)


def hidden_state_gradients(
    task: Any, batch: Sequence[Tensor], lengths: Tensor | None = None
) -> Tensor:
    """``‖∂L/∂h_t‖`` of the top layer, per example and step: a ``[B, T]`` tensor.

    With ``lengths`` [B] a sequence's padded steps keep its state and output zeros, as a
    whole-sequence run does; their norms are NaN.
    """
    rnn = task.rnn
    x = task.stack_inputs(batch[0])
    if lengths is not None:
        lengths = lengths.to(x.device)
    was_training = rnn.training
    rnn.train()  # cuDNN computes RNN gradients only in training mode
    try:
        with torch.enable_grad():
            state, hidden, outputs = None, [], []
            for t in range(x.shape[1]):
                out, new = rnn(x[:, t : t + 1], state)
                if lengths is not None and t > 0:  # step 0 is real for every sequence
                    real = t < lengths
                    new = _keep_where(real, new, state)
                    out = out * real[:, None, None].to(out.dtype)
                else:
                    # A node of its own: a minimal cell's state is a view of its outputs, and
                    # the gradient at the outputs tensor would count the state's path twice.
                    out = out.clone()
                state = new
                outputs.append(out)
                hidden.append(state[0] if isinstance(state, tuple) else state)
            loss = task.probe_loss(torch.cat(outputs, 1), state, batch)
            # h_t reaches the loss twice: as the step's output (to the head) and as the
            # state handed to the next step; the stack returns them as two tensors, so the
            # gradient at h_t is the sum of both (a task may use either alone: None is 0).
            grads = torch.autograd.grad(loss, [*outputs, *hidden], allow_unused=True)
    finally:
        rnn.train(was_training)
    steps = len(outputs)
    norms = []
    for t in range(steps):
        via_output, via_state = grads[t], grads[steps + t]
        g = torch.zeros_like(outputs[t][:, 0]) if via_output is None else via_output[:, 0]
        if via_state is not None:
            g = g + via_state[-1]  # the top layer's h_t
        norms.append(g.norm(dim=-1))
    norms = torch.stack(norms, dim=1).detach()
    if lengths is not None:
        padded = torch.arange(steps, device=norms.device)[None, :] >= lengths[:, None]
        norms = norms.masked_fill(padded, float("nan"))
    return norms.cpu()


def _as_epochs(epochs: Any) -> set[int]:
    """An epoch or a list of them (declared in ``rnnlab.callbacks.options``) as a set."""
    return {epochs} if isinstance(epochs, int) else set(epochs)


class GradientFlow(pl.Callback):
    """Record ``‖∂L/∂h_t‖`` at the start and at chosen epochs; save a figure and JSON.

    Args:
        dirpath: where ``gradient_flow.png`` and ``gradient_flow.json`` go.
        epochs: epochs after which to record (the untrained network is always recorded).
        batch_size: examples of the first validation batch to use.
    """

    def __init__(
        self,
        dirpath: str,
        epochs: int | Sequence[int] = (1, 5, 10),
        batch_size: int = _DECLARED.batch_size,
    ) -> None:
        self.dirpath, self.epochs, self.batch_size = Path(dirpath), _as_epochs(epochs), batch_size
        self.records: dict[str, list[float]] = {}
        self.cue: dict[str, float] = {}
        self._batch: Sequence[Tensor] | None = None

    def check_task(self, task: Any) -> None:
        """Refuse, before training, a task or model this diagnostic cannot unroll."""
        from rnnlab.tasks.base import BaseTask

        probe = getattr(type(task), "probe_loss", None)
        if probe is None or probe is BaseTask.probe_loss or not hasattr(task, "rnn"):
            raise ConfigError("", type(task).__name__, "a task that implements probe_loss")
        if task.rnn.num_directions != 1:
            raise ConfigError(
                "", "model.bidirectional=true", "a unidirectional model: stepping through time "
                "one step at a time is defined for forward stacks only",
            )  # fmt: skip

    def _record(self, trainer: pl.Trainer, task: Any, label: str) -> None:
        if self._batch is None:
            first = next(iter(trainer.datamodule.val_dataloader()))
            self._batch = [t[: self.batch_size] for t in first]
        lengths = task.lengths_of(self._batch)
        norms = hidden_state_gradients(task, self._batch, lengths)
        self.records[label] = norms.nanmean(0).tolist()  # NaN: padding, in no mean
        cue_steps = getattr(trainer.datamodule, "cue_steps", None)
        if cue_steps is not None:
            cue = cue_steps(self._batch).cpu()
            self.cue[label] = float(norms[cue].nanmean())

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer, pl_module, BEFORE)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch in self.epochs:
            self._record(trainer, pl_module, f"epoch {epoch}")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or not self.records:
            return
        cell = pl_module.rnn.cell
        record = {"cell": cell, "norms": self.records}
        if self.cue:
            record["cue_norm"] = self.cue  # mean ‖∂L/∂h_t‖ at the steps the answer needs
        write_json(self.dirpath / "gradient_flow.json", record)
        fig = plot_norms({f"{cell}, {k}": v for k, v in self.records.items()})
        log_figure(trainer, "gradient_flow", fig, self.dirpath / "gradient_flow.png")
        import matplotlib.pyplot as plt

        plt.close(fig)


def plot_norms(curves: dict[str, Sequence[float]]) -> Any:
    """Norm against time step, log scale, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    # "run, recording" labels: one colour per run, a line style per recording of it
    runs = list(dict.fromkeys(label.rsplit(", ", 1)[0] for label in curves))
    colours = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    seen: dict[str, int] = {}
    for label, norms in curves.items():
        run = label.rsplit(", ", 1)[0]
        style = ("-", "--", ":", "-.")[seen.get(run, 0) % 4]
        seen[run] = seen.get(run, 0) + 1
        ax.semilogy(range(1, len(norms) + 1), norms, style, label=label,
                    color=colours(runs.index(run) % colours.N))  # fmt: skip
    ax.set_xlabel("time step t")
    ax.set_ylabel("‖∂L/∂h_t‖ (mean over batch)")
    ax.set_title("Gradient of the loss with respect to each hidden state")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def _load(run: str) -> dict[str, Any]:
    path = Path(run) / "gradient_flow.json"
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist (run with callbacks=gradient_flow)")
    return json.loads(path.read_text())


def run_names(run_dirs: Sequence[str]) -> dict[str, str]:
    """Each run's folder name, with as many parent folders as make the names unique
    (``cells/0`` and ``irnn/0`` rather than two ``0``)."""
    parts = {run: Path(run).resolve().parts for run in run_dirs}
    for depth in range(1, max((len(p) for p in parts.values()), default=1) + 1):
        names = {run: "/".join(p[-depth:]) for run, p in parts.items()}
        if len(set(names.values())) == len(names):
            return names
    return {run: str(run) for run in run_dirs}


BEFORE = "before training"  # the recording of the untrained network (older files: "epoch 0")
BACK = (10, 50)  # the spans (steps back from T) the comparison table reports


def _recordings(
    run_dirs: Sequence[str], labels: Sequence[str] | None
) -> list[tuple[str, str, str, list[float], float | None]]:
    """``(run name, cell, recording, norms, norm at the cues)`` for each run and wanted
    recording, each run's file read once; a recording a run lacks is a one-line error."""
    names = run_names(run_dirs)
    found = []
    for run in run_dirs:
        data = _load(run)
        for label in labels or list(data["norms"]):
            if label not in data["norms"]:
                path = Path(run) / "gradient_flow.json"
                raise SystemExit(
                    f"error: {path} has no {label!r}; it has {', '.join(data['norms'])}"
                )
            cue = data.get("cue_norm", {}).get(label)
            found.append((names[run], data["cell"], label, data["norms"][label], cue))
    return found


def _row(
    recording: tuple[str, str, str, list[float], float | None], back: Sequence[int]
) -> dict[str, Any]:
    name, cell, label, norms, cue = recording
    last = norms[-1]
    row: dict[str, Any] = {"run": name, "cell": cell, "recording": label, "norm_T": last}
    spans = [k for k in back if k < len(norms)]
    for k in back:
        row[f"T-{k}"] = norms[-1 - k] / last if k in spans else None
    longest = max(spans, default=None)
    row["per_step"] = (norms[-1 - longest] / last) ** (1 / longest) if longest else None
    row["first/T"] = norms[0] / last
    if cue is not None:
        row["cue/T"] = cue / last
    return row


def flow_rows(
    run_dirs: Sequence[str], labels: Sequence[str] | None = None, back: Sequence[int] = BACK
) -> list[dict[str, Any]]:
    """One row per run and recording: ``‖∂L/∂h_T‖``, the share of it left ``k`` steps back
    (``‖∂L/∂h_{T-k}‖ / ‖∂L/∂h_T‖`` for each ``k`` in ``back``), the mean per-step factor
    over the longest of those spans, ``‖∂L/∂h_1‖ / ‖∂L/∂h_T‖``, and, on the long-memory
    tasks, the mean norm at the steps the answer needs. ``labels``: the recordings to
    use (``before training``, ``epoch 5``); all of each run's when None."""
    return [_row(recording, back) for recording in _recordings(run_dirs, labels)]


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (columns: every key any row has)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    titles = {"norm_T": "‖∂L/∂h_T‖", "per_step": "per-step factor", "first/T": "‖∂L/∂h_1‖ / T",
              "cue/T": "at the cues / T"}  # fmt: skip

    def cell(value: Any) -> str:
        if value is None:
            return "—"
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    head = [titles.get(c, c if not c.startswith("T-") else f"{c} / T") for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def compare(run_dirs: Sequence[str], output: str, labels: Sequence[str] | None = None) -> str:
    """Overlay the runs' recorded norms in one figure; return the table of ``flow_rows``."""
    recordings = _recordings(run_dirs, labels)
    names = _legend_names(recordings)
    curves = {f"{names[name]}, {_shown(label)}": norms for name, _, label, norms, _ in recordings}
    write_png(output, plot_norms(curves))
    return format_rows([_row(recording, BACK) for recording in recordings])


def _shown(label: str) -> str:
    return BEFORE if label == "epoch 0" else label


def _legend_names(recordings: list[tuple[Any, ...]]) -> dict[str, str]:
    """A run's name in the legend: its cell, and where cells repeat its place in the table
    (``rnn #2``), not its folder name (a long timestamp drawn over the curves)."""
    runs = list(dict.fromkeys((name, cell) for name, cell, *_ in recordings))
    cells = [cell for _, cell in runs]
    return {name: cell if cells.count(cell) == 1 else f"{cell} #{i}"
            for i, (name, cell) in enumerate(runs, 1)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="Tabulate and overlay the gradient flow recorded by several runs."
    )
    parser.add_argument("runs", nargs="+", help="run directories with gradient_flow.json")
    parser.add_argument("--output", default="gradient_flow_comparison.png")
    parser.add_argument("--label", action="append", dest="labels",
                        help="a recording to use, e.g. 'epoch 5' (repeatable; default: all)")  # fmt: skip
    args = parser.parse_args(argv)
    print(compare(args.runs, args.output, args.labels))
    print(f"figure: {args.output}")


if __name__ == "__main__":
    main()
