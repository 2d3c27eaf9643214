"""What the generated sequence tasks share: splits as index streams, batches by index.

An example is a pure function of ``(data_seed, split, index)`` computed on the device of
the index tensor (``rnnlab.data.synthetic.counter_rng``), so no data set is stored and
the same seed gives the same numbers on CPU and GPU. The splits are fixed sets: training
sees the same ``train_size`` examples every epoch, in a new order each epoch, and
validation and test draw from their own streams, never the training one. Example ``i``
of a split does not depend on the split's size, so a larger ``train_size`` keeps the
smaller set's examples and adds more.

Every batch is ``(x, y, mask)``: ``x`` inputs ``[B, T, F]`` float (one-hot for symbols),
``y`` targets per step (``[B, T, 1]`` float for regression, ``[B, T]`` class ids for
classification; zero where nothing is scored), ``mask`` ``[B, T]`` bool marking the
scored steps. A task whose sequences vary in length (the adding problem with jitter, the
length splits of ``rnnlab.data.synthetic.length_split``) pads them at the end and adds a
4th element, ``lengths`` ``[B]``. ``loss_on`` says which steps the loss averages over: ``marked`` (the mask)
or ``all``. ``baseline()`` gives the value of a trivial strategy on the same metrics, in
the same units, to print beside a model's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from rnnlab.data.batching import IndexBatches, TensorDataModule
from rnnlab.data.options import SyntheticOptions
from rnnlab.data.synthetic.counter_rng import CounterRNG

SPLITS = ("train", "val", "test")
Batch = tuple[Tensor, ...]  # (x, y, mask), and lengths after them for variable-length data


class SyntheticDataModule(TensorDataModule):
    """Base of the generated sequence tasks; subclasses define ``generate`` and ``baseline``.

    Args (keywords; ``rnnlab.data.options.SyntheticOptions``):
        length: the sequence length the task is about (each task says what it counts).
        train_size, val_size, test_size: examples in each split.
        data_seed: seed of the examples; ``None`` uses ``seed``. Fixing it while ``seed``
            varies gives every run the same data and a different batch order.
        batch_size, eval_batch_size: examples per training / evaluation batch.
        seed: seed of the batch order (and of the examples unless ``data_seed`` is set).
    """

    batch_format = "steps"
    objective: str = ""  # "mse" or "cross_entropy"
    loss_on: str = ""  # "marked" or "all"
    baseline_strategy: str = ""  # what ``baseline()`` measures, in words

    Options = SyntheticOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.sizes = {"train": self.train_size, "val": self.val_size, "test": self.test_size}
        if self.data_seed is None:
            self.data_seed = self.seed

    # Subclasses ------------------------------------------------------------------------

    @property
    def sequence_length(self) -> int:
        """Steps per example (the T of ``[B, T, F]``)."""
        raise NotImplementedError

    def generate(self, rng: CounterRNG, index: Tensor) -> Batch:
        """The examples ``index`` of the stream ``rng`` as ``(x, y, mask)`` on ``index.device``."""
        raise NotImplementedError

    def baseline(self) -> dict[str, float]:
        """The trivial strategy's expected ``loss`` and ``acc``, as the task computes them."""
        raise NotImplementedError

    # Shared ----------------------------------------------------------------------------

    def rng(self, split: str) -> CounterRNG:
        """The random stream of one split: train, val and test never share examples."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        return CounterRNG(self.data_seed, SPLITS.index(split))

    def make_batch(self, split: str) -> Callable[[Tensor], Batch]:
        """``make_batch(indices)`` for ``IndexBatches``: the batch of those examples."""
        rng = self.rng(split)
        return lambda index: self.generate(rng, index)

    def spec(self) -> dict[str, Any]:
        """What the task is built from: sizes, the loss and which steps it averages over."""
        return {**super().spec(), "objective": self.objective, "loss_on": self.loss_on}

    def stats(self) -> dict[str, float]:
        """The trivial strategy's value of each metric (``baseline/mse``, ...), for tables."""
        return {f"baseline/{name}": value for name, value in self.baseline().items()}

    def cue_steps(self, batch: Batch) -> Tensor:
        """``[B, T]`` booleans: the input steps holding what the scored outputs need."""
        raise NotImplementedError

    def split_batches(self, split: str) -> IndexBatches:
        return self.batches(self.sizes[split], self.make_batch(split), train=split == "train")
