"""The private APIs rnnlab reaches through ``rnnlab.compat`` still exist and behave.

An upgrade of Lightning, Hydra or Optuna that moves one of them fails here, by name,
instead of somewhere in a run.
"""

from __future__ import annotations

import inspect

import lightning.pytorch as pl
import torch

from rnnlab.compat import hydra as hydra_compat
from rnnlab.compat import lightning as lightning_compat
from rnnlab.compat import optuna as optuna_compat


def test_lightning_subprocess_launcher_has_what_the_ddp_launcher_overrides():
    launcher = lightning_compat.SubprocessLauncher
    for name in ("launch", "kill", "_check_can_spawn_children"):
        assert callable(getattr(launcher, name, None)), name
    params = inspect.signature(launcher.__init__).parameters
    assert list(params)[1:4] == ["cluster_environment", "num_processes", "num_nodes"]
    command = lightning_compat.subprocess_command()
    assert isinstance(command, list) and command[0]
    lightning_compat.set_threads_for_processes(1)


class _Probe(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.logged: list[bool] = []

    def training_step(self, batch, batch_idx):
        self.logged.append(lightning_compat.logs_this_step(self.trainer))
        return self.layer(batch[0]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_says_which_steps_reach_the_loggers(tmp_path):
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.ones(6, 1)), batch_size=1
    )
    probe = _Probe()
    trainer = pl.Trainer(max_epochs=1, log_every_n_steps=3, logger=pl.loggers.CSVLogger(tmp_path),
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(probe, data)
    assert probe.logged == [False, False, True, False, False, True]


def test_hydra_converts_a_choice_element_as_a_job_would_get_it():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    override = OverridesParser.create().parse_override("optimizer.lr=choice(1e-3,0.1,true,abc)")
    values = [hydra_compat.convert_choice(override, v) for v in override.value().list]
    assert values == [0.001, 0.1, True, "abc"]


def test_optuna_trial_lookup_and_failing_a_stale_trial():
    import optuna
    from optuna.trial import TrialState

    study = optuna.create_study(storage="sqlite:///:memory:")
    trial = study.ask()
    assert optuna_compat.trial_id(study, trial.number) == trial._trial_id
    optuna_compat.fail_trial(study, trial, "interrupted")
    assert study.trials[0].state == TrialState.FAIL
    assert optuna_compat.trial_attrs(study, trial) == {"interrupted": True}


def test_omegaconf_gives_a_value_as_written_before_interpolation():
    from omegaconf import OmegaConf

    from rnnlab.compat.omegaconf import written_value

    cfg = OmegaConf.create({"a": "${hydra:runtime.output_dir}/x", "b": 3})
    assert written_value(cfg, "a") == "${hydra:runtime.output_dir}/x"
    assert written_value(cfg, "b") == 3


def test_wandb_logger_keeps_its_init_arguments_where_rnnlab_drops_anonymous(tmp_path):
    from lightning.pytorch.loggers import WandbLogger

    from rnnlab.compat.lightning import drop_wandb_anonymous

    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    assert "anonymous" in logger._wandb_init  # what W&B warns about
    drop_wandb_anonymous(logger)
    assert "anonymous" not in logger._wandb_init and logger._wandb_init["dir"] == str(tmp_path)


def _hydra_probe(tmp_path, body: str) -> str:
    """A config dir with one primary config holding ``body``."""
    (tmp_path / "probe.yaml").write_text(body, encoding="utf-8")
    return str(tmp_path)


def test_hydra_runs_a_task_on_the_arguments_given_not_on_sys_argv(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["probe", "x=99"])
    seen = []
    hydra_compat.run_main(lambda cfg: seen.append(cfg.x), _hydra_probe(tmp_path, "x: 1\n"),
                          "probe", ["x=2", f"hydra.run.dir={tmp_path / 'run'}"])  # fmt: skip
    assert seen == [2]


class Stop(Exception):
    pass


class _Callbacks:
    """A callback raising an Exception, one raising ``Refusal``: what Hydra does with each."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def on_run_start(self, config, **kwargs) -> None:
        raise self.error


def test_hydra_warns_of_a_callbacks_exception_and_lets_a_refusal_through(tmp_path, monkeypatch):
    import pytest
    from hydra._internal.callbacks import Callbacks
    from omegaconf import OmegaConf

    callbacks = Callbacks(OmegaConf.create({"hydra": {"callbacks": {}}}))
    callbacks.callbacks = [_Callbacks(Stop("no"))]
    with pytest.warns(UserWarning, match="Stop: no"):
        callbacks.on_run_start(config=None)
    callbacks.callbacks = [_Callbacks(hydra_compat.Refusal(Stop("no")))]
    with pytest.raises(hydra_compat.Refusal) as caught:
        callbacks.on_run_start(config=None)
    assert str(caught.value.error) == "no"


def test_hydra_composes_a_sweeps_job_and_lists_a_groups_options(tmp_path):
    from hydra.types import RunMode

    conf = tmp_path / "conf"
    (conf / "size").mkdir(parents=True)
    (conf / "size" / "small.yaml").write_text("n: 1\n", encoding="utf-8")
    (conf / "size" / "large.yaml").write_text("n: 9\n", encoding="utf-8")
    body = "defaults:\n  - size: small\n  - _self_\nx: 1\n"
    seen = {}

    def task(cfg):
        from hydra.core.hydra_config import HydraConfig

        master = HydraConfig.get()  # a job's config carries Hydra's; compose another job
        assert master.mode == RunMode.MULTIRUN
        seen["options"] = hydra_compat.group_options("size")

    (conf / "probe.yaml").write_text(body, encoding="utf-8")
    hydra_compat.run_main(task, str(conf), "probe",
                          ["-m", "x=3", f"hydra.sweep.dir={tmp_path / 's'}"])  # fmt: skip
    assert sorted(seen["options"]) == ["large", "small"]
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        master = compose("probe", ["x=3"], return_hydra_config=True)
        job = hydra_compat.job_config(master, ["size=large", "x=4"])
    assert (job.size.n, job.x) == (9, 4)


def test_hydra_error_line_drops_the_search_path():
    err = Exception("Could not find 'x'\nAvailable options:\n  a\nConfig search path:\n  p")
    assert hydra_compat.error_line(err) == "Could not find 'x' Available options: a"


def test_submitit_launcher_collects_results_as_rnnlab_answers_for_a_lost_job(tmp_path, monkeypatch):
    """The plugin's own ``launch``: executor from ``submitit.AutoExecutor``, ``map_array``
    over (overrides, dir key, job number, ...), ``results()[0]`` for each job in order."""
    import submitit
    from hydra.core.utils import JobReturn, JobStatus
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher
    from omegaconf import OmegaConf
    from submitit.core.utils import UncompletedJobError

    from rnnlab.compat.submitit import answering_lost_jobs, job_log

    class Job:
        def __init__(self, num: int) -> None:
            self.num = num

        def results(self):
            if self.num == 4:
                raise UncompletedJobError("has not produced any output")
            return [JobReturn(status=JobStatus.COMPLETED, _return_value=self.num)]

    class Executor:
        def __init__(self, folder, cluster=None, **kwargs) -> None:
            assert cluster == "local"

        def update_parameters(self, **kwargs) -> None:
            pass

        def map_array(self, fn, *iterables):
            return [Job(num) for num in iterables[2]]

    lost = []

    def answer(job, num, overrides, err):
        lost.append((job.num, num, overrides, type(err)))
        return JobReturn(status=JobStatus.COMPLETED, _return_value="lost")

    monkeypatch.setattr(submitit, "AutoExecutor", Executor)
    launcher = LocalLauncher(submitit_folder=str(tmp_path / ".submitit"))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    launcher.setup(hydra_context=None, task_function=None, config=config)
    with answering_lost_jobs(answer):
        results = launcher.launch([["seed=1"], ["seed=2"], ["seed=3"]], initial_job_idx=3)
    assert [r.return_value for r in results] == [3, "lost", 5]
    assert lost == [(4, 4, ["seed=2"], UncompletedJobError)]
    assert submitit.AutoExecutor is Executor  # put back
    assert job_log(submitit.LocalJob(tmp_path, "12")) == tmp_path / "12_0_log.err"


def test_torch_builds_an_extension_in_the_folder_rnnlab_looks_in(tmp_path, monkeypatch):
    from rnnlab.compat.torch import extension_dir

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    folder = extension_dir("rnnlab_probe")
    assert folder.parent == tmp_path and folder.name == "rnnlab_probe" and folder.is_dir()
