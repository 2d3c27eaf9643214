"""One number per sequence: the loss, the metrics and their directions, (x, y, lengths)."""

from __future__ import annotations

import torch

from rnnlab.tasks.classify import ClassificationTask
from rnnlab.tasks.regress_sequence import SequenceRegressionTask

OPT = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01}
MODEL = {"cell": "gru", "hidden_size": 4}


def test_loss_and_metrics_are_the_mse_of_one_prediction_per_sequence():
    torch.manual_seed(0)
    task = SequenceRegressionTask(model=MODEL, input_size=2, num_outputs=1, optimizer=OPT)
    x, y = torch.randn(5, 7, 2), torch.randn(5)
    pred = task(x)
    assert pred.shape == (5,)
    loss = task.step((x, y, torch.full((5,), 7)), "val")
    torch.testing.assert_close(loss, ((pred - y) ** 2).mean())
    values = task.metrics["val_"].compute()
    torch.testing.assert_close(values["val/mse"], loss)
    torch.testing.assert_close(values["val/mae"], (pred - y).abs().mean())
    directions = task.metric_directions()
    assert directions["test/mse"] == directions["test/mae"] == directions["test/loss"] == "lower"


def test_a_few_steps_fit_a_target_of_the_sequence():
    torch.manual_seed(0)
    task = SequenceRegressionTask(model=MODEL, input_size=1, num_outputs=1, optimizer=OPT)
    x = torch.randn(32, 5, 1)
    y = x.mean(dim=(1, 2))
    opt = torch.optim.Adam(task.parameters(), lr=0.05)
    first = task.step((x, y, torch.full((32,), 5)), "train").item()
    for _ in range(60):
        opt.zero_grad()
        task.step((x, y, torch.full((32,), 5)), "train").backward()
        opt.step()
    assert task.step((x, y, torch.full((32,), 5)), "train").item() < first / 4


def test_classification_reads_a_batch_with_lengths():
    torch.manual_seed(0)
    task = ClassificationTask(model=MODEL, input_size=2, num_outputs=3, optimizer=OPT)
    x, labels = torch.randn(4, 6, 2), torch.tensor([0, 2, 1, 0])
    lengths = torch.tensor([6, 3, 2, 6])
    with_lengths = task.step((x, labels, lengths), "val")
    alone = torch.cat([task(x[b : b + 1, :n]) for b, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(with_lengths, torch.nn.functional.cross_entropy(alone, labels))
    full = torch.full((4,), 6)  # full lengths: the fixed-length path's loss
    torch.testing.assert_close(task.step((x, labels, full), "val"), task.step((x, labels), "val"))


def test_regression_reads_each_sequence_to_its_own_end():
    torch.manual_seed(0)
    task = SequenceRegressionTask(model=MODEL, input_size=2, num_outputs=1, optimizer=OPT)
    x, targets = torch.randn(3, 5, 2), torch.tensor([0.5, -1.0, 2.0])
    lengths = torch.tensor([5, 2, 4])
    loss = task.step((x, targets, lengths), "val")
    alone = torch.cat([task(x[b : b + 1, :n]) for b, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(loss, torch.nn.functional.mse_loss(alone, targets))


def test_the_gradient_flow_loss_is_the_tasks_own_loss():
    torch.manual_seed(0)
    task = SequenceRegressionTask(model=MODEL, input_size=2, num_outputs=1, optimizer=OPT)
    x, targets = torch.randn(3, 5, 2), torch.tensor([0.5, -1.0, 2.0])
    outputs, state = task.rnn(x)
    batch = (x, targets, torch.full((3,), 5))
    torch.testing.assert_close(task.probe_loss(outputs, state, batch), task.step(batch, "val"))
