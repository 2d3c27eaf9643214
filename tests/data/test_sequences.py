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
    assert dm.stats() == {"data/train_cases": 18.0, "data/val_cases": 2.0, "data/test_cases": 6.0}
    x, y, lengths = dm.tensors["test"]
    assert y.dtype == torch.long and x.dtype == torch.float32
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


def test_every_case_keeps_its_own_label_through_the_split(tmp_path):
    cases = random_cases(30, 1, (2, 5), seed=3)
    labels = ["up" if c[0, 0] > 0 else "down" for c in cases]  # readable off the data
    path = write_split(tmp_path, "npz", cases, labels, "f")
    dm = SequenceDataModule(train_path=str(path), test_path=str(path), normalize=False,
                            val_fraction=0.3)  # fmt: skip
    assert dm.classes == []  # nothing read yet
    dm.setup()
    for split in ("train", "val", "test"):
        x, y, _ = dm.tensors[split]
        assert len(y) == len(x) == dm.counts[split]
        expected = [dm.classes.index("up" if v > 0 else "down") for v in x[:, 0, 0].tolist()]
        assert y.tolist() == expected, split


def test_csv_columns_are_named_by_the_options(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(csv_text(random_cases(6, 2), list("ababab"), columns=("subject", "t", "who")))
    dm = SequenceDataModule(train_path=str(path), test_path=str(path), id_column="subject",
                            time_column="t", label_column="who")  # fmt: skip
    dm.setup()
    assert dm.classes == ["a", "b"] and dm.counts["test"] == 6 and dm.spec()["input_size"] == 2


def test_files_are_read_once_and_the_splits_follow_the_device(tmp_path):
    from types import SimpleNamespace

    dm, *_ = _module(tmp_path)
    for f in tmp_path.iterdir():
        f.unlink()  # read and checked once: the splits are in memory
    dm.setup("test")
    assert dm.spec()["num_outputs"] == 2
    on_meta = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("meta")))
    dm.trainer = on_meta  # the training device, without needing an accelerator here
    dm.setup("fit")
    assert {t.device.type for ts in dm.tensors.values() for t in ts} == {"meta"}


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
    assert dm.tensors["test"][1].dtype == torch.float32
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


def test_forward_fill_takes_the_last_value_seen_in_each_channel():
    from rnnlab.data.files.prepare import forward_fill

    nan = np.nan
    seq = np.array([[nan, nan, 1.0], [nan, 5.0, nan], [nan, nan, 3.0], [nan, 6.0, nan]])
    filled = forward_fill(seq)
    # a channel never observed stays missing; the others fill from before (from after at the start)
    np.testing.assert_array_equal(filled[:, 0], [nan] * 4)
    np.testing.assert_array_equal(filled[:, 1], [5.0, 5.0, 5.0, 6.0])
    np.testing.assert_array_equal(filled[:, 2], [1.0, 1.0, 3.0, 3.0])
    assert np.isnan(seq[0, 1])  # the input is left as it was


def test_channel_statistics_skip_missing_steps_and_never_divide_by_zero():
    import warnings

    from rnnlab.data.files.prepare import channel_stats

    nan = np.nan
    seqs = [np.array([[1.0, nan, 7.0], [3.0, nan, 7.0]]), np.array([[nan, nan, 7.0]])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a channel missing everywhere warns nothing
        mean, std = channel_stats(seqs)
    # observed steps only; a channel never observed: mean 0, std 1; a constant one: std 1
    np.testing.assert_array_equal(mean, [2.0, 0.0, 7.0])
    np.testing.assert_array_equal(std, [1.0, 1.0, 1.0])
    mean, std = channel_stats([np.array([[0.0], [4.0]])])
    assert (mean.tolist(), std.tolist()) == ([2.0], [2.0])


def test_a_missing_value_in_any_case_is_refused_by_default(tmp_path):
    path = write_npz(tmp_path / "m.npz", [np.ones((2, 1)), np.array([[1.0], [np.nan]])], [0, 1])
    with pytest.raises(DataError) as err:
        SequenceDataModule(train_path=str(path), test_path=str(path)).setup()
    assert str(err.value) == (
        f"{path}: record 1 (x[1]): missing value at step 2, channel 1 (set data.missing=zero or "
        "data.missing=ffill to fill such values)"
    )


def test_labels_missing_or_not_finite_are_refused(tmp_path):
    cases = random_cases(3, 1)
    path = write_npz(tmp_path / "y.npz", cases, [0.0, np.nan, 1.0])
    with pytest.raises(DataError) as err:
        SequenceDataModule(train_path=str(path), test_path=str(path)).setup()
    assert str(err.value) == f"{path}: record 1 (x[1]): the label is missing"
    path = write_npz(tmp_path / "inf.npz", cases, [0.0, 1.0, np.inf])
    with pytest.raises(DataError) as err:
        SequenceDataModule(train_path=str(path), test_path=str(path), target="regression").setup()
    assert str(err.value) == f"{path}: record 2 (x[2]): target 'inf' is not finite"


def test_a_file_that_declares_class_labels_is_refused_for_regression(tmp_path):
    path = tmp_path / "c.ts"
    path.write_text(ts_text(random_cases(4, 1), ["a", "b", "a", "b"]))
    with pytest.raises(ConfigError) as err:
        SequenceDataModule(train_path=str(path), test_path=str(path), target="regression").setup()
    assert str(err.value) == (
        f"data.target='regression' is not allowed: class for {path} (it declares @classLabel true)"
    )


def test_every_case_has_the_training_file_s_features():
    """The readers keep the cases of one file alike; the check holds for any SequenceFile."""
    from pathlib import Path

    from rnnlab.data.files import SequenceFile
    from rnnlab.data.files.prepare import check_features

    train = SequenceFile(Path("t.npz"), [np.ones((2, 2))], ["a"], ["record 0"])
    odd = SequenceFile(Path("v.npz"), [np.ones((2, 2)), np.ones((3, 3))], ["a", "b"],
                       ["record 0", "record 1"])  # fmt: skip
    with pytest.raises(DataError) as err:
        check_features(train, [odd])
    assert str(err.value) == "v.npz: record 1: 3 features per step, the first case has 2"


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
    with pytest.raises(DataError) as err:
        SequenceDataModule(train_path=str(train), test_path=str(train), val_fraction=0.05).setup()
    assert str(err.value) == (
        f"{train}: 6 case(s) are too few for data.val_fraction=0.05 (at least one training and "
        "one validation case; or give data.val_path)"
    )
    two = write_split(tmp_path, "csv", random_cases(2, 2), list("ab"), "two")
    with pytest.raises(DataError, match=r"2 case\(s\) are too few for data.val_fraction=0.75"):
        SequenceDataModule(train_path=str(two), test_path=str(two), val_fraction=0.75).setup()
    dm = SequenceDataModule(train_path=str(two), test_path=str(two), val_fraction=0.5)
    dm.setup()  # one case each is enough
    assert (dm.counts["train"], dm.counts["val"]) == (1, 1)
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
