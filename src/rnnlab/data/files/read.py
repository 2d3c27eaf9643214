"""Pick the reader by the file's suffix."""

from __future__ import annotations

from pathlib import Path

from rnnlab.data.files.csv_long import read_csv
from rnnlab.data.files.npz import read_npz
from rnnlab.data.files.records import SequenceFile
from rnnlab.data.files.ts import read_ts
from rnnlab.errors import DataError

SUFFIXES = (".ts", ".csv", ".npz")


def read_sequence_file(
    path: str | Path, *, id_column: str = "id", time_column: str = "time",
    label_column: str = "label",
) -> SequenceFile:  # fmt: skip
    """The cases of ``path`` (``.ts``, ``.csv`` in long format, or ``.npz``)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".ts":
        return read_ts(path)
    if suffix == ".csv":
        return read_csv(path, id_column=id_column, time_column=time_column,
                        label_column=label_column)  # fmt: skip
    if suffix == ".npz":
        return read_npz(path)
    raise DataError(f"{path}: unknown suffix {suffix!r}; one of {', '.join(SUFFIXES)}")
