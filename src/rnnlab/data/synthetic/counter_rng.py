"""Counter-based random numbers: every value a pure function of a few integers.

A ``torch.Generator`` stream depends on how many numbers were drawn before it and is not
the same on CPU and CUDA, so an example drawn from one could not be rebuilt from its
index alone on the training device. Here the ``j``-th draw of example ``i`` in stream
``s`` under ``seed`` is splitmix64's output function applied to a counter made of those
integers. Nothing is stored: a batch is computed from its index tensor on that tensor's
device, and the numbers are the same bit for bit on CPU and CUDA.

Tensors are int64 standing in for uint64. Sums and products wrap modulo 2**64 on both
devices, as unsigned arithmetic does; a right shift, which torch performs arithmetically
on negative numbers, is masked back to a logical shift.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.errors import ConfigError

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15  # splitmix64's increment: 2**64 over the golden ratio, odd
MUL1, MUL2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64's output multipliers
MAX_HIGH = 1 << 31  # integers() keeps 32 random bits times ``high`` below 2**63


def as_int64(value: int) -> int:
    """``value`` modulo 2**64 as the signed number an int64 tensor holds for it."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def _shr(z: Tensor, shift: int) -> Tensor:
    """Logical right shift of int64 bit patterns."""
    return (z >> shift) & ((1 << (64 - shift)) - 1)


def mix64(z: Tensor) -> Tensor:
    """splitmix64's output function (a bijection of 64-bit words), elementwise on int64."""
    z = (z ^ _shr(z, 30)) * as_int64(MUL1)
    z = (z ^ _shr(z, 27)) * as_int64(MUL2)
    return z ^ _shr(z, 31)


def to_uniform(bits: Tensor) -> Tensor:
    """Floats uniform on [0, 1) from the top 24 bits: exact in float32 on any device."""
    return _shr(bits, 40).to(torch.float32) * 2.0**-24


def to_integers(bits: Tensor, high: int | Tensor) -> Tensor:
    """Integers uniform on [0, high) by multiply-shift of the top 32 bits.

    ``high`` may be an int64 tensor broadcasting with ``bits`` (a bound per draw, each in
    ``[1, MAX_HIGH]``; not checked, which would read the tensor back from the device).
    The bias is below high / 2**32 relative, far under what any test of a data set sees.
    ``high`` may be an integer tensor that broadcasts against ``bits`` (a bound per
    example); its values, in [1, 2**31], are the caller's to keep (reading them back from
    a device would cost a sync per batch).
    """
    if torch.is_tensor(high):
        if high.dtype.is_floating_point or high.dtype == torch.bool:
            raise ValueError(f"high must be an integer tensor, got {high.dtype}")
        return (_shr(bits, 32) * high.long()) >> 32
    if isinstance(high, bool) or not isinstance(high, int) or not 1 <= high <= MAX_HIGH:
        raise ValueError(f"high must be an integer in [1, {MAX_HIGH}], got {high!r}")
    return (_shr(bits, 32) * high) >> 32


class CounterRNG:
    """Random draws as a function of ``(seed, stream, example index, draw number)``.

    Args:
        seed: any integer (taken modulo 2**64).
        stream: which independent family of examples (a split, say); any integer.

    Each example owns an unbounded row of draws; a caller lays out what it needs along
    that row with ``offset`` (say values at draws ``0..T-1`` and a position at draw ``T``),
    so no two quantities share a draw.
    """

    def __init__(self, seed: int, stream: int) -> None:
        for key, value in (("seed", seed), ("stream", stream)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(key, value, "an integer")
        self.seed, self.stream = seed, stream
        state = torch.tensor([as_int64(seed + GAMMA)], dtype=torch.int64)
        key = mix64(mix64(state) + as_int64((stream + 1) * GAMMA))
        self.key = int(key.item())

    def example_keys(self, index: Tensor) -> Tensor:
        """One 64-bit key per example index (splitmix64's sequence from this stream's key)."""
        if index.dtype.is_floating_point or index.dtype == torch.bool or index.dim() != 1:
            raise ValueError(f"index must be a 1-d integer tensor, got {index.dtype} {index.shape}")
        return mix64(index.long() * as_int64(GAMMA) + self.key)

    def bits(self, index: Tensor, count: int, offset: int = 0) -> Tensor:
        """``[len(index), count]`` random 64-bit words: draws ``offset .. offset + count - 1``."""
        if count < 0 or offset < 0:
            raise ValueError(f"count and offset must be >= 0, got {count} and {offset}")
        draws = torch.arange(offset + 1, offset + count + 1, device=index.device)
        return mix64(self.example_keys(index)[:, None] + draws * as_int64(GAMMA))

    def uniform(self, index: Tensor, count: int, offset: int = 0) -> Tensor:
        """``[len(index), count]`` float32 uniform on [0, 1)."""
        return to_uniform(self.bits(index, count, offset))

    def integers(self, index: Tensor, high: int | Tensor, count: int, offset: int = 0) -> Tensor:
        """``[len(index), count]`` int64 uniform on ``[0, high)``; a tensor ``high``
        ``[len(index), 1]`` gives each example its own bound."""
        return to_integers(self.bits(index, count, offset), high)

    def sample(self, index: Tensor, n: int, k: int, offset: int = 0) -> Tensor:
        """``[len(index), k]`` distinct integers from ``[0, n)`` in random order (a uniform
        ordered sample without replacement), from draws ``offset .. offset + n - 1``.

        The k of n random keys that are smallest, in the order of their keys; the low bits
        of each key are replaced by its position, so keys never tie and the sample does not
        depend on how a device breaks ties.
        """
        low = max(1, (n - 1).bit_length())
        steps = torch.arange(n, device=index.device)
        keys = (self.bits(index, n, offset) & ~((1 << low) - 1)) | steps
        return torch.topk(keys, k, dim=1, largest=False).indices
