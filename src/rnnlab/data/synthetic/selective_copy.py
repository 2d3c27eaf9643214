"""Selective copying (Gu & Dao 2023, Mamba §3.1; the task of Feng et al. 2024's minGRU /
minLSTM table).

``K`` data tokens sit at random distinct positions among ``L`` steps that are otherwise
noise; then come ``K`` query steps, at which the model must output the data tokens in
the order they appeared. Unlike the copying memory problem the gaps between tokens vary,
so a fixed delay line cannot solve it: the model must decide from the content of each
step what to keep.

Tokens: data symbols ``0 .. num_symbols - 1``, then the noise token ``num_symbols`` and
the query token ``num_symbols + 1`` (inputs one-hot over ``num_symbols + 2``). Outputs
are the ``num_symbols`` data symbols, scored at the K query steps only; guessing
uniformly scores ``log(num_symbols)`` nats and accuracy ``1 / num_symbols``.

Published sizes: Mamba (appendix E.1) uses sequences of length 4096, a vocabulary of 16
tokens counting the noise token, and 16 tokens to memorise. The public generators of the
S4 code base (its variable copying task) and of Feng et al. spend two of the 16 on noise
and query, leaving 14 data symbols; Feng et al.'s counts the sequence length as
``length`` does here (the steps the tokens are scattered over, before the queries). In
this module that setting is ``length=4096, num_tokens=16, num_symbols=14``. The defaults
(``length=100, num_tokens=8, num_symbols=8``) are much smaller, for a CPU.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.data.options import SelectiveCopyOptions
from rnnlab.data.synthetic.base import Batch, SyntheticDataModule
from rnnlab.data.synthetic.counter_rng import CounterRNG


class SelectiveCopy(SyntheticDataModule):
    """Recall scattered tokens in order; batches ``(x [B,L+K,V+2], y [B,L+K], mask [B,L+K])``.

    ``y`` holds the data tokens at the K query steps and 0 elsewhere; ``mask`` marks the
    query steps.

    Args:
        length: L, the steps over which the tokens are scattered (noise elsewhere).
        num_tokens: K, data tokens to recall (at most ``length``).
        num_symbols: V, distinct data symbols (at least 2).
        train_size, val_size, test_size, data_seed, batch_size, eval_batch_size, seed:
            as for ``SyntheticDataModule``.
    """

    objective = "cross_entropy"
    loss_on = "marked"
    baseline_strategy = "guess uniformly among the data symbols at each query step"

    Options = SelectiveCopyOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.noise, self.query = self.num_symbols, self.num_symbols + 1
        self.input_size = self.num_symbols + 2
        self.num_outputs = self.num_symbols

    @property
    def sequence_length(self) -> int:
        return self.length + self.num_tokens

    def positions(self, rng: CounterRNG, index: Tensor) -> Tensor:
        """``[B, K]`` distinct positions in ``[0, L)``, increasing: a uniform K-subset each."""
        k = self.num_tokens
        return rng.sample(index, self.length, k, offset=k).sort(dim=1).values

    def generate(self, rng: CounterRNG, index: Tensor) -> Batch:
        # Draws per example: the K tokens, then one sort key per step for the positions.
        n, k = self.length, self.num_tokens
        tokens = rng.integers(index, self.num_symbols, k)
        b = len(index)
        inputs = torch.full((b, n + k), self.noise, dtype=torch.long, device=index.device)
        inputs.scatter_(1, self.positions(rng, index), tokens)
        inputs[:, n:] = self.query
        y = torch.zeros((b, n + k), dtype=torch.long, device=index.device)
        y[:, n:] = tokens
        mask = torch.zeros((b, n + k), dtype=torch.bool, device=index.device)
        mask[:, n:] = True
        return F.one_hot(inputs, self.input_size).float(), y, mask

    def baseline(self) -> dict[str, float]:
        return {"loss": math.log(self.num_symbols), "acc": 1 / self.num_symbols}

    def cue_steps(self, batch: Batch) -> Tensor:
        return batch[0][..., : self.num_symbols].sum(-1) > 0  # where the data tokens sit
