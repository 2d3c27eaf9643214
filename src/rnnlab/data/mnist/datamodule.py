"""Sequential MNIST: each 28 x 28 image read as a sequence, one class per image.

Modes: ``row`` reads 28 steps of 28 pixels, ``pixel`` reads 784 steps of one pixel
(a long-memory test), ``permuted`` reads the 784 pixels in one fixed random order,
which breaks the local structure that makes ``pixel`` easier.

The whole dataset lives on the training device as one ``[N, 784]`` uint8 tensor
(a quarter of float32's memory); splits are index vectors into it and batches are
gathered by index, then normalised. The permutation is applied per batch, not baked
into the stored images, so a permutation restored from a checkpoint
(``load_state_dict`` runs after ``setup``) takes effect at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from rnnlab.data.batching import IndexBatches, TensorDataModule
from rnnlab.data.mnist.files import load_mnist
from rnnlab.data.mnist.idx import IdxError
from rnnlab.data.options import MnistOptions
from rnnlab.data.remote import DownloadError
from rnnlab.errors import ConfigError, DataError

MEAN, STD = 0.1307, 0.3081  # of the 60k training pixels scaled to [0, 1]
SIDE = 28


def normalise(pixels: Tensor) -> Tensor:
    """uint8 pixels to float32 with the training set's mean 0 and std 1.

    The same float32 operations, element by element, as normalising the whole
    dataset at once, so a batch holds exactly the values it would have had then.
    """
    return (pixels.float() / 255 - MEAN) / STD


def _on_device(parts: list[Tensor], device: torch.device) -> Tensor:
    """``parts`` joined along the first dimension on ``device``.

    Each part is copied straight into its rows of the result, so a GPU run never
    builds the joined tensor in host memory first; one part is only moved.
    """
    if len(parts) == 1:
        return parts[0].to(device)
    rows = sum(len(p) for p in parts)
    out = torch.empty((rows, *parts[0].shape[1:]), dtype=parts[0].dtype, device=device)
    start = 0
    for part in parts:
        out[start : start + len(part)].copy_(part)
        start += len(part)
    return out


@contextmanager
def _as_data_error() -> Iterator[None]:
    """Missing, corrupt or unexpected files stop the run with one clear message."""
    try:
        yield
    except (DownloadError, IdxError) as err:
        raise DataError(str(err)) from None


class SequentialMNIST(TensorDataModule):
    """MNIST digits as sequences for classification.

    Args:
        data_dir: folder of the four official ``*-ubyte.gz`` files.
        mode: ``row`` (28 x 28 features), ``pixel`` (784 x 1) or ``permuted`` (784 x 1).
        protocol: ``official`` (train on the 60k training images less ``val_size`` held
            out for validation, test on the official 10k) or ``test10k`` (split the 10k
            test images alone 80/10/10, for when only the test files are at hand).
        val_size: training images held out for validation (``official`` only).
        permutation_seed: seed of the pixel order in ``permuted`` mode; deliberately
            not the run seed, so every run of a study sees the same task.
        download: fetch missing files (in ``prepare_data``, once per node).
        verify: check the files' md5 sums against the official ones.
        seed: seed of the splits and of the batch order.
    """

    batch_format = "labels"
    num_outputs = 10

    Options = MnistOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.input_size = SIDE if self.mode == "row" else 1
        self.permutation: Tensor | None = None
        if self.mode == "permuted":
            g = torch.Generator().manual_seed(self.permutation_seed)
            self.permutation = torch.randperm(SIDE * SIDE, generator=g)
        self.images: Tensor | None = None  # [N, 784] uint8 pixels, on the device
        self.labels: Tensor | None = None
        self.splits: dict[str, Tensor] = {}  # split -> indices into images
        self._raw: dict[str, Tensor] | None = None

    @property
    def file_splits(self) -> tuple[str, ...]:
        """The MNIST file pairs this protocol reads."""
        return ("train", "test") if self.protocol == "official" else ("test",)

    def _load(self, download: bool, verify: bool) -> dict[str, Tensor]:
        with _as_data_error():
            return load_mnist(
                self.data_dir, download=download, verify_checksums=verify, splits=self.file_splits
            )

    def prepare_data(self) -> None:
        # Downloads and checks every file before training starts; the result is kept
        # so that setup in this process does not read the files a second time.
        if self.images is None:
            self._raw = self._load(self.download, self.verify)

    def setup(self, stage: str | None = None) -> None:
        if self.images is not None:
            return
        raw, self._raw = self._raw or self._load(download=False, verify=False), None
        sources = self.file_splits
        sizes = [len(raw[f"{source}_images"]) for source in sources]
        self.splits = {k: v.to(self.device) for k, v in self._split(sizes).items()}
        # Popped from the files' dict, so that once setup returns only the tensors on
        # the device hold the data.
        images = [raw.pop(f"{source}_images").flatten(1) for source in sources]
        labels = [raw.pop(f"{source}_labels") for source in sources]
        self.images = _on_device(images, self.device)
        self.labels = _on_device(labels, self.device)
        if self.permutation is not None:
            self.permutation = self.permutation.to(self.device)

    def _split(self, sizes: list[int]) -> dict[str, Tensor]:
        """Each split's indices (seeded) into the images of ``file_splits``, in that order."""
        g = torch.Generator().manual_seed(self.seed)
        if self.protocol == "test10k":
            (n,) = sizes
            n_held = n // 10
            if n_held < 1:
                raise DataError(f"{self.data_dir}: {n} test images are too few to split 80/10/10")
            parts = torch.split(torch.randperm(n, generator=g), [n - 2 * n_held, n_held, n_held])
            return dict(zip(("train", "val", "test"), parts, strict=True))
        n_train, n_test = sizes
        if self.val_size >= n_train:
            raise ConfigError(
                "data.val_size", self.val_size, f"fewer than the {n_train} training images"
            )
        order = torch.randperm(n_train, generator=g)
        return {
            "train": order[self.val_size :],
            "val": order[: self.val_size],
            "test": torch.arange(n_train, n_train + n_test),  # the official test set, after train
        }

    def split_batches(self, split: str) -> IndexBatches:
        rows_of = self.splits[split]

        def make_batch(idx: Tensor) -> tuple[Tensor, Tensor]:
            rows = rows_of[idx]
            x = self.images[rows]
            if self.mode == "row":
                x = x.view(len(rows), SIDE, SIDE)
            else:
                if self.permutation is not None:
                    x = x[:, self.permutation]
                x = x.unsqueeze(-1)
            return normalise(x), self.labels[rows]

        return self.batches(len(rows_of), make_batch, train=split == "train")

    # The permutation travels in every checkpoint, so evaluation reads pixels in the
    # order the model was trained on even if the way it is drawn ever changes.
    def state_dict(self) -> dict[str, Any]:
        perm = self.permutation
        return {"mode": self.mode, "permutation": None if perm is None else perm.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        perm = state.get("permutation")
        if perm is None or self.mode != "permuted":
            return
        if sorted(perm.tolist()) != list(range(SIDE * SIDE)):
            raise DataError("the checkpoint's pixel permutation is not a permutation of 784 pixels")
        device = self.images.device if self.images is not None else "cpu"
        self.permutation = perm.to(device)
