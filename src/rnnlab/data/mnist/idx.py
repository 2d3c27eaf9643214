"""Reader for IDX files, the format of the MNIST files.

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

from rnnlab.data.remote import GZIP_MAGIC, RemoteFile, check_digests

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
