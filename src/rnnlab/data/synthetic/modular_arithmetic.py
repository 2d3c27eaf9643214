"""Modular arithmetic without brackets, with a length split (Deletang et al. 2023, "Neural
Networks and the Chomsky Hierarchy": modular arithmetic (simple), a regular task).

An expression alternates numbers and operators, ``n0 op n1 op n2 ... nk``: numbers drawn
uniformly from ``0 .. modulus - 1``, operators uniformly from ``operators`` (``+`` for
sums, ``+-`` for sums and differences; the paper's default also draws ``*``, not offered
here). Its length is the number of tokens, always odd. The answer, the value of the
expression modulo ``modulus``, is scored at its last token only. Tokens are one-hot over
``modulus + 2`` (the numbers, then ``+`` and ``-``); padding steps are all zero. Unlike
the paper there is no leading ``+`` token. Lengths split as in
``rnnlab.data.synthetic.length_split``: odd lengths only, each drawn uniformly among the
odd lengths of its split. The paper uses modulus 5, training lengths up to 40 and test
lengths up to 500.

The last number is uniform and independent of the rest, so the answer is uniform: guessing
scores accuracy ``1 / modulus`` and ``ln(modulus)`` nats, and no strategy that ignores a
number does better.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.data.options import ModularArithmeticOptions
from rnnlab.data.synthetic.counter_rng import CounterRNG, to_integers
from rnnlab.data.synthetic.length_split import LENGTH_DRAW, LengthSplitDataModule

SIGNS = (1, -1)  # the value of "+" and "-", in the order of their tokens after the numbers


class ModularArithmetic(LengthSplitDataModule):
    """Value of ``n0 ± n1 ± ...`` mod m; batches ``(x [B,T,m+2], y [B,T], mask [B,T], lengths)``.

    ``y`` holds the value at each expression's last token and 0 elsewhere; ``mask`` marks
    that token.
    """

    baseline_strategy = "guess uniformly among the residues: the answer is uniform"
    length_step = 2  # odd lengths: a number, then an operator and a number at a time

    Options = ModularArithmeticOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.input_size = self.modulus + len(SIGNS)
        self.num_outputs = self.modulus

    def layout(self, rng: CounterRNG, index: Tensor, lengths: Tensor, steps: int) -> tuple:
        # One draw per step: a number at even steps, an operator at odd ones.
        bits = rng.bits(index, steps, offset=LENGTH_DRAW + 1)
        numbers = to_integers(bits, self.modulus)
        operators = to_integers(bits, len(self.operators))  # 0 is "+", 1 is "-"
        odd = torch.arange(steps, device=index.device) % 2 == 1
        tokens = torch.where(odd, self.modulus + operators, numbers)
        real = self.real_steps(lengths, steps)
        x = F.one_hot(tokens, self.input_size).float() * real[..., None]
        # Each number's sign is the operator before it (the first number's is +).
        signs = torch.tensor(SIGNS, device=index.device)[operators]
        signs = torch.cat([torch.ones_like(signs[:, :1]), signs[:, :-1]], dim=1)
        terms = torch.where(odd | ~real, 0, signs * numbers)
        y, mask = self.at_last_step(lengths, steps, terms.sum(1) % self.modulus)
        return x, y, mask

    def baseline(self) -> dict[str, float]:
        return {"loss": math.log(self.modulus), "acc": 1 / self.modulus}
