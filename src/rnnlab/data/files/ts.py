"""The ``.ts`` text format of the UEA/UCR time-series archives (as sktime and aeon write it).

Header lines start with ``@`` (``#`` lines are comments); after ``@data`` each line is one
case: its channels separated by ``:``, each channel's values by ``,``, and the label last
(when ``@classLabel true ...`` or ``@targetLabel true`` says there is one). ``?`` is a
missing value. Every channel of a case has the same length; cases may differ in length
unless ``@equalLength true``. Time-stamped series (``@timeStamps true``, values written
``(t,v)``) are refused: their steps are not evenly spaced, which the readers assume.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlab.data.files.records import SequenceFile, parse_values
from rnnlab.errors import DataError

BOOLEAN_KEYS = ("timestamps", "missing", "univariate", "equallength")
INTEGER_KEYS = ("dimensions", "serieslength")


class _Header:
    """The ``@`` keys read so far, lower-cased, and the line each came from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, object] = {}
        self.classes: list[str] | None = None
        self.kind: str | None = None

    def fail(self, number: int, what: str) -> DataError:
        return DataError(f"{self.path}: line {number}: {what}")

    def read(self, number: int, line: str) -> None:
        key, _, rest = line[1:].partition(" ")
        key, words = key.lower(), rest.split()
        if key in BOOLEAN_KEYS:
            if len(words) != 1 or words[0].lower() not in ("true", "false"):
                raise self.fail(number, f"@{key} takes true or false, not {rest!r}")
            self.values[key] = words[0].lower() == "true"
        elif key in INTEGER_KEYS:
            if len(words) != 1 or not words[0].isdigit() or int(words[0]) < 1:
                raise self.fail(number, f"@{key} takes a positive integer, not {rest!r}")
            self.values[key] = int(words[0])
        elif key == "classlabel":
            if not words or words[0].lower() not in ("true", "false"):
                raise self.fail(number, "@classLabel takes true and the labels, or false")
            if words[0].lower() == "true":
                if len(words) < 2:
                    raise self.fail(number, "@classLabel true lists no class labels")
                self.classes, self.kind = words[1:], "class"
        elif key == "targetlabel":
            if len(words) != 1 or words[0].lower() not in ("true", "false"):
                raise self.fail(number, f"@targetLabel takes true or false, not {rest!r}")
            if words[0].lower() == "true":
                self.kind = "regression"
        # other keys (@problemName, ...) name or describe the problem and change nothing here

    def check(self, number: int) -> None:
        """What the header says must agree with itself before the cases are read."""
        if self.values.get("timestamps"):
            raise self.fail(number, "@timeStamps true is not supported (evenly spaced steps only)")
        if self.classes is not None and self.kind == "regression":
            raise self.fail(number, "both @classLabel true and @targetLabel true")
        dims = self.values.get("dimensions")
        if self.values.get("univariate") and dims not in (None, 1):
            raise self.fail(number, f"@univariate true but @dimensions {dims}")


def read_ts(path: Path) -> SequenceFile:
    """The cases of a ``.ts`` file; see the module's docstring for the format."""
    header = _Header(path)
    sequences: list[np.ndarray] = []
    labels: list[str] = []
    where: list[str] = []
    in_data, empty = False, True
    with open(path, encoding="utf-8-sig", errors="replace") as lines:
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            empty = empty and not line
            if not line or (line.startswith("#") and not in_data):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise header.fail(
                        number, f"expected an @ header line before @data: {line[:40]!r}"
                    )
                if line.lower() == "@data":
                    header.check(number)
                    in_data = True
                else:
                    header.read(number, line)
                continue
            x, label = _case(header, number, line, sequences)
            sequences.append(x)
            labels.append(label)
            where.append(f"line {number}")
    if empty:
        raise DataError(f"{path}: the file is empty")
    if not in_data:
        raise DataError(f"{path}: no @data line (the cases follow it)")
    if not sequences:
        raise DataError(f"{path}: no cases after @data")
    return SequenceFile(path, sequences, labels, where, header.kind, header.classes)


def _case(
    header: _Header, number: int, line: str, earlier: list[np.ndarray]
) -> tuple[np.ndarray, str]:
    """One case: ``[T, F]`` values and its label (``""`` when the file has none)."""
    parts = line.split(":")
    label = ""
    if header.kind is not None:
        label = parts.pop().strip()
        if not label:
            raise header.fail(number, "the label (after the last ':') is missing")
        if header.classes is not None and label not in header.classes:
            raise header.fail(number, f"label {label!r} is not one of @classLabel "
                              + " ".join(header.classes))  # fmt: skip
    dims = header.values.get("dimensions") or (earlier[0].shape[1] if earlier else None)
    if dims is not None and len(parts) != dims:
        said = "@dimensions" if header.values.get("dimensions") else "the first case"
        raise header.fail(number, f"{len(parts)} channel(s), but {said} has {dims}"
                          + ("" if header.kind else " (no label is expected: no @classLabel true"
                             " or @targetLabel true)"))  # fmt: skip
    channels = []
    for c, part in enumerate(parts, 1):
        tokens = part.split(",")
        if part.strip() == "":
            raise header.fail(number, f"channel {c} has no values")
        channels.append(parse_values(header.path, f"line {number}, channel {c}", tokens))
    lengths = [len(ch) for ch in channels]
    if len(set(lengths)) > 1:
        c = next(i for i, n in enumerate(lengths) if n != lengths[0])
        raise header.fail(number, f"channel {c + 1} has {lengths[c]} values but channel 1 has "
                          f"{lengths[0]} (every channel of a case has the same length)")  # fmt: skip
    length = lengths[0]
    expected = header.values.get("serieslength")
    if header.values.get("equallength") and expected is not None and length != expected:
        raise header.fail(
            number, f"{length} steps, but @equalLength true and @seriesLength {expected}"
        )
    if header.values.get("equallength") and earlier and length != len(earlier[0]):
        raise header.fail(number, f"{length} steps, but @equalLength true and the first case has "
                          f"{len(earlier[0])}")  # fmt: skip
    return np.stack(channels, axis=1), label
