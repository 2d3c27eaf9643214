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
    from rnnlab.errors import config_group
    from rnnlab.tasks.options import SequenceOptions

    with pytest.raises(ConfigError) as err, config_group("task"):
        SequenceOptions.check({"tolerance": 0})
    assert str(err.value) == "task.tolerance=0 is not allowed: a finite number > 0"
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


@pytest.mark.parametrize("loss_on", ["marked", "all"])
@pytest.mark.parametrize("impl", ["torch", "scratch"])
def test_a_batch_with_lengths_scores_each_sequence_on_its_own_steps(impl, loss_on):
    """(x, y, mask, lengths): every output is the one the sequence gets alone, and ``all``
    averages over the real steps only (the padding holds random inputs and targets)."""
    torch.manual_seed(0)
    model = {"cell": "lstm", "hidden_size": 6, "impl": impl, "bidirectional": True}
    task = SequenceTask(model=model, input_size=3, num_outputs=4, optimizer=OPT, loss_on=loss_on)
    lengths = torch.tensor([4, 7, 2])
    x, y = torch.randn(3, 7, 3), torch.randint(0, 4, (3, 7))
    mask = torch.zeros(3, 7, dtype=torch.bool)
    mask[torch.arange(3), lengths - 1] = True  # scored at each sequence's last step
    loss = task.step((x, y, mask, lengths), "train")
    alone = [task(x[b : b + 1, :n])[0] for b, n in enumerate(lengths.tolist())]
    if loss_on == "marked":
        expected = F.cross_entropy(torch.stack([o[-1] for o in alone]), y[mask])
    else:
        targets = [y[b, :n] for b, n in enumerate(lengths.tolist())]
        expected = F.cross_entropy(torch.cat(alone), torch.cat(targets))
    torch.testing.assert_close(loss, expected)
    # the fixed-length form is unchanged: lengths of the full length give the same loss
    full = torch.full((3,), 7)
    torch.testing.assert_close(task.step((x, y, mask, full), "val"), task.step((x, y, mask), "val"))
