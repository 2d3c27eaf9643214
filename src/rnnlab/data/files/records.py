"""What every reader returns, and the value parsing the text readers share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.errors import DataError

MISSING_TOKENS = ("", "?", "nan", "NaN", "NAN")  # written for a value that was not measured


@dataclass
class SequenceFile:
    """The cases of one file.

    ``sequences[i]`` is a float64 ``[T_i, F]`` array (NaN where a value is missing);
    ``labels[i]`` its label as written; ``where[i]`` names the case in messages (``line
    17``, ``id 'a'``, ``record 3``). ``kind`` is what the file declares its labels to be
    (``class``, ``regression``, or None when it does not say) and ``classes`` the class
    labels a ``.ts`` header lists, in its order.
    """

    path: Path
    sequences: list[np.ndarray]
    labels: list[str]
    where: list[str]
    kind: str | None = None
    classes: list[str] | None = None

    @property
    def num_features(self) -> int:
        return self.sequences[0].shape[1]

    def fail(self, index: int, what: str) -> DataError:
        """The one-line error about case ``index``."""
        return DataError(f"{self.path}: {self.where[index]}: {what}")


def parse_values(path: Path, where: str, tokens: list[str]) -> np.ndarray:
    """Numbers from text; a missing-value token gives NaN, anything else non-numeric fails."""
    try:
        return np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(tokens), dtype=np.float64)
    for i, token in enumerate(tokens):
        token = token.strip()
        if token in MISSING_TOKENS:
            out[i] = math.nan
            continue
        try:
            out[i] = float(token)
        except ValueError:
            raise DataError(
                f"{path}: {where}: value {i + 1} is {token!r}, not a number "
                f"(a missing value is written ?)"
            ) from None
    return out
