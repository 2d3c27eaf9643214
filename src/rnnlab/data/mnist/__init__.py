"""Sequential MNIST: the IDX reader, the official files, and the datamodule."""

from rnnlab.data.mnist.datamodule import SequentialMNIST, normalise

__all__ = ["SequentialMNIST", "normalise"]
