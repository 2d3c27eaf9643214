"""Fetch dataset files from mirrors without ever leaving a half-written file behind.

A file only appears under its final name after it has been fully received, checked
against its digest and flushed to disk, so an interrupted run (Ctrl-C, lost network,
a killed job) is simply retried next time instead of failing later on a corrupt file.
Concurrent downloaders (e.g. one per node) are safe too: each writes its own
temporary file through ``rnnlab.io.atomic`` and the final rename is atomic.

What counts as the right file is ``rnnlab.data.remote``'s business.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from rnnlab.data.remote import (
    ChecksumError,
    ContentMd5,
    DownloadError,
    RemoteFile,
    check_digests,
    verify,
)
from rnnlab.io.atomic import atomic_write

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_USER_AGENT = "rnnlab-data/0.1"  # some mirrors refuse urllib's default agent


def _fetch(url: str, remote: RemoteFile, target: Path, timeout: float, check: bool) -> None:
    """Download one URL into ``target`` through the atomic writer: a download that fails,
    is cut short or does not match its digests leaves nothing behind."""
    hashers = {algo: hashlib.new(algo) for algo in remote.digests()} if check else {}
    content = ContentMd5()
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
            log.info("Could not download %s: %s", url, err)  # the error, if all fail, names it
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
    created = [p for p in (directory, *directory.parents) if not p.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return _ensure(files, directory, verify_checksums, timeout)
    except BaseException:
        for folder in created:  # deepest first: the folders made for files that never came
            try:
                folder.rmdir()
            except OSError:  # not empty: another file arrived
                break
        raise


def _ensure(files: Sequence[RemoteFile], directory: Path, verify_checksums: bool,
            timeout: float) -> list[Path]:  # fmt: skip
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
