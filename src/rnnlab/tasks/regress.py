"""Forecasting: the final state reads out the next step; rollouts feed predictions back."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric

from rnnlab.nn.recurrent import State
from rnnlab.tasks.base import BaseTask


class RegressionTask(BaseTask):
    """One-step-ahead forecasting with MSE loss, plus free-running rollout at test time.

    A batch is ``(window [B, T, F], targets [B, H, F])``; the model predicts
    ``targets[:, 0]`` from the window. The rollout appends each prediction to the
    window (dropping its oldest step) and predicts again, ``H`` times.
    """

    extra_metrics = {"test/rollout_mse": "lower"}
    batch_format = "forecast"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head = nn.Linear(self.rnn.output_size, self.hparams.num_outputs)
        self.loss_fn = nn.MSELoss()
        self.setup_metrics()
        self.rollout_mse = MeanSquaredError()
        self._example: tuple[Tensor, Tensor, Tensor] | None = None

    def stage_metrics(self) -> dict[str, Metric]:
        return {"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}

    def forward(self, window: Tensor) -> Tensor:
        return self.head(self.rnn.encode(window))

    def probe_loss(self, outputs: Tensor, state: State, batch: Any) -> Tensor:
        return self.loss_fn(self.head(self.rnn.final_features(state)), batch[1][:, 0])

    def rollout(self, window: Tensor, steps: int) -> Tensor:
        """Predict ``steps`` values, each from a window ending in earlier predictions."""
        preds = []
        for _ in range(steps):
            pred = self(window)
            preds.append(pred)
            window = torch.cat([window[:, 1:], pred.unsqueeze(1)], dim=1)
        return torch.stack(preds, dim=1)

    def step(self, batch: Any, stage: str) -> Tensor:
        window, targets = batch
        pred = self(window)
        target = targets[:, 0]
        self.metrics[f"{stage}_"].update(pred, target)
        if stage == "test":
            rollout = self.rollout(window, targets.shape[1])
            self.rollout_mse.update(rollout.flatten(), targets.flatten())
            if self._example is None:
                self._example = (window[:4].cpu(), targets[:4].cpu(), rollout[:4].cpu())
        return self.loss_fn(pred, target)

    def on_test_start(self) -> None:
        self._example = None

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self.log("test/rollout_mse", self.rollout_mse)

    def test_figures(self) -> dict[str, Any]:
        """Context, truth and free-running prediction for a few test windows."""
        if self._example is None:
            return {}
        import matplotlib.pyplot as plt

        window, targets, rollout = (t[..., 0].float().numpy() for t in self._example)
        steps, horizon = window.shape[1], targets.shape[1]
        # the future curves start at the last input step, so the lines join up
        t_in, t_out = range(steps), range(steps - 1, steps + horizon)
        fig, axes = plt.subplots(
            len(window), 1, figsize=(7, 1.8 * len(window)), sharex=True, squeeze=False
        )
        axes = axes[:, 0]
        for ax, w, y, p in zip(axes, window, targets, rollout, strict=True):
            ax.plot(t_in, w, color="0.4", label="input window")
            ax.plot(t_out, [w[-1], *y], color="tab:blue", label="truth")
            ax.plot(t_out, [w[-1], *p], "--", color="tab:orange", label="rollout")
            ax.set_ylabel("value (normalised)", fontsize="small")
        axes[0].legend(loc="upper left", fontsize="small", ncol=3)
        axes[-1].set_xlabel("time step")
        fig.suptitle(
            "Test windows: free-running prediction against truth\n"
            f"{self.run_summary()}; window {steps}, horizon {horizon}",
            fontsize="medium",
        )
        return {"predictions": fig}
