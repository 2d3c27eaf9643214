"""Regression of one number per whole sequence from the final features."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric

from rnnlab.nn.recurrent import State
from rnnlab.tasks.base import BaseTask


class SequenceRegressionTask(BaseTask):
    """MSE of ``head(final_features)`` against the sequence's target; MSE and MAE per stage.

    A batch is ``(x [B, T, F], targets [B], lengths [B])`` (``data=sequences
    data.target=regression``); the features are taken at each sequence's own last step.
    Targets are kept in the file's units, so the metrics are too.
    """

    batch_format = "targets"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head = nn.Linear(self.rnn.output_size, 1)
        self.loss_fn = nn.MSELoss()
        self.setup_metrics()

    def stage_metrics(self) -> dict[str, Metric]:
        return {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.head(self.rnn.encode(x, lengths)).squeeze(-1)

    def probe_loss(self, outputs: Tensor, state: State, batch: Any) -> Tensor:
        return self.loss_fn(self.head(self.rnn.final_features(state)).squeeze(-1), batch[1])

    def step(self, batch: Any, stage: str) -> Tensor:
        x, targets = batch[:2]
        pred = self(x, self.lengths_of(batch))
        self.metrics[f"{stage}_"].update(pred, targets)
        return self.loss_fn(pred, targets)
