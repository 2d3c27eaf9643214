"""The character-level Penn Treebank format: the official files and their conversion.

Mikolov's ``ptb.char.*.txt`` files hold one sentence per line as space-separated
symbols, with ``_`` for the gap between words. Published char-PTB numbers count bits per
*symbol*; read as plain text, the separator spaces would count as characters too and
halve the bits per character. ``ptb_chars_to_text`` maps the symbols one-to-one onto
plain text; ``looks_like_ptb_chars`` recognises the format in a local file.
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.data.chars.errors import CorpusError

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


def looks_like_ptb_chars(text: str, sample_lines: int = 200) -> bool:
    """True when ``text`` reads as the PTB character format: lines of single-character
    symbols separated by single spaces, with ``_`` between words."""
    lines = [line for line in text[:200_000].splitlines() if line.strip()][:sample_lines]
    if len(lines) < 3 or "_" not in text[:200_000]:
        return False
    symbol_lines = sum(
        1 for line in lines if len(tokens := line.strip().split(" ")) >= 3
        and all(len(t) == 1 for t in tokens)
    )  # fmt: skip
    return symbol_lines >= 0.95 * len(lines)


# Wide bounds around the split sizes reported for char-PTB (about 5.0M / 0.39M / 0.44M
# characters, 50 symbols): they cannot prove the exact file, but they reject an HTML
# error page, a word-level file or a truncated download.
_PTB_BOUNDS = {
    "train": (4_500_000, 5_600_000),
    "val": (330_000, 460_000),
    "test": (380_000, 520_000),
}
_PTB_MAX_SYMBOLS = 60


def check_ptb_split(split: str, path: Path, raw: str, text: str) -> None:
    """Reject a file that cannot be the official split (an error page, a word-level file)."""
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
