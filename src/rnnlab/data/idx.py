"""Reader for IDX files (the MNIST format) and the MNIST file table.

IDX layout: two zero bytes, a dtype code, the number of dimensions, one big-endian
uint32 per dimension, then the values in big-endian C order.

A file is verified with the bytes read to decode it: it is read from disk once and
decompressed at most once, whether it matches by its own digest or by its content's.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.download import GZIP_MAGIC, DownloadError, RemoteFile, check_digests, ensure_files

# IDX dtype code -> big-endian numpy dtype as stored in the file.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


class IdxError(ValueError):
    """An IDX file is malformed, corrupt or not the shape the caller expects."""


def _unpack(path: Path, raw: bytes) -> bytes:
    # Sniff instead of trusting the name: some browsers and proxies decompress a
    # download but keep the ".gz" suffix, and people gunzip files in place.
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise IdxError(
            f"{path}: gzip data is truncated or corrupt ({err}); delete it and download again"
        ) from err


def _read_verified(path: Path, remote: RemoteFile) -> bytes:
    """The file's content, after checking it is ``remote``'s file or holds its content."""
    raw = path.read_bytes()
    actual = {algo: hashlib.new(algo, raw).hexdigest() for algo in remote.digests()}
    content: bytes | None = None

    def content_md5() -> str | None:
        nonlocal content
        try:
            content = _unpack(path, raw)
        except IdxError:
            return None
        if content is raw and "md5" in actual:  # not gzip: the content is the file
            return actual["md5"]
        return hashlib.md5(content).hexdigest()

    check_digests(path, remote, actual, content_md5)
    return _unpack(path, raw) if content is None else content


def _check_shape(path: Path, found: tuple[int, ...], expect: Sequence[int | None]) -> None:
    matches = len(found) == len(expect) and all(
        want is None or want == got for want, got in zip(expect, found, strict=False)
    )
    if not matches:
        wanted = "(" + ", ".join("*" if d is None else str(d) for d in expect) + ")"
        raise IdxError(f"{path}: expected shape {wanted}, found {found}")


def read_idx(
    path: Path,
    expect_shape: Sequence[int | None] | None = None,
    *,
    verify_against: RemoteFile | None = None,
) -> torch.Tensor:
    """Read a raw or gzip-compressed IDX file into a tensor of the file's dtype.

    ``expect_shape`` optionally checks the shape, with None meaning "any size" for
    that dimension, e.g. ``(None, 28, 28)`` for MNIST images. ``verify_against``
    first checks the file against that entry's digests (``check_digests``): its
    own md5, or else the md5 of its uncompressed content.
    """
    path = Path(path)
    if verify_against is None:
        data = _unpack(path, path.read_bytes())
    else:
        data = _read_verified(path, verify_against)
    if len(data) < 4:
        raise IdxError(f"{path}: only {len(data)} bytes, too short for an IDX header")
    zero1, zero2, code, ndim = data[:4]
    if zero1 or zero2:
        raise IdxError(f"{path}: not an IDX file (magic {data[:4].hex()}, expected 0000xxyy)")
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES)
        raise IdxError(f"{path}: unknown IDX dtype code 0x{code:02x} (known: {known})")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IdxError(f"{path}: header declares {ndim} dimensions but the file ends early")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload_bytes = len(data) - header_len
    if payload_bytes != expected_bytes:
        raise IdxError(
            f"{path}: header shape {shape} needs {expected_bytes} bytes of data, "
            f"file has {payload_bytes}"
        )
    if expect_shape is not None:
        _check_shape(path, shape, expect_shape)
    values = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    # astype copies into native byte order and gives torch a writable array.
    return torch.from_numpy(values.astype(dtype.newbyteorder("="), copy=True))


# --- MNIST -----------------------------------------------------------------------

# Mirrors in the order tried; the original site is often down, so it comes last.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


def _mnist_file(name: str, md5: str, content_md5: str) -> RemoteFile:
    urls = tuple(m + name for m in MNIST_MIRRORS)
    return RemoteFile(name=name, urls=urls, md5=md5, content_md5=content_md5)


# md5 of each official .gz file, then of its uncompressed content (which also
# accepts a copy that was recompressed or gunzipped under the same name).
MNIST_FILES: dict[str, RemoteFile] = {
    "train_images": _mnist_file(
        "train-images-idx3-ubyte.gz",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "6bbc9ace898e44ae57da46a324031adb",
    ),
    "train_labels": _mnist_file(
        "train-labels-idx1-ubyte.gz",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "a25bea736e30d166cdddb491f175f624",
    ),
    "test_images": _mnist_file(
        "t10k-images-idx3-ubyte.gz",
        "9fb629c4189551a2d022fa330f9573f3",
        "2646ac647ad5339dbf082846283269ea",
    ),
    "test_labels": _mnist_file(
        "t10k-labels-idx1-ubyte.gz",
        "ec29112dd5afa0611ce80d1b7f02629c",
        "27ae3e4e09519cfbb04c329615203637",
    ),
}


def _check_present(files: list[RemoteFile], directory: Path) -> None:
    missing = [f for f in files if not (directory / f.name).is_file()]
    if missing:
        urls = "\n".join(f"  {f.urls[0]}" for f in missing)
        raise DownloadError(
            f"MNIST files missing in {directory} and download is off: "
            f"{', '.join(f.name for f in missing)}.\n"
            f"Enable download or fetch them by hand into that folder:\n{urls}"
        )


def load_mnist(
    directory: Path,
    *,
    download: bool = True,
    verify_checksums: bool = True,
    splits: Sequence[str] = ("train", "test"),
) -> dict[str, torch.Tensor]:
    """Load MNIST as ``{"<split>_images": uint8 [N, 28, 28], "<split>_labels": int64 [N]}``.

    ``splits`` picks "train" and/or "test", e.g. to work with only the 10k test files.
    """
    unknown = set(splits) - {"train", "test"}
    if unknown:
        raise ValueError(f"unknown MNIST split(s) {sorted(unknown)}; allowed: 'train', 'test'")
    directory = Path(directory)
    keys = [f"{s}_{kind}" for s in splits for kind in ("images", "labels")]
    files = [MNIST_FILES[k] for k in keys]
    fetched: set[str] = set()
    if download:
        # Downloads are checked as they arrive; files already here are checked below,
        # with the bytes read to decode them, so that no file is read twice.
        missing = [f for f in files if not (directory / f.name).is_file()]
        ensure_files(missing, directory, verify_checksums=verify_checksums)
        fetched = {f.name for f in missing}
    else:
        _check_present(files, directory)

    def read(key: str, expect_shape: tuple[int | None, ...]) -> tuple[Path, torch.Tensor]:
        remote = MNIST_FILES[key]
        check = verify_checksums and remote.name not in fetched
        path = directory / remote.name
        return path, read_idx(path, expect_shape, verify_against=remote if check else None)

    out: dict[str, torch.Tensor] = {}
    for split in splits:
        image_path, images = read(f"{split}_images", (None, 28, 28))
        label_path, labels = read(f"{split}_labels", (None,))
        for path, tensor in ((image_path, images), (label_path, labels)):
            if tensor.dtype != torch.uint8:
                raise IdxError(f"{path}: expected uint8 values, found {tensor.dtype}")
        if len(images) != len(labels):
            raise IdxError(
                f"{image_path} holds {len(images)} images but {label_path} holds "
                f"{len(labels)} labels"
            )
        out[f"{split}_images"] = images
        out[f"{split}_labels"] = labels.long()
    return out
