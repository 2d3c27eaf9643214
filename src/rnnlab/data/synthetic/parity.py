"""Parity of a bit string, with a length split (Deletang et al. 2023, "Neural Networks and
the Chomsky Hierarchy": parity check, a regular task).

Each step carries one bit, drawn uniformly (inputs one-hot over {0, 1}; padding steps are
all zero). The answer, whether the string holds an odd number of ones, is scored at the
string's last step only; the output at earlier steps is free. Training strings have
lengths 1 .. ``train_max_length`` and validation/test strings the longer lengths up to
``eval_max_length`` (``rnnlab.data.synthetic.length_split``). The paper trains on lengths
up to 40 and tests up to 500; the defaults here (40 and 100) are smaller, for a CPU.

The last bit is uniform and independent of the others, so the answer is a fair coin
whatever the rest: guessing scores accuracy 1/2 and ln 2 nats, and nothing that ignores
a single bit does better.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from rnnlab.data.options import ParityOptions
from rnnlab.data.synthetic.counter_rng import CounterRNG
from rnnlab.data.synthetic.length_split import LENGTH_DRAW, LengthSplitDataModule


class Parity(LengthSplitDataModule):
    """Parity of the bits; batches ``(x [B,T,2], y [B,T], mask [B,T], lengths [B])``.

    ``T`` is the split's longest length; ``y`` holds the parity (0 even, 1 odd) at each
    string's last step and 0 elsewhere, and ``mask`` marks that step.
    """

    input_size = 2
    num_outputs = 2
    baseline_strategy = "guess: the answer is a fair coin"

    Options = ParityOptions

    def layout(self, rng: CounterRNG, index: Tensor, lengths: Tensor, steps: int) -> tuple:
        real = self.real_steps(lengths, steps)
        bits = rng.integers(index, 2, steps, offset=LENGTH_DRAW + 1) * real
        x = F.one_hot(bits, 2).float() * real[..., None]
        y, mask = self.at_last_step(lengths, steps, bits.sum(1) % 2)
        return x, y, mask

    def baseline(self) -> dict[str, float]:
        return {"loss": math.log(2), "acc": 0.5}
