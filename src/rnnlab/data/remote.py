"""A dataset file: where it comes from, and how to know it is the right one.

A file is known by its digests (md5, sha256) and, for a gzip file, by the md5 of its
uncompressed content too, so that a copy which was recompressed, or decompressed but kept
under its ".gz" name, is recognised as the same data rather than reported as corrupt.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

_CHUNK = 1 << 20


GZIP_MAGIC = b"\x1f\x8b"


class DownloadError(RuntimeError):
    """A dataset file is missing and could not be fetched."""


class ChecksumError(DownloadError):
    """A file's digest differs from the expected one.

    ``path``, ``algo``, ``expected`` and ``actual`` are kept as attributes; they are
    keyword-only so the exception still pickles (e.g. across DDP workers).
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        algo: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.algo = algo
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class RemoteFile:
    name: str  # file name on disk, e.g. "train-images-idx3-ubyte.gz"
    urls: tuple[str, ...]  # mirrors, tried in order
    md5: str | None = None
    sha256: str | None = None
    # md5 of the data inside the gzip file (of the file itself if it is not gzip).
    # The same data compressed another way has other file digests but this one.
    content_md5: str | None = None

    def digests(self) -> dict[str, str]:
        """Expected digests by hashlib algorithm name, lower-cased."""
        found = {"md5": self.md5, "sha256": self.sha256}
        return {algo: value.lower() for algo, value in found.items() if value}


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _digests(chunks: Iterable[bytes], algos: Iterable[str]) -> dict[str, str]:
    """Hex digests of a stream for several algorithms, in one pass over it."""
    hashers = {algo: hashlib.new(algo) for algo in algos}
    for chunk in chunks:
        for hasher in hashers.values():
            hasher.update(chunk)
    return {algo: hasher.hexdigest() for algo, hasher in hashers.items()}


def file_digest(path: Path, algo: str) -> str:
    """Hex digest of a file, read in chunks so large files don't fill memory."""
    with open(path, "rb") as stream:
        return _digests(_chunks(stream), [algo])[algo]


def uncompressed_md5(path: Path) -> str | None:
    """md5 of a file's content: of the gunzipped data if it is gzip, else of the file.

    The format is sniffed, not taken from the name. None if the gzip data is
    truncated or corrupt. Decompresses in chunks, so memory stays small.
    """
    with open(path, "rb") as raw:
        is_gzip = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw) if is_gzip else raw
        try:
            return _digests(_chunks(stream), ["md5"])["md5"]
        except (EOFError, gzip.BadGzipFile, zlib.error):
            return None


_LOCAL_HINT = (
    "The file is corrupt or a different version. Delete it to download it again, "
    "or set data.verify=false to use it as it is."
)


def check_digests(
    path: Path,
    remote: RemoteFile,
    actual: Mapping[str, str],
    content_md5: Callable[[], str | None],
    hint: str = _LOCAL_HINT,
) -> None:
    """Raise ChecksumError unless the file at ``path`` is the one ``remote`` describes.

    It is when ``actual`` (the file's own digests, one for each of ``remote.digests()``)
    all match, or else when ``content_md5()`` (md5 of the uncompressed content, None if
    unreadable) equals ``remote.content_md5``. ``content_md5`` is only called in the
    second case, so an unchanged original is never decompressed just to be checked.
    The error is one line naming the file, each digest found and each expected.
    """
    expected = remote.digests()
    wrong = [(algo, want, actual[algo]) for algo, want in expected.items() if actual[algo] != want]
    if not wrong and (expected or not remote.content_md5):
        return
    problems = [f"{algo} is {got}, expected {want}" for algo, want, got in wrong]
    if remote.content_md5:
        want = remote.content_md5.lower()
        got = content_md5()
        if got == want:
            return
        if got is None:
            problems.append(
                f"its content cannot be decompressed (truncated or corrupt), expected md5 {want}"
            )
        else:
            problems.append(f"md5 of its uncompressed content is {got}, expected {want}")
        wrong.append(("md5", want, got or "unreadable"))
    algo, want, got = wrong[0]
    message = f"{path}: {'; '.join(problems)}. {hint}"
    raise ChecksumError(message, path=path, algo=algo, expected=want, actual=got)


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise ChecksumError if ``path`` matches neither ``remote``'s file nor its content digest."""
    path = Path(path)
    with open(path, "rb") as stream:
        actual = _digests(_chunks(stream), remote.digests())
    check_digests(path, remote, actual, lambda: uncompressed_md5(path))


class ContentMd5:
    """md5 of a download's content while it streams in: of the gunzipped data for gzip."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self._inflate: Any = None
        self._started = False
        self.broken = False

    def update(self, chunk: bytes) -> None:
        if not self._started:
            self._started = True
            if chunk.startswith(GZIP_MAGIC):
                self._inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        if self.broken:
            return
        if self._inflate is None:
            self.md5.update(chunk)
            return
        try:
            self.md5.update(self._inflate.decompress(chunk))
        except zlib.error:
            self.broken = True

    def hexdigest(self) -> str | None:
        if self._inflate is not None and not (self._inflate.eof and not self.broken):
            return None  # truncated or corrupt gzip data
        return self.md5.hexdigest()
