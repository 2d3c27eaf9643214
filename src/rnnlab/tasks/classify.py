"""Sequence classification: the final state, through a linear head, gives class scores."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchmetrics import MaxMetric, Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from rnnlab.nn.recurrent import State
from rnnlab.tasks.base import BaseTask


class ClassificationTask(BaseTask):
    """Cross-entropy on ``head(final_features)``; accuracy per stage, confusion matrix on test.

    A batch is ``(x [B, T, F], labels [B])``, or ``(x, labels, lengths [B])`` from
    variable-length data, whose ``lengths`` are not read yet: the stack reads each padded
    row to its end. For a bidirectional stack the features are both directions' final
    states (``RecurrentStack.final_features``).
    """

    extra_metrics = {"val/acc_best": "higher"}
    batch_format = "labels"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head = nn.Linear(self.rnn.output_size, self.hparams.num_outputs)
        self.loss_fn = nn.CrossEntropyLoss()
        self.setup_metrics()
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # a resumed run keeps its best epoch
        self.confusion = MulticlassConfusionMatrix(num_classes=self.hparams.num_outputs)
        self._confusion: Tensor | None = None

    def stage_metrics(self) -> dict[str, Metric]:
        # micro average: the fraction of examples classified correctly, as papers report.
        return {"acc": MulticlassAccuracy(num_classes=self.hparams.num_outputs, average="micro")}

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.rnn.encode(x))

    def probe_loss(self, outputs: Tensor, state: State, batch: Any) -> Tensor:
        return self.loss_fn(self.head(self.rnn.final_features(state)), batch[1])

    def step(self, batch: Any, stage: str) -> Tensor:
        x, labels = batch[0], batch[1]
        logits = self(x)
        self.metrics[f"{stage}_"].update(logits, labels)
        if stage == "test":
            self.confusion.update(logits, labels)
        return self.loss_fn(logits, labels)

    def on_train_start(self) -> None:
        self.val_acc_best.reset()

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.val_acc_best(self.metrics["val_"]["acc"].compute())
            self.log("val/acc_best", self.val_acc_best.compute())
        super().on_validation_epoch_end()

    def on_test_start(self) -> None:
        self.confusion.reset()
        self._confusion = None

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        # Computed on every rank (it syncs across them); the figure is drawn on rank 0 only.
        self._confusion = self.confusion.compute().cpu()

    def test_figures(self) -> dict[str, Any]:
        """The test set's confusion matrix, counts per (true, predicted) class."""
        if self._confusion is None:
            return {}
        import matplotlib.pyplot as plt

        counts = self._confusion.numpy()
        classes = len(counts)
        fig, ax = plt.subplots(figsize=(5.5, 5))
        image = ax.imshow(counts, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        threshold = counts.max() / 2
        for true in range(classes):
            for pred in range(classes):
                color = "white" if counts[true, pred] > threshold else "black"
                ax.text(pred, true, str(counts[true, pred]), ha="center", va="center",
                        fontsize=7, color=color)  # fmt: skip
        ax.set(xticks=range(classes), yticks=range(classes), xlabel="predicted class",
               ylabel="true class")  # fmt: skip
        ax.set_title(f"Test confusion matrix ({counts.sum()} examples)")
        return {"confusion_matrix": fig}
