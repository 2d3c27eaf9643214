"""Character-level language model: predict every next character of a window.

The loss is cross-entropy in nats per character. ``*/loss``, ``*/bpc`` and ``*/ppl``
are averaged over every character of the split (token-weighted, so a short last
window counts for what it holds), then converted: bpc = loss / ln 2, ppl = exp(loss).
With sequential data the hidden state runs on from one batch to the next (detached:
truncated BPTT), starts from zero at the first batch of each train/val/test loop, and
travels in checkpoints, so a run resumed mid-epoch carries on with the same state.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric, MinMetric

from rnnlab.data.chars.vocab import Vocab
from rnnlab.errors import ConfigError
from rnnlab.nn.recurrent import State, detach_state
from rnnlab.tasks.base import STAGES, BaseTask
from rnnlab.tasks.options import LanguageModelOptions as OPTIONS
from rnnlab.tasks.sampling import check_prompt, pick


class CharNLL(Metric):
    """Mean negative log-likelihood over all characters, in ``bits`` or as ``ppl``."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, unit: str = "bits") -> None:
        super().__init__()
        self.unit = unit
        self.add_state("nll", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("tokens", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, nll_sum: Tensor, tokens: int) -> None:
        self.nll += nll_sum.detach().double()
        self.tokens += tokens

    def compute(self) -> Tensor:
        mean = self.nll / self.tokens.clamp(min=1)
        if self.unit == "bits":
            return (mean / math.log(2)).float()
        return mean.exp().float()


class LanguageModelTask(BaseTask):
    """Encoder (embedding or one-hot) -> recurrent stack -> linear head over the vocabulary.

    A batch is ``(x, y)``, both ``[B, T]`` character ids, ``y`` being ``x`` shifted by one.

    Args:
        vocab: the training vocabulary, id order (``<unk>`` first); kept in the checkpoint.
        carry_state: run the hidden state on across consecutive batches (sequential data).
        encoding: ``embedding`` (a learned ``embedding_dim`` vector per id) or ``onehot``.
        embedding_dim: embedding size.
        default_prompt: what text samples continue when no prompt is given.
    """

    extra_metrics = {"val/bpc_best": "lower"}
    batch_format = "tokens"

    def __init__(
        self,
        *args: Any,
        vocab: list[str],
        carry_state: bool = True,
        encoding: str = OPTIONS.encoding,
        embedding_dim: int = OPTIONS.embedding_dim,
        default_prompt: str = "\n",
        **kwargs: Any,
    ) -> None:
        # encoder_size() runs inside BaseTask.__init__, so these must be set first.
        self._encoding, self._embedding_dim = encoding, embedding_dim
        options = {"vocab": list(vocab), "carry_state": carry_state, "encoding": encoding,
                   "embedding_dim": embedding_dim, "default_prompt": default_prompt}  # fmt: skip
        super().__init__(*args, task_options=options, **kwargs)
        self.vocab = Vocab.from_list(vocab)
        self.default_prompt = default_prompt
        n = self.hparams.num_outputs
        self.encoder = nn.Embedding(n, embedding_dim) if encoding == "embedding" else None
        self.head = nn.Linear(self.rnn.output_size, n)
        self.setup_metrics()
        self.val_bpc_best = MinMetric()
        self.val_bpc_best.persistent(True)  # a resumed run keeps its best epoch
        self._state: dict[str, State | None] = dict.fromkeys(STAGES)

    def stage_metrics(self) -> dict[str, Metric]:
        return {"bpc": CharNLL("bits"), "ppl": CharNLL("ppl")}

    def encoder_size(self, input_size: int) -> int:
        return self._embedding_dim if self._encoding == "embedding" else input_size

    def stack_inputs(self, x: Tensor) -> Tensor:
        if self.encoder is not None:
            return self.encoder(x)
        return F.one_hot(x, self.hparams.num_outputs).float()

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Ids ``[B, T]`` -> logits ``[B, T, vocab]`` and the final state."""
        out, state = self.rnn(self.stack_inputs(x), state)
        return self.head(out), state

    def probe_loss(self, outputs: Tensor, state: State, batch: Any) -> Tensor:
        """The prediction of the last character only: how far back its gradient reaches."""
        return F.cross_entropy(self.head(outputs[:, -1]), batch[1][:, -1])

    # -- state carried between batches ---------------------------------------------
    def _initial_state(self, stage: str, batch_size: int) -> State | None:
        state = self._state[stage]
        if not self.hparams.carry_state or state is None:
            return None
        h = state[0] if isinstance(state, tuple) else state
        return state if h.shape[1] == batch_size else None  # new batch size: new streams

    def step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        logits, state = self(x, self._initial_state(stage, x.shape[0]))
        self._state[stage] = detach_state(state) if self.hparams.carry_state else None
        total = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
        )
        self.metrics[f"{stage}_"].update(total, y.numel())
        return total / y.numel()

    @staticmethod
    def batch_size(batch: Any) -> int:
        """Weight of a batch in the epoch mean of ``*/loss``: its characters."""
        return batch[1].numel()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if batch_idx == 0:
            self._state["train"] = None

    def on_validation_batch_start(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if batch_idx == 0:
            self._state["val"] = None

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == 0:
            self._state["test"] = None

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.val_bpc_best(self.metrics["val_"]["bpc"].compute())
            self.log("val/bpc_best", self.val_bpc_best.compute())
        super().on_validation_epoch_end()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        state = self._state["train"]
        if state is not None:
            state = tuple(s.cpu() for s in state) if isinstance(state, tuple) else state.cpu()
        checkpoint["carried_state"] = state

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("carried_state")
        if state is not None:
            device = self.device
            state = (
                tuple(s.to(device) for s in state) if isinstance(state, tuple) else state.to(device)
            )
        self._state["train"] = state

    # -- sampling ----------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompt: str,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> str:
        """Continue ``prompt`` by ``length`` characters (the prompt is not included).

        ``temperature`` 0 takes the most likely character each step (greedy); ``top_k``
        keeps only the k most likely. Draws come from ``generator`` (CPU), so a seed fixes
        the text. ``<unk>`` is never drawn.
        """
        return "".join(self.stream(prompt, length, temperature, top_k, generator))

    def stream(
        self,
        prompt: str,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[str]:
        """``generate``, one character at a time as it is drawn."""
        check_prompt(self.vocab, prompt)
        was_training = self.training
        self.eval()
        try:
            ids = self.vocab.encode(prompt).to(self.device)[None]
            logits, state = self(ids)
            for _ in range(length):
                nxt = pick(logits[0, -1].float().cpu(), temperature, top_k, generator)
                yield self.vocab.decode([nxt])
                logits, state = self(torch.tensor([[nxt]], device=self.device), state)
        finally:
            self.train(was_training)


__all__ = ["CharNLL", "ConfigError", "LanguageModelTask"]
