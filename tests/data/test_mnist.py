"""Sequential MNIST on small synthetic IDX files, plus a real-data check when available."""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.mnist import SequentialMNIST, normalise
from rnnlab.data.mnist.files import MNIST_FILES, load_mnist
from rnnlab.data.options import MNIST_MODES as MODES
from rnnlab.data.remote import file_digest
from rnnlab.errors import ConfigError, DataError
from rnnlab.results.references import matching
from rnnlab.run.build import build_datamodule
from rnnlab.run.job import evaluate, train

from helpers import check_config, make_config, read_metrics, run_cli

N_TRAIN, N_TEST = 200, 100

# Synthetic files fail the official md5 sums by construction, so checks are off.
QUICK = [
    "data=smnist",
    "data.verify=false",
    "data.download=false",
    "data.val_size=40",
    "data.batch_size=32",
    "data.eval_batch_size=50",
    "model.hidden_size=16",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
]


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0))


def write_fake_mnist(directory: Path, n_train: int = N_TRAIN, n_test: int = N_TEST) -> Path:
    """The four official file names holding random digits (the class sets a bright row)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        images = rng.integers(0, 64, size=(n, 28, 28), dtype=np.uint8)
        images[np.arange(n), 2 + 2 * labels] = 255
        _write_idx(directory / MNIST_FILES[f"{split}_images"].name, images)
        _write_idx(directory / MNIST_FILES[f"{split}_labels"].name, labels)
    return directory


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    write_fake_mnist(tmp_path / "data" / "mnist")
    return tmp_path


def _datamodule(root: Path, **kwargs) -> SequentialMNIST:
    dm = SequentialMNIST(
        data_dir=root / "data" / "mnist", download=False, verify=False, val_size=40, **kwargs
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.mark.parametrize(
    "mode,steps,features", [("row", 28, 28), ("pixel", 784, 1), ("permuted", 784, 1)]
)
def test_fast_dev_run_every_mode(data_root, mode, steps, features):
    small = ["data.batch_size=8", "data.eval_batch_size=8"]  # 784 steps are slow on a CPU
    cfg = make_config(data_root, [*QUICK, *small, f"data.mode={mode}", "debug=fdr"])
    dm = build_datamodule(cfg)
    x, y = next(iter(_datamodule(data_root, mode=mode).train_dataloader()))
    assert (dm.input_size, x.shape[1:], y.dtype) == (features, (steps, features), torch.long)
    metrics = train(cfg, data_root)
    assert metrics["status"] == "completed"
    assert math.isfinite(metrics["train/loss"]) and 0 <= metrics["test/acc"] <= 1
    assert (data_root / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_normalised_pixels_follow_the_mean_std_transform(data_root):
    dm = _datamodule(data_root)
    raw = load_mnist(data_root / "data" / "mnist", download=False, verify_checksums=False)
    x, _ = next(iter(dm.test_dataloader()))  # the official test images, in order
    pixels = raw["test_images"][: len(x)]
    picks = [tuple(torch.nonzero(pixels == v)[0].tolist()) for v in (0, 1, 37, 255)]
    for i, r, c in picks:
        value = int(pixels[i, r, c])
        assert x[i, r, c].item() == pytest.approx((value / 255 - 0.1307) / 0.3081, abs=1e-6)
    assert x[picks[0]].item() == pytest.approx(-0.424213, abs=1e-6)  # black
    assert x[picks[-1]].item() == pytest.approx(2.821487, abs=1e-6)  # white


@pytest.mark.parametrize("mode", MODES)
def test_batches_hold_exactly_the_values_normalising_up_front_gave(data_root, mode):
    dm = _datamodule(data_root, mode=mode)
    assert dm.images.dtype == torch.uint8 and dm._raw is None  # the files' tensors are gone
    upfront = (dm.images.to(torch.float32) / 255 - 0.1307) / 0.3081  # as setup once stored them
    for split in ("val", "test"):  # not shuffled: batches follow the split's rows
        rows = dm.splits[split]
        expected = upfront[rows] if dm.permutation is None else upfront[rows][:, dm.permutation]
        x = torch.cat([x.reshape(len(x), -1) for x, _ in dm.split_batches(split)])
        assert x.dtype == torch.float32 and torch.equal(x, expected)


def test_split_seeded_and_disjoint(data_root):
    a, b, c = (_datamodule(data_root, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.splits["val"], b.splits["val"])
    assert not torch.equal(a.splits["val"], c.splits["val"])
    train, val, test = (set(a.splits[k].tolist()) for k in ("train", "val", "test"))
    assert len(val) == 40 and not train & val and train | val == set(range(N_TRAIN))
    assert test == set(range(N_TRAIN, N_TRAIN + N_TEST))  # the official test images


def test_test10k_splits_only_the_test_files(data_root):
    for name in ("train_images", "train_labels"):
        (data_root / "data" / "mnist" / MNIST_FILES[name].name).unlink()
    dm = _datamodule(data_root, protocol="test10k", seed=1)
    sizes = [len(dm.splits[k]) for k in ("train", "val", "test")]
    assert sizes == [80, 10, 10] and len(dm.images) == N_TEST
    assert len(set(torch.cat(list(dm.splits.values())).tolist())) == N_TEST


def test_permutation_fixed_by_its_seed_and_applied(data_root):
    a, b = (
        _datamodule(data_root, mode="permuted", seed=1),
        _datamodule(data_root, mode="permuted", seed=2),
    )
    other = _datamodule(data_root, mode="permuted", permutation_seed=1)
    assert torch.equal(a.permutation, b.permutation)  # the run seed does not change it
    assert not torch.equal(a.permutation, other.permutation)
    assert not torch.equal(a.permutation, torch.arange(784))
    assert sorted(a.permutation.tolist()) == list(range(784))
    loader = a.test_dataloader()
    x, _ = next(iter(loader))
    first = a.images[a.splits["test"][:1]][0]
    assert torch.equal(x[0, :, 0], normalise(first[a.permutation]))


def test_permutation_restored_from_checkpoint_and_eval_reproduces(data_root):
    overrides = [*QUICK, "data.mode=permuted", "data.permutation_seed=5", "data.batch_size=50",
                 "trainer.limit_train_batches=2"]  # fmt: skip
    trained = train(make_config(data_root, overrides), data_root)
    ckpt_path = data_root / "checkpoints" / "best.ckpt"
    stored = torch.load(ckpt_path, map_location="cpu", weights_only=False)["SequentialMNIST"]
    dm = _datamodule(data_root, mode="permuted", permutation_seed=0)
    assert not torch.equal(dm.permutation, stored["permutation"])
    dm.load_state_dict(stored)
    assert torch.equal(dm.permutation, stored["permutation"])

    eval_dir = data_root / "eval"
    cfg = make_config(eval_dir, [f"ckpt_path={ckpt_path}", "trainer.accelerator=cpu"], name="eval")
    cfg.paths.data_dir = str(data_root / "data")
    evaluated = evaluate(cfg, eval_dir)
    assert read_metrics(eval_dir)["status"] == "completed"
    for key in ("test/acc", "test/loss"):
        assert evaluated[key] == trained[key], key


def test_bad_mode_names_key_and_choices(data_root):
    with pytest.raises(ConfigError, match=r"data.mode='col'.*row, pixel, permuted"):
        check_config(data_root, [*QUICK, "data.mode=col"])


def test_missing_files_offline_name_files_folder_and_urls(tmp_path):
    dm = SequentialMNIST(data_dir=tmp_path / "empty", download=False)
    with pytest.raises(DataError) as info:
        dm.prepare_data()
    message = str(info.value)
    for remote in MNIST_FILES.values():
        assert remote.name in message
    assert str(tmp_path / "empty") in message and "https://" in message


def test_synthetic_files_fail_the_official_checksums(data_root):
    dm = SequentialMNIST(data_dir=data_root / "data" / "mnist", download=False, verify=True)
    with pytest.raises(DataError, match="md5"):
        dm.prepare_data()


def test_corrupt_gzip_stops_before_training_with_one_line(data_root):
    path = data_root / "data" / "mnist" / MNIST_FILES["train_images"].name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    proc = run_cli("train", [*QUICK, "debug=fdr"], data_root)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0], proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr
    assert not (data_root / "run" / "metrics.json").exists()
    assert not (data_root / "run" / "checkpoints").exists()


def test_real_test_files_row_wise_learns(tmp_path, shared_data):
    """Real MNIST t10k files, split 8000/1000/1000: a short row-wise run beats chance clearly."""
    data_dir = tmp_path / "data" / "mnist"
    data_dir.mkdir(parents=True)
    for remote in (MNIST_FILES["test_images"], MNIST_FILES["test_labels"]):
        shutil.copy(shared_data / "mnist" / remote.name, data_dir / remote.name)
    overrides = [*QUICK, "data.verify=true", "data.protocol=test10k", "data.batch_size=64",
                 "data.eval_batch_size=500", "model.hidden_size=32", "optimizer.lr=0.01",
                 "trainer.limit_train_batches=80", "trainer.limit_val_batches=1"]  # fmt: skip
    metrics = train(make_config(tmp_path, overrides), tmp_path)
    assert metrics["test/acc"] > 0.5, metrics


# Class counts of the official files.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_official_protocol_verifies_the_recompressed_training_images(shared_data):
    data_dir = shared_data / "mnist"
    train_images = data_dir / MNIST_FILES["train_images"].name
    # This copy was recompressed: only the md5 of its content is the official one.
    assert file_digest(train_images, "md5") != MNIST_FILES["train_images"].md5
    dm = SequentialMNIST(
        data_dir=data_dir, download=False, verify=True
    )  # read in place, not written
    dm.prepare_data()
    dm.setup("fit")
    assert dm.images.shape == (70_000, 784) and dm.images.dtype == torch.uint8
    assert {k: len(v) for k, v in dm.splits.items()} == {
        "train": 55_000,
        "val": 5000,
        "test": 10_000,
    }
    train_val = torch.cat([dm.splits["train"], dm.splits["val"]])
    assert torch.bincount(dm.labels[train_val]).tolist() == TRAIN_COUNTS
    assert torch.bincount(dm.labels[dm.splits["test"]]).tolist() == TEST_COUNTS
    # MEAN and STD are those of the 60k training pixels.
    counts = torch.bincount(dm.images[train_val].flatten(), minlength=256).double()
    values = torch.arange(256, dtype=torch.float64) / 255
    mean = (counts * values).sum() / counts.sum()
    std = ((counts * (values - mean) ** 2).sum() / counts.sum()).sqrt()
    assert (round(mean.item(), 4), round(std.item(), 4)) == (0.1307, 0.3081)


def test_published_numbers_only_beside_the_official_protocol():
    config = {
        "data._target_": "rnnlab.data.mnist.SequentialMNIST",
        "data.mode": "row",
        "model.cell": "lstm",
    }
    assert [r.value for r in matching({**config, "data.protocol": "official"}, ["test/acc"])] == [
        0.9864
    ]
    assert matching({**config, "data.protocol": "test10k"}, ["test/acc"]) == []
