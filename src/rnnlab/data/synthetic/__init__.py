"""Generated sequence benchmarks: the long-memory tasks (adding problem, copying memory,
selective copying), multi-query associative recall, and the length-split state-tracking
tasks (parity, modular arithmetic).

Nothing is downloaded or stored: each example is computed from its index on the training
device by a counter-based random generator (``counter_rng``), the same on CPU and GPU.
"""

from rnnlab.data.synthetic.adding import AddingProblem
from rnnlab.data.synthetic.base import SPLITS, SyntheticDataModule
from rnnlab.data.synthetic.copy import CopyMemory
from rnnlab.data.synthetic.counter_rng import CounterRNG
from rnnlab.data.synthetic.length_split import LengthSplitDataModule
from rnnlab.data.synthetic.modular_arithmetic import ModularArithmetic
from rnnlab.data.synthetic.mqar import MultiQueryRecall
from rnnlab.data.synthetic.parity import Parity
from rnnlab.data.synthetic.selective_copy import SelectiveCopy

__all__ = [
    "SPLITS",
    "AddingProblem",
    "CopyMemory",
    "CounterRNG",
    "LengthSplitDataModule",
    "ModularArithmetic",
    "MultiQueryRecall",
    "Parity",
    "SelectiveCopy",
    "SyntheticDataModule",
]
