"""An exponential moving average of the weights: the model that is validated, saved and tested.

``callbacks=ema`` (or ``callbacks.ema`` in an experiment) keeps, beside the weights the
optimizer moves, their average ``a <- decay * a + (1 - decay) * w`` after every optimizer
step (the plain mean of the weights so far for the first ``1 / (1 - decay)`` steps). Late
in training the optimizer's weights jitter around a minimum; their average sits nearer its
middle: on the CPU-budget character LM it was worth 0.011 nats of held-out loss
(docs/RESULTS.md), for one extra copy of the parameters.

Which weights are where:

- training steps and ``train/*`` metrics use the optimizer's weights;
- every validation (``val/*``, the best checkpoint's choice) uses the average;
- a checkpoint's ``state_dict`` holds the average, so ``test``, ``test_last``, ``rnnlab-eval``
  and ``rnnlab-sample`` use it with no knowledge of this callback; the optimizer's weights
  travel in the callback's own state, from which a resumed run continues exactly;
- after training the model in memory holds the average (the figures and samples).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.trainer.states import TrainerFn

from rnnlab.callbacks.options import WeightAverageOptions as _DECLARED


class WeightAverage(pl.Callback):
    """Exponential moving average of the parameters, updated after each optimizer step.

    Args:
        decay: the weight of the past average at each update (0.998: about the last 500
            steps count). Until ``1 / (1 - decay)`` steps are averaged, the average is the
            plain mean of the weights since ``start_step``.
        start_step: the optimizer step from which the weights are averaged; the average's
            first value is the weights after that step. Before it, the weights are the model.
    """

    def __init__(
        self, decay: float = _DECLARED.decay, start_step: int = _DECLARED.start_step
    ) -> None:
        self.decay, self.start_step = decay, start_step
        self._other: dict[str, torch.Tensor] = {}  # the weights not in the model now
        self._updates = 0
        self._swapped = False  # True while the model holds the average
        self._step = -1  # the optimizer step of the last update check

    @property
    def state_key(self) -> str:
        return "WeightAverage"

    # -- the two sets of weights --------------------------------------------------------------
    @staticmethod
    def _params(pl_module: pl.LightningModule) -> dict[str, torch.Tensor]:
        return {name: p for name, p in pl_module.named_parameters()}

    def _swap(self, pl_module: pl.LightningModule) -> None:
        with torch.no_grad():
            for name, p in self._params(pl_module).items():
                held = p.detach().clone()
                p.copy_(self._other[name])
                self._other[name] = held
        self._swapped = not self._swapped

    def weights(self, pl_module: pl.LightningModule) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the optimizer's weights, their average), wherever each is held now."""
        model = {n: p.detach() for n, p in self._params(pl_module).items()}
        if not self._updates:
            return model, model
        other = dict(self._other)  # a dict of its own: a swap rebinds the names in _other
        return (other, model) if self._swapped else (model, other)

    # -- training -----------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._step = trainer.global_step  # restored by now when the run resumes

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:  # fmt: skip
        step = trainer.global_step
        if step == self._step:  # no optimizer step (gradient accumulation)
            return
        self._step = step
        if step <= self.start_step:
            return
        # the plain mean of the weights so far until it spans the average's horizon,
        # 1 / (1 - decay) steps, then the exponential average: a short run is not
        # dominated by its first weights
        rate = max(1.0 - self.decay, 1.0 / (self._updates + 1))
        with torch.no_grad():
            for name, p in self._params(pl_module).items():
                if self._updates:
                    self._other[name].lerp_(p.detach(), rate)
                else:
                    self._other[name] = p.detach().clone()
        self._updates += 1

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._updates and not self._swapped:
            self._swap(pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._swapped:
            self._swap(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._updates and not self._swapped:  # the trained model is the average
            self._swap(pl_module)

    # -- checkpoints ----------------------------------------------------------------------------
    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:  # fmt: skip
        if not self._updates:
            return
        # references, as Lightning's own state_dict holds them: the save writes them now
        trained, average = self.weights(pl_module)
        checkpoint.setdefault("callbacks", {})[self.state_key] = {
            "updates": self._updates,
            "trained_weights": trained,
        }
        checkpoint["state_dict"].update(average)

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:  # fmt: skip
        """When training resumes: the model (loaded with the average) takes the optimizer's
        weights back, and the average is kept beside it. A test or an evaluation keeps the
        average."""
        if trainer.state.fn != TrainerFn.FITTING:
            return
        state = checkpoint.get("callbacks", {}).get(self.state_key)
        self._swapped = False
        if not state:  # saved before averaging began, or without this callback
            self._updates, self._other = 0, {}
            return
        self._updates = state["updates"]
        params = self._params(pl_module)
        self._other = {n: p.detach().clone() for n, p in params.items()}
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(state["trained_weights"][name])
