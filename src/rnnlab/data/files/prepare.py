"""From files read to tensors: labels encoded, validation held out, missing values filled,
channels normalised with training statistics only, sequences padded at the end."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.files.records import SequenceFile
from rnnlab.errors import ConfigError, DataError

NO_LABEL = ("", "nan", "None")


def _numeric_order(labels: set[str]) -> list[str]:
    """Labels sorted as numbers when they all are (``2`` before ``10``), else as text."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def encode_labels(
    train: SequenceFile, others: list[SequenceFile], target: str
) -> tuple[list[np.ndarray], list[str]]:
    """Each file's labels as class indices or float targets, and the class names (if any).

    The classes are those a ``.ts`` header of the training file lists, else the training
    file's labels; a label that occurs only in another file is refused.
    """
    files = [train, *others]
    for f in files:
        if f.kind is not None and f.kind != target:
            declared = "@classLabel true" if f.kind == "class" else "@targetLabel true"
            task = " with task=sequence_regression" if f.kind == "regression" else ""
            raise ConfigError("data.target", target,
                              f"{f.kind}{task} for {f.path} (it declares {declared})")  # fmt: skip
        for i, label in enumerate(f.labels):
            if label in NO_LABEL:
                raise f.fail(i, "the label is missing")
    if target == "regression":
        out = []
        for f in files:
            values = np.empty(len(f.labels))
            for i, label in enumerate(f.labels):
                try:
                    values[i] = float(label)
                except ValueError:
                    raise f.fail(
                        i, f"target {label!r} is not a number (data.target=regression)"
                    ) from None
                if not math.isfinite(values[i]):
                    raise f.fail(i, f"target {label!r} is not finite")
            out.append(values)
        return out, []
    classes = train.classes or _numeric_order(set(train.labels))
    index = {c: k for k, c in enumerate(classes)}
    out = []
    for f in files:
        for i, label in enumerate(f.labels):
            if label not in index:
                raise f.fail(i, f"label {label!r} does not occur in the training file {train.path}")
        out.append(np.array([index[label] for label in f.labels], dtype=np.int64))
    if len(classes) < 2:
        raise DataError(f"{train.path}: one class only ({classes[0]!r}); classification needs two")
    return out, list(classes)


def check_features(train: SequenceFile, others: list[SequenceFile]) -> None:
    for f in others:
        if f.num_features != train.num_features:
            raise DataError(f"{f.path}: {f.num_features} features per step, the training file "
                            f"{train.path} has {train.num_features}")  # fmt: skip
    for f in [train, *others]:
        for i, seq in enumerate(f.sequences):
            if seq.shape[1] != train.num_features:
                raise f.fail(i, f"{seq.shape[1]} features per step, the first case has "
                             f"{train.num_features}")  # fmt: skip


def validation_split(
    train: SequenceFile, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation case indices of the training file, drawn from ``seed``."""
    n = len(train.sequences)
    n_val = round(n * fraction)
    if n_val < 1 or n - n_val < 1:
        raise DataError(f"{train.path}: {n} case(s) are too few for data.val_fraction={fraction} "
                        "(at least one training and one validation case; or give data.val_path)")  # fmt: skip
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def check_missing(f: SequenceFile, policy: str) -> None:
    """Infinite values are always refused; NaN (missing) ones unless a policy fills them."""
    for i, seq in enumerate(f.sequences):
        bad = ~np.isfinite(seq)
        if not bad.any():
            continue
        step, channel = (int(v) for v in np.argwhere(bad)[0])
        value = seq[step, channel]
        if not np.isnan(value):
            raise f.fail(
                i, f"value {value} at step {step + 1}, channel {channel + 1} is not finite"
            )
        if policy == "refuse":
            raise f.fail(i, f"missing value at step {step + 1}, channel {channel + 1} "
                         "(set data.missing=zero or data.missing=ffill to fill such values)")  # fmt: skip


def forward_fill(seq: np.ndarray) -> np.ndarray:
    """Each missing value takes the last value seen before it in its channel (the first
    value after it at the start); a channel with no value at all stays missing."""
    out = seq.copy()
    for c in range(out.shape[1]):
        col = out[:, c]
        seen = np.flatnonzero(~np.isnan(col))
        if len(seen) == 0:
            continue
        last = np.maximum.accumulate(np.where(np.isnan(col), 0, np.arange(len(col))))
        col[:] = col[last]
        col[: seen[0]] = col[seen[0]]
    return out


def channel_stats(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each channel over every observed step of ``seqs`` (std 0 -> 1)."""
    steps = np.concatenate(seqs)
    with warnings.catch_warnings():  # a channel missing everywhere: mean 0, std 1
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, std = np.nanmean(steps, axis=0), np.nanstd(steps, axis=0)
    std = np.nan_to_num(std)
    return np.nan_to_num(mean), np.where(std > 0, std, 1.0)


def pad(seqs: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """``[N, T_max, F]`` float32 zero-padded at the end, and lengths ``[N]``."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    x = torch.zeros(len(seqs), int(lengths.max()), seqs[0].shape[1])
    for i, seq in enumerate(seqs):
        x[i, : len(seq)] = torch.from_numpy(seq)
    return x, lengths
