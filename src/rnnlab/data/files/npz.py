"""Sequences in a NumPy ``.npz`` file.

Two layouts, with ``y`` of shape ``[N]`` (class labels, or the regression targets):

- ``x``: an object array (or list) of ``N`` arrays, each ``[T_i, F]`` (or ``[T_i]`` for one
  feature), saved with ``np.savez(path, x=np.array(seqs, dtype=object), y=y)``;
- ``x``: a padded float array ``[N, T, F]`` (or ``[N, T]``), with ``lengths`` ``[N]``
  (integers in 1..T) saying how many leading steps of each row are real; without
  ``lengths`` every sequence has all ``T`` steps.

An object array is stored pickled, and loading a pickle can run code: read only files you
trust. NaN is a missing value.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from rnnlab.data.files.records import SequenceFile
from rnnlab.errors import DataError

KEYS = ("x", "y", "lengths")


def _load(path: Path) -> dict[str, np.ndarray]:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    if not zipfile.is_zipfile(path):  # np.load would try to unpickle it
        raise DataError(f"{path}: not a readable .npz (it is not a zip archive)")
    try:
        with np.load(path, allow_pickle=True) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz ({err})") from None


def _as_sequence(path: Path, i: int, seq: object, features: int | None) -> np.ndarray:
    try:
        array = np.asarray(seq, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: x[{i}]: not an array of numbers") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or len(array) == 0:
        raise DataError(f"{path}: x[{i}]: shape {array.shape}, expected [T, F] with T >= 1")
    if features is not None and array.shape[1] != features:
        raise DataError(f"{path}: x[{i}]: {array.shape[1]} features, x[0] has {features}")
    return array


def read_npz(path: Path) -> SequenceFile:
    """The sequences of an ``.npz`` file; see the module's docstring for the layouts."""
    arrays = _load(path)
    unknown = sorted(set(arrays) - set(KEYS))
    if "x" not in arrays or "y" not in arrays or unknown:
        raise DataError(f"{path}: arrays {', '.join(sorted(arrays)) or 'none'}; expected x and y "
                        "(and lengths with a padded x)")  # fmt: skip
    x, y = arrays["x"], arrays["y"]
    if y.ndim != 1:
        raise DataError(f"{path}: y has shape {y.shape}, expected [N]")
    if x.dtype != object and x.ndim in (2, 3):  # padded [N, T(, F)]
        if x.ndim == 2:
            x = x[:, :, None]
        lengths = arrays.get("lengths")
        if lengths is None:
            lengths = np.full(len(x), x.shape[1])
        elif lengths.shape != (len(x),) or not np.issubdtype(lengths.dtype, np.integer):
            raise DataError(f"{path}: lengths has shape {lengths.shape} and dtype {lengths.dtype}, "
                            f"expected [N] = [{len(x)}] integers")  # fmt: skip
        bad = np.flatnonzero((lengths < 1) | (lengths > x.shape[1]))
        if len(bad):
            raise DataError(
                f"{path}: lengths[{bad[0]}] = {lengths[bad[0]]}, expected 1..{x.shape[1]}"
            )
        seqs = [_as_sequence(path, i, x[i, : lengths[i]], None) for i in range(len(x))]
    elif x.dtype == object and x.ndim == 1:
        if "lengths" in arrays:
            raise DataError(f"{path}: lengths is only read with a padded x [N, T, F]")
        seqs = []
        for i, seq in enumerate(x):
            seqs.append(_as_sequence(path, i, seq, seqs[0].shape[1] if seqs else None))
    else:
        raise DataError(f"{path}: x has shape {x.shape} and dtype {x.dtype}, expected an object "
                        "array of N arrays [T_i, F] or a padded [N, T, F]")  # fmt: skip
    if len(seqs) == 0:
        raise DataError(f"{path}: x holds no sequences")
    if len(y) != len(seqs):
        raise DataError(f"{path}: y holds {len(y)} labels for {len(seqs)} sequences in x")
    labels = [str(v.item() if hasattr(v, "item") else v) for v in y]
    return SequenceFile(path, seqs, labels, [f"record {i} (x[{i}])" for i in range(len(seqs))])
