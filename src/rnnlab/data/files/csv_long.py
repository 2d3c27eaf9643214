"""Sequences in a ``.csv`` file in long format: one row per time step of one sequence.

The header names the columns. ``id`` says which sequence a row belongs to, ``time`` orders
the rows of a sequence (any numbers; rows may come in any order), ``label`` is the
sequence's label (the same on each of its rows), and every other column is a feature.
The three names are options (``data.id_column``, ``data.time_column``,
``data.label_column``). Sequences keep the order in which their ids first appear. An empty
cell, ``?`` or ``nan`` is a missing value.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from rnnlab.data.files.records import SequenceFile, parse_values
from rnnlab.errors import DataError


def _column(path: Path, header: list[str], name: str, option: str) -> int:
    if name not in header:
        raise DataError(f"{path}: line 1: no column {name!r} (the columns are "
                        f"{', '.join(header)}; set data.{option})")  # fmt: skip
    return header.index(name)


def read_csv(path: Path, *, id_column: str, time_column: str, label_column: str) -> SequenceFile:
    """The sequences of a long-format ``.csv`` file; see the module's docstring."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        rows = [(n, row) for n, row in enumerate(csv.reader(f), 1) if any(c.strip() for c in row)]
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header = [c.strip() for c in rows[0][1]]
    ids = _column(path, header, id_column, "id_column")
    times = _column(path, header, time_column, "time_column")
    labels = _column(path, header, label_column, "label_column")
    features = [i for i in range(len(header)) if i not in (ids, times, labels)]
    if not features:
        raise DataError(f"{path}: line 1: no feature columns besides {id_column}, "
                        f"{time_column} and {label_column}")  # fmt: skip
    if len(rows) == 1:
        raise DataError(f"{path}: no rows after the header")
    steps: dict[str, list[tuple[float, int, np.ndarray]]] = {}
    label_of: dict[str, tuple[str, int]] = {}
    for number, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}: line {number}: {len(row)} cells, the header has "
                            f"{len(header)}")  # fmt: skip
        key, label = row[ids].strip(), row[labels].strip()
        if not key:
            raise DataError(f"{path}: line {number}: the {id_column} cell is empty")
        if not label:
            raise DataError(f"{path}: line {number}: the {label_column} cell is empty")
        first = label_of.setdefault(key, (label, number))
        if first[0] != label:
            raise DataError(f"{path}: line {number}: {id_column} {key!r} has {label_column} "
                            f"{label!r} here but {first[0]!r} on line {first[1]}")  # fmt: skip
        try:
            time = float(row[times])
        except ValueError:
            raise DataError(f"{path}: line {number}: {time_column} {row[times]!r} is not a "
                            "number") from None  # fmt: skip
        values = parse_values(path, f"line {number}", [row[i] for i in features])
        steps.setdefault(key, []).append((time, number, values))
    sequences, where = [], []
    for key, rows_of in steps.items():
        rows_of.sort(key=lambda step: step[0])
        for (t0, n0, _), (t1, n1, _) in zip(rows_of, rows_of[1:], strict=False):
            if t0 == t1:
                raise DataError(f"{path}: line {n1}: {id_column} {key!r} has {time_column} "
                                f"{t1:g} twice (also on line {n0})")  # fmt: skip
        sequences.append(np.stack([values for _, _, values in rows_of]))
        where.append(f"{id_column} {key!r} (line {rows_of[0][1]})")
    return SequenceFile(path, sequences, [label_of[k][0] for k in steps], where)
