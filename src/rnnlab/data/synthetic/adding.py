"""The adding problem (Hochreiter & Schmidhuber 1997), in the two-channel form of Le,
Jaitly & Hinton (2015) and Arjovsky, Shah & Bengio (2016).

Each step carries a value drawn from U[0, 1] (channel 0) and a marker (channel 1). Exactly
two steps are marked: one uniformly in the first half, ``[0, T // 2)``, one uniformly in
the second, ``[T // 2, T)`` (for odd T the second half is one step longer). The target is
the sum of the two marked values, scored at the last step only, by mean squared error.

Predicting 1 whatever the input scores E[(U1 + U2 - 1)^2] = Var(U1 + U2) = 1/6 ≈ 0.167,
the best any constant does; that is the baseline the papers quote as 0.167. A sequence
counts as solved when the prediction is within 0.04 of the target, which the constant
1 achieves for 7.8% of sequences. Published
experiments use T of a few hundred steps (100 to 750).

With ``length_jitter`` j > 0 the sequences vary in length as in Hochreiter & Schmidhuber
(1997), whose sequences were T to 1.1 T long (j = 0.1): each example's length L is drawn
uniformly from [T, floor(T (1 + j))], the markers go one in each half of its own L steps,
the target and the scored step are its last real step, L - 1, and the steps after L are
zeros. Batches are then ``(x, y, mask, lengths [B])``, padded to floor(T (1 + j)).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.data.options import AddingOptions
from rnnlab.data.synthetic.base import Batch, SyntheticDataModule
from rnnlab.data.synthetic.counter_rng import CounterRNG


class AddingProblem(SyntheticDataModule):
    """Sum the two marked values of a sequence; batches ``(x [B,T,2], y [B,T,1], mask [B,T])``,
    and ``lengths [B]`` after them when ``length_jitter`` > 0.

    ``y`` holds the sum at the last (real) step and 0 elsewhere; ``mask`` marks that step only.

    Args:
        length: T, steps per sequence (at least 2, one per half); the shortest, with jitter.
        length_jitter: 0 (every sequence T steps) or a fraction j: lengths T..floor(T (1+j)).
        train_size, val_size, test_size, data_seed, batch_size, eval_batch_size, seed:
            as for ``SyntheticDataModule``.
    """

    input_size = 2
    num_outputs = 1
    objective = "mse"
    loss_on = "marked"
    tolerance = 0.04  # a sequence counts as solved when |prediction - target| < this
    baseline_strategy = "always predict 1, the mean of the target"

    Options = AddingOptions

    @property
    def sequence_length(self) -> int:
        return self.options.max_length

    def generate(self, rng: CounterRNG, index: Tensor) -> Batch:
        # Draws per example: the n values, then the first and the second marked step, then
        # (with jitter) the length; with no jitter n = T and the layout is the fixed one's.
        n = self.options.max_length
        values = rng.uniform(index, n)
        if self.length_jitter:
            lengths = self.length + rng.integers(index, n - self.length + 1, 1, offset=n + 2)
        else:
            lengths = torch.full((len(index), 1), n, device=index.device)
        half = lengths // 2
        first = rng.integers(index, half, 1, offset=n)
        second = half + rng.integers(index, lengths - half, 1, offset=n + 1)
        marked = torch.cat([first, second], dim=1)
        last = lengths - 1  # the scored step: each sequence's last real step
        if self.length_jitter:
            values = values * (torch.arange(n, device=index.device) < lengths)
        markers = torch.zeros_like(values).scatter_(1, marked, 1.0)
        picked = values.gather(1, marked)
        y = torch.zeros_like(values).scatter_(1, last, picked.sum(1, keepdim=True))
        mask = torch.zeros(values.shape, dtype=torch.bool, device=index.device)
        mask.scatter_(1, last, True)
        batch = torch.stack([values, markers], dim=-1), y.unsqueeze(-1), mask
        return (*batch, lengths[:, 0]) if self.length_jitter else batch

    def baseline(self) -> dict[str, float]:
        # S = U1 + U2 is triangular on [0, 2]: P(|S - 1| < d) = 2d - d^2.
        d = self.tolerance
        return {"loss": 1 / 6, "acc": 2 * d - d * d}

    def spec(self) -> dict[str, object]:
        return {**super().spec(), "tolerance": self.tolerance}

    def cue_steps(self, batch: Batch) -> Tensor:
        return batch[0][..., 1] > 0  # the two marked values
