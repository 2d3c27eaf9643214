"""Drawing characters from a language model's scores: checks and one draw."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from rnnlab.errors import ConfigError


def check_prompt(vocab: Any, prompt: str) -> None:
    """A prompt of the training vocabulary's characters (the other sampling settings are
    declared with the config: ``rnnlab.run.options.SampleConfig``)."""
    known = set(vocab.itos[1:])
    bad = sorted({c for c in prompt if c not in known})
    if bad:
        raise ConfigError(
            "prompt", prompt, f"characters of the training vocabulary only; "
            f"{', '.join(map(repr, bad))} not in the training vocabulary",
        )  # fmt: skip


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
