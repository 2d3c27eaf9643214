"""The sequence task: its options, its loss over marked or all steps, its within-tolerance
metric, its accuracy per bucket of example lengths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError
from rnnlab.tasks.sequence import LengthBucketAccuracy, SequenceTask, WithinTolerance


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
    metric.update(torch.tensor([0.25]), torch.zeros(1))  # a single answer, right
    assert metric.compute() == 1


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
    assert "val/acc" in task.logged_metrics()
    default = sequence_task()
    assert (default.hparams.objective, default.hparams.loss_on) == ("cross_entropy", "marked")
    assert type(default.stage_metrics()["acc"]).__name__ == "MulticlassAccuracy"


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
    every = sequence_task(objective="mse", loss_on="all")
    out, target = out[..., :1], target[..., :1]  # one number a step: [B, T, 1]
    torch.testing.assert_close(every.loss(out, target, mask), F.mse_loss(out, target))


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


def test_bucket_accuracy_counts_each_bucket_over_every_update() -> None:
    metric = LengthBucketAccuracy([[1, 4], [5, 8], [9, 12]])
    metric.update(torch.tensor([True, False, True, True]), torch.tensor([3, 5, 5, 9]))
    metric.update(torch.tensor([False, True]), torch.tensor([4, 12]))
    values = {k: v.item() for k, v in metric.compute().items()}
    assert values == {"acc_len_1_4": 0.5, "acc_len_5_8": 0.5, "acc_len_9_12": 1.0}
    metric.reset()
    metric.update(torch.tensor([True]), torch.tensor([2]))
    assert metric.compute()["acc_len_1_4"] == 1  # one answer, right
    assert metric.compute()["acc_len_5_8"] == 0  # empty: 0, not a division by zero


def test_sequence_task_scores_a_hand_made_batch_per_bucket() -> None:
    buckets = [[3, 4], [5, 6]]
    task = SequenceTask(model={"cell": "gru", "hidden_size": 4}, input_size=2, num_outputs=2,
                        length_buckets=buckets)  # fmt: skip
    lengths = torch.tensor([3, 4, 5, 6])
    mask = torch.arange(6) == (lengths - 1)[:, None]
    y = torch.zeros(4, 6, dtype=torch.long)
    y[mask] = torch.tensor([1, 0, 1, 1])
    logits = torch.zeros(4, 6, 2)
    logits[mask] = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # R R W R
    task.forward = lambda x, lengths=None: logits
    task.step((torch.zeros(4, 6, 2), y, mask, lengths), "test")
    got = {k: v.item() for k, v in task.by_length["test_"].compute().items()}
    assert got == {"acc_len_3_4": 1.0, "acc_len_5_6": 0.5}
    task.step((torch.zeros(4, 6, 2), y, mask, lengths), "train")  # not scored per bucket
    assert "train_" not in task.by_length
    directions = task.metric_directions()
    assert directions["val/acc_len_3_4"] == directions["test/acc_len_5_6"] == "higher"
    assert "test/acc_len_3_4" in task.logged_metrics()
    assert task.hparams.length_buckets == buckets  # a checkpoint rebuilds the same metrics
    assert "length_buckets" not in SequenceTask(model={"cell": "gru", "hidden_size": 4},
                                                input_size=2, num_outputs=2).hparams  # fmt: skip


def test_a_regression_answer_is_right_within_the_tolerance() -> None:
    task = SequenceTask(model={"cell": "gru", "hidden_size": 4}, input_size=2, num_outputs=1,
                        objective="mse", tolerance=0.5, length_buckets=[[1, 9]])  # fmt: skip
    out, target = torch.tensor([[0.25], [0.5], [-0.75]]), torch.zeros(3, 1)
    assert task.correct(out, target).tolist() == [True, False, False]  # strictly closer
    target = torch.tensor([[2.0], [-1.0], [3.0]])  # the distance to the target, wherever it is
    assert task.correct(target + out, target).tolist() == [True, False, False]


def test_accuracy_is_over_marked_steps_not_averaged_per_class():
    # recall answers: three steps of symbol 0 right, one of symbol 1 wrong: 3/4, not 1/2
    logits = torch.tensor([[5.0, 0, 0, 0]] * 4)
    acc = sequence_task().stage_metrics()["acc"]
    acc.update(logits, torch.tensor([0, 0, 0, 1]))
    assert acc.compute() == torch.tensor(0.75)


def test_the_gradient_flow_loss_is_the_tasks_own_loss_over_the_real_steps():
    torch.manual_seed(0)
    task = sequence_task(loss_on="all")
    lengths = torch.tensor([5, 2, 3])
    x, y = torch.randn(3, 5, 3), torch.randint(0, 4, (3, 5))
    mask = torch.arange(5) == (lengths - 1)[:, None]
    batch = (x, y, mask, lengths)
    outputs, state = task.rnn(x, lengths=lengths)
    torch.testing.assert_close(task.probe_loss(outputs, state, batch), task.step(batch, "val"))


def test_a_run_logs_the_accuracy_of_each_length_bucket_in_validation_and_test():
    import lightning.pytorch as pl

    torch.manual_seed(0)
    task = SequenceTask(model={"cell": "gru", "hidden_size": 4}, input_size=2, num_outputs=2,
                        optimizer=OPT, length_buckets=[[1, 3], [4, 6]])  # fmt: skip
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(2):
        lengths = torch.randint(1, 7, (4,), generator=g)
        mask = torch.arange(6) == (lengths - 1)[:, None]
        batches.append((torch.randn(4, 6, 2, generator=g), torch.randint(0, 2, (4, 6), generator=g),
                        mask, lengths))  # fmt: skip
    expected = LengthBucketAccuracy([[1, 3], [4, 6]])
    loader = torch.utils.data.DataLoader(batches, batch_size=None)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")  # fmt: skip
    (validated,) = trainer.validate(task, loader, verbose=False)
    with torch.no_grad():
        for x, y, mask, lengths in batches:
            out = task(x, lengths)
            expected.update(task.correct(out[mask], y[mask]), lengths)
    want = {k: float(v) for k, v in expected.compute().items()}
    assert {k.removeprefix("val/"): v for k, v in validated.items()
            if k.startswith("val/acc_len")} == pytest.approx(want)  # fmt: skip
    (tested,) = trainer.test(task, loader, verbose=False)
    assert {k.removeprefix("test/"): v for k, v in tested.items()
            if k.startswith("test/acc_len")} == pytest.approx(want)  # fmt: skip
