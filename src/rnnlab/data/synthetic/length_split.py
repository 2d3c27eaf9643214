"""Tasks with a length split: trained on short sequences, validated and tested on longer ones.

Whether a network has learnt the rule rather than the training lengths shows on lengths it
never saw (Deletang et al. 2023, "Neural Networks and the Chomsky Hierarchy"). Training
examples have lengths ``1 .. train_max_length``; validation and test examples
``train_max_length + 1 .. eval_max_length``; each example's length is drawn uniformly
among the lengths its split allows (a task may allow only every ``length_step``-th
length from 1: odd ones, say).

Sequences of different lengths share a batch padded at the END with all-zero inputs up to
the split's longest length, and the answer is marked at each sequence's own last real
step: a unidirectional network's output there does not depend on the padding. Batches are
``(x, y, mask, lengths)``, ``lengths`` ``[B]`` int64 the real steps of each example (for a
stack that packs sequences, and for accuracy per length bucket). The datamodule states
its buckets (``length_buckets``: ``bucket_size`` lengths each, from
``train_max_length + 1``) and the sequence task logs ``val/acc_len_LO_HI`` and
``test/acc_len_LO_HI`` for each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnlab.data.options import LengthSplitOptions
from rnnlab.data.synthetic.base import SyntheticDataModule
from rnnlab.data.synthetic.counter_rng import CounterRNG

Batch = tuple[Tensor, Tensor, Tensor, Tensor]
LENGTH_DRAW = 0  # draw 0 of each example picks its length; its content starts at draw 1


class LengthSplitDataModule(SyntheticDataModule):
    """Base of the length-split tasks; subclasses define ``layout`` (and ``length_step``).

    Args (keywords; ``rnnlab.data.options.LengthSplitOptions``):
        train_max_length: the longest training sequence.
        eval_max_length: the longest validation/test sequence (> ``train_max_length``).
        bucket_size: lengths per bucket of the per-length accuracy.
        train_size, val_size, test_size, data_seed, batch_size, eval_batch_size, seed:
            as for ``SyntheticDataModule``.
    """

    objective = "cross_entropy"
    loss_on = "marked"
    length_step = 1  # the lengths allowed are 1, 1 + length_step, 1 + 2 * length_step, ...

    Options = LengthSplitOptions

    @property
    def sequence_length(self) -> int:
        """Steps of the widest batch (validation and test)."""
        return self.eval_max_length

    def split_lengths(self, split: str) -> list[int]:
        """The lengths examples of ``split`` can have, in increasing order."""
        low, high = (1, self.train_max_length) if split == "train" else (
            self.train_max_length + 1, self.eval_max_length)  # fmt: skip
        return [n for n in range(low, high + 1) if (n - 1) % self.length_step == 0]

    def length_buckets(self) -> list[list[int]]:
        """``[low, high]`` of each bucket of evaluation lengths, trimmed to lengths that occur."""
        buckets = []
        lengths = self.split_lengths("val")
        for start in range(self.train_max_length + 1, self.eval_max_length + 1, self.bucket_size):
            inside = [n for n in lengths if start <= n < start + self.bucket_size]
            if inside:
                buckets.append([inside[0], inside[-1]])
        return buckets

    def layout(self, rng: CounterRNG, index: Tensor, lengths: Tensor, steps: int) -> tuple:
        """``(x, y, mask)`` of width ``steps`` for examples of these ``lengths``; content
        draws start at ``LENGTH_DRAW + 1``, one per step, so an example does not depend on
        how wide its batch is."""
        raise NotImplementedError

    def make_batch(self, split: str) -> Callable[[Tensor], Batch]:
        rng, allowed = self.rng(split), self.split_lengths(split)

        def batch(index: Tensor) -> Batch:
            pick = rng.integers(index, len(allowed), 1, offset=LENGTH_DRAW)[:, 0]
            lengths = allowed[0] + self.length_step * pick  # computed where the index lives
            return (*self.layout(rng, index, lengths, allowed[-1]), lengths)

        return batch

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "length_buckets": self.length_buckets()}

    @staticmethod
    def real_steps(lengths: Tensor, steps: int) -> Tensor:
        """``[B, steps]`` booleans: the steps before each example's end."""
        return torch.arange(steps, device=lengths.device) < lengths[:, None]

    @staticmethod
    def at_last_step(lengths: Tensor, steps: int, values: Tensor) -> tuple[Tensor, Tensor]:
        """``y`` holding ``values`` at each example's last real step (0 elsewhere) and the
        ``mask`` of those steps."""
        last = (lengths - 1)[:, None]
        shape = (len(lengths), steps)
        y = torch.zeros(shape, dtype=torch.long, device=lengths.device)
        mask = torch.zeros(shape, dtype=torch.bool, device=lengths.device)
        return y.scatter_(1, last, values[:, None]), mask.scatter_(1, last, True)

    def cue_steps(self, batch: Any) -> Tensor:
        return self.real_steps(batch[3], batch[0].shape[1])  # the answer depends on every input
