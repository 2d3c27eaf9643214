"""Every task builds and trains one step with each modern cell, plain and residual: the
task reads the stack only through ``RecurrentStack`` (outputs, ``final_features``, state)."""

from __future__ import annotations

import pytest
import torch

from rnnlab.run.build import build_datamodule, build_task
from rnnlab.tasks.classify import ClassificationTask

from helpers import make_config

DATA = ["data=sine", "data=adding", "data=copy", "data=selective_copy", "experiment=chars_stdlib"]
# Keys the model YAML does not list are added with "+".
MODELS = [["model=lru"], ["model=s6"], ["model=slstm", "model.num_heads=2"],
          ["model=mlstm", "model.num_heads=2"],
          ["model=lru", "model.block=residual", "model.mlp_ratio=2"]]  # fmt: skip


def _train_step(task, batch) -> None:
    task.train()
    loss = task.step(batch, "train")
    loss.backward()
    assert torch.isfinite(loss)
    stack_grads = [p.grad for p in task.rnn.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in stack_grads)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: "-".join(m))
@pytest.mark.parametrize("data", DATA)
def test_each_task_trains_a_step_with_each_modern_cell(tmp_path, data, model):
    cfg = make_config(tmp_path, [data, *model, "model.hidden_size=8", "data.batch_size=4"])
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    task = build_task(cfg, datamodule)
    assert task.rnn.cell == cfg.model.cell
    batch = next(iter(datamodule.train_dataloader()))
    _train_step(task, batch)
    _train_step(task, batch)  # a language model carries the first step's state into this one
    if hasattr(task, "generate"):  # one character at a time, carrying the state
        text = task.generate("e", 5, generator=torch.Generator().manual_seed(0))
        assert len(text) == 5


@pytest.mark.parametrize("model", MODELS, ids=lambda m: "-".join(m))
def test_classification_trains_a_step_with_each_modern_cell(tmp_path, model):
    """The classification task on random pixels (MNIST itself is not needed to build it)."""
    options = dict(o.lstrip("+").removeprefix("model.").split("=") for o in model if "model." in o)
    cell = model[0].removeprefix("model=")
    options = {k: (int(v) if v.isdigit() else v) for k, v in options.items()}
    torch.manual_seed(0)
    task = ClassificationTask(model={"cell": cell, "hidden_size": 8, **options}, input_size=3,
                              num_outputs=10, optimizer={"_target_": "torch.optim.SGD",
                                                         "_partial_": True, "lr": 0.1})  # fmt: skip
    _train_step(task, (torch.randn(4, 12, 3), torch.randint(0, 10, (4,))))
