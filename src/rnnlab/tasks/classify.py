"""Sequence classification: the final state, through a linear head, gives class scores."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchmetrics import MaxMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from rnnlab.tasks.base import STAGES, BaseTask


class ClassificationTask(BaseTask):
    """Cross-entropy on ``head(final_features)``; accuracy per stage, confusion matrix on test.

    A batch is ``(x [B, T, F], labels [B])``. For a bidirectional stack the features
    are both directions' final states (``RecurrentStack.final_features``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        classes = self.hparams.num_outputs
        self.head = nn.Linear(self.rnn.output_size, classes)
        self.loss_fn = nn.CrossEntropyLoss()
        # micro average: the fraction of examples classified correctly, as papers report.
        self.acc = nn.ModuleDict(
            {f"{s}_": MulticlassAccuracy(num_classes=classes, average="micro") for s in STAGES}
        )
        self.val_acc_best = MaxMetric()
        self.confusion = MulticlassConfusionMatrix(num_classes=classes)
        self._confusion: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.rnn.encode(x))

    def loss_from_final(self, features: Tensor, batch: Any) -> Tensor:
        """The training loss given the stack's final features (for gradient diagnostics)."""
        return self.loss_fn(self.head(features), batch[1])

    def step(self, batch: Any, stage: str) -> Tensor:
        x, labels = batch
        logits = self(x)
        acc = self.acc[f"{stage}_"]
        acc.update(logits, labels)  # epoch-level values only: no per-batch compute
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, prog_bar=stage != "train",
                 sync_dist=stage != "train")  # fmt: skip
        if stage == "test":
            self.confusion.update(logits, labels)
        return self.loss_fn(logits, labels)

    def on_train_start(self) -> None:
        self.val_acc_best.reset()  # a sanity-check pass must not count as the best epoch

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.acc["val_"].compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)

    def on_test_start(self) -> None:
        self.confusion.reset()
        self._confusion = None

    def on_test_epoch_end(self) -> None:
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
                ax.text(
                    pred,
                    true,
                    str(counts[true, pred]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=color,
                )
        ax.set(
            xticks=range(classes),
            yticks=range(classes),
            xlabel="predicted class",
            ylabel="true class",
        )
        ax.set_title(f"Test confusion matrix ({counts.sum()} examples)")
        return {"confusion_matrix": fig}
