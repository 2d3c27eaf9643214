import dataclasses
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.mnist import files, idx
from rnnlab.data.mnist.files import MNIST_FILES, load_mnist
from rnnlab.data.mnist.idx import IdxError, read_idx
from rnnlab.data.remote import ChecksumError, DownloadError, RemoteFile

REAL_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_round_trip_images_and_labels(tmp_path: Path, write_idx, digits, gz: bool) -> None:
    images, labels = digits
    suffix = ".gz" if gz else ""
    img = read_idx(write_idx(tmp_path / f"img{suffix}", images, gz=gz), expect_shape=(None, 28, 28))
    lab = read_idx(write_idx(tmp_path / f"lab{suffix}", labels, gz=gz), expect_shape=(None,))
    assert img.dtype == torch.uint8 and lab.dtype == torch.uint8
    assert torch.equal(img, torch.from_numpy(images))
    assert torch.equal(lab, torch.from_numpy(labels))


@pytest.mark.parametrize("dtype", ["i1", "i2", "i4", "f4", "f8"])
def test_round_trip_other_dtypes(tmp_path: Path, write_idx, dtype: str) -> None:
    values = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype) * 3
    result = read_idx(write_idx(tmp_path / "x.idx", values, gz=False))
    assert result.numpy().dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result.numpy(), values)


def test_format_is_sniffed_not_taken_from_name(tmp_path: Path, write_idx, digits) -> None:
    images, _ = digits
    looks_gz = write_idx(tmp_path / "raw-but-named.gz", images, gz=False)
    looks_raw = write_idx(tmp_path / "gz-but-named.idx", images, gz=True)
    assert torch.equal(read_idx(looks_gz), read_idx(looks_raw))


def _gz_file(tmp_path: Path, write_idx, digits) -> tuple[Path, bytes]:
    path = write_idx(tmp_path / "img.gz", digits[0], gz=True)
    return path, path.read_bytes()


