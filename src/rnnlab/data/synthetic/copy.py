"""The copying memory problem, exactly as laid out by Arjovsky, Shah & Bengio (2016, §4.1).

Ten categories: 0..7 are data symbols, 8 is the blank, 9 the delimiter. The input has
T + 20 steps: 10 symbols drawn uniformly, independently and with replacement from 0..7;
then T - 1 blanks; then the delimiter; then 10 blanks. The target is T + 10 blanks
followed by the 10 input symbols in the same order. The loss is the cross-entropy of the
category predicted at each step, averaged over all T + 20 steps, as in the paper; the mask
marks the last 10 steps, where recall accuracy is measured.

The paper's memoryless baseline predicts the blank for T + 10 steps and a uniform guess
over the 8 symbols for the last 10: 10 log(8) / (T + 20) nats per step. The paper uses
T = 100, 200, 300 and 500.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.data.options import CopyOptions
from rnnlab.data.synthetic.base import Batch, SyntheticDataModule
from rnnlab.data.synthetic.counter_rng import CounterRNG

NUM_SYMBOLS = 8  # data symbols 0..7
BLANK, DELIMITER = 8, 9
NUM_CATEGORIES = 10
COPY_LENGTH = 10  # symbols to remember


class CopyMemory(SyntheticDataModule):
    """Recall 10 symbols after T steps; batches ``(x [B,T+20,10], y [B,T+20], mask [B,T+20])``.

    ``x`` is one-hot over the 10 categories, ``y`` the category id at every step, ``mask``
    the last 10 steps.

    Args:
        length: T, the distance from the end of the symbols to the end of the delimiter
            (T - 1 blanks, then the delimiter); at least 1.
        train_size, val_size, test_size, data_seed, batch_size, eval_batch_size, seed:
            as for ``SyntheticDataModule``.
    """

    input_size = NUM_CATEGORIES
    num_outputs = NUM_CATEGORIES
    objective = "cross_entropy"
    loss_on = "all"
    baseline_strategy = "memoryless: blank for T + 10 steps, then uniform over the 8 symbols"

    Options = CopyOptions

    @property
    def sequence_length(self) -> int:
        return self.length + 2 * COPY_LENGTH

    def generate(self, rng: CounterRNG, index: Tensor) -> Batch:
        symbols = rng.integers(index, NUM_SYMBOLS, COPY_LENGTH)
        b, n = len(index), self.sequence_length
        inputs = torch.full((b, n), BLANK, dtype=torch.long, device=index.device)
        inputs[:, :COPY_LENGTH] = symbols
        inputs[:, self.length + COPY_LENGTH - 1] = DELIMITER
        y = torch.full((b, n), BLANK, dtype=torch.long, device=index.device)
        y[:, -COPY_LENGTH:] = symbols
        mask = torch.zeros((b, n), dtype=torch.bool, device=index.device)
        mask[:, -COPY_LENGTH:] = True
        return F.one_hot(inputs, NUM_CATEGORIES).float(), y, mask

    def baseline(self) -> dict[str, float]:
        return {
            "loss": COPY_LENGTH * math.log(NUM_SYMBOLS) / self.sequence_length,
            "acc": 1 / NUM_SYMBOLS,  # on the marked steps, guessing uniformly
        }

    def cue_steps(self, batch: Batch) -> Tensor:
        cue = torch.zeros(batch[2].shape, dtype=torch.bool, device=batch[2].device)
        cue[:, :COPY_LENGTH] = True  # the symbols to recall
        return cue
