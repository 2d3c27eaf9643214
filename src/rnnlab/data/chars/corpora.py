"""Character corpora: where each comes from, how it is read and split into train/val/test.

``load_corpus`` picks a source by name and returns plain strings; the vocabulary
(``vocab.py``), the PTB format (``ptb.py``) and the streams truncated BPTT walks
(``streams.py``) live beside this module.
"""

from __future__ import annotations

import logging
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.chars.errors import CorpusError
from rnnlab.data.chars.ptb import (
    PTB_FILES,
    check_ptb_split,
    looks_like_ptb_chars,
    ptb_chars_to_text,
    ptb_urls,
)
from rnnlab.data.download import ensure_files
from rnnlab.data.options import CORPORA, TEXT_FORMATS
from rnnlab.data.remote import RemoteFile

log = logging.getLogger(__name__)

# Karpathy's char-rnn copy, the same file nanoGPT's shakespeare_char uses.
TINYSHAKESPEARE_URLS: tuple[str, ...] = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
)
# Hashed from a local copy of 1,115,394 bytes whose md5 is 6fb458f1232090904fb40fe944165e91.
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

STDLIB_MAX_CHARS = 2_000_000
# Test suites hold deliberately odd encodings and are huge; site-packages is not stdlib.
_STDLIB_SKIP = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


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


def _ptb(data_dir: Path, download: bool, verify: bool) -> dict[str, str]:
    remotes = [RemoteFile(name, ptb_urls(name)) for name in PTB_FILES.values()]
    paths = _fetch(remotes, data_dir / "ptb", download, verify)
    splits = {}
    for (split, _), path in zip(PTB_FILES.items(), paths, strict=True):
        raw = read_text(path)
        text = ptb_chars_to_text(raw)
        if verify:
            check_ptb_split(split, path, raw, text)
        splits[split] = text
    return splits


def read_local(file: Path, text_format: str = "auto") -> str:
    """A local corpus file as text, in ``plain`` or PTB character format (``auto``: detect)."""
    raw = read_text(file)
    is_ptb = looks_like_ptb_chars(raw)
    if text_format == "ptb" or (text_format == "auto" and is_ptb):
        if text_format == "auto":
            log.info("data.path=%s is in the PTB character format (space-separated symbols, "
                     "'_' between words): bpc counts per symbol; data.format=plain reads it "
                     "as it is", file)  # fmt: skip
        return ptb_chars_to_text(raw)
    if is_ptb:
        log.warning("data.path=%s looks like the PTB character format, read as plain text: "
                    "the separator spaces count as characters, so bpc is not per symbol "
                    "(data.format=ptb or auto reads it per symbol)", file)  # fmt: skip
    return raw


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
    text_format: str = "auto",
) -> Splits:
    """Load a named character corpus as train/val/test strings.

    - ``tinyshakespeare``: Karpathy's ``input.txt`` (1,115,394 chars), checked by sha256,
      split 90/5/5 by position. nanoGPT's ``shakespeare_char`` uses 90/10 train/val with
      no test split: our train split is the same first 90%, our val is the first half of
      its val.
    - ``ptb``: the official char-level Penn Treebank train/valid/test files, converted
      by :func:`ptb_chars_to_text`.
    - ``path``: the local UTF-8 file given by ``path``, split 90/5/5 by position;
      ``text_format`` says whether it is ``plain`` text or in the PTB character format
      (``auto`` detects the latter and says so).
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
        if text_format not in TEXT_FORMATS:
            raise CorpusError(f"format={text_format!r}; allowed: {', '.join(TEXT_FORMATS)}")
        return _positional(read_local(file, text_format), f"file {file}", max_chars)
    if name == "stdlib":
        cap = STDLIB_MAX_CHARS if max_chars is None else max_chars
        root = sysconfig.get_paths()["stdlib"]
        return _positional(stdlib_text(cap), f"python stdlib sources ({root}, {cap} chars)", None)
    raise CorpusError(f"unknown corpus name={name!r}; allowed names: {', '.join(CORPORA)}")
