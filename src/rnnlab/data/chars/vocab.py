"""The character vocabulary of a corpus: built from the training split, ``<unk>`` first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.chars.errors import CorpusError


class Vocab:
    """Characters of the training split, sorted; id 0 is ``<unk>`` for anything else."""

    UNK = "<unk>"

    def __init__(self, chars: Iterable[str]) -> None:
        chars = sorted(set(chars))
        bad = [c for c in chars if len(c) != 1]
        if bad:
            raise CorpusError(f"vocab entries must be single characters, got {bad[:5]!r}")
        self.itos: list[str] = [self.UNK, *chars]
        # Lookup table over code points: encoding a string is then one numpy gather.
        size = max((ord(c) for c in chars), default=0) + 1
        self._table = np.zeros(size, dtype=np.int64)
        self._table[[ord(c) for c in chars]] = np.arange(1, len(chars) + 1)
        self._itos_array = np.array(self.itos)

    @classmethod
    def build(cls, train_text: str) -> Vocab:
        """Build from the training split only, so val/test never leak into the model."""
        return cls(set(train_text))

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def _ids(self, text: str) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        ids = np.zeros(codes.shape, dtype=np.int64)
        known = codes < self._table.size
        ids[known] = self._table[codes[known]]
        return ids

    def encode(self, text: str, *, return_unknown: bool = False) -> Tensor | tuple[Tensor, int]:
        """Ids as a LongTensor; with ``return_unknown``, also how many chars became <unk>."""
        ids = self._ids(text)
        tensor = torch.from_numpy(ids)
        if return_unknown:
            return tensor, int(np.count_nonzero(ids == 0))
        return tensor

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        """Text for ``ids``; <unk> decodes to the literal string ``<unk>``."""
        array = ids.detach().cpu().numpy() if isinstance(ids, Tensor) else np.asarray(ids)
        array = array.reshape(-1).astype(np.int64, copy=False)
        if array.size and (array.min() < 0 or array.max() >= len(self)):
            raise CorpusError(f"ids must lie in [0, {len(self)}), got {array.min()}..{array.max()}")
        return "".join(self._itos_array[array].tolist())

    def to_list(self) -> list[str]:
        """JSON/checkpoint-friendly form: position is the id, ``<unk>`` first."""
        return list(self.itos)

    @classmethod
    def from_list(cls, items: Sequence[str]) -> Vocab:
        if not items or items[0] != cls.UNK:
            raise CorpusError(f"a saved vocab must start with {cls.UNK!r}, got {list(items[:3])!r}")
        vocab = cls(items[1:])
        if vocab.itos != list(items):
            raise CorpusError("saved vocab is not sorted or has duplicates; ids would shift")
        return vocab
