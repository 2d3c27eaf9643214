"""A Hydra sweeper running an Optuna study that resumes and prunes (Optuna 4 and 5).

The study lives in an RDB storage (SQLite by default, at a path that is the same for
every rerun of the same command), opened with ``load_if_exists``: rerunning an
interrupted sweep continues it, and trials already finished count towards
``n_trials``. Trials are asked in batches of ``n_jobs`` and launched by whatever
Hydra launcher is configured. Each job gets ``optuna.trial``, ``optuna.storage`` and
``optuna.study_name`` overrides; the ``OptunaPruning`` callback in the job reports
its validation metric to that trial every epoch and stops the job when the pruner
says so. The job's return value (``optimized_metric``) is the trial's value.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.rnnlab_optuna.space import distributions, trial_overrides
from hydra_plugins.rnnlab_optuna.tables import write_best_params, write_trials_csv
from rnnlab.compat.optuna import fail_trial, trial_attrs

log = logging.getLogger(__name__)


class RnnlabOptunaSweeper(Sweeper):
    def __init__(self, **conf: Any) -> None:
        self.conf = OmegaConf.create(conf)
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.hydra_context: HydraContext | None = None
        self.job_idx = 0

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def storage_url(self) -> str:
        """The configured URL, or a SQLite file that is the same for every rerun."""
        if self.conf.storage:
            url = str(self.conf.storage)
        else:
            root = Path(self.config.paths.log_dir) / str(self.config.task_name) / "optuna"
            url = f"sqlite:///{root.resolve()}/{self.conf.study_name}.db"
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        return url

    def _split_arguments(self, arguments: list[str]) -> tuple[list[str], dict[str, Any]]:
        """Command-line sweeps (``key=interval(0,1)``) join the space; the rest is fixed."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        fixed, space = [], dict(self.conf.params or {})
        for override in parser.parse_overrides(arguments):
            if override.is_sweep_override():
                space[override.get_key_element()] = override
            else:
                fixed.append(override.input_line)
        return fixed, space

    def sweep(self, arguments: list[str]) -> list[Any]:
        import optuna
        from optuna.trial import TrialState

        from rnnlab.launch.pruning import make_pruner  # imported with the sweep: Lightning

        # Optuna's own line per trial prints every float with 17 digits; _tell says it briefly
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        fixed, space = self._split_arguments(arguments)
        dists = distributions(space, self.hydra_context.config_loader)
        storage, name = self.storage_url(), str(self.conf.study_name)
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction=self.conf.direction,
            load_if_exists=True,
            pruner=make_pruner(**self._pruner_spec()),
        )
        study.set_user_attr("pruner", self._pruner_spec())
        stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if self.conf.fail_stale_trials:
            for t in stale:  # left by a killed sweep
                fail_trial(study, t, "interrupted")
        counted = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state.is_finished() and not t.user_attrs.get("interrupted")
        ]
        # A new seed per resume: the same seed would repeat the random start-up points.
        study.sampler = optuna.samplers.TPESampler(
            seed=self.conf.seed + len(study.trials), n_startup_trials=self.conf.n_startup_trials
        )
        remaining = self.conf.n_trials - len(counted)
        log.info(
            "Optuna study %s in %s: %d trials done, %d to run",
            name,
            storage,
            len(counted),
            max(remaining, 0),
        )
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        returns = []
        while remaining > 0:
            trials = [
                study.ask(fixed_distributions=dists) for _ in range(min(self._n_jobs(), remaining))
            ]
            batch = [fixed + trial_overrides(t, storage, name) for t in trials]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(batch)
            for trial, result in zip(trials, results, strict=True):
                self._tell(study, trial, result)
            returns.append(results)
            remaining -= len(batch)
            self._write_tables(study, sweep_dir)
        self._write_tables(study, sweep_dir)
        return returns

    def _tell(self, study: Any, trial: Any, result: Any) -> None:
        from optuna.trial import TrialState

        try:
            value = result.return_value
        except Exception as err:  # the job raised: Hydra keeps the exception for us
            log.warning("trial %d failed: %s", trial.number, err)
            value = None
        attrs = trial_attrs(study, trial)
        if "pruned_at_epoch" in attrs:
            study.tell(trial, state=TrialState.PRUNED)
            log.info("trial %d: pruned at epoch %d", trial.number, attrs["pruned_at_epoch"])
        elif isinstance(value, (int, float)) and math.isfinite(value):
            study.tell(trial, float(value))
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in trial.params.items())  # fmt: skip
            log.info("trial %d: %.4g (%s)", trial.number, value, params)
        else:
            log.warning("trial %d has no finite objective (%r): failed", trial.number, value)
            study.tell(trial, state=TrialState.FAIL)

    def _n_jobs(self) -> int:
        if self.conf.n_jobs:
            return int(self.conf.n_jobs)
        n = OmegaConf.select(self.config, "hydra.launcher.n_jobs", default=1)
        return n if isinstance(n, int) and n > 0 else 1

    def _pruner_spec(self) -> dict[str, Any]:
        return {
            "kind": str(self.conf.pruner),
            "warmup_epochs": int(self.conf.pruner_warmup_epochs),
            "startup_trials": int(self.conf.pruner_startup_trials),
        }

    def _write_tables(self, study: Any, sweep_dir: Path) -> None:
        write_trials_csv(study, sweep_dir / "trials.csv")
        write_best_params(study, sweep_dir / "best_params.yaml")
