"""Character corpora, a character vocabulary and the tensors for char-LM batching.

Corpora are plain strings split into train/val/test. ``load_corpus`` picks a source by
name; the batching helpers are pure tensor functions that work on any device.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.download import RemoteFile, ensure_files

CORPORA = ("tinyshakespeare", "ptb", "path", "stdlib")

# Karpathy's char-rnn copy, the same file nanoGPT's shakespeare_char uses.
TINYSHAKESPEARE_URLS: tuple[str, ...] = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
)
# Hashed from a local copy of 1,115,394 bytes whose md5 is 6fb458f1232090904fb40fe944165e91.
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

# Mikolov's simple-examples/data/ptb.char.*.txt, as mirrored on GitHub. The original
# tarball (fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz) is not a single file.
# No published checksum for the char files could be found, so _check_ptb() does a
# shape sanity check instead (see there).
_PTB_MIRRORS = (
    "https://raw.githubusercontent.com/diogo149/datasets/master/penn_treebank/{}",
    "https://raw.githubusercontent.com/CW-Huang/IFT6135H19_assignment/master/assignment2/data/{}",
)
_PTB_EXTRA = "https://raw.githubusercontent.com/tomsercu/lstm/master/data/{}"  # no test file
PTB_FILES = {
    "train": "ptb.char.train.txt",
    "val": "ptb.char.valid.txt",
    "test": "ptb.char.test.txt",
}


def ptb_urls(name: str) -> tuple[str, ...]:
    mirrors = _PTB_MIRRORS if name == PTB_FILES["test"] else (*_PTB_MIRRORS, _PTB_EXTRA)
    return tuple(url.format(name) for url in mirrors)


STDLIB_MAX_CHARS = 2_000_000
# Test suites hold deliberately odd encodings and are huge; site-packages is not stdlib.
_STDLIB_SKIP = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


class CorpusError(ValueError):
    """A corpus cannot be loaded or is unusable for the requested batching."""


@dataclass(frozen=True)
class Splits:
    train: str
    val: str
    test: str
    source: str  # human-readable origin, for logs and checkpoints

    def sizes(self) -> tuple[int, int, int]:
        return len(self.train), len(self.val), len(self.test)


# ---------------------------------------------------------------------------- sources


def read_text(path: Path) -> str:
    """Read a UTF-8 file strictly; empty or undecodable files are errors, not corpora."""
    path = Path(path)
    data = path.read_bytes()
    if not data:
        raise CorpusError(f"corpus file {path} is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"corpus file {path} is not valid UTF-8: byte 0x{data[err.start]:02x} "
            f"at byte offset {err.start} ({err.reason})"
        ) from None


def split_by_position(text: str) -> tuple[str, str, str]:
    """First 90% train, next 5% val, last 5% test (test takes the rounding remainder)."""
    n = len(text)
    n_train, n_val = n * 9 // 10, n // 20
    return text[:n_train], text[n_train : n_train + n_val], text[n_train + n_val :]


def _positional(text: str, source: str, max_chars: int | None) -> Splits:
    if max_chars is not None:
        text = text[:max_chars]
    return Splits(*split_by_position(text), source=source)


def _tinyshakespeare(data_dir: Path, download: bool, verify: bool) -> str:
    remote = RemoteFile("input.txt", TINYSHAKESPEARE_URLS, sha256=TINYSHAKESPEARE_SHA256)
    (path,) = _fetch([remote], data_dir / "tinyshakespeare", download, verify)
    return read_text(path)


def _fetch(remotes: list[RemoteFile], directory: Path, download: bool, verify: bool) -> list[Path]:
    if not download:
        missing = [r.name for r in remotes if not (directory / r.name).is_file()]
        if missing:
            raise CorpusError(
                f"download=False but {', '.join(missing)} not found in {directory}; "
                "place the files there or allow downloading"
            )
    return ensure_files(remotes, directory, verify_checksums=verify)


def ptb_chars_to_text(raw: str) -> str:
    """Turn a ``ptb.char.*.txt`` file into plain text.

    The files hold one sentence per line as space-separated symbols, with ``_`` for the
    gap between words. Published char-PTB numbers (Mikolov's rnnlm example, the
    AWD-LSTM ``pennchar`` setup) predict exactly those symbols plus one end-of-line per
    line, over a 50-symbol alphabet. Dropping the separator spaces and writing ``_`` as
    a space keeps that token sequence one-to-one (``_`` -> ' ', end of line -> '\\n'),
    so bits per character stay comparable while the text reads naturally.

    Note: the released code of Bai et al. (2018, TCN) loads "ptb" through the
    ``observations`` package, whose loader reads the word-level ``ptb.*.txt`` files with
    newlines spelled ``<eos>``; the char files used here give slightly different counts.
    """
    text = raw.replace("\r", "").replace(" ", "").replace("_", " ")
    return text if text.endswith("\n") else text + "\n"


# Wide bounds around the split sizes reported for char-PTB (about 5.0M / 0.39M / 0.44M
# characters, 50 symbols): they cannot prove the exact file, but they reject an HTML
# error page, a word-level file or a truncated download.
_PTB_BOUNDS = {
    "train": (4_500_000, 5_600_000),
    "val": (330_000, 460_000),
    "test": (380_000, 520_000),
}
_PTB_MAX_SYMBOLS = 60


def _check_ptb(split: str, path: Path, raw: str, text: str) -> None:
    low, high = _PTB_BOUNDS[split]
    symbols = set(text)
    problems = []
    if "_" not in raw:
        problems.append("no '_' word separators (is this the word-level file?)")
    if not low <= len(text) <= high:
        problems.append(f"{len(text)} characters after conversion, expected {low}-{high}")
    if len(symbols) > _PTB_MAX_SYMBOLS:
        problems.append(f"{len(symbols)} distinct characters, expected <= {_PTB_MAX_SYMBOLS}")
    if problems:
        raise CorpusError(
            f"{path} does not look like a PTB char file: {'; '.join(problems)}. "
            "Delete it to download again, or pass verify=False to use it anyway."
        )


def _ptb(data_dir: Path, download: bool, verify: bool) -> dict[str, str]:
    remotes = [RemoteFile(name, ptb_urls(name)) for name in PTB_FILES.values()]
    paths = _fetch(remotes, data_dir / "ptb", download, verify)
    splits = {}
    for (split, _), path in zip(PTB_FILES.items(), paths, strict=True):
        raw = read_text(path)
        text = ptb_chars_to_text(raw)
        if verify:
            _check_ptb(split, path, raw, text)
        splits[split] = text
    return splits


def _cap_proportionally(splits: dict[str, str], max_chars: int | None) -> dict[str, str]:
    """Shrink fixed splits to ``max_chars`` in total while keeping their proportions."""
    total = sum(len(s) for s in splits.values())
    if max_chars is None or total <= max_chars:
        return splits
    return {k: s[: len(s) * max_chars // total] for k, s in splits.items()}


def stdlib_files(root: Path | None = None) -> list[Path]:
    """The standard library's ``.py`` files in a fixed order (sorted relative paths)."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    found: list[Path] = []
    for folder, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in _STDLIB_SKIP]  # prune, don't descend
        found.extend(Path(folder, n) for n in names if n.endswith(".py"))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def stdlib_text(max_chars: int = STDLIB_MAX_CHARS, root: Path | None = None) -> str:
    """Concatenate stdlib sources until ``max_chars`` characters.

    The text is deterministic for a given Python installation, but the standard library
    changes between Python versions, so results are only comparable on the same version.
    """
    parts: list[str] = []
    size = 0
    for path in stdlib_files(root):
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # e.g. unreadable or legacy-encoded files in odd distributions
        parts.append(source)
        size += len(source)
        if size >= max_chars:
            break
    return "".join(parts)[:max_chars]


