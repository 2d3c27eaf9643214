"""DDP on two CPU processes (gloo): validation and test metrics are averaged over every
example of the split, across ranks, as one process computes them on the whole split."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf

from rnnlab.run.build import build_datamodule
from rnnlab.tasks.regress import RegressionTask

from helpers import FAST, read_metrics, run_cli

# 2 test series x 17 windows: 17 per rank, in eval batches of 8, 8 and 1.
DDP = [*FAST, "trainer.max_epochs=1", "callbacks.test_figures=null", "data.eval_batch_size=8",
       "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]  # fmt: skip


@pytest.mark.slow
def test_ddp_validation_and_test_metrics_cover_every_rank(tmp_path):
    proc = run_cli("train", DDP, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    ddp = read_metrics(run)
    # the same checkpoint (best = last after one epoch), evaluated in one process
    best = run / "checkpoints" / "best.ckpt"
    run_cfg = OmegaConf.create(
        torch.load(best, weights_only=False)["hyper_parameters"]["run_config"]
    )
    dm = build_datamodule(run_cfg)
    task = RegressionTask.load_from_checkpoint(best, map_location="cpu")
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    (val,) = trainer.validate(task, datamodule=dm, verbose=False)
    (test,) = trainer.test(task, datamodule=dm, verbose=False)
    assert ddp["val/loss"] == pytest.approx(val["val/loss"], rel=1e-5)
    for key in ("test/mse", "test/mae", "test/rollout_mse"):
        assert ddp[key] == pytest.approx(test[key], rel=1e-5), key
    # what rank 0 alone saw (every other window) differs: the test can tell them apart
    x, y = next(iter(dm.test_dataloader()))[0], None
    dm.eval_batch_size = 10_000
    x, y = next(iter(dm.test_dataloader()))
    with torch.no_grad():
        errors = (task.eval()(x) - y[:, 0]).square().mean(dim=-1)
    assert errors.mean().item() == pytest.approx(test["test/mse"], rel=1e-5)
    assert abs(errors[0::2].mean().item() - test["test/mse"]) > 1e-3 * test["test/mse"]
