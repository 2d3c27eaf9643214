"""Classification or regression of whole variable-length sequences read from files.

``SequenceDataModule`` reads a training and a test file (and a validation file, or holds
out ``val_fraction`` of the training cases, seeded), encodes the labels (classes from the
training file) or targets, fills missing values as ``missing`` says, standardises each
channel with the statistics of the training split alone, and keeps every split on the
device padded at the end. A batch is ``(x [B, T_batch, F], y [B], lengths [B])``, padded
only to the longest sequence of the batch. ``UEADataModule`` (``rnnlab.data.uea``) is the
same with the files of an archive problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.batching import IndexBatches, TensorDataModule
from rnnlab.data.files import SequenceFile, prepare, read_sequence_file
from rnnlab.data.options import SequenceFileOptions

SPLITS = ("train", "val", "test")


class SequenceDataModule(TensorDataModule):
    """Sequences of ``train_path``, ``val_path`` (optional) and ``test_path``."""

    Options = SequenceFileOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.batch_format = "labels" if self.target == "class" else "targets"
        self.classes: list[str] = []
        self.tensors: dict[str, tuple[Tensor, Tensor, Tensor]] = {}  # split -> x, y, lengths
        self.counts: dict[str, int] = {}
        self._loaded = False

    def file_paths(self) -> dict[str, Path | None]:
        """The file of each split; ``val`` None: held out of ``train``."""
        return {"train": Path(self.train_path), "val": self.val_path and Path(self.val_path),
                "test": Path(self.test_path)}  # fmt: skip

    def _read(self, path: Path) -> SequenceFile:
        return read_sequence_file(path, id_column=self.id_column, time_column=self.time_column,
                                  label_column=self.label_column)  # fmt: skip

    def load(self) -> None:
        """Read and check every file, and build the splits' tensors (on the CPU)."""
        if self._loaded:
            return
        paths = self.file_paths()
        files = {split: self._read(path) for split, path in paths.items() if path is not None}
        train = files["train"]
        others = [files[s] for s in ("val", "test") if s in files]
        prepare.check_features(train, others)
        labels, self.classes = prepare.encode_labels(train, others, self.target)
        y = dict(zip([s for s in SPLITS if s in files], labels, strict=True))
        seqs = {split: f.sequences for split, f in files.items()}
        for f in files.values():
            prepare.check_missing(f, self.missing)
        if "val" not in files:
            keep, held = prepare.validation_split(train, self.val_fraction, self.seed)
            seqs["val"], y["val"] = [seqs["train"][i] for i in held], y["train"][held]
            seqs["train"], y["train"] = [seqs["train"][i] for i in keep], y["train"][keep]
        if self.missing == "ffill":
            seqs = {s: [prepare.forward_fill(x) for x in v] for s, v in seqs.items()}
        mean, std = prepare.channel_stats(seqs["train"]) if self.normalize else (0.0, 1.0)
        self.mean, self.std = mean, std
        dtype = torch.long if self.target == "class" else torch.float32
        for split in SPLITS:
            normalised = [np.nan_to_num((x - mean) / std, nan=0.0) for x in seqs[split]]
            x, lengths = prepare.pad(normalised)
            self.tensors[split] = (x, torch.as_tensor(y[split], dtype=dtype), lengths)
            self.counts[split] = len(lengths)
        self.input_size = train.num_features
        self.num_outputs = len(self.classes) if self.target == "class" else 1
        self._loaded = True

    def prepare_data(self) -> None:
        # Reads and checks every file before training starts (bad files are refused here).
        self.load()

    def spec(self) -> dict[str, Any]:
        self.load()
        return super().spec()

    def setup(self, stage: str | None = None) -> None:
        self.load()
        if next(iter(self.tensors.values()))[0].device != self.device:
            self.tensors = {
                s: tuple(t.to(self.device) for t in ts) for s, ts in self.tensors.items()
            }

    def stats(self) -> dict[str, float]:
        return {f"data/{split}_cases": float(n) for split, n in self.counts.items()}

    def split_batches(self, split: str) -> IndexBatches:
        x, y, lengths = self.tensors[split]

        def make_batch(idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            batch_lengths = lengths[idx]
            # the one read back per batch: the padding length is a shape, known on the host
            return x[idx, : int(batch_lengths.max())], y[idx], batch_lengths

        bucket = lengths if split == "train" and self.bucket_by_length else None
        return self.batches(len(lengths), make_batch, train=split == "train", bucket_lengths=bucket)