def test_truncated_gzip(tmp_path: Path, write_idx, digits) -> None:
    path, data = _gz_file(tmp_path, write_idx, digits)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IdxError, match="truncated or corrupt") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip(tmp_path: Path, write_idx, digits) -> None:
    path, data = _gz_file(tmp_path, write_idx, digits)
    middle = len(data) // 2
    path.write_bytes(
        data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :]
    )
    with pytest.raises(IdxError, match="truncated or corrupt") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (b"\x01\x00\x08\x01", "not an IDX file"),
        (b"\x00\x00\x0a\x01", "unknown IDX dtype code 0x0a"),
    ],
)
def test_bad_header(tmp_path: Path, header: bytes, problem: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(header + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(IdxError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\x00\x00\x08\x03\x00\x00\x00\x05"])
def test_header_too_short(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "short.idx"
    path.write_bytes(data)
    with pytest.raises(IdxError, match="short|ends early") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("delta", [-1, 1], ids=["missing-bytes", "extra-bytes"])
def test_payload_size_mismatch(tmp_path: Path, write_idx, digits, delta: int) -> None:
    path = write_idx(tmp_path / "img.idx", digits[0], gz=False)
    data = path.read_bytes()
    path.write_bytes(data[:delta] if delta < 0 else data + b"\x00" * delta)
    with pytest.raises(IdxError, match=r"\(5, 28, 28\) needs 3920 bytes") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("expect", [(None, 28, 28), (None,), (5, 27, 28, 1)])
def test_wrong_shape(tmp_path: Path, write_idx, expect) -> None:
    path = write_idx(tmp_path / "img.gz", np.zeros((5, 27, 28), np.uint8), gz=True)
    with pytest.raises(IdxError, match=r"found \(5, 27, 28\)") as info:
        read_idx(path, expect_shape=expect)
    message = str(info.value)
    assert str(path) in message and "expected shape (" in message


def _write_mnist(directory: Path, write_idx, digits, n_labels: int = 5) -> None:
    images, labels = digits
    for split in ("train", "test"):
        write_idx(directory / MNIST_FILES[f"{split}_images"].name, images, gz=True)
        write_idx(directory / MNIST_FILES[f"{split}_labels"].name, labels[:n_labels], gz=True)


@pytest.mark.parametrize("download", [False, True])
def test_load_mnist_from_local_files(tmp_path: Path, write_idx, digits, download: bool) -> None:
    _write_mnist(tmp_path, write_idx, digits)
    data = load_mnist(tmp_path, download=download, verify_checksums=False)
    assert sorted(data) == ["test_images", "test_labels", "train_images", "train_labels"]
    assert data["train_images"].dtype == torch.uint8
    assert data["train_images"].shape == (5, 28, 28)
    assert data["test_labels"].dtype == torch.int64
    assert data["test_labels"].tolist() == [3, 1, 4, 1, 5]


def test_load_mnist_single_split(tmp_path: Path, write_idx, digits) -> None:
    _write_mnist(tmp_path, write_idx, digits)
    data = load_mnist(tmp_path, download=False, verify_checksums=False, splits=("test",))
    assert sorted(data) == ["test_images", "test_labels"]
    with pytest.raises(ValueError, match="unknown MNIST split"):
        load_mnist(tmp_path, download=False, splits=("val",))


def test_load_mnist_count_mismatch(tmp_path: Path, write_idx, digits) -> None:
    _write_mnist(tmp_path, write_idx, digits, n_labels=4)
    with pytest.raises(IdxError, match="5 images but") as info:
        load_mnist(tmp_path, download=False, verify_checksums=False)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert "train-labels-idx1-ubyte.gz" in str(info.value)


def test_load_mnist_checks_checksums(tmp_path: Path, write_idx, digits) -> None:
    _write_mnist(tmp_path, write_idx, digits)
    for download in (False, True):
        with pytest.raises(ChecksumError, match="data.verify=false"):
            load_mnist(tmp_path, download=download)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def official(tmp_path: Path, write_idx, digits) -> tuple[bytes, RemoteFile]:
    """The images' IDX content and the entry of its 'official' .gz file (both md5s)."""
    content = write_idx(tmp_path / "content.idx", digits[0], gz=False).read_bytes()
    packed = gzip.compress(content, mtime=0)
    return content, RemoteFile("img.gz", (), md5=_md5(packed), content_md5=_md5(content))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often files are read whole and gzip data is decompressed."""
    calls = {"read": 0, "decompress": 0}
    read_bytes, decompress = Path.read_bytes, gzip.decompress

    def reading(path: Path) -> bytes:
        calls["read"] += 1
        return read_bytes(path)

    def decompressing(data: bytes) -> bytes:
        calls["decompress"] += 1
        return decompress(data)

    monkeypatch.setattr(Path, "read_bytes", reading)
    monkeypatch.setattr(idx.gzip, "decompress", decompressing)
    return calls


@pytest.mark.parametrize(
    ("stored", "decompressions"),
    [("official", 1), ("recompressed", 1), ("raw-under-gz-name", 0)],
)
def test_verified_read_accepts_the_file_or_its_content_reading_once(
    tmp_path: Path, digits, official, counted, stored: str, decompressions: int
) -> None:
    content, remote = official
    path = tmp_path / "img.gz"
    path.write_bytes(
        {
            "official": gzip.compress(content, mtime=0),
            "recompressed": gzip.compress(content, compresslevel=1, mtime=7),
            "raw-under-gz-name": content,
        }[stored]
    )
    assert (_md5(path.read_bytes()) == remote.md5) == (stored == "official")
    counted["read"] = 0
    images = read_idx(path, expect_shape=(None, 28, 28), verify_against=remote)
    assert torch.equal(images, torch.from_numpy(digits[0]))
    assert counted == {"read": 1, "decompress": decompressions}


def test_verified_read_rejects_a_file_matching_neither(tmp_path: Path, official) -> None:
    content, remote = official
    changed = content[:-1] + bytes([content[-1] ^ 1])  # one pixel of the last image
    path = tmp_path / "img.gz"
    path.write_bytes(gzip.compress(changed, mtime=0))
    with pytest.raises(ChecksumError) as info:
        read_idx(path, verify_against=remote)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "data.verify=false" in message
    for digest in (remote.md5, remote.content_md5, _md5(path.read_bytes()), _md5(changed)):
        assert digest in message


def test_verified_read_of_a_truncated_gzip(tmp_path: Path, official) -> None:
    content, remote = official
    path = tmp_path / "img.gz"
    packed = gzip.compress(content, mtime=0)
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ChecksumError, match="cannot be decompressed") as info:
        read_idx(path, verify_against=remote)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("download", [False, True])
def test_load_mnist_verifies_copies_by_content(
    tmp_path: Path, write_idx, digits, monkeypatch: pytest.MonkeyPatch, download: bool
) -> None:
    _write_mnist(tmp_path, write_idx, digits)
    table = {}
    for key, remote in MNIST_FILES.items():
        packed = (tmp_path / remote.name).read_bytes()
        table[key] = dataclasses.replace(
            remote, md5=_md5(packed), content_md5=_md5(gzip.decompress(packed))
        )
    monkeypatch.setattr(files, "MNIST_FILES", table)
    expected = load_mnist(tmp_path, download=download)
    # Recompress the training images and gunzip the test labels under their .gz name.
    train_images = tmp_path / MNIST_FILES["train_images"].name
    train_images.write_bytes(gzip.compress(gzip.decompress(train_images.read_bytes()), 1, mtime=3))
    test_labels = tmp_path / MNIST_FILES["test_labels"].name
    test_labels.write_bytes(gzip.decompress(test_labels.read_bytes()))
    data = load_mnist(tmp_path, download=download)
    assert all(torch.equal(data[key], expected[key]) for key in expected)

    content = bytearray(gzip.decompress(train_images.read_bytes()))
    content[-1] ^= 1
    train_images.write_bytes(gzip.compress(bytes(content), mtime=0))
    with pytest.raises(ChecksumError) as info:
        load_mnist(tmp_path, download=download)
    assert info.value.path == train_images and table["train_images"].content_md5 in str(info.value)


def test_load_mnist_missing_without_download(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        load_mnist(tmp_path, download=False)
    for remote in MNIST_FILES.values():
        assert remote.name in str(info.value)


def test_mnist_table() -> None:
    assert list(MNIST_FILES) == ["train_images", "train_labels", "test_images", "test_labels"]
    for remote in MNIST_FILES.values():
        assert remote.md5 is not None and len(remote.md5) == 32
        assert len(remote.urls) >= 2 and all(url.endswith("/" + remote.name) for url in remote.urls)
    assert MNIST_FILES["test_images"].md5 == "9fb629c4189551a2d022fa330f9573f3"


def test_real_mnist_test_split() -> None:
    if not REAL_MNIST.is_dir():
        pytest.skip(f"real MNIST folder {REAL_MNIST.resolve()} is absent")
    for key in ("test_images", "test_labels"):
        path = REAL_MNIST / MNIST_FILES[key].name
        assert hashlib.md5(path.read_bytes()).hexdigest() == MNIST_FILES[key].md5
    images = read_idx(REAL_MNIST / MNIST_FILES["test_images"].name, expect_shape=(None, 28, 28))
    labels = read_idx(REAL_MNIST / MNIST_FILES["test_labels"].name, expect_shape=(None,))
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert int(labels.max()) == 9 and int(images.max()) == 255
    # The read-only shared folder is loaded in place: present files are only verified.
    data = load_mnist(REAL_MNIST, download=False, splits=("test",))
    assert torch.equal(data["test_labels"], labels.long())


def test_gzip_is_standard(tmp_path: Path, write_idx, digits) -> None:
    # Guards the fixture itself: what it writes must be plain gzip of the raw bytes.
    raw = write_idx(tmp_path / "a.idx", digits[1], gz=False).read_bytes()
    assert gzip.decompress(write_idx(tmp_path / "b.gz", digits[1], gz=True).read_bytes()) == raw
