"""Tiny sequence files written by the tests, in each format the readers take."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ts_text(cases: list[np.ndarray], labels: list[str] | None, *, header: str | None = None,
            missing: float | None = None) -> str:  # fmt: skip
    """A ``.ts`` file of ``cases`` (each ``[T, F]``), with a header that describes them."""
    dims = cases[0].shape[1]
    equal = len({len(c) for c in cases}) == 1
    if header is None:
        lines = ["# written by a test", "@problemName Tiny", "@timeStamps false",
                 "@missing false", f"@univariate {str(dims == 1).lower()}", f"@dimensions {dims}",
                 f"@equalLength {str(equal).lower()}"]  # fmt: skip
        if equal:
            lines.append(f"@seriesLength {len(cases[0])}")
        if labels is not None:
            lines.append("@classLabel true " + " ".join(sorted(set(labels))))
        header = "\n".join(lines)
    rows = []
    for i, case in enumerate(cases):
        channels = [",".join("?" if np.isnan(v) else repr(float(v)) for v in case[:, c])
                    for c in range(dims)]  # fmt: skip
        rows.append(":".join(channels + ([labels[i]] if labels is not None else [])))
    return header + "\n@data\n" + "\n".join(rows) + "\n"


def csv_text(cases: list[np.ndarray], labels: list[str], *, columns=("id", "time", "label"),
             shuffle_rows: bool = False) -> str:  # fmt: skip
    """A long ``.csv`` of ``cases``: one row per step, features f0, f1, ..."""
    dims = cases[0].shape[1]
    id_c, time_c, label_c = columns
    rows = []
    for i, case in enumerate(cases):
        for t, step in enumerate(case):
            values = ["" if np.isnan(v) else repr(float(v)) for v in step]
            rows.append(",".join([f"s{i}", str(t), *values, labels[i]]))
    if shuffle_rows:
        rows = rows[::-1]
    head = ",".join([id_c, time_c, *(f"f{c}" for c in range(dims)), label_c])
    return head + "\n" + "\n".join(rows) + "\n"


def write_npz(path: Path, cases: list[np.ndarray], y, *, padded: bool = False) -> Path:
    """``x`` as an object array of ``cases``, or padded ``[N, T, F]`` with ``lengths``."""
    if padded:
        lengths = np.array([len(c) for c in cases])
        x = np.zeros((len(cases), lengths.max(), cases[0].shape[1]))
        for i, case in enumerate(cases):
            x[i, : len(case)] = case
        np.savez(path, x=x, y=np.asarray(y), lengths=lengths)
    else:
        x = np.empty(len(cases), dtype=object)
        x[:] = cases
        np.savez(path, x=x, y=np.asarray(y))
    return path


def random_cases(n: int, features: int, lengths=(3, 7), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(*lengths, endpoint=True)), features))
            for _ in range(n)]  # fmt: skip


def write_split(folder: Path, fmt: str, cases, labels, name: str) -> Path:
    """One split's file in ``fmt`` (``ts``, ``csv`` or ``npz``)."""
    path = folder / f"{name}.{fmt}"
    if fmt == "ts":
        path.write_text(ts_text(cases, labels))
    elif fmt == "csv":
        path.write_text(csv_text(cases, labels))
    else:
        write_npz(path, cases, labels)
    return path
