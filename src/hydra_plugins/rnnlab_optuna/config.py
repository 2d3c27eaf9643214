"""Config of the ``rnnlab_optuna`` sweeper (``hydra/sweeper=rnnlab_optuna``)."""

# No `from __future__ import annotations`: Hydra loads plugin modules in a way that
# breaks dataclasses with string annotations.
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class RnnlabOptunaSweeperConf:
    _target_: str = "hydra_plugins.rnnlab_optuna.sweeper.RnnlabOptunaSweeper"
    # search space: key -> "interval(1e-4, 1e-1)" / "tag(log, interval(...))" / "choice(a, b)" /
    # "range(1, 4)", or {type: float|int|categorical, low, high, log, step, choices}
    params: dict[str, Any] = field(default_factory=dict)
    direction: str = "minimize"
    n_trials: int = 20  # in total over every run of the same study, resumed ones included
    # trials launched at once; null: the launcher's n_jobs (1 for the basic launcher)
    n_jobs: int | None = None
    study_name: str = "rnnlab"
    # any Optuna RDB URL; null: sqlite:///<paths.log_dir>/<task_name>/optuna/<study_name>.db
    storage: str | None = None
    seed: int = 42
    n_startup_trials: int = 5  # TPE samples at random until this many trials are finished
    # pruning of bad trials from their per-epoch validation metric
    pruner: str = "median"  # median | hyperband | none
    pruner_warmup_epochs: int = 1  # epochs before a trial can be pruned
    pruner_startup_trials: int = 2  # finished trials before any is pruned (median)
    # trials left RUNNING by a killed sweep: fail them on resume (false when several
    # workers share the study: their running trials are alive)
    fail_stale_trials: bool = True


ConfigStore.instance().store(
    group="hydra/sweeper", name="rnnlab_optuna", node=RnnlabOptunaSweeperConf, provider="rnnlab"
)
