"""What every task shares: the non-finite loss check on both paths, epoch metrics, and the
optimizer and scheduler a task configures."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from rnnlab.tasks.base import NonFiniteLossError
from rnnlab.tasks.regress import RegressionTask

OPT = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}


def task_on(world_size: int, logs: bool) -> RegressionTask:
    task = RegressionTask(model={"cell": "gru", "hidden_size": 4}, input_size=1, num_outputs=1,
                          optimizer=OPT)  # fmt: skip
    strategy = SimpleNamespace(reduce=lambda t, reduce_op: t)  # one rank stands for all
    task._trainer = SimpleNamespace(world_size=world_size, global_step=0, strategy=strategy,
                                    _logger_connector=SimpleNamespace(should_update_logs=logs),
                                    fast_dev_run=False, current_epoch=2)  # fmt: skip
    return task


def test_cpu_single_process_stops_at_the_first_bad_step():
    task = task_on(world_size=1, logs=False)
    task.trainer.global_step = 4
    task._check_finite(torch.tensor(0.5), 0)
    assert int(task._bad_step) == -1
    with pytest.raises(NonFiniteLossError, match="global step 4 .epoch 2."):
        task._check_finite(torch.tensor(math.inf), 1)


def test_device_path_records_the_first_bad_step_and_raises_when_logging():
    """Off a single CPU process the loss is read back only when Lightning logs."""
    task = task_on(world_size=2, logs=False)
    for step, loss in ((3, 0.5), (7, math.nan), (9, math.inf), (10, 0.1)):
        task.trainer.global_step = step
        task._check_finite(torch.tensor(loss), step)  # not logging: no read-back, no raise
    assert int(task._bad_step) == 7  # the first bad step is kept
    task.trainer._logger_connector.should_update_logs = True
    with pytest.raises(NonFiniteLossError, match="train/loss is not finite at global step 7"):
        task._check_finite(torch.tensor(0.1), 11)
    task.on_train_epoch_start()  # a new epoch starts clean
    task._check_finite(torch.tensor(0.1), 0)
    assert int(task._bad_step) == -1


def test_scheduler_gets_the_runs_length_and_its_monitor():
    task = task_on(world_size=1, logs=False)
    task.trainer.estimated_stepping_batches = 30
    task.trainer.max_epochs = 6
    task.hparams.scheduler = {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
                              "_partial_": True, "T_max": "auto"}  # fmt: skip
    config = task.configure_optimizers()
    assert config["lr_scheduler"]["scheduler"].T_max == 6  # epochs: stepped every epoch
    assert (config["lr_scheduler"]["monitor"], config["lr_scheduler"]["interval"]) == (
        "val/loss", "epoch",
    )  # fmt: skip
    task.hparams.scheduler = {"_target_": "torch.optim.lr_scheduler.OneCycleLR", "_partial_": True,
                              "max_lr": 0.1, "total_steps": "auto", "interval": "step"}  # fmt: skip
    config = task.configure_optimizers()
    assert config["lr_scheduler"]["scheduler"].total_steps == 30  # steps: stepped every batch
    assert config["lr_scheduler"]["interval"] == "step"
    task.hparams.scheduler = {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
                              "_partial_": True, "T_max": "auto", "interval": "step"}  # fmt: skip
    config = task.configure_optimizers()
    assert config["lr_scheduler"]["scheduler"].T_max == 30  # stepped every batch: one cosine
    task.hparams.scheduler = None
    assert isinstance(task.configure_optimizers(), torch.optim.SGD)


def across_ranks(*metrics):
    """``metrics[0].compute()`` as DDP gives it, each metric standing for one rank's: its
    states gathered from every rank, then reduced the way the metric declares."""
    first = metrics[0]

    def gather(tensor, group=None):
        name = next(n for n in first._reductions if getattr(first, n) is tensor)
        return [getattr(m, name) for m in metrics]

    first.dist_sync_fn, first.distributed_available_fn = gather, lambda: True
    return first.compute()


@pytest.mark.parametrize("kind", ["within_tolerance", "length_buckets", "char_nll"])
def test_rnnlab_metrics_over_ranks_equal_one_process_seeing_every_batch(kind):
    from rnnlab.tasks.language import CharNLL
    from rnnlab.tasks.sequence import LengthBucketAccuracy, WithinTolerance

    make, batches = {
        "within_tolerance": (lambda: WithinTolerance(0.5),
                             [(torch.tensor([0.1, 2.0]), torch.zeros(2)),
                              (torch.tensor([0.2, 0.3, 0.9]), torch.zeros(3))]),
        "length_buckets": (lambda: LengthBucketAccuracy([[1, 4], [5, 8]]),
                           [(torch.tensor([True, False]), torch.tensor([3, 5])),
                            (torch.tensor([True, True, False]), torch.tensor([4, 6, 2]))]),
        "char_nll": (CharNLL, [(torch.tensor(6.0), 3), (torch.tensor(1.0), 1)]),
    }[kind]  # fmt: skip
    ranks, alone = [make(), make()], make()
    for metric, batch in zip(ranks, batches, strict=True):
        metric.update(*batch)
        alone.update(*batch)
    torch.testing.assert_close(across_ranks(*ranks), alone.compute())


def test_a_batch_already_on_the_device_is_used_as_it_is():
    task = task_on(world_size=1, logs=False)
    batch = (torch.zeros(2, 3, 1), torch.ones(2, 1, 1))
    assert task.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    moved = task.transfer_batch_to_device(batch, torch.device("meta"), 0)  # elsewhere: moved
    assert [t.device.type for t in moved] == ["meta", "meta"]
    partly = (torch.zeros(2, 3, 1), torch.ones(2, 1, 1, device="meta"))
    moved = task.transfer_batch_to_device(partly, torch.device("meta"), 0)
    assert [t.device.type for t in moved] == ["meta", "meta"]
    assert task.transfer_batch_to_device(torch.zeros(2), torch.device("meta"), 0).is_meta


@pytest.mark.parametrize("name", ["regress.RegressionTask", "classify.ClassificationTask",
                                  "regress_sequence.SequenceRegressionTask",
                                  "sequence.SequenceTask", "language.LanguageModelTask"])  # fmt: skip
def test_every_task_takes_the_shared_arguments_in_order(name):
    import importlib

    module, cls = name.rsplit(".", 1)
    task_class = getattr(importlib.import_module(f"rnnlab.tasks.{module}"), cls)
    extra = {"vocab": ["<unk>", "a", "b"]} if cls == "LanguageModelTask" else {}
    task = task_class({"cell": "gru", "hidden_size": 4}, 3, 3, OPT, **extra)
    assert (task.hparams.input_size, task.hparams.num_outputs) == (3, 3)
    assert task.hparams.optimizer == OPT and task.rnn.hidden_size == 4


@pytest.mark.parametrize("name", ["ClassificationTask", "LanguageModelTask"])
def test_the_best_validation_score_travels_in_the_checkpoint(name):
    """A resumed run compares its next epochs with the best one before the interruption."""
    from rnnlab.tasks.classify import ClassificationTask
    from rnnlab.tasks.language import LanguageModelTask

    def make():
        if name == "ClassificationTask":
            return ClassificationTask({"cell": "gru", "hidden_size": 4}, 3, 3, OPT)
        return LanguageModelTask(
            {"cell": "gru", "hidden_size": 4}, 3, 3, OPT, vocab=["<unk>", "a", "b"]
        )

    task = make()
    best = task.val_acc_best if name == "ClassificationTask" else task.val_bpc_best
    best.update(torch.tensor(0.75))
    resumed = make()
    resumed.load_state_dict(task.state_dict())
    best = resumed.val_acc_best if name == "ClassificationTask" else resumed.val_bpc_best
    assert best.compute() == 0.75


def test_a_fit_logs_the_step_loss_on_lightnings_cadence_and_epoch_values_once(tmp_path):
    """The step loss reaches the loggers every ``log_every_n_steps`` steps; the progress bar
    shows it and ``val/loss``; the sanity pass before training counts for nothing."""
    import csv

    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    task = RegressionTask(model={"cell": "gru", "hidden_size": 4}, input_size=1, num_outputs=1,
                          optimizer=OPT)  # fmt: skip
    g = torch.Generator().manual_seed(1)
    train = DataLoader(
        TensorDataset(torch.randn(24, 6, 1, generator=g), torch.randn(24, 2, 1, generator=g)),
        batch_size=4,
    )
    val = DataLoader(TensorDataset(torch.randn(8, 6, 1, generator=g),
                                   torch.randn(8, 2, 1, generator=g)), batch_size=4)  # fmt: skip
    losses = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = pl.Trainer(max_epochs=1, log_every_n_steps=2, num_sanity_val_steps=2,
                         logger=CSVLogger(tmp_path, name="", version=""), accelerator="cpu",
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[Record()])  # fmt: skip
    trainer.fit(task, train, val)
    assert set(trainer.progress_bar_metrics) == {"train/loss_step", "val/loss"}
    # the run logs its whole config itself, flattened: the task gives the loggers none
    assert not (tmp_path / "hparams.yaml").exists()
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    steps = {int(r["step"]): float(r["train/loss_step"]) for r in rows if r["train/loss_step"]}
    assert steps == {s: pytest.approx(losses[s]) for s in (1, 3, 5)}  # of 6: each its own loss
    assert [float(r["train/lr"]) for r in rows if r["train/lr"]] == [pytest.approx(0.1)]
    (logged,) = [float(r["val/loss"]) for r in rows if r["val/loss"]]
    assert trainer.validate(task, val, verbose=False)[0]["val/loss"] == pytest.approx(logged)


@pytest.mark.parametrize(("max_epochs", "steps", "t_max"),
                         [(1, 30, 1), (None, 30, 30), (-1, 30, 30), (-1, math.inf, 1)])  # fmt: skip
def test_cosine_t_max_auto_counts_epochs_or_else_steps(max_epochs, steps, t_max):
    """Stepped each epoch: the epochs; with no epoch limit: the steps; with neither: 1."""
    task = task_on(world_size=1, logs=False)
    task.trainer.estimated_stepping_batches, task.trainer.max_epochs = steps, max_epochs
    task.hparams.scheduler = {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
                              "_partial_": True, "T_max": "auto"}  # fmt: skip
    assert task.configure_optimizers()["lr_scheduler"]["scheduler"].T_max == t_max


def test_a_plateau_scheduler_watches_its_metric_in_the_better_direction():
    from rnnlab.tasks.classify import ClassificationTask

    task = ClassificationTask({"cell": "gru", "hidden_size": 4}, 3, 3, OPT)
    plateau = {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "_partial_": True,
               "mode": None}  # fmt: skip
    for monitor, mode in (("val/acc", "max"), ("val/acc_best", "max"), ("val/loss", "min")):
        task.hparams.scheduler = {**plateau, "monitor": monitor}
        config = task.configure_optimizers()["lr_scheduler"]
        assert (config["monitor"], config["scheduler"].mode) == (monitor, mode)
    task.hparams.scheduler = {**plateau, "mode": "max", "monitor": "val/acc"}  # stated: kept
    assert task.configure_optimizers()["lr_scheduler"]["scheduler"].mode == "max"


def test_every_rank_stops_at_the_first_bad_step_any_rank_saw():
    """On DDP the first bad step is the largest over the ranks (-1: none), so a rank whose
    own losses were finite stops with the others; a bad loss at step 0 counts."""
    task = task_on(world_size=2, logs=True)
    other_rank = torch.tensor(0)  # the other rank's first bad step: 0
    ops = {"max": torch.maximum, "sum": torch.add}
    task.trainer.strategy.reduce = lambda t, reduce_op: ops[reduce_op](t, other_rank)
    with pytest.raises(NonFiniteLossError, match="global step 0 "):
        task._check_finite(torch.tensor(0.5), 0)  # finite here
    task = task_on(world_size=1, logs=False)
    task.on_train_epoch_start()
    task._check_finite(torch.tensor(0.5), 0)
    task = task_on(world_size=2, logs=False)
    task.on_train_epoch_start()
    for step in (0, 3):
        task.trainer.global_step = step
        task._check_finite(torch.tensor(math.nan), step)
    assert int(task._bad_step) == 0  # the first one, step 0, is kept


def test_logged_metrics_and_their_directions():
    from rnnlab.tasks.sequence import SequenceTask

    task = task_on(world_size=1, logs=False)
    stages = ("train", "val", "test")
    assert sorted(task.logged_metrics()) == sorted(
        [f"{s}/{m}" for s in stages for m in ("loss", "mse", "mae")]
        + ["train/lr", "test/rollout_mse"]
    )
    sequence = SequenceTask({"cell": "gru", "hidden_size": 4}, 3, 3, OPT)
    assert sequence.better("val/acc_best") == "higher"  # as val/acc
    assert sequence.better("val/loss_best") == sequence.better("val/unknown") == "lower"


def test_the_hyperparameters_are_plain_resolved_values():
    from omegaconf import OmegaConf

    run = OmegaConf.create({"seed": 3, "width": 4, "model": {"hidden_size": "${width}"}})
    task = RegressionTask(model=run.model, input_size=1, num_outputs=1,
                          optimizer=OmegaConf.create(OPT), run_config=run)  # fmt: skip
    assert task.hparams.model == {"hidden_size": 4} and type(task.hparams.model) is dict
    assert task.hparams.run_config["model"] == {"hidden_size": 4}
    assert type(task.hparams.optimizer) is dict and task.rnn.hidden_size == 4


def test_the_scheduler_given_is_the_one_configured():
    step = {"_target_": "torch.optim.lr_scheduler.StepLR", "_partial_": True, "step_size": 3}
    task = RegressionTask(model={"cell": "gru", "hidden_size": 4}, input_size=1, num_outputs=1,
                          optimizer=OPT, scheduler=step)  # fmt: skip
    scheduler = task.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR) and scheduler.step_size == 3


def test_checkpoints_carry_the_training_epochs_running_metrics_and_nothing_transient():
    task = task_on(world_size=1, logs=False)
    keys = set(task.state_dict())
    train = {k for k in keys if k.startswith(("losses.train_.", "metrics.train_."))}
    assert {"losses.train_.mean_value", "metrics.train_.mse.sum_squared_error"} <= train
    assert not any(k.startswith(("losses.val_", "losses.test_", "metrics.val_", "metrics.test_"))
                   for k in keys)  # fmt: skip
    assert "_bad_step" not in keys  # a fault is the run's, not the weights'
