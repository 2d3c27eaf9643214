"""Multi-query associative recall (MQAR; Arora, Eyuboglu et al. 2023, "Zoology").

A sequence of ``length`` tokens over a vocabulary of ``V = vocab_size`` opens with
``N = num_kv_pairs`` key-value pairs, ``k1 v1 k2 v2 ... kN vN``: keys distinct, drawn from
``1 .. V/2 - 1``, values distinct, drawn from ``V/2 .. V - 1`` (``V/2`` rounded down). Each
key is then queried once in the rest of the sequence; at the query step the answer is the
value paired with that key. Queries sit at even offsets ``2g`` after the pairs, ``g`` a
slot among ``S = (length - 2N) // 2``; the N slots are drawn one after another without
replacement, slot ``g`` with probability proportional to ``(g + 1) ** (power_a - 1)``, and
the i-th pair's key goes to the i-th slot drawn. ``power_a = 0.01`` (zoology's default)
puts most queries soon after the pairs, ``1`` spreads them uniformly. Every other step
after the pairs holds a token drawn uniformly from the whole vocabulary. These are the
definitions of zoology's generator; the slot probabilities are rounded to multiples of
``2**-30`` so that the draw is exact integer arithmetic, the same on any device.

Inputs are one-hot over the V tokens (no embedding: the stack reads V features per step,
so zoology's V = 8192 costs ``4 * B * T * V`` bytes a batch); outputs are the V tokens,
scored at the N query steps. The baseline guesses uniformly among the ``V - V/2`` value
tokens. Zoology's sizes: V = 8192, length 64 to 512, 4 to 64 pairs; the defaults here
(V = 128, length 64, 8 pairs) are smaller, for a CPU.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.data.options import MqarOptions
from rnnlab.data.synthetic.base import Batch, SyntheticDataModule
from rnnlab.data.synthetic.counter_rng import CounterRNG, to_integers

SLOT_SCALE = 1 << 30  # slot weights are integers summing to about this (< 2**31)


def slot_weights(slots: int, power_a: float) -> list[int]:
    """Integer weights proportional to ``(g + 1) ** (power_a - 1)``, each at least 1."""
    p = [(g + 1) ** (power_a - 1) for g in range(slots)]
    total = sum(p)
    return [max(1, int(SLOT_SCALE * q / total)) for q in p]


class MultiQueryRecall(SyntheticDataModule):
    """Recall the value of each queried key; batches ``(x [B,T,V], y [B,T], mask [B,T])``.

    ``y`` holds the value at each query step and 0 elsewhere; ``mask`` marks the N query
    steps.

    Args:
        length: T, steps per sequence (at least ``4 * num_kv_pairs``).
        vocab_size: V, tokens (keys, values and fillers).
        num_kv_pairs: N, pairs to store, each queried once.
        power_a: the exponent of the query-gap distribution.
        train_size, val_size, test_size, data_seed, batch_size, eval_batch_size, seed:
            as for ``SyntheticDataModule``.
    """

    objective = "cross_entropy"
    loss_on = "marked"
    baseline_strategy = "guess uniformly among the value tokens at each query step"

    Options = MqarOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.input_size = self.num_outputs = self.vocab_size
        self.half = self.vocab_size // 2
        self.slots = (self.length - 2 * self.num_kv_pairs) // 2
        self.weights = torch.tensor(slot_weights(self.slots, self.power_a))
        self._weights_on: dict[torch.device, Tensor] = {}  # copied to a device once

    @property
    def sequence_length(self) -> int:
        return self.length

    def query_slots(self, rng: CounterRNG, index: Tensor, offset: int) -> Tensor:
        """``[B, N]`` distinct slots, drawn in turn with probability ∝ weight among those left."""
        if index.device not in self._weights_on:
            self._weights_on[index.device] = self.weights.to(index.device)
        left = self._weights_on[index.device].expand(len(index), -1).clone()
        draws = rng.bits(index, self.num_kv_pairs, offset=offset)
        chosen = []
        for i in range(self.num_kv_pairs):
            cumulative = left.cumsum(1)
            r = to_integers(draws[:, i], cumulative[:, -1])  # uniform on [0, weight left)
            slot = (cumulative <= r[:, None]).sum(1)  # the slot whose share holds r
            left.scatter_(1, slot[:, None], 0)
            chosen.append(slot)
        return torch.stack(chosen, dim=1)

    def generate(self, rng: CounterRNG, index: Tensor) -> Batch:
        # Draws per example: key candidates, value candidates, query slots, then fillers.
        n, v, half, t = self.num_kv_pairs, self.vocab_size, self.half, self.length
        keys = 1 + rng.sample(index, half - 1, n, offset=0)  # distinct, in random order
        values = half + rng.sample(index, v - half, n, offset=half - 1)
        slots = self.query_slots(rng, index, offset=v - 1)
        tokens = rng.integers(index, v, t, offset=v - 1 + n)  # fillers everywhere, then:
        tokens[:, 0 : 2 * n : 2], tokens[:, 1 : 2 * n : 2] = keys, values
        queries = 2 * n + 2 * slots
        tokens.scatter_(1, queries, keys)
        y = torch.zeros_like(tokens).scatter_(1, queries, values)
        mask = torch.zeros(tokens.shape, dtype=torch.bool, device=index.device)
        mask.scatter_(1, queries, True)
        return F.one_hot(tokens, v).float(), y, mask

    def baseline(self) -> dict[str, float]:
        values = self.vocab_size - self.half
        return {"loss": math.log(values), "acc": 1 / values}

    def cue_steps(self, batch: Batch) -> Tensor:
        cue = torch.zeros(batch[2].shape, dtype=torch.bool, device=batch[2].device)
        cue[:, : 2 * self.num_kv_pairs] = True  # the key-value pairs
        return cue
