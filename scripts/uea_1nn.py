#!/usr/bin/env python3
"""1-nearest-neighbour baselines of the UEA multivariate archive paper, measured on one problem.

Run from the repository root with the project's Python::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/uea_1nn.py [NAME]      # NAME: JapaneseVowels

It reads ``<data_dir>/uea/<NAME>/<NAME>_TRAIN.ts`` and ``_TEST.ts``, where ``data=uea``
reads them (``data_dir``: ``RNNLAB_DATA_DIR``, else ``data/`` in the checkout; nothing is
downloaded), with the project's ``.ts`` reader, and prints a markdown table of the test
accuracy of three 1-NN classifiers, after Bagnall et al. 2018 (arXiv:1811.00075):

- ED: Euclidean distance between the series made equal in length (below);
- DTW_I: the sum over channels of one-channel DTW distances;
- DTW_D: one DTW over the multivariate points, the point cost the squared Euclidean
  distance between them.

Protocol: each series is z-normalised per channel on its own (its own mean and std over
its own steps; a constant channel becomes zeros), as the archive paper does;
``--normalise train`` instead standardises each channel with the mean and std of all
training steps (what ``data=uea`` does for the recurrent cells), ``--normalise none``
leaves the values as read. ED pads each normalised series with its
own last value up to the longest series of TRAIN and TEST together. DTW uses the original
lengths, a full warping window, and the squared difference as the cost of a pair of steps
(the distance is the summed cost along the best path; no square root, which changes no
neighbour). A test series takes the label of its nearest training series; of tied
training series, the first in the file wins.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

PROTOCOL = (
    "1-NN, {how}; ED on the series padded with "
    "their own last value to the longest length of TRAIN and TEST; DTW on the original "
    "lengths, full window, squared-difference step cost (DTW_I: summed over channels, "
    "DTW_D: squared Euclidean over channels); ties go to the first training series"
)
# how the series are scaled first: each series on its own (the archives' usual convention), then two others for comparison
NORMALISE = {
    "series": "each series z-normalised per channel on its own",
    "train": "each channel standardised with the mean and std of all training steps "
    "(as data=uea does for the recurrent cells)",
    "none": "the values as read",
}
BLOCK = 32  # test series per block: bounds the memory of the pairwise arrays


def znormalise(series: np.ndarray) -> np.ndarray:
    """``[T, F]`` with each channel shifted to mean 0 and scaled to std 1 (constant: 0)."""
    centred = series - series.mean(axis=0)
    std = series.std(axis=0)
    return centred / np.where(std > 0, std, 1.0)


def pad_last(series: list[np.ndarray], length: int) -> np.ndarray:
    """``[N, length, F]``: every series followed by copies of its own last step."""
    out = np.empty((len(series), length, series[0].shape[1]))
    for i, s in enumerate(series):
        out[i, : len(s)] = s
        out[i, len(s) :] = s[-1]
    return out


def euclidean(test: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``[Q, N]`` squared Euclidean distances between equal-length ``[Q, T, F]``, ``[N, T, F]``."""
    a, b = test.reshape(len(test), -1), train.reshape(len(train), -1)
    out = np.empty((len(a), len(b)))
    for start in range(0, len(a), BLOCK):
        diff = a[start : start + BLOCK, None, :] - b[None, :, :]
        out[start : start + BLOCK] = np.einsum("qnk,qnk->qn", diff, diff)
    return out


def _padded(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in series])
    out = np.zeros((len(series), lengths.max(), series[0].shape[1]))
    for i, s in enumerate(series):
        out[i, : len(s)] = s
    return out, lengths


def _dtw_block(
    a: np.ndarray, la: np.ndarray, b: np.ndarray, lb: np.ndarray
) -> np.ndarray:  # fmt: skip
    """``[Q, N]`` DTW between every padded ``a[q]`` (length ``la[q]``) and ``b[n]`` (``lb[n]``).

    Row ``i`` of the cumulative cost of all pairs at once; a pair's distance is read at
    its own last cell ``(la[q] - 1, lb[n] - 1)``, which depends only on cells inside both
    series, so the padding never enters it.
    """
    q, n, steps = len(a), len(b), b.shape[1]
    prev = np.full((q, n, steps + 1), np.inf)
    prev[:, :, 0] = 0.0  # row -1: only the corner is open, so every path starts at (0, 0)
    out = np.full((q, n), np.nan)
    columns = np.arange(n)
    for i in range(a.shape[1]):
        diff = a[:, None, i, None, :] - b[None, :, :, :]  # [Q, N, S, F]
        cost = np.einsum("qnsf,qnsf->qns", diff, diff)
        cur = np.full((q, n, steps + 1), np.inf)
        for j in range(steps):
            best = np.minimum(np.minimum(prev[:, :, j], prev[:, :, j + 1]), cur[:, :, j])
            cur[:, :, j + 1] = cost[:, :, j] + best
        ends = la == i + 1
        out[ends] = cur[ends][:, columns, lb]
        prev = cur
    return out


