"""data=sequences: labels, the seeded validation split, normalisation by the training split
alone, missing values, batches padded to their longest sequence, and bad combinations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.data.sequences import SequenceDataModule
from rnnlab.errors import ConfigError, DataError

from sequence_files import csv_text, random_cases, ts_text, write_npz, write_split


def _module(tmp_path, fmt="csv", n_train=20, n_test=6, labels=("a", "b"), **options):
    train = random_cases(n_train, 2, (2, 9), seed=1)
    test = random_cases(n_test, 2, (2, 9), seed=2)
    train_labels = [labels[i % len(labels)] for i in range(n_train)]
    test_labels = [labels[i % len(labels)] for i in range(n_test)]
    paths = {"train_path": str(write_split(tmp_path, fmt, train, train_labels, "train")),
             "test_path": str(write_split(tmp_path, fmt, test, test_labels, "test"))}  # fmt: skip
    dm = SequenceDataModule(**{**paths, **options})
    dm.setup()
    return dm, train, test


def _real_steps(x, lengths):
    return x[torch.arange(x.shape[1])[None, :] < lengths[:, None]]


@pytest.mark.parametrize("fmt", ["ts", "csv", "npz"])
def test_splits_classes_and_sizes(tmp_path, fmt):
    dm, train, test = _module(tmp_path, fmt, labels=("2", "10", "1"))
    assert dm.classes == (["1", "10", "2"] if fmt == "ts" else ["1", "2", "10"])  # header order
    assert dm.counts == {"train": 18, "val": 2, "test": 6}
    assert dm.spec() == {"input_size": 2, "num_outputs": 3} and dm.batch_format == "labels"
    x, y, lengths = dm.tensors["test"]
    assert lengths.tolist() == [len(c) for c in test] and x.shape == (6, max(lengths), 2)
    assert (x[torch.arange(x.shape[1])[None, :] >= lengths[:, None]] == 0).all()  # end padding


def test_normalised_with_the_training_split_alone(tmp_path):
    dm, train, test = _module(tmp_path, val_fraction=0.25)
    x, _, lengths = dm.tensors["train"]
    steps = _real_steps(x, lengths)
    torch.testing.assert_close(steps.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(steps.std(0, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)
    # the statistics are those of the training cases less the held-out ones ...
    held = {tuple(r.tolist()) for r in _real_steps(*dm.tensors["val"][::2])}
    assert len(held) > 0
    raw = np.concatenate(train)
    mean, std = raw.mean(0), raw.std(0)
    normalised = {tuple(np.round((r - mean) / std, 4).tolist()) for r in raw}
    assert not {tuple(np.round(r, 4)) for r in held} <= normalised  # not the whole file's
    # ... and the test split is normalised with them, not with its own
    want = (np.concatenate(test) - dm.mean) / dm.std
    got = _real_steps(*dm.tensors["test"][::2]).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.abs(got.mean(0)).max() > 1e-3


def test_validation_split_is_seeded_and_disjoint(tmp_path):
    def val_rows(seed):
        dm, train, _ = _module(tmp_path, fmt="npz", seed=seed, val_fraction=0.3)
        x, _, lengths = dm.tensors["val"]
        y_train = dm.tensors["train"][0]
        return {tuple(r.flatten().tolist()) for r in x}, {
            tuple(r.flatten().tolist()) for r in y_train
        }

    val1, train1 = val_rows(0)
    val1b, _ = val_rows(0)
    val2, _ = val_rows(1)
    assert val1 == val1b and val1 != val2 and not (val1 & train1) and len(val1) == 6


def test_batches_are_padded_to_their_longest_and_bucketed(tmp_path):
    dm, *_ = _module(tmp_path, n_train=60, batch_size=8, bucket_by_length=True)
    seen, padding = [], 0
    for x, y, lengths in dm.train_dataloader():
        assert x.shape[1] == int(lengths.max()) and len(y) == len(lengths) == len(x)
        assert lengths.dtype == torch.long and x.dtype == torch.float32
        padding += int((x.shape[1] - lengths).sum())
        seen.append(len(x))
    assert sum(seen) == dm.counts["train"]
    dm2, *_ = _module(tmp_path, n_train=60, batch_size=8, bucket_by_length=False)
    plain = sum(int((x.shape[1] - lengths).sum()) for x, _, lengths in dm2.train_dataloader())
    assert padding < plain


def test_regression_targets(tmp_path):
    cases = random_cases(10, 1)
    (tmp_path / "r.ts").write_text(ts_text(cases, [str(i / 2) for i in range(10)],
                                           header="@targetLabel true"))  # fmt: skip
    dm = SequenceDataModule(train_path=str(tmp_path / "r.ts"), test_path=str(tmp_path / "r.ts"),
                            target="regression")  # fmt: skip
    dm.setup()
    assert dm.batch_format == "targets" and dm.spec()["num_outputs"] == 1
    assert dm.tensors["test"][1].tolist() == [i / 2 for i in range(10)]
    with pytest.raises(
        ConfigError,
        match=r"data.target='class'.*regression with task=sequence_regression for .*declares @targetLabel",
    ):
        SequenceDataModule(
            train_path=str(tmp_path / "r.ts"), test_path=str(tmp_path / "r.ts")
        ).setup()


@pytest.mark.parametrize("policy,expected", [("zero", 0.0), ("ffill", "previous")])
def test_missing_values_filled_as_asked(tmp_path, policy, expected):
    cases = [np.array([[1.0], [2.0], [np.nan], [4.0]]), np.array([[np.nan], [3.0]])]
    path = write_npz(tmp_path / "m.npz", cases, [0, 1])
    dm = SequenceDataModule(train_path=str(path), test_path=str(path), val_path=str(path),
                            missing=policy, normalize=False)  # fmt: skip
    dm.setup()
    x = dm.tensors["test"][0][..., 0]
    if expected == 0.0:
        assert x[0].tolist() == [1, 2, 0, 4] and x[1].tolist() == [0, 3, 0, 0]
    else:
        assert x[0].tolist() == [1, 2, 2, 4] and x[1].tolist() == [3, 3, 0, 0]
    with pytest.raises(DataError, match=r"record 0 \(x\[0\]\): missing value at step 3, channel 1"):
        SequenceDataModule(train_path=str(path), test_path=str(path)).setup()


def test_infinite_values_are_refused_whatever_the_policy(tmp_path):
    path = write_npz(tmp_path / "m.npz", [np.array([[1.0], [np.inf]]), np.ones((2, 1))], [0, 1])
    with pytest.raises(DataError, match="value inf at step 2, channel 1 is not finite"):
        SequenceDataModule(train_path=str(path), test_path=str(path), missing="zero").setup()


def test_bad_combinations_of_files(tmp_path):
    train = write_split(tmp_path, "csv", random_cases(6, 2), list("ababab"), "train")
    test = tmp_path / "test.csv"
    test.write_text(csv_text(random_cases(2, 2), ["a", "c"]))
    with pytest.raises(
        DataError, match=r"test.csv: id 's1' \(line \d+\): label 'c' does not occur"
    ):
        SequenceDataModule(train_path=str(train), test_path=str(test)).setup()
    three = write_split(tmp_path, "csv", random_cases(2, 3), ["a", "b"], "three")
    with pytest.raises(DataError, match="three.csv: 3 features per step, the training file"):
        SequenceDataModule(train_path=str(train), test_path=str(three)).setup()
    with pytest.raises(DataError, match=r"6 case\(s\) are too few for data.val_fraction=0.05"):
        SequenceDataModule(train_path=str(train), test_path=str(train), val_fraction=0.05).setup()
    one = write_split(tmp_path, "csv", random_cases(4, 2), list("aaaa"), "one")
    with pytest.raises(DataError, match=r"one class only \('a'\)"):
        SequenceDataModule(train_path=str(one), test_path=str(one)).setup()
    regress = write_split(tmp_path, "csv", random_cases(4, 2), ["1", "x", "2", "3"], "reg")
    with pytest.raises(DataError, match=r"line \d+\): target 'x' is not a number"):
        SequenceDataModule(
            train_path=str(regress), test_path=str(regress), target="regression"
        ).setup()


@pytest.mark.parametrize(
    "options,expected",
    [
        ({"train_path": "/no/such.csv"}, "train_path='/no/such.csv' is not allowed: an existing"),
        ({"target": "count"}, "target='count' is not allowed: one of class, regression"),
        ({"missing": "drop"}, "missing='drop' is not allowed: one of refuse, zero, ffill"),
        ({"val_fraction": 1.0}, "val_fraction=1.0 is not allowed: a finite number in [0, 1)"),
        ({"bucket_by_length": "yes"}, "bucket_by_length='yes' is not allowed: true or false"),
        ({"label_column": "id"}, "three different names"),
        ({"test_path": "???"}, "test_path='???' is not allowed: a value: it has no default"),
    ],
)
def test_option_values_are_checked(tmp_path, options, expected):
    path = write_split(tmp_path, "csv", random_cases(4, 1), list("abab"), "f")
    with pytest.raises(ConfigError) as err:
        # the declaration the config check reads (the constructor trusts its arguments)
        SequenceDataModule.Options.check({"train_path": str(path), "test_path": str(path),
                                          **options})  # fmt: skip
    assert expected in str(err.value)
