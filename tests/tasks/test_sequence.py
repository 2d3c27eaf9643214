"""The sequence task: its options, its loss over marked or all steps, its within-tolerance metric."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError
from rnnlab.tasks.sequence import SequenceTask, WithinTolerance


def test_within_tolerance_counts_strictly_closer_answers_over_every_update():
    metric = WithinTolerance(tolerance=0.5)
    assert metric.compute() == 0  # nothing seen: 0, not a division by zero
    metric.update(torch.tensor([1.25, 1.5, 1.75]), torch.ones(3))  # 0.25 in; 0.5 is not < 0.5
    assert metric.compute() == torch.tensor(1 / 3)
    metric.update(torch.tensor([[0.0, 2.0], [0.75, 5.0]]), torch.ones(2, 2))  # 1 of 4 more
    assert (int(metric.hits), int(metric.total)) == (2, 7)
    assert metric.compute() == torch.tensor(2 / 7)
    metric.reset()
    assert (int(metric.hits), int(metric.total)) == (0, 0)


OPT = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01}


def sequence_task(**options):
    torch.manual_seed(0)
    model = {"cell": "gru", "hidden_size": 6}
    return SequenceTask(model=model, input_size=3, num_outputs=4, optimizer=OPT, **options)


def test_options_are_checked_and_kept():
    with pytest.raises(ConfigError) as err:
        sequence_task(objective="hinge")
    assert str(err.value) == "task.objective='hinge' is not allowed: one of mse, cross_entropy"
    with pytest.raises(ConfigError) as err:
        sequence_task(loss_on="some")
    assert str(err.value) == "task.loss_on='some' is not allowed: one of marked, all"
    task = sequence_task(objective="mse", loss_on="all", tolerance=0.1)
    assert (task.hparams.objective, task.hparams.loss_on, task.hparams.tolerance) == (
        "mse",
        "all",
        0.1,
    )
    assert task(torch.randn(2, 5, 3)).shape == (2, 5, 4)  # an output per step
    (metric,) = task.stage_metrics().values()
    assert isinstance(metric, WithinTolerance) and metric.tolerance == 0.1
    assert type(sequence_task().stage_metrics()["acc"]).__name__ == "MulticlassAccuracy"


def test_loss_over_the_marked_steps_or_all_of_them():
    out = torch.randn(2, 5, 4)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 4] = mask[1, 2] = True
    labels = torch.randint(0, 4, (2, 5))
    ce = sequence_task()
    marked = F.cross_entropy(
        torch.stack([out[0, 4], out[1, 2]]), torch.stack([labels[0, 4], labels[1, 2]])
    )
    torch.testing.assert_close(ce.loss(out, labels, mask), marked)
    every = sequence_task(loss_on="all")
    torch.testing.assert_close(
        every.loss(out, labels, mask), F.cross_entropy(out.flatten(0, 1), labels.flatten())
    )
    mse = sequence_task(objective="mse")
    target = torch.randn(2, 5, 4)
    torch.testing.assert_close(mse.loss(out, target, mask), F.mse_loss(out[mask], target[mask]))


def test_accuracy_is_over_marked_steps_not_averaged_per_class():
    # recall answers: three steps of symbol 0 right, one of symbol 1 wrong: 3/4, not 1/2
    logits = torch.tensor([[5.0, 0, 0, 0]] * 4)
    acc = sequence_task().stage_metrics()["acc"]
    acc.update(logits, torch.tensor([0, 0, 0, 1]))
    assert acc.compute() == torch.tensor(0.75)