def dtw(test: list[np.ndarray], train: list[np.ndarray]) -> np.ndarray:
    """``[Q, N]`` DTW_D distances (full window) between variable-length ``[T, F]`` series."""
    a, la = _padded(test)
    b, lb = _padded(train)
    out = np.empty((len(a), len(b)))
    for start in range(0, len(a), BLOCK):
        stop = start + BLOCK
        out[start:stop] = _dtw_block(a[start:stop], la[start:stop], b, lb)
    return out


def dtw_independent(test: list[np.ndarray], train: list[np.ndarray]) -> np.ndarray:
    """``[Q, N]`` DTW_I distances: the sum over channels of one-channel DTW distances."""
    channels = test[0].shape[1]
    return sum(dtw([s[:, [c]] for s in test], [s[:, [c]] for s in train]) for c in range(channels))


def normalised(
    test: list[np.ndarray], train: list[np.ndarray], how: str
) -> tuple[list[np.ndarray], list[np.ndarray]]:  # fmt: skip
    """The series as ``how`` (one of ``NORMALISE``) scales them."""
    if how == "series":
        return [znormalise(s) for s in test], [znormalise(s) for s in train]
    if how == "train":
        steps = np.concatenate(train)
        mean, std = steps.mean(axis=0), steps.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return [(s - mean) / std for s in test], [(s - mean) / std for s in train]
    return list(test), list(train)


def distances(
    test: list[np.ndarray], train: list[np.ndarray], how: str = "series"
) -> dict[str, np.ndarray]:  # fmt: skip
    """The three ``[Q, N]`` distance matrices between the normalised series, by method."""
    test, train = normalised(test, train, how)
    longest = max(len(s) for s in test + train)
    return {
        "ED": euclidean(pad_last(test, longest), pad_last(train, longest)),
        "DTW_I": dtw_independent(test, train),
        "DTW_D": dtw(test, train),
    }


def nearest_labels(dist: np.ndarray, train_labels: list[str]) -> list[str]:
    """The label of each row's nearest training series (``argmin``: the first of a tie)."""
    return [train_labels[k] for k in np.argmin(dist, axis=1)]


def _fail(message: str) -> None:
    print(f"uea_1nn: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", default="JapaneseVowels",
                        help="the archive's problem name (default: JapaneseVowels)")  # fmt: skip
    parser.add_argument("--normalise", choices=list(NORMALISE), default="series",
                        help="series: each z-normalised on its own (default); train: per channel "
                        "with the training steps' statistics; none: raw values")  # fmt: skip
    parser.error = _fail  # one line, exit 2
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", args.name):
        _fail(f"name={args.name!r}: a problem of the archive (letters, digits, _ and -)")

    from rnnlab.conf import repo_root
    from rnnlab.data.files import read_sequence_file
    from rnnlab.data.uea import fetch_problem
    from rnnlab.errors import DataError

    data_dir = Path(os.environ.get("RNNLAB_DATA_DIR") or repo_root() / "data") / "uea"
    try:
        paths = fetch_problem(args.name, data_dir / args.name, download=False, check=True)
        train, test = (read_sequence_file(p) for p in paths)
    except DataError as err:
        _fail(str(err))
    for f in (train, test):
        if f.kind != "class":
            _fail(f"{f.path}: not a classification problem (no @classLabel true)")
        if any(np.isnan(s).any() for s in f.sequences):
            _fail(f"{f.path}: has missing values, which these baselines do not handle")

    started = time.perf_counter()
    found = distances(test.sequences, train.sequences, args.normalise)
    rows = []
    for method, dist in found.items():
        predicted = nearest_labels(dist, train.labels)
        correct = sum(p == y for p, y in zip(predicted, test.labels, strict=True))
        rows.append((method, 100.0 * correct / len(test.labels), correct))
    seconds = time.perf_counter() - started

    lengths = [len(s) for s in train.sequences + test.sequences]
    print(f"{args.name}: {len(train.sequences)} training and {len(test.sequences)} test series, "
          f"{train.num_features} channel(s), {min(lengths)}-{max(lengths)} steps")  # fmt: skip
    print(f"Protocol: {PROTOCOL.format(how=NORMALISE[args.normalise])}.")
    print()
    print("| method | test acc (%) | correct |")
    print("|---|---|---|")
    for method, accuracy, correct in rows:
        print(f"| 1-NN {method} | {accuracy:.2f} | {correct}/{len(test.labels)} |")
    print()
    print(f"distances and predictions: {seconds:.1f} s")


if __name__ == "__main__":
    main()
