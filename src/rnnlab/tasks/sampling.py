"""Drawing characters from a language model's scores: checks and one draw."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from rnnlab.errors import ConfigError, check_positive

MAX_LENGTH = 1_000_000  # characters one rnnlab-sample may generate (about a minute on a CPU)


def check_sampling(vocab: Any, prompt: str, length: int, temperature: float,
                   top_k: int | None) -> None:  # fmt: skip
    """One-line errors for a prompt outside the vocabulary and out-of-range settings."""
    if not isinstance(prompt, str) or not prompt:
        raise ConfigError("prompt", prompt, "a non-empty string")
    known = set(vocab.itos[1:])
    bad = sorted({c for c in prompt if c not in known})
    if bad:
        raise ConfigError(
            "prompt", prompt, f"characters of the training vocabulary only; "
            f"{', '.join(map(repr, bad))} not in the training vocabulary",
        )  # fmt: skip
    check_length(length)
    number = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not number or not math.isfinite(temperature) or temperature < 0:
        raise ConfigError("temperature", temperature, "a number >= 0 (0 = greedy)")
    if top_k is not None:
        check_positive("top_k", top_k)


def check_length(length: Any) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= MAX_LENGTH:
        raise ConfigError("length", length, f"an integer from 0 to {MAX_LENGTH:_}")


def pick(logits: Tensor, temperature: float, top_k: int | None,
         generator: torch.Generator | None) -> int:  # fmt: skip
    """One id from ``logits`` (id 0, ``<unk>``, is never drawn)."""
    logits = logits.clone()
    logits[0] = -math.inf
    if temperature == 0:
        return int(logits.argmax())
    if top_k is not None and top_k < logits.numel():
        kth = logits.topk(top_k).values[-1]
        logits[logits < kth] = -math.inf
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))
