"""Fetch dataset files from mirrors without ever leaving a half-written file behind.

A file only appears under its final name after it has been fully received, checked
against its digest and flushed to disk, so an interrupted run (Ctrl-C, lost network,
a killed job) is simply retried next time instead of failing later on a corrupt file.
Concurrent downloaders (e.g. one per node) are safe too: each writes its own
temporary file through ``rnnlab.io.atomic`` and the final rename is atomic.

A gzip file may also be verified by the digest of its uncompressed content, so that
a copy which was recompressed, or decompressed but kept under its ".gz" name, is
recognised as the same data rather than reported as corrupt.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from rnnlab.io.atomic import atomic_write

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_USER_AGENT = "rnnlab-data/0.1"  # some mirrors refuse urllib's default agent
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


class _ContentMd5:
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


def _fetch(url: str, remote: RemoteFile, target: Path, timeout: float, check: bool) -> None:
    """Download one URL into ``target`` through the atomic writer: a download that fails,
    is cut short or does not match its digests leaves nothing behind."""
    hashers = {algo: hashlib.new(algo) for algo in remote.digests()} if check else {}
    content = _ContentMd5()
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})

    def write(out: BinaryIO) -> None:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            announced = resp.headers.get("Content-Length")
            received = 0
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
                if check and remote.content_md5:
                    content.update(chunk)
        # http.client does not raise when a connection closes early, so a
        # truncated body would otherwise pass whenever no digest is known.
        if announced is not None and received != int(announced):
            raise OSError(f"connection closed after {received} of {announced} bytes")
        if check:
            actual = {algo: hasher.hexdigest() for algo, hasher in hashers.items()}
            hint = f"The mirror {url} served a different file; it was not kept."
            check_digests(target, remote, actual, content.hexdigest, hint)

    atomic_write(target, write)


def _download(remote: RemoteFile, target: Path, timeout: float, check: bool) -> list[str]:
    """Try each mirror in order. Returns the errors seen; empty means success."""
    errors: list[str] = []
    bad_digest: ChecksumError | None = None
    for url in remote.urls:
        log.info("Downloading %s", url)
        try:
            _fetch(url, remote, target, timeout, check)
            return []
        except ChecksumError as err:
            bad_digest = err  # another mirror may still have the right file
            errors.append("checksum mismatch")
        except (OSError, http.client.HTTPException, ValueError) as err:
            # URLError/HTTPError/timeouts are OSErrors; ValueError covers malformed URLs.
            log.warning("Could not download %s: %s", url, err)
            errors.append(str(err))
    if bad_digest is not None:
        raise bad_digest
    return errors or ["no mirror URLs are configured"]


def _offline_message(failed: list[tuple[RemoteFile, list[str]]], directory: Path) -> str:
    lines = [
        f"Could not download {len(failed)} file(s) into {directory} "
        "(no mirror answered; is this machine offline?).",
        "Download them by hand into that folder:",
    ]
    for remote, errors in failed:
        lines.append(f"  {remote.name}")
        lines.extend(f"    {url}" for url in remote.urls)
        lines.append(f"    (last error: {errors[-1]})")
    return "\n".join(lines)


def ensure_files(
    files: Sequence[RemoteFile],
    directory: Path,
    *,
    verify_checksums: bool = True,
    timeout: float = 30.0,
) -> list[Path]:
    """Return the local paths of ``files`` in ``directory``, downloading those missing.

    Present files are verified (unless ``verify_checksums`` is False) and kept.
    Raises ChecksumError for a file that fails its digest, and DownloadError naming
    every file that could not be fetched from any mirror.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    failed: list[tuple[RemoteFile, list[str]]] = []
    for remote in files:
        target = directory / remote.name
        paths.append(target)
        if target.is_file():
            if verify_checksums:
                verify(target, remote)
            continue
        errors = _download(remote, target, timeout, verify_checksums)
        if errors:
            failed.append((remote, errors))
    if failed:
        raise DownloadError(_offline_message(failed, directory))
    return paths
