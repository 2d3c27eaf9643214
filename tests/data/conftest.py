import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

# numpy dtype kind/size -> IDX dtype code (the file stores big-endian values).
_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}

WriteIdx = Callable[..., Path]


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as an IDX file, built by hand from the format description."""
    code = _CODES[f"{array.dtype.kind}{array.dtype.itemsize}"]
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def write_idx() -> WriteIdx:
    """Returns ``write(path, array, gz=...)`` writing a synthetic IDX file."""

    def write(path: Path, array: np.ndarray, *, gz: bool) -> Path:
        data = idx_bytes(array)
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        return path

    return write


@pytest.fixture
def digits() -> tuple[np.ndarray, np.ndarray]:
    """Five tiny MNIST-like images and their labels."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    return images, labels
