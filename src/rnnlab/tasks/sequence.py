"""Per-step sequence tasks: an output at every step, scored where the data marks it.

The long-memory benchmarks (adding problem, copying memory, selective copying) ask the
network to answer at chosen steps about inputs seen long before. A batch is
``(x [B, T, F], y, mask [B, T])``, or ``(x, y, mask, lengths [B])`` when the sequences
differ in length (padding after each one's real steps, unmarked by the mask); the head
reads the stack's output at every step. The
datamodule states the objective (``mse`` with ``y`` ``[B, T, 1]``, or ``cross_entropy``
with class ids ``[B, T]``) and whether the loss averages over the marked steps only
(``loss_on: marked``) or over every step (``all``, as the copying-memory papers do).
``*/acc`` is measured on the marked steps: the fraction of correct symbols, or for a
regression the fraction of outputs within ``tolerance`` of the target.

Data of varying lengths (the length-split tasks) adds ``lengths [B]`` as a 4th element of
the batch and states ``length_buckets`` (``[[low, high], ...]``); validation and test then
also log ``*/acc_len_LOW_HIGH``, the accuracy on the marked steps of examples whose length
lies in each bucket (higher is better).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy

from rnnlab.nn.recurrent import State
from rnnlab.tasks.base import BaseTask
from rnnlab.tasks.options import SequenceOptions

OBJECTIVES = ("mse", "cross_entropy")
LOSS_ON = ("marked", "all")


class WithinTolerance(Metric):
    """Fraction of predictions within ``tolerance`` of their targets."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, tolerance: float) -> None:
        super().__init__()
        self.tolerance = tolerance
        self.add_state("hits", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor) -> None:
        self.hits += ((pred - target).abs() < self.tolerance).sum()
        self.total += target.numel()

    def compute(self) -> Tensor:
        return self.hits.float() / self.total.clamp(min=1)


class LengthBucketAccuracy(Metric):
    """Fraction of right answers per bucket of example lengths (``[[low, high], ...]``)."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, buckets: list[list[int]]) -> None:
        super().__init__()
        self.names = [f"acc_len_{low}_{high}" for low, high in buckets]
        self.register_buffer("low", torch.tensor([b[0] for b in buckets]), persistent=False)
        self.register_buffer("high", torch.tensor([b[1] for b in buckets]), persistent=False)
        self.add_state("hits", default=torch.zeros(len(buckets), dtype=torch.long),
                       dist_reduce_fx="sum")  # fmt: skip
        self.add_state("total", default=torch.zeros(len(buckets), dtype=torch.long),
                       dist_reduce_fx="sum")  # fmt: skip

    def update(self, correct: Tensor, lengths: Tensor) -> None:
        """``correct`` and ``lengths``: one entry per scored step (its example's length)."""
        inside = (lengths[:, None] >= self.low) & (lengths[:, None] <= self.high)
        self.hits += (inside & correct[:, None]).sum(0)
        self.total += inside.sum(0)

    def compute(self) -> dict[str, Tensor]:
        """Accuracy by bucket name; a bucket with no example scores 0."""
        values = self.hits.float() / self.total.clamp(min=1)
        return dict(zip(self.names, values, strict=True))


class SequenceTask(BaseTask):
    """A linear head on every step's output; loss and accuracy where the data says.

    Args:
        objective: ``mse`` or ``cross_entropy``, as the datamodule states it.
        loss_on: ``marked`` (average over the masked steps) or ``all`` (every step).
        tolerance: regression only: an output within this of its target counts as right.
        length_buckets: ``[[low, high], ...]`` of example lengths to score separately in
            validation and test, as the datamodule states them (batches then carry lengths).
    """

    batch_format = "steps"
    batch_fields = 3  # (x, y, mask), then the lengths if any

    def __init__(
        self,
        *args: Any,
        objective: str = "cross_entropy",
        loss_on: str = "marked",
        tolerance: float = SequenceOptions.tolerance,
        length_buckets: list[list[int]] | None = None,
        **kwargs: Any,
    ) -> None:
        options = {"objective": objective, "loss_on": loss_on, "tolerance": tolerance}
        if length_buckets:  # saved only when stated, so other runs' hparams stay as they were
            options["length_buckets"] = [list(b) for b in length_buckets]
        self.objective, self.tolerance = objective, tolerance
        super().__init__(*args, task_options=options, **kwargs)
        self.head = nn.Linear(self.rnn.output_size, self.hparams.num_outputs)
        self.setup_metrics()
        self.by_length = nn.ModuleDict(
            {f"{s}_": LengthBucketAccuracy(length_buckets) for s in ("val", "test")}
            if length_buckets
            else {}
        )
        names = self.by_length["val_"].names if length_buckets else []
        self.extra_metrics = {
            **self.extra_metrics,
            **{f"{s}/{name}": "higher" for s in ("val", "test") for name in names},
        }

    def stage_metrics(self) -> dict[str, Metric]:
        if self.objective == "mse":
            return {"acc": WithinTolerance(self.tolerance)}
        return {"acc": MulticlassAccuracy(num_classes=self.hparams.num_outputs, average="micro")}

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Inputs ``[B, T, F]`` (and lengths ``[B]``) -> an output per step,
        ``[B, T, num_outputs]``."""
        out, _ = self.rnn(x, lengths=lengths)
        return self.head(out)

    def loss(self, out: Tensor, y: Tensor, mask: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Mean loss over the marked steps, or over all steps (``loss_on``): all real steps
        when ``lengths`` says where each sequence's padding starts."""
        if self.hparams.loss_on == "marked":
            out, y = out[mask], y[mask]
        elif lengths is not None:
            steps = torch.arange(out.shape[1], device=out.device)
            real = steps[None, :] < lengths.to(out.device)[:, None]
            out, y = out[real], y[real]
        else:
            out, y = out.flatten(0, 1), y.flatten(0, 1)
        if self.objective == "mse":
            return F.mse_loss(out, y)
        return F.cross_entropy(out, y)

    def correct(self, out: Tensor, y: Tensor) -> Tensor:
        """Which answers are right: the likeliest class, or within ``tolerance``."""
        if self.objective == "mse":
            return ((out - y).abs() < self.tolerance).flatten(1).all(1)
        return out.argmax(-1) == y

    def step(self, batch: Any, stage: str) -> Tensor:
        x, y, mask = batch[:3]
        lengths = self.lengths_of(batch)
        out = self(x, lengths)
        self.metrics[f"{stage}_"].update(out[mask], y[mask])
        if f"{stage}_" in self.by_length:
            per_step = lengths[:, None].expand_as(mask)[mask]  # the length of each scored step
            self.by_length[f"{stage}_"].update(self.correct(out[mask], y[mask]), per_step)
        return self.loss(out, y, mask, lengths)

    def _log_by_length(self, stage: str) -> None:
        """Log the per-bucket accuracies of ``stage`` (none in a sanity pass) and reset them."""
        if f"{stage}_" not in self.by_length:
            return
        metric = self.by_length[f"{stage}_"]
        if not self.trainer.sanity_checking:
            for name, value in metric.compute().items():
                self.log(f"{stage}/{name}", value)
        metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_by_length("val")
        super().on_validation_epoch_end()

    def on_test_epoch_end(self) -> None:
        self._log_by_length("test")
        super().on_test_epoch_end()

    def probe_loss(self, outputs: Tensor, state: State, batch: Any) -> Tensor:
        return self.loss(self.head(outputs), batch[1], batch[2], self.lengths_of(batch))
