"""Character-level language model: predict every next character of a window.

The loss is cross-entropy in nats per character. ``*/loss``, ``*/bpc`` and ``*/ppl``
are averaged over every character of the split (token-weighted, so a short last
window counts for what it holds), then converted: bpc = loss / ln 2, ppl = exp(loss).
With sequential data the hidden state runs on from one batch to the next (detached:
truncated BPTT) and starts from zero at the first batch of each train/val/test loop.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric, MinMetric

from rnnlab.data.corpora import Vocab
from rnnlab.errors import ConfigError, check_positive
from rnnlab.nn.recurrent import State, detach_state
from rnnlab.tasks.base import STAGES, BaseTask


class CharNLL(Metric):
    """Mean negative log-likelihood over all characters, in ``nats``, ``bits`` or as ``ppl``."""

    full_state_update = False

    def __init__(self, unit: str = "nats") -> None:
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
        if self.unit == "ppl":
            return mean.exp().float()
        return mean.float()


class LanguageModelTask(BaseTask):
    """Encoder (embedding or one-hot) -> recurrent stack -> linear head over the vocabulary.

    A batch is ``(x, y)``, both ``[B, T]`` character ids, ``y`` being ``x`` shifted by one.

    Args:
        vocab: the training vocabulary, id order (``<unk>`` first); kept in the checkpoint.
        carry_state: run the hidden state on across consecutive batches (sequential data).
        encoding: ``embedding`` (a learned ``embedding_dim`` vector per id) or ``onehot``.
        embedding_dim: embedding size.
    """

    def __init__(
        self,
        *args: Any,
        vocab: list[str],
        carry_state: bool = True,
        encoding: str = "embedding",
        embedding_dim: int = 64,
        **kwargs: Any,
    ) -> None:
        # encoder_size() runs inside BaseTask.__init__, so these must be set first.
        self._encoding, self._embedding_dim = encoding, embedding_dim
        options = {"vocab": list(vocab), "carry_state": carry_state, "encoding": encoding,
                   "embedding_dim": embedding_dim}  # fmt: skip
        super().__init__(*args, task_options=options, **kwargs)
        self.vocab = Vocab.from_list(vocab)
        n = self.hparams.num_outputs
        self.encoder = nn.Embedding(n, embedding_dim) if encoding == "embedding" else None
        self.head = nn.Linear(self.rnn.output_size, n)
        self.metrics = nn.ModuleDict(
            {
                f"{s}_": nn.ModuleDict({"bpc": CharNLL("bits"), "ppl": CharNLL("ppl")})
                for s in STAGES
            }
        )
        self.val_bpc_best = MinMetric()
        self._state: dict[str, State | None] = dict.fromkeys(STAGES)

    def encoder_size(self, input_size: int) -> int:
        if self._encoding not in ("embedding", "onehot"):
            raise ConfigError("data.encoding", self._encoding, "one of embedding, onehot")
        check_positive("data.embedding_dim", self._embedding_dim)
        return self._embedding_dim if self._encoding == "embedding" else input_size

    def encode_ids(self, x: Tensor) -> Tensor:
        if self.encoder is not None:
            return self.encoder(x)
        return F.one_hot(x, self.hparams.num_outputs).float()

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Ids ``[B, T]`` -> logits ``[B, T, vocab]`` and the final state."""
        out, state = self.rnn(self.encode_ids(x), state)
        return self.head(out), state

    # -- state carried between batches ---------------------------------------------
    def reset_state(self, stage: str) -> None:
        self._state[stage] = None

    def _initial_state(self, stage: str, batch_size: int) -> State | None:
        state = self._state[stage]
        if not self.hparams.carry_state or state is None:
            return None
        h = state[0] if isinstance(state, tuple) else state
        return state if h.shape[1] == batch_size else None  # new batch size: new streams

    def nll(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        """Summed cross-entropy (nats) of the batch, carrying the state when the data is sequential."""
        x, y = batch
        logits, state = self(x, self._initial_state(stage, x.shape[0]))
        self._state[stage] = detach_state(state) if self.hparams.carry_state else None
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")

    def step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        total = self.nll(batch, stage)
        tokens = batch[1].numel()
        metrics = self.metrics[f"{stage}_"]
        for name, metric in metrics.items():
            metric.update(total, tokens)
            self.log(
                f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=name == "bpc"
            )
        return total / tokens

    @staticmethod
    def batch_size(batch: Any) -> int:
        """Weight of a batch in the epoch mean of ``*/loss``: its characters."""
        return batch[1].numel()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if batch_idx == 0:
            self.reset_state("train")

    def on_validation_batch_start(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if batch_idx == 0:
            self.reset_state("val")

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == 0:
            self.reset_state("test")

    def _log_unknown(self, stage: str) -> None:
        unknown = getattr(getattr(self.trainer, "datamodule", None), "unknown", {})
        if stage in unknown:
            self.log(f"data/{stage}_unknown", float(unknown[stage]), on_epoch=True)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.val_bpc_best(self.metrics["val_"]["bpc"].compute())
        self.log("val/bpc_best", self.val_bpc_best.compute())
        self._log_unknown("val")

    def on_test_epoch_end(self) -> None:
        self._log_unknown("test")

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
        self._check_sampling(prompt, length, temperature, top_k)
        was_training = self.training
        self.eval()
        try:
            ids = self.vocab.encode(prompt).to(self.device)[None]
            logits, state = self(ids)
            out: list[int] = []
            for _ in range(length):
                nxt = self._pick(logits[0, -1].float().cpu(), temperature, top_k, generator)
                out.append(nxt)
                logits, state = self(torch.tensor([[nxt]], device=self.device), state)
            return self.vocab.decode(out)
        finally:
            self.train(was_training)

    def _check_sampling(
        self, prompt: str, length: int, temperature: float, top_k: int | None
    ) -> None:
        if not isinstance(prompt, str) or not prompt:
            raise ConfigError("prompt", prompt, "a non-empty string")
        known = set(self.vocab.itos[1:])
        bad = sorted({c for c in prompt if c not in known})
        if bad:
            raise ConfigError(
                "prompt", prompt, f"characters of the training vocabulary only; "
                f"{', '.join(map(repr, bad))} not in the training vocabulary",
            )  # fmt: skip
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ConfigError("length", length, "an integer >= 0")
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or temperature < 0
        ):
            raise ConfigError("temperature", temperature, "a number >= 0 (0 = greedy)")
        if top_k is not None:
            check_positive("top_k", top_k)

    @staticmethod
    def _pick(
        logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
    ) -> int:
        logits = logits.clone()
        logits[0] = -math.inf  # <unk>
        if temperature == 0:
            return int(logits.argmax())
        if top_k is not None and top_k < logits.numel():
            kth = logits.topk(top_k).values[-1]
            logits[logits < kth] = -math.inf
        probs = torch.softmax(logits / temperature, dim=-1)
        return int(torch.multinomial(probs, 1, generator=generator))
