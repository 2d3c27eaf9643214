"""Generated long-memory benchmarks: the adding problem, copying memory, selective copying.

Nothing is downloaded or stored: each example is computed from its index on the training
device by a counter-based random generator (``counter_rng``), the same on CPU and GPU.
"""

from rnnlab.data.synthetic.adding import AddingProblem
from rnnlab.data.synthetic.base import SPLITS, SyntheticDataModule
from rnnlab.data.synthetic.copy import CopyMemory
from rnnlab.data.synthetic.counter_rng import CounterRNG
from rnnlab.data.synthetic.selective_copy import SelectiveCopy

__all__ = [
    "SPLITS",
    "AddingProblem",
    "CopyMemory",
    "CounterRNG",
    "SelectiveCopy",
    "SyntheticDataModule",
]
