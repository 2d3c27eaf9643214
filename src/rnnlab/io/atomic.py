"""The one way rnnlab writes a file: a reader sees the old file or the new one, never half.

A write goes to a temporary file in the target's directory, is flushed and fsynced, then
renamed over the target with ``os.replace`` (atomic on POSIX) and the directory entry is
synced. If anything fails, a kill included, the old file is untouched; on an exception the
temporary file is removed too (a SIGKILL can leave one behind: ``remove_stale_temporaries``
clears them when a run dir is opened again). The new file gets the permissions a plain
``open()`` would give it (0666 less the umask), not ``mkstemp``'s 0600. Write errors name the
target path, so the user learns which file failed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def _temporary_name_prefix(path: Path) -> str:
    return f".{path.name}."


def _out_of_space(err: BaseException, directory: Path) -> bool:
    """torch.save reports a full disk as a RuntimeError without errno; tell it apart."""
    if isinstance(err, OSError):
        return err.errno == errno.ENOSPC
    if isinstance(err, RuntimeError) and "write" in str(err).lower():
        try:
            return shutil.disk_usage(directory).free < 1 << 20
        except OSError:
            return False
    return False


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes, atomically.

    ``write`` may raise to abandon the file (a checksum that does not match, say): the
    target then keeps its old content and no temporary file stays behind.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=_temporary_name_prefix(path), suffix=TEMP_SUFFIX
        )
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if _out_of_space(err, path.parent) and not isinstance(err, OSError):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from err
        if isinstance(err, OSError) and err.filename is None and err.errno is not None:
            # A full disk raises without a file name; say which file could not be written.
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    return path


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, and not fatal.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete temporary files a killed writer left in ``directory``; return them."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [p for p in directory.glob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
