"""Config of the ``rnnlab_optuna`` sweeper (``hydra/sweeper=rnnlab_optuna``), declared once:
the config check (``rnnlab.schema``) reads each key's bound from here."""

# No `from __future__ import annotations`: Hydra loads plugin modules in a way that
# breaks dataclasses with string annotations.
from dataclasses import dataclass
from typing import Any, ClassVar

from hydra.core.config_store import ConfigStore

from rnnlab.schema.declare import Options, option


@dataclass
class RnnlabOptunaSweeperConf(Options):
    group: ClassVar[str] = "hydra.sweeper"

    _target_: str = "hydra_plugins.rnnlab_optuna.sweeper.RnnlabOptunaSweeper"
    params: dict[str, Any] = option(
        {},
        "the search space: key -> interval(1e-4, 1e-1), tag(log, interval(...)), "
        "choice(a, b), range(1, 4), or {type: float|int|categorical, low, high, log, step, "
        "choices}",
    )
    direction: str = option("minimize", "minimize or maximize optimized_metric (must agree "
                            "with the metric)", choices=("minimize", "maximize"))  # fmt: skip
    n_trials: int = option(20, "trials in total over every run of the study", ge=1)
    n_jobs: int | None = option(None, "trials at once (null: the launcher's n_jobs)", ge=1)
    study_name: str = option("rnnlab", "the study's name")
    storage: str | None = option(None, "an Optuna RDB URL (null: sqlite under the log dir)")
    seed: int = option(42, "seed of the TPE sampler", ge=0, le=2**32 - 1)
    n_startup_trials: int = option(5, "random trials before TPE takes over", ge=0)
    pruner: str = option("median", "stop bad trials early from their per-epoch metric",
                         choices=("median", "hyperband", "none"))  # fmt: skip
    pruner_warmup_epochs: int = option(1, "epochs before a trial can be pruned", ge=0)
    pruner_startup_trials: int = option(2, "finished trials before any is pruned", ge=0)
    fail_stale_trials: bool = option(True, "fail trials a killed sweep left RUNNING (false "
                                     "when several workers share the study)")  # fmt: skip


ConfigStore.instance().store(
    group="hydra/sweeper", name="rnnlab_optuna", node=RnnlabOptunaSweeperConf, provider="rnnlab"
)
