"""``callbacks=ema``: the average of the weights is what is validated, saved, tested,
evaluated and sampled; the optimizer's weights are what trains, and a resumed run continues
from them exactly."""

from __future__ import annotations

from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.trainer.states import TrainerFn

import rnnlab.run.job as job
from rnnlab.callbacks.averaging import WeightAverage

from helpers import FAST, make_config

RUN = [*FAST, "callbacks=ema", "callbacks.ema.decay=0.9", "trainer.deterministic=true",
       "callbacks.test_figures=null"]  # fmt: skip


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))


def _step(callback: WeightAverage, module: Tiny, step: int, value: float) -> None:
    """The optimizer's step ``step`` left the weights at ``value``."""
    with torch.no_grad():
        module.w.fill_(value)
    callback.on_train_batch_end(SimpleNamespace(global_step=step), module, None, None, 0)


def _average(callback: WeightAverage, module: Tiny) -> float:
    return float(callback.weights(module)[1]["w"][0])


def test_the_average_is_the_mean_until_its_horizon_then_exponential():
    callback, module = WeightAverage(decay=0.75), Tiny()  # horizon: 4 steps
    callback.on_train_start(SimpleNamespace(global_step=0), module)
    values = [8.0, 4.0, 0.0, 12.0, 20.0, 4.0]
    expected = []
    for n, value in enumerate(values, start=1):
        _step(callback, module, n, value)
        if n <= 4:
            expected.append(sum(values[:n]) / n)
        else:
            expected.append(0.75 * expected[-1] + 0.25 * value)
        assert _average(callback, module) == pytest.approx(expected[-1]), n
    assert expected[3:] == [6.0, 9.5, 8.125]  # the rule above, worked by hand
    assert float(callback.weights(module)[0]["w"][0]) == 4.0  # the trained weights untouched


def test_nothing_is_averaged_until_start_step_nor_without_an_optimizer_step():
    callback, module = WeightAverage(decay=0.5, start_step=2), Tiny()
    callback.on_train_start(SimpleNamespace(global_step=0), module)
    _step(callback, module, 1, 5.0)
    _step(callback, module, 2, 7.0)
    assert _average(callback, module) == 7.0  # no average yet: the model is the weights
    _step(callback, module, 3, 1.0)  # the first value averaged
    _step(callback, module, 3, 9.0)  # an accumulation micro-batch: no optimizer step
    assert _average(callback, module) == 1.0
    _step(callback, module, 4, 3.0)
    assert _average(callback, module) == 2.0


def test_validation_sees_the_average_and_training_gets_its_weights_back():
    callback, module = WeightAverage(decay=0.5, start_step=1), Tiny()
    callback.on_train_start(SimpleNamespace(global_step=0), module)
    _step(callback, module, 1, 9.0)  # not averaged yet: validation and the end keep the model
    for hook in (callback.on_validation_epoch_start, callback.on_validation_epoch_end,
                 callback.on_train_end):  # fmt: skip
        hook(None, module)
        assert module.w[0] == 9.0
    _step(callback, module, 2, 2.0)
    _step(callback, module, 3, 6.0)
    callback.on_validation_epoch_start(None, module)
    assert module.w[0] == 4.0
    callback.on_validation_epoch_end(None, module)
    assert module.w[0] == 6.0
    callback.on_train_end(None, module)  # the trained model is the average
    assert module.w[0] == 4.0 and callback.weights(module)[0]["w"][0] == 6.0


def test_a_checkpoint_holds_the_average_and_a_resume_takes_the_weights_back():
    callback, module = WeightAverage(decay=0.5), Tiny()
    callback.on_train_start(SimpleNamespace(global_step=0), module)
    _step(callback, module, 1, 2.0)
    _step(callback, module, 2, 6.0)
    callback.on_validation_epoch_start(None, module)  # saved while validating: swapped
    ckpt = {"state_dict": dict(module.state_dict())}
    callback.on_save_checkpoint(None, module, ckpt)
    assert ckpt["state_dict"]["w"][0] == 4.0
    fitting = SimpleNamespace(state=SimpleNamespace(fn=TrainerFn.FITTING))
    for fn, expected in ((TrainerFn.TESTING, 4.0), (TrainerFn.FITTING, 6.0)):
        resumed, fresh = WeightAverage(decay=0.5), Tiny()
        fresh.load_state_dict(ckpt["state_dict"])  # what Lightning loads first
        resumed.on_load_checkpoint(SimpleNamespace(state=SimpleNamespace(fn=fn)), fresh, ckpt)
        assert fresh.w[0] == expected, fn
    assert _average(resumed, fresh) == 4.0
    resumed.on_train_start(SimpleNamespace(global_step=2), fresh)
    _step(resumed, fresh, 2, 100.0)  # a micro-batch of accumulation before the next step
    assert _average(resumed, fresh) == 4.0
    _step(resumed, fresh, 3, 8.0)
    assert _average(resumed, fresh) == 6.0
    # a checkpoint from before averaging began (or without this callback) trains its weights
    plain = {"state_dict": {"w": torch.full((3,), 5.0)}}
    resumed, fresh = WeightAverage(decay=0.5), Tiny()
    fresh.load_state_dict(plain["state_dict"])
    resumed.on_load_checkpoint(fitting, fresh, plain)
    assert fresh.w[0] == 5.0 and _average(resumed, fresh) == 5.0


def test_every_test_and_eval_of_a_run_uses_the_average(tmp_path):
    """The best checkpoint, tested by the trainer that trained it, is the average (the
    optimizer's weights stay in the callback's state), as last.ckpt and rnnlab-eval are."""
    out = tmp_path / "run"
    trained = job.train(make_config(out, [*RUN, "trainer.max_epochs=1", "test_last=true"]), out)
    best = torch.load(out / "checkpoints" / "best.ckpt", weights_only=False)
    own = best["callbacks"]["WeightAverage"]["trained_weights"]
    assert any(not torch.equal(own[k], best["state_dict"][k]) for k in own)
    assert trained["test/loss"] == trained["test_last/loss"]  # one epoch: best = last
    eval_dir = tmp_path / "eval"
    cfg = make_config(eval_dir, [f"ckpt_path={out / 'checkpoints' / 'best.ckpt'}",
                                 "trainer.accelerator=cpu"], name="eval")  # fmt: skip
    cfg.paths.data_dir = str(out / "data")
    assert job.evaluate(cfg, eval_dir)["test/loss"] == trained["test/loss"]
    without = job.train(make_config(tmp_path / "plain", [*FAST, "trainer.max_epochs=1",
                        "trainer.deterministic=true", "callbacks.test_figures=null"]),
                        tmp_path / "plain")  # fmt: skip
    assert without["train/loss"] == trained["train/loss"]  # training itself is unchanged
    assert without["test/loss"] != trained["test/loss"]
