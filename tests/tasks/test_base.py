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
    task.hparams.scheduler = None
    assert isinstance(task.configure_optimizers(), torch.optim.SGD)
