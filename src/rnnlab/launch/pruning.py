"""Report each epoch's validation metric to the job's Optuna trial; stop when pruned.

The sweeper (``hydra/sweeper=rnnlab_optuna``) gives every job ``optuna.trial``,
``optuna.storage`` and ``optuna.study_name``. The job opens the same study through
the storage, so this works with jobs in other processes or on other machines.
Outside such a sweep (``trial: null``) the callback does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl

from rnnlab.io.runs import PRUNED_AT

log = logging.getLogger(__name__)


def make_pruner(kind: str = "median", warmup_epochs: int = 1, startup_trials: int = 2) -> Any:
    """The pruner named by the sweeper config; the jobs rebuild it from the study's attrs."""
    import optuna

    from rnnlab.errors import ConfigError

    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs
        )
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup_epochs))
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError("hydra.sweeper.pruner", kind, "one of median, hyperband, none")


class OptunaPruning(pl.Callback):
    """Args:
    monitor: the logged metric reported to the trial (``val/loss``).
    trial, storage, study_name: which trial this job is; set by the sweeper.
    """

    def __init__(
        self,
        monitor: str = "val/loss",
        trial: int | None = None,
        storage: str | None = None,
        study_name: str | None = None,
    ) -> None:
        self.monitor, self.trial_number = monitor, trial
        self.storage, self.study_name = storage, study_name
        self._trial: Any = None

    def _open_trial(self) -> Any:
        import optuna

        study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        # Optuna does not store the pruner: the sweeper leaves its settings in the study.
        study.pruner = make_pruner(**study.user_attrs.get("pruner", {}))
        from rnnlab.compat.optuna import trial_id

        return optuna.trial.Trial(study, trial_id(study, self.trial_number))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.trial_number is None or trainer.sanity_checking:
            return
        prune = False
        if trainer.is_global_zero:
            value = trainer.callback_metrics.get(self.monitor)
            if value is not None:
                self._trial = self._trial or self._open_trial()
                epoch = trainer.current_epoch
                self._trial.report(float(value), step=epoch)
                prune = self._trial.should_prune()
                if prune:
                    self._trial.set_user_attr("pruned_at_epoch", epoch)
                    log.info(
                        "trial %d pruned at epoch %d (%s=%.4g)",
                        self.trial_number,
                        epoch,
                        self.monitor,
                        value,
                    )
        # Every rank stops at the same epoch.
        if trainer.strategy.broadcast(prune, src=0):
            trainer.should_stop = True
            # into metrics.json with the run's final numbers: tables and summaries mark it
            trainer.callback_metrics[PRUNED_AT] = float(trainer.current_epoch)
