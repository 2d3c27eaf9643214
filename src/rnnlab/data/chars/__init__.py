"""Character-level language modelling: corpora, their vocabulary, and the datamodule."""

from rnnlab.data.chars.datamodule import CharDataModule

__all__ = ["CharDataModule"]
