"""The error of the corpus layer (turned into one-line config or data errors by the datamodule)."""


class CorpusError(ValueError):
    """A corpus cannot be loaded or is unusable for the requested batching."""
