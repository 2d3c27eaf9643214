"""Recurrent layers written from their equations (``model.impl=scratch``)."""

from rnnlab.nn.scratch.layers import SCRATCH, ScratchGRU, ScratchLSTM, ScratchRNN

__all__ = ["SCRATCH", "ScratchGRU", "ScratchLSTM", "ScratchRNN"]
