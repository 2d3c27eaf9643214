"""The classification task's test figure: the confusion matrix as counted."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from rnnlab.tasks.classify import ClassificationTask  # noqa: E402

OPT = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01}


def test_confusion_matrix_figure_shows_every_count():
    task = ClassificationTask(model={"cell": "gru", "hidden_size": 4}, input_size=3,
                              num_outputs=3, optimizer=OPT)  # fmt: skip
    assert task.test_figures() == {}  # before a test: nothing to draw
    task._confusion = torch.tensor([[6, 1, 0], [0, 4, 3], [1, 0, 8]])
    fig = task.test_figures()["confusion_matrix"]
    ax = fig.axes[0]
    assert ax.get_title() == "Test confusion matrix (23 examples)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert list(ax.get_xticks()) == list(ax.get_yticks()) == [0, 1, 2]
    cells = {(t.get_position(), t.get_text(), t.get_color()) for t in ax.texts}
    counts = task._confusion.tolist()
    # white on the dark cells (above half the largest count: 4 is not), black elsewhere
    assert cells == {((p, r), str(counts[r][p]), "white" if counts[r][p] > 4 else "black")
                     for r in range(3) for p in range(3)}  # fmt: skip
    assert {(t.get_fontsize(), t.get_ha(), t.get_va()) for t in ax.texts} == {
        (7, "center", "center")
    }
    # the colour bar close beside the matrix, as tall as it and narrow
    fig.canvas.draw()
    matrix, bar = (a.get_window_extent() for a in fig.axes)
    assert bar.height == pytest.approx(matrix.height, rel=0.03)
    assert 0 < bar.x0 - matrix.x1 < 0.05 * matrix.width and bar.width < 0.1 * matrix.width
    assert ax.images[0].get_cmap().name == "Blues" and len(fig.axes) == 2  # and a colour bar
    assert tuple(fig.get_size_inches()) == (5.5, 5.0)


def test_each_metric_says_which_way_is_better():
    from rnnlab.tasks.regress import RegressionTask

    model = {"cell": "gru", "hidden_size": 4}
    classify = ClassificationTask(model=model, input_size=3, num_outputs=3, optimizer=OPT)
    directions = classify.metric_directions()
    for stage in ("train", "val", "test"):
        assert directions[f"{stage}/loss"] == "lower" and directions[f"{stage}/acc"] == "higher"
    regress = RegressionTask(model=model, input_size=1, num_outputs=1, optimizer=OPT)
    assert {v for k, v in regress.metric_directions().items() if "/m" in k} == {"lower"}


def test_a_batch_with_lengths_classifies_each_sequence_from_its_own_end():
    """(x, labels, lengths): the loss is that of each sequence read alone to its length, in
    both directions (random values in the padding must not reach it)."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = {"cell": "gru", "hidden_size": 4, "bidirectional": True, "impl": "scratch"}
    task = ClassificationTask(model=model, input_size=3, num_outputs=3, optimizer=OPT)
    x, labels, lengths = torch.randn(3, 6, 3), torch.tensor([0, 2, 1]), torch.tensor([6, 1, 4])
    loss = task.step((x, labels, lengths), "train")
    logits = torch.cat([task(x[b : b + 1, :n]) for b, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    assert task.metrics["train_"]["acc"].compute() == (logits.argmax(1) == labels).float().mean()


def test_accuracy_is_over_examples_not_averaged_per_class():
    # three examples of class 0 right, one of class 1 wrong: 3/4 (per class it would be 1/2)
    logits = torch.tensor([[5.0, 0, 0], [5.0, 0, 0], [5.0, 0, 0], [5.0, 0, 0]])
    labels = torch.tensor([0, 0, 0, 1])
    task = ClassificationTask(model={"cell": "gru", "hidden_size": 4}, input_size=3,
                              num_outputs=3, optimizer=OPT)  # fmt: skip
    acc = task.stage_metrics()["acc"]
    acc.update(logits, labels)
    assert acc.compute() == torch.tensor(0.75)


def test_best_validation_accuracy_is_the_best_epoch_so_far():
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    task = ClassificationTask(model={"cell": "gru", "hidden_size": 4}, input_size=3,
                              num_outputs=2, optimizer={**OPT, "lr": 0.05})  # fmt: skip
    x = torch.randn(48, 5, 3, generator=torch.Generator().manual_seed(1))
    data = DataLoader(TensorDataset(x, (x[:, :, 0].sum(1) > 0).long()), batch_size=16)
    seen = []

    class Record(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):  # after the epoch's validation
            seen.append([float(trainer.callback_metrics[k]) for k in ("val/acc", "val/acc_best")])

    trainer = pl.Trainer(max_epochs=4, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", callbacks=[Record()])  # fmt: skip
    trainer.fit(task, data, data)
    accuracies, best = zip(*seen, strict=True)
    assert len(seen) == 4 and len(set(accuracies)) > 1
    assert list(best) == [max(accuracies[: i + 1]) for i in range(4)]
    trainer.test(task, data, verbose=False)  # the confusion matrix counts the test set alone
    assert task._confusion.sum() == 48 and task._confusion.shape == (2, 2)
