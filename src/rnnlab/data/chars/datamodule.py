"""Character-level language modelling on a corpus from ``rnnlab.data.chars.corpora``.

Sequential sampling (the default) cuts the training split into ``batch_size``
contiguous streams and walks them in ``bptt``-step windows, so the task can carry its
hidden state from one batch to the next (truncated BPTT). Random sampling draws
windows at random offsets with a fresh state each. Validation and test always walk
``eval_streams`` contiguous streams of the whole split with carried state, so every
character is predicted from all the text before it in its stream, as in published
char-LM numbers.

The task needs the vocabulary before training starts, so ``spec()`` loads the corpus
early (``prepare_data`` downloads at most once; later calls read the local file). A
vocabulary restored from a checkpoint (``load_state_dict``, called by the run before
``setup``) is kept: evaluation encodes text exactly as training did.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import Tensor

from rnnlab.data.batching import IndexBatches, TensorDataModule
from rnnlab.data.chars.corpora import Splits, load_corpus
from rnnlab.data.chars.errors import CorpusError
from rnnlab.data.chars.streams import check_length, partition_streams
from rnnlab.data.chars.vocab import Vocab
from rnnlab.data.options import CharsOptions
from rnnlab.data.remote import DownloadError
from rnnlab.errors import ConfigError, DataError

log = logging.getLogger(__name__)


class CharDataModule(TensorDataModule):
    """Characters of a corpus as next-character prediction batches ``(x, y)``, ``[B, T]`` ids.

    Args:
        corpus: ``tinyshakespeare``, ``ptb`` (both downloaded), ``path`` (``path``, a local
            UTF-8 file, split 90/5/5) or ``stdlib`` (Python's own sources, offline).
        data_dir: where downloaded corpora live.
        path: the text file for ``corpus=path``.
        format: how ``path`` is written: ``plain``, ``ptb`` (the PTB character format:
            bpc per symbol), or ``auto`` (detect the PTB format and say so).
        download: allow fetching a missing corpus; verify: check checksums / sanity.
        max_chars: truncate the corpus (before splitting) for quick runs.
        sampling: ``sequential`` (contiguous streams, state carried) or ``random``.
        bptt: time steps per training window (truncated backpropagation length).
        batch_size: streams (sequential) or windows (random) per batch on each rank.
        eval_streams: contiguous streams that validation and test walk in parallel.
        windows_per_epoch: random sampling only; default: one pass worth of characters.
        test_text: ``test`` (the test split) or ``heldout`` (validation and test splits
            together: for tiny-shakespeare the last 10% of the corpus, nanoGPT's held-out
            text).
        prompt_chars: characters of the val split used as the default sampling prompt.
    """

    batch_format = "tokens"

    Options = CharsOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.splits: Splits | None = None
        self.vocab: Vocab | None = None
        self.ids: dict[str, Tensor] = {}
        self.unknown: dict[str, int] = {}

    # -- loading -----------------------------------------------------------------
    def _load(self, download: bool) -> Splits:
        """``load_corpus`` with its errors turned into one-line messages naming ``data.*`` keys."""
        try:
            splits = load_corpus(
                self.corpus, data_dir=self.data_dir, path=self.path, download=download,
                verify=self.verify, max_chars=self.max_chars, text_format=self.format,
            )  # fmt: skip
        except CorpusError as err:
            if self.corpus == "path":
                raise ConfigError(
                    "data.path", self.path, f"a non-empty UTF-8 text file ({err})"
                ) from None
            raise DataError(f"data.corpus={self.corpus!r}: {err}") from None
        except DownloadError as err:
            # The download error spans lines (file, mirrors, errors); the CLI prints one.
            lines = [line.strip() for line in str(err).splitlines()]
            urls = [line for line in lines if line.startswith(("http://", "https://"))]
            source = f" (e.g. from {urls[0]})" if urls else ""
            raise DataError(
                f"data.corpus={self.corpus!r}: {lines[0]} Put the files into "
                f"{self.data_dir / self.corpus} by hand{source} or set RNNLAB_DATA_DIR, "
                "or use data.corpus=stdlib or data.corpus=path"
            ) from None
        if self.test_text == "heldout":
            splits = Splits(splits.train, splits.val, splits.val + splits.test, splits.source)
        return splits

    def prepare_data(self) -> None:
        """Download the corpus if needed (Lightning calls this once per node) and keep it."""
        if self.splits is not None:  # already read: the files are there
            return
        self.splits = self._load(self.download)
        if self.vocab is None:  # a vocabulary restored from a checkpoint is kept
            self.vocab = Vocab.build(self.splits.train)
        n_train, n_val, n_test = self.splits.sizes()
        log.info("corpus %s: %d/%d/%d characters, vocab %d",
                 self.splits.source, n_train, n_val, n_test, len(self.vocab))  # fmt: skip

    def spec(self) -> dict[str, Any]:
        """The vocabulary and whether batches continue each other (state carried)."""
        self.prepare_data()
        return {
            "input_size": len(self.vocab),
            "num_outputs": len(self.vocab),
            "vocab": self.vocab.to_list(),
            "carry_state": self.sampling == "sequential",
            "default_prompt": self.default_prompt(),
        }

    def stats(self) -> dict[str, float]:
        """Characters of val and test never seen in training (read as ``<unk>``)."""
        return {f"data/{split}_unknown": float(n) for split, n in self.unknown.items()
                if split != "train"}  # fmt: skip

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def setup(self, stage: str | None = None) -> None:
        if self.ids:
            return
        self.prepare_data()
        splits = self.splits
        _, world = self._world()
        self._check_lengths(splits, world)
        for name in ("train", "val", "test"):
            ids, unknown = self.vocab.encode(getattr(splits, name), return_unknown=True)
            self.ids[name] = ids.to(self.device)
            self.unknown[name] = unknown
        log.info("characters unseen in training (mapped to <unk>): val %d, test %d",
                 self.unknown["val"], self.unknown["test"])  # fmt: skip

    def _check_lengths(self, splits: Splits, world: int) -> None:
        checks = [("train", "batch_size", self.batch_size, self.bptt), ("val", "eval_streams", self.eval_streams, 1),
                  ("test", "eval_streams", self.eval_streams, 1)]  # fmt: skip
        for split, key, value, bptt in checks:
            streams = value * world if split != "train" or self.sampling == "sequential" else 1
            try:
                check_length(split, len(getattr(splits, split)), streams, bptt)
            except CorpusError as err:
                raise ConfigError(f"data.{key}", value, f"a corpus long enough ({err})") from None

    # -- batches -----------------------------------------------------------------
    def _streams(self, split: str, per_rank: int) -> tuple[Tensor, int]:
        """This rank's ``per_rank`` contiguous rows of the split, and the world size.

        The split is cut into ``per_rank * world_size`` streams and each rank keeps its
        own block of rows, so ranks read different text, not interleaved windows.
        """
        rank, world = self._world()
        rows = partition_streams(self.ids[split], per_rank * world)
        return rows[rank * per_rank : (rank + 1) * per_rank], world

    def _sequential(self, split: str, per_rank: int, bptt: int) -> IndexBatches:
        streams, world = self._streams(split, per_rank)
        n_windows = math.ceil((streams.size(1) - 1) / bptt)

        def make_batch(index: Tensor) -> tuple[Tensor, Tensor]:
            # IndexBatches deals index i to rank i % world, in order: rank r sees
            # r, r + world, ..., i.e. windows 0, 1, 2, ... of its own streams.
            start = int(index[0]) // world * bptt
            steps = min(bptt, streams.size(1) - 1 - start)
            return streams[:, start : start + steps], streams[:, start + 1 : start + 1 + steps]

        return self.batches(
            n_windows * world, make_batch, train=split == "train", shuffle=False, batch_size=1
        )

    def _random(self) -> IndexBatches:
        ids, bptt = self.ids["train"], self.bptt
        offsets = torch.arange(bptt + 1, device=ids.device)

        def make_batch(starts: Tensor) -> tuple[Tensor, Tensor]:
            windows = ids[starts[:, None] + offsets]
            return windows[:, :-1], windows[:, 1:]

        per_epoch = self.windows_per_epoch or max(1, len(ids) // bptt)
        starts = len(ids) - bptt  # every start whose window and target fit
        return self.batches(starts, make_batch, train=True, num_samples=per_epoch, replacement=True)

    def split_batches(self, split: str) -> IndexBatches:
        if split == "train":
            if self.sampling == "random":
                return self._random()
            return self._sequential("train", self.batch_size, self.bptt)
        return self._sequential(split, self.eval_streams, self.bptt)

    def default_prompt(self) -> str:
        """The first ``prompt_chars`` characters of the val split that the vocabulary knows."""
        self.prepare_data()
        known = set(self.vocab.itos[1:])
        text = "".join(c for c in self.splits.val[: self.prompt_chars] if c in known)
        return text or self.vocab.itos[1]

    # -- checkpoints -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_list() if self.vocab is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("vocab"):
            self.vocab = Vocab.from_list(state["vocab"])
