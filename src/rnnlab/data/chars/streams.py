"""Cutting a corpus into the contiguous streams that truncated BPTT walks."""

from __future__ import annotations

from torch import Tensor

from rnnlab.data.chars.errors import CorpusError


def check_length(split_name: str, n_chars: int, batch_size: int, bptt: int) -> None:
    """Raise unless ``n_chars`` fill one batch of ``batch_size`` streams of ``bptt`` steps.

    Each stream needs ``bptt + 1`` characters: inputs plus the one-step-shifted targets.
    """
    if batch_size < 1 or bptt < 1:
        raise CorpusError(f"batch_size and bptt must be >= 1, got {batch_size=}, {bptt=}")
    needed = batch_size * (bptt + 1)
    if n_chars < needed:
        raise CorpusError(
            f"split {split_name!r} has {n_chars} characters, too short for one batch: "
            f"batch_size={batch_size} x (bptt={bptt} + 1) = {needed} characters are needed"
        )


def partition_streams(ids: Tensor, batch_size: int) -> Tensor:
    """Cut a 1-D id sequence into ``batch_size`` contiguous rows, dropping the remainder.

    Row ``b`` holds ``ids[b*L:(b+1)*L]``, so consecutive windows of a row continue each
    other and a hidden state can be carried across them (truncated BPTT).
    """
    if ids.dim() != 1:
        raise CorpusError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    check_length("ids", ids.numel(), batch_size, 1)
    length = ids.numel() // batch_size
    return ids[: length * batch_size].reshape(batch_size, length)
