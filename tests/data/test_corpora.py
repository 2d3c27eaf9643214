import shutil
import socket
from pathlib import Path

import pytest
import torch

from rnnlab.data.chars import corpora
from rnnlab.data.chars.corpora import load_corpus
from rnnlab.data.chars.errors import CorpusError
from rnnlab.data.chars.ptb import PTB_FILES, ptb_chars_to_text
from rnnlab.data.chars.streams import check_length, partition_streams
from rnnlab.data.chars.vocab import Vocab
from rnnlab.data.remote import ChecksumError, DownloadError

REPO_ROOT = Path(__file__).resolve().parents[2]
SHAKESPEARE = REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text("".join(chr(ord("a") + i % 26) for i in range(1001)), encoding="utf-8")
    return path


@pytest.fixture
def offline_urls(monkeypatch: pytest.MonkeyPatch) -> str:
    # Bind then release a port: nothing listens there, so a connection is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/input.txt"
    monkeypatch.setattr(corpora, "TINYSHAKESPEARE_URLS", (url,))
    return url


# ---------------------------------------------------------------------------- sources


def test_path_corpus_splits_by_position(text_file: Path, tmp_path: Path) -> None:
    splits = load_corpus("path", data_dir=tmp_path, path=str(text_file))
    assert splits.sizes() == (900, 50, 51)  # test takes the rounding remainder
    assert splits.train + splits.val + splits.test == text_file.read_text()
    assert str(text_file) in splits.source


def test_max_chars_truncates_before_splitting(text_file: Path, tmp_path: Path) -> None:
    splits = load_corpus("path", data_dir=tmp_path, path=str(text_file), max_chars=200)
    assert splits.sizes() == (180, 10, 10)


def test_stdlib_corpus_is_non_empty_and_deterministic(tmp_path: Path) -> None:
    first = load_corpus("stdlib", data_dir=tmp_path, max_chars=100_000)
    second = load_corpus("stdlib", data_dir=tmp_path, max_chars=100_000)
    assert first.sizes() == (90_000, 5_000, 5_000)
    assert first == second
    assert "def " in first.train


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(CorpusError, match=r"empty\.txt is empty"):
        load_corpus("path", data_dir=tmp_path, path=str(empty))


def test_non_utf8_file_names_file_and_offset(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"abc\xe9def")
    with pytest.raises(CorpusError, match=r"latin1\.txt is not valid UTF-8.*byte offset 3"):
        load_corpus("path", data_dir=tmp_path, path=str(bad))


def test_path_corpus_needs_an_existing_path(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"path=None"):
        load_corpus("path", data_dir=tmp_path)
    with pytest.raises(CorpusError, match=r"path='.*nope\.txt' does not exist"):
        load_corpus("path", data_dir=tmp_path, path=str(tmp_path / "nope.txt"))


def test_unknown_name_lists_allowed_names(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"name='enwik9'.*tinyshakespeare, ptb, path, stdlib"):
        load_corpus("enwik9", data_dir=tmp_path)


def test_too_short_split_says_how_much_is_needed() -> None:
    check_length("val", 33, batch_size=4, bptt=7)  # exactly 4 * (7 + 1)
    with pytest.raises(CorpusError, match=r"'val' has 31 characters.*= 32 characters"):
        check_length("val", 31, batch_size=4, bptt=7)


def test_ptb_char_format_becomes_plain_text() -> None:
    assert ptb_chars_to_text("a e r _ b a n k\nn o _ i t\n") == "aer bank\nno it\n"


def test_ptb_sanity_check_rejects_wrong_files(tmp_path: Path) -> None:
    for name in PTB_FILES.values():
        (tmp_path / "ptb").mkdir(exist_ok=True)
        (tmp_path / "ptb" / name).write_text("a _ b\nc _ d\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"ptb\.char\.train\.txt does not look like"):
        load_corpus("ptb", data_dir=tmp_path, download=False)
    # verify=False trusts the files as they are (no checksum exists for them).
    splits = load_corpus("ptb", data_dir=tmp_path, download=False, verify=False)
    assert splits.sizes() == (8, 8, 8) and splits.val == "a b\nc d\n"


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason=f"no local copy at {SHAKESPEARE}")
def test_tinyshakespeare_local_copy_verifies_and_splits(tmp_path: Path, offline_urls: str) -> None:
    (tmp_path / "tinyshakespeare").mkdir()
    shutil.copy(SHAKESPEARE, tmp_path / "tinyshakespeare" / "input.txt")
    splits = load_corpus("tinyshakespeare", data_dir=tmp_path)
    assert splits.sizes() == (1_003_854, 55_769, 55_771)
    assert splits.train.startswith("First Citizen:")


def test_tinyshakespeare_corrupt_copy_fails_checksum(tmp_path: Path, offline_urls: str) -> None:
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("not shakespeare\n")
    with pytest.raises(ChecksumError):
        load_corpus("tinyshakespeare", data_dir=tmp_path)


def test_tinyshakespeare_absent_and_offline(tmp_path: Path, offline_urls: str) -> None:
    with pytest.raises(DownloadError, match=r"input\.txt") as info:
        load_corpus("tinyshakespeare", data_dir=tmp_path)
    assert offline_urls in str(info.value)
    with pytest.raises(CorpusError, match=r"download=False.*input\.txt"):
        load_corpus("tinyshakespeare", data_dir=tmp_path, download=False)


# ---------------------------------------------------------------------------- vocab


def test_vocab_from_train_only_maps_unseen_to_unk() -> None:
    vocab = Vocab.build("hello world")
    assert vocab.to_list() == ["<unk>", " ", "d", "e", "h", "l", "o", "r", "w"]
    ids, unknown = vocab.encode("hold the door!", return_unknown=True)
    assert unknown == 2  # "t" and "!" never occur in the training text
    assert ids.dtype == torch.long
    assert vocab.encode("hold the door!", return_unknown=True)[1] == 2
    assert vocab.decode(vocab.encode("tx")) == "<unk><unk>"


def test_vocab_round_trips() -> None:
    text = "héllo, wörld ✓\n"
    vocab = Vocab.build(text)
    assert vocab.decode(vocab.encode(text)) == text
    restored = Vocab.from_list(vocab.to_list())
    assert restored == vocab and len(restored) == len(vocab) == 13
    assert torch.equal(restored.encode(text), vocab.encode(text))
    with pytest.raises(CorpusError):
        Vocab.from_list(["a", "<unk>"])


# ---------------------------------------------------------------------------- batching


def test_batching_rejects_too_little_data() -> None:
    with pytest.raises(CorpusError, match=r"bptt=16"):
        check_length("train", 10, 2, 16)
    with pytest.raises(CorpusError, match=r"batch_size=8"):
        partition_streams(torch.arange(10), 8)