def load_corpus(
    name: str,
    *,
    data_dir: Path,
    path: str | None = None,
    download: bool = True,
    verify: bool = True,
    max_chars: int | None = None,
) -> Splits:
    """Load a named character corpus as train/val/test strings.

    - ``tinyshakespeare``: Karpathy's ``input.txt`` (1,115,394 chars), checked by sha256,
      split 90/5/5 by position. nanoGPT's ``shakespeare_char`` uses 90/10 train/val with
      no test split: our train split is the same first 90%, our val is the first half of
      its val.
    - ``ptb``: the official char-level Penn Treebank train/valid/test files, converted
      by :func:`ptb_chars_to_text`.
    - ``path``: the local UTF-8 file given by ``path``, split 90/5/5 by position.
    - ``stdlib``: Python's own standard library sources (offline everywhere), capped at
      ``max_chars`` (default 2,000,000) and split 90/5/5; varies across Python versions.

    ``max_chars`` truncates the text before splitting (for ``ptb``, each split keeps its
    share). ``download=False`` never touches the network; ``verify=False`` skips
    checksums and sanity checks.
    """
    data_dir = Path(data_dir)
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1):
        raise CorpusError(f"max_chars must be a positive integer, got max_chars={max_chars!r}")
    if name == "tinyshakespeare":
        text = _tinyshakespeare(data_dir, download, verify)
        return _positional(text, f"tinyshakespeare ({data_dir / 'tinyshakespeare'})", max_chars)
    if name == "ptb":
        splits = _cap_proportionally(_ptb(data_dir, download, verify), max_chars)
        return Splits(**splits, source=f"ptb char-level ({data_dir / 'ptb'})")
    if name == "path":
        if not path:
            raise CorpusError("corpus=path needs a file: path is not set (path=None)")
        file = Path(path).expanduser()
        if not file.is_file():
            raise CorpusError(f"corpus=path: path={str(path)!r} does not exist or is not a file")
        return _positional(read_text(file), f"file {file}", max_chars)
    if name == "stdlib":
        cap = STDLIB_MAX_CHARS if max_chars is None else max_chars
        root = sysconfig.get_paths()["stdlib"]
        return _positional(stdlib_text(cap), f"python stdlib sources ({root}, {cap} chars)", None)
    raise CorpusError(f"unknown corpus name={name!r}; allowed names: {', '.join(CORPORA)}")


