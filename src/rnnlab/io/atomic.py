"""The one way rnnlab writes a file: a reader sees the old file or the new one, never half.

A write goes to a temporary file in the target's directory, is flushed and fsynced, then
renamed over the target with ``os.replace`` (atomic on POSIX) and the directory entry is
synced. If anything fails, a kill included, the old file is untouched; on an exception the
temporary file is removed too (a SIGKILL can leave one behind: ``remove_stale_temporaries``
clears them when a run dir is opened again). The new file gets the permissions a plain
``open()`` would give it (0666 less the umask), not ``mkstemp``'s 0600. Write errors are
``OSError``s naming the target path, so the user learns which file failed; torch.save's
RuntimeError for a failed write (a full disk among others) is one of them.
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


# How torch.save reports a write that failed (a full disk among others): a RuntimeError
# without errno, from its zip writer ("unexpected pos N vs M" when the file object's write
# failed, "file write failed" when torch wrote the file itself).
TORCH_WRITE_FAILURES = ("unexpected pos", "file write failed", "PytorchStreamWriter failed")
LOW_SPACE_BYTES = 1 << 20


def _as_os_error(err: BaseException, path: Path) -> OSError | None:
    """A write failure as an ``OSError`` naming ``path``: torch's RuntimeError becomes
    ENOSPC when the disk is (nearly) full, else EIO with torch's reason; an OSError that
    names no file gets ``path``. None for any other error."""
    if isinstance(err, OSError):
        if err.filename is None and err.errno is not None:
            return OSError(err.errno, err.strerror or str(err), str(path))
        return None
    message = str(err)
    if not isinstance(err, RuntimeError) or not any(m in message for m in TORCH_WRITE_FAILURES):
        return None
    try:
        full = shutil.disk_usage(path.parent).free < LOW_SPACE_BYTES
    except OSError:
        full = False
    if full:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    reason = message.strip().splitlines()[0] if message.strip() else type(err).__name__
    return OSError(errno.EIO, f"write failed ({reason})", str(path))


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
        # Judged before the temporary file goes: removing it frees the space it took.
        failure = _as_os_error(err, path)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if failure is not None:
            raise failure from err
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


def write_png(path: str | os.PathLike, fig: Any) -> Path:
    """Save a matplotlib figure as PNG (120 dpi, tight bounding box), atomically."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))
