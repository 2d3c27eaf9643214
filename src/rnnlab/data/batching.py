"""One batching path for every dataset small enough to live in memory.

A dataset is a set of tensors on the training device plus a function that turns a
vector of example indices into a batch. ``IndexBatches`` draws the indices: shuffled
per epoch from ``(seed, epoch)`` alone, so a resumed run sees the same order, and
split across DDP ranks like ``DistributedSampler``. There is no per-item Python and
no host-to-device copy in the training loop.

``IndexBatches`` is also a stateful iterable in Lightning's sense (``state_dict`` /
``load_state_dict``): a checkpoint saved mid-epoch records how many batches of that
epoch were trained on, and a run resumed from it continues with the next batch of the
same permutation instead of restarting the epoch.

With ``bucket_lengths`` (each example's length), a shuffled epoch is cut into chunks of
``BUCKET_CHUNK`` batches, each chunk is sorted by length and cut into batches, and the
batches are shuffled: a batch then holds sequences of similar length, so padding it to its
longest wastes little, while the order stays a function of ``(seed, epoch)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
from torch import Tensor

from rnnlab.data.options import DataOptions, build_options

Batch = Any
MakeBatch = Callable[[Tensor], Batch]
BUCKET_CHUNK = 32  # batches sorted together: larger pads less, but mixes lengths less


class IndexBatches:
    """An iterable of batches built by ``make_batch(indices)`` over ``range(size)``.

    Args:
        size: number of examples.
        make_batch: maps a LongTensor of indices (on ``device``) to a batch.
        batch_size: examples per batch on each rank.
        shuffle: new permutation every epoch.
        seed: base seed of the permutations.
        epoch: callable returning the current epoch (the trainer's), for the permutation.
        rank, world_size: this process's share of each epoch.
        drop_last: drop a last, smaller batch.
        num_samples: draw this many indices per epoch instead of each index once.
        replacement: draw ``num_samples`` uniformly with replacement (random sampling).
        bucket_lengths: each example's length, to batch similar lengths (shuffled epochs).
    """

    def __init__(
        self,
        size: int,
        make_batch: MakeBatch,
        batch_size: int,
        *,
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        num_samples: int | None = None,
        replacement: bool = False,
        bucket_lengths: Tensor | None = None,
    ) -> None:
        self.size, self.make_batch, self.batch_size = size, make_batch, batch_size
        self.num_samples, self.replacement = num_samples or size, replacement
        self.device, self.shuffle, self.seed, self.epoch = (
            torch.device(device),
            shuffle,
            seed,
            epoch,
        )
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self._epoch_served, self._served = -1, 0
        self._resume: tuple[int, int] | None = None
        self.bucket_lengths = None if bucket_lengths is None else bucket_lengths.cpu()

    def _per_rank(self) -> int:
        # Pad to a multiple of world_size, as DistributedSampler does, so ranks step in lockstep.
        return -(-self.num_samples // self.world_size)

    def __len__(self) -> int:
        n = self._per_rank()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def indices(self) -> Tensor:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch())
        if self.replacement:
            order = torch.randint(self.size, (self.num_samples,), generator=g)
        elif self.shuffle:
            order = torch.randperm(self.size, generator=g)[: self.num_samples]
            if self.bucket_lengths is not None:
                order = self._bucketed(order, g)
        else:
            order = torch.arange(self.num_samples)
        if self.world_size > 1:
            total = self._per_rank() * self.world_size
            order = torch.cat([order, order[: total - len(order)]])[self.rank :: self.world_size]
        return order.to(self.device)

    def _bucketed(self, order: Tensor, g: torch.Generator) -> Tensor:
        """``order`` sorted by length within chunks, cut into the batches of one step (of
        every rank together) and those shuffled; a last, smaller one stays last."""
        step = self.batch_size * self.world_size
        chunk = step * BUCKET_CHUNK
        parts = []
        for start in range(0, len(order), chunk):
            piece = order[start : start + chunk]
            parts.append(piece[torch.argsort(self.bucket_lengths[piece], stable=True)])
        steps = list(torch.cat(parts).split(step))
        full = len(steps) if len(steps[-1]) == step else len(steps) - 1
        shuffled = [steps[i] for i in torch.randperm(full, generator=g).tolist()]
        return torch.cat(shuffled + steps[full:])

    def __iter__(self) -> Iterator[Batch]:
        epoch = self.epoch()
        start = 0
        if self._resume is not None and self._resume[0] == epoch:
            start = self._resume[1]
        self._resume = None
        self._epoch_served, self._served = epoch, start
        order = self.indices()
        for i in range(start, len(self)):
            self._served = i + 1
            yield self.make_batch(order[i * self.batch_size : (i + 1) * self.batch_size])

    # Lightning does not prefetch from an iterable with a length, so when it saves a
    # checkpoint every batch served so far has been trained on.
    def state_dict(self) -> dict[str, int]:
        """The epoch being iterated and how many of its batches were trained on."""
        return {"epoch": self._epoch_served, "batches_done": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Start the next iteration after the batches already done, if in the same epoch."""
        self._resume = (int(state["epoch"]), int(state["batches_done"]))


class TensorDataModule(pl.LightningDataModule):
    """Base for datamodules whose tensors live on the training device.

    A subclass names its ``Options`` (``rnnlab.data.options``: its arguments, their
    defaults and checks, defined once) and is built from them by keyword; each option is
    then an attribute (``self.window``). It sets ``batch_format`` (how its batches are
    laid out: the task reading them states the same), ``input_size`` and ``num_outputs``,
    builds its tensors in ``setup`` and returns ``self.batches(...)`` from
    ``split_batches(split)``. Data flows one way: ``spec()`` tells the run what the task
    needs to know, and nothing here reads the task or the trainer's other parts.
    """

    Options: ClassVar[type[DataOptions]] = DataOptions
    batch_format: str = ""
    input_size: int = 0
    num_outputs: int = 0

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = build_options(self.Options, options)
        for field in fields(self.options):
            setattr(self, field.name, getattr(self.options, field.name))
        self.eval_batch_size = self.options.eval_size or self.batch_size
        self._train_batches_state: dict[str, int] | None = None

    def split_batches(self, split: str) -> IndexBatches:
        """The batches of ``train``, ``val`` or ``test``."""
        raise NotImplementedError

    def train_dataloader(self) -> IndexBatches:
        return self.split_batches("train")

    def val_dataloader(self) -> IndexBatches:
        return self.split_batches("val")

    def test_dataloader(self) -> IndexBatches:
        return self.split_batches("test")

    def spec(self) -> dict[str, Any]:
        """What the task is built from: sizes, and whatever else this data implies."""
        return {"input_size": self.input_size, "num_outputs": self.num_outputs}

    def stats(self) -> dict[str, float]:
        """Numbers about the data worth keeping with the run's metrics (after setup)."""
        return {}

    def continue_from(self, position: dict[str, int] | None) -> None:
        """Make the next training loader start where a checkpoint saved mid-epoch stopped."""
        self._train_batches_state = position

    @property
    def device(self) -> torch.device:
        trainer = self.trainer
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def batches(
        self,
        size: int,
        make_batch: MakeBatch,
        *,
        train: bool,
        shuffle: bool | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> IndexBatches:
        """Batches over ``range(size)``; ``shuffle`` and ``batch_size`` default by ``train``.

        Data whose order matters (streams walked window by window) passes ``shuffle=False``.
        """
        trainer = self.trainer
        # overfit_batches means "the same first batches every epoch": no shuffling then.
        overfit = trainer is not None and trainer.overfit_batches > 0
        batches = IndexBatches(
            size,
            make_batch,
            batch_size or (self.batch_size if train else self.eval_batch_size),
            device=self.device,
            shuffle=(train and not overfit) if shuffle is None else shuffle,
            seed=self.seed,
            epoch=self._epoch,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
            **kwargs,
        )
        if train and self._train_batches_state is not None:
            batches.load_state_dict(self._train_batches_state)
            self._train_batches_state = None
        return batches
