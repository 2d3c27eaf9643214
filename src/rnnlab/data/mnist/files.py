"""The four official MNIST files: where to fetch them, their digests, and loading them.

Each file is known by the md5 of the official ``.gz`` and by the md5 of its uncompressed
content, so a copy that was recompressed, or gunzipped under the same name, is recognised
as the official data rather than reported as corrupt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from rnnlab.data.download import ensure_files
from rnnlab.data.mnist.idx import IdxError, read_idx
from rnnlab.data.remote import DownloadError, RemoteFile

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