def check_length(split_name: str, n_chars: int, batch_size: int, bptt: int) -> None:
    """Raise unless ``n_chars`` fill one batch of ``batch_size`` streams of ``bptt`` steps.

    Each stream needs ``bptt + 1`` characters: inputs plus the one-step-shifted targets.
    """
    if batch_size < 1 or bptt < 1:
        raise CorpusError(f"batch_size and bptt must be >= 1, got {batch_size=}, {bptt=}")
    needed = batch_size * (bptt + 1)
    if n_chars < needed:
        raise CorpusError(
            f"split {split_name!r} has {n_chars} characters, too short for one batch: "
            f"batch_size={batch_size} x (bptt={bptt} + 1) = {needed} characters are needed"
        )


# ---------------------------------------------------------------------------- vocab


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

    def count_unknown(self, text: str) -> int:
        return int(np.count_nonzero(self._ids(text) == 0))

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


# ---------------------------------------------------------------------------- batching


def partition_streams(ids: Tensor, batch_size: int) -> Tensor:
    """Cut a 1-D id sequence into ``batch_size`` contiguous rows, dropping the remainder.

    Row ``b`` holds ``ids[b*L:(b+1)*L]``, so consecutive windows of a row continue each
    other and a hidden state can be carried across them (truncated BPTT).
    """
    if ids.dim() != 1:
        raise CorpusError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    check_length("ids", ids.numel(), batch_size, 1)
    length = ids.numel() // batch_size
    return ids[: length * batch_size].reshape(batch_size, length)


def sequential_windows(streams: Tensor, bptt: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x, y)`` windows of ``bptt`` steps over ``[batch, L]`` streams, in order.

    ``y`` is ``x`` shifted by one step; window ``k + 1`` starts at the step that
    window ``k``'s last target predicted. The final window may be shorter. Results are
    views of ``streams``.
    """
    if bptt < 1:
        raise CorpusError(f"bptt must be >= 1, got {bptt=}")
    length = streams.size(1)
    for start in range(0, length - 1, bptt):
        steps = min(bptt, length - 1 - start)
        yield streams[:, start : start + steps], streams[:, start + 1 : start + 1 + steps]


def random_windows(
    ids: Tensor, batch_size: int, bptt: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """One batch of ``batch_size`` windows at random offsets; ``y`` is ``x`` shifted by one.

    Offsets are drawn on the generator's device (CPU generators stay usable for CUDA
    data) and the windows are gathered on ``ids``'s device.
    """
    if ids.dim() != 1:
        raise CorpusError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    check_length("ids", ids.numel(), 1, bptt)
    if batch_size < 1:
        raise CorpusError(f"batch_size must be >= 1, got {batch_size=}")
    high = ids.numel() - bptt  # exclusive bound: the last window ends at the last id
    device = generator.device if generator is not None else torch.device("cpu")
    starts = torch.randint(0, high, (batch_size,), generator=generator, device=device)
    index = starts.to(ids.device)[:, None] + torch.arange(bptt + 1, device=ids.device)
    windows = ids[index]
    return windows[:, :-1], windows[:, 1:]
