"""Recall and state-tracking tasks: MQAR, parity and modular arithmetic (with a length split),
and their runs through the command line (per-bucket accuracy: tests/tasks/test_sequence.py)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from rnnlab.data.synthetic import ModularArithmetic, MultiQueryRecall, Parity
from rnnlab.errors import ConfigError
from rnnlab.tasks.sequence import SequenceTask

from helpers import read_metrics, run_cli

SMALL = {
    "mqar": (MultiQueryRecall, {"length": 24, "vocab_size": 16, "num_kv_pairs": 3}),
    "parity": (Parity, {"train_max_length": 30, "eval_max_length": 60, "bucket_size": 10}),
    "modular": (ModularArithmetic, {"train_max_length": 30, "eval_max_length": 60}),
}
SPLITS = ("train", "val", "test")


def small(name: str, **overrides):
    cls, kwargs = SMALL[name]
    return cls(**{**kwargs, **overrides})


def batch(dm, split: str, n: int, start: int = 0):
    return dm.make_batch(split)(torch.arange(start, start + n))


def tokens(x):
    """Token ids of one-hot inputs; -1 at all-zero (padding) steps."""
    return torch.where(x.sum(-1) > 0, x.argmax(-1), -1)


@pytest.mark.parametrize("name", SMALL)
def test_same_seed_same_batch_other_seed_other_batch(name: str) -> None:
    first = batch(small(name, seed=3), "val", 32)
    assert all(
        torch.equal(a, b) for a, b in zip(first, batch(small(name, seed=3), "val", 32), strict=True)
    )
    assert not torch.equal(first[0], batch(small(name, seed=4), "val", 32)[0])
    fixed = batch(small(name, seed=4, data_seed=3), "val", 32)  # data_seed fixes the examples
    assert all(torch.equal(a, b) for a, b in zip(first, fixed, strict=True))


@pytest.mark.parametrize("name", SMALL)
def test_splits_share_no_example(name: str) -> None:
    dm = small(name)
    rows = {}
    for split in SPLITS:
        x = batch(dm, split, 400)[0]
        rows[split] = {tuple(t for t in tokens(r).tolist() if t >= 0) for r in x}
    # val and test share their lengths (and train shorter ones): only their streams differ
    assert len(rows["val"]) == len(rows["test"]) == 400
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"]
    assert not rows["val"] & rows["test"]


@pytest.mark.parametrize("name", SMALL)
def test_batches_are_built_on_the_device_of_the_indices(name: str) -> None:
    out = small(name).make_batch("test")(torch.arange(4, device="meta"))
    assert {t.device.type for t in out} == {"meta"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", SMALL)
def test_cuda_batches_equal_cpu_batches(name: str) -> None:
    index = torch.arange(100, 400)
    on_cpu = small(name).make_batch("val")(index)
    on_gpu = small(name).make_batch("val")(index.cuda())
    assert all(g.is_cuda and torch.equal(g.cpu(), c) for g, c in zip(on_gpu, on_cpu, strict=True))


# The length split ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["parity", "modular"])
def test_lengths_lie_in_their_splits_range_and_each_occurs(name: str) -> None:
    dm = small(name)
    odd_only = name == "modular"
    for split, (low, high) in {"train": (1, 30), "val": (31, 60), "test": (31, 60)}.items():
        x, y, mask, lengths = batch(dm, split, 3000)
        want = [n for n in range(low, high + 1) if not odd_only or n % 2]
        assert sorted(set(lengths.tolist())) == want  # every allowed length, no other
        assert x.shape[1] == want[-1] and lengths.dtype == torch.long
        counts = Counter(lengths.tolist())
        expected = 3000 / len(want)
        assert max(abs(c - expected) for c in counts.values()) < 5 * math.sqrt(expected)
        real = torch.arange(x.shape[1]) < lengths[:, None]
        assert (x.sum(-1) == real.float()).all()  # one-hot where real, all zero after
        assert torch.equal(mask.nonzero()[:, 1], lengths - 1)  # the own last step only
        assert (y[~mask] == 0).all()
    train_max = batch(dm, "train", 3000)[3].max()
    assert train_max <= dm.train_max_length < batch(dm, "val", 3000)[3].min()


def test_parity_answer_is_the_parity_of_the_bits() -> None:
    x, y, mask, lengths = batch(small("parity"), "val", 500)
    for row, n, answer in zip(tokens(x).tolist(), lengths.tolist(), y[mask].tolist(), strict=True):
        bits = row[:n]
        assert set(bits) <= {0, 1} and all(t == -1 for t in row[n:])
        assert answer == sum(bits) % 2


@pytest.mark.parametrize("operators", ["+", "+-"])
def test_modular_answer_is_the_value_of_the_expression(operators: str) -> None:
    dm = small("modular", modulus=7, operators=operators)
    symbols = [str(n) for n in range(7)] + ["+", "-"]
    x, y, mask, lengths = batch(dm, "train", 500)
    seen = set()
    for row, n, answer in zip(tokens(x).tolist(), lengths.tolist(), y[mask].tolist(), strict=True):
        text = "".join(symbols[t] for t in row[:n])
        assert all(c.isdigit() for c in text[::2]) and set(text[1::2]) <= set(operators)
        seen |= set(text[1::2])
        assert answer == eval(text) % 7  # Python's own reading of the expression
    assert seen == set(operators)


def test_length_buckets_cover_the_evaluation_lengths() -> None:
    parity = small("parity", train_max_length=40, eval_max_length=95, bucket_size=20)
    assert parity.length_buckets() == [[41, 60], [61, 80], [81, 95]]
    assert parity.spec()["length_buckets"] == parity.length_buckets()
    modular = small("modular", train_max_length=40, eval_max_length=62, bucket_size=10)
    # odd lengths only: trimmed to those, and a last bucket [61, 62] holds 61 alone
    assert modular.length_buckets() == [[41, 49], [51, 59], [61, 61]]
    modular = small("modular", train_max_length=41, eval_max_length=62, bucket_size=10)
    assert modular.length_buckets() == [[43, 51], [53, 61]]  # [62, 62] holds no expression


@pytest.mark.parametrize("name", ["parity", "modular"])
def test_baseline_is_guessing_and_answers_are_uniform(name: str) -> None:
    dm = small(name, modulus=3) if name == "modular" else small(name)
    classes = dm.num_outputs
    assert dm.baseline() == {"loss": pytest.approx(math.log(classes)), "acc": 1 / classes}
    _, y, mask, _ = batch(dm, "test", 6000)
    loss = F.cross_entropy(torch.zeros(int(mask.sum()), classes), y[mask]).item()
    assert loss == pytest.approx(dm.baseline()["loss"], rel=1e-6)
    share = torch.bincount(y[mask], minlength=classes) / 6000  # no constant beats guessing
    assert (share - 1 / classes).abs().max() < 0.025  # 4 standard errors at most


def test_padding_at_the_end_leaves_the_outputs_at_real_steps_unchanged() -> None:
    torch.manual_seed(0)
    task = SequenceTask(model={"cell": "lstm", "hidden_size": 8}, input_size=2, num_outputs=2)
    x, _, mask, lengths = batch(small("parity"), "val", 6)
    padded = task(x)
    for i, n in enumerate(lengths.tolist()):
        alone = task(x[i : i + 1, :n])[0]
        torch.testing.assert_close(padded[i, :n], alone)
        torch.testing.assert_close(padded[i][mask[i]], alone[-1:])


# MQAR ------------------------------------------------------------------------------------


def test_mqar_queries_each_key_once_and_answers_its_value() -> None:
    dm = small("mqar")
    n, half = 3, 8
    x, y, mask = batch(dm, "train", 500)
    assert x.shape == (500, 24, 16) and (x.sum(-1) == 1).all()
    for row, answers, marked in zip(tokens(x).tolist(), y.tolist(), mask.tolist(), strict=True):
        keys, values = row[0 : 2 * n : 2], row[1 : 2 * n : 2]
        assert len(set(keys)) == n and all(1 <= k < half for k in keys)
        assert len(set(values)) == n and all(half <= v < 16 for v in values)
        pairs = dict(zip(keys, values, strict=True))
        queries = [t for t, m in enumerate(marked) if m]
        assert len(queries) == n and all((t - 2 * n) % 2 == 0 and t >= 2 * n for t in queries)
        assert sorted(row[t] for t in queries) == sorted(keys)  # each key once
        assert all(answers[t] == pairs[row[t]] for t in queries)
        assert all(answers[t] == 0 for t in range(24) if not marked[t])
    # the pairs come in random order: keys increase in 1/3! of sequences, values too
    pairs = tokens(x)[:, : 2 * n]
    for part in (pairs[:, 0::2], pairs[:, 1::2]):
        increasing = (part[:, 1:] > part[:, :-1]).all(1).float().mean().item()
        assert abs(increasing - 1 / 6) < 0.07  # 4 standard errors


@pytest.mark.parametrize("power_a", [0.01, 0.5, 1.0])
def test_mqar_first_query_gap_follows_the_power_law(power_a: float) -> None:
    dm = small("mqar", length=40, num_kv_pairs=2, power_a=power_a)  # 18 slots
    slots = dm.query_slots(dm.rng("train"), torch.arange(20_000), offset=15)
    assert (slots[:, 0] != slots[:, 1]).all()
    p = torch.tensor([(g + 1) ** (power_a - 1) for g in range(18)], dtype=torch.float64)
    p /= p.sum()
    counts = torch.bincount(slots[:, 0], minlength=18).double()  # the first pair's slot
    chi2 = ((counts - 20_000 * p) ** 2 / (20_000 * p)).sum().item()
    assert chi2 < 17 + 6 * math.sqrt(2 * 17)  # 17 degrees of freedom
    mask = batch(dm, "train", 2000)[2]
    nearest = mask[:, 4:].float().argmax(1) // 2  # the nearest query's slot, as laid out
    assert torch.equal(nearest, slots[:2000].min(1).values)


def test_mqar_baseline_is_guessing_among_the_values() -> None:
    dm = small("mqar")
    assert dm.baseline() == {"loss": pytest.approx(math.log(8)), "acc": 1 / 8}
    _, y, mask = batch(dm, "test", 4000)
    share = torch.bincount(y[mask], minlength=16).double() / mask.sum()
    assert share[:8].sum() == 0 and (share[8:] - 1 / 8).abs().max() < 0.01  # 4 s.e.


# Bad values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs", "key", "allowed"),
    [
        (MultiQueryRecall, {"vocab_size": 16, "num_kv_pairs": 8}, "num_kv_pairs", "at most vocab_size // 2 - 1 = 7"),
        (MultiQueryRecall, {"length": 31, "num_kv_pairs": 8}, "length", "at least 4 * num_kv_pairs = 32"),
        (MultiQueryRecall, {"vocab_size": 3}, "vocab_size", "an integer from 4 to"),
        (MultiQueryRecall, {"power_a": 0}, "power_a", "a finite number > 0"),
        (MultiQueryRecall, {"power_a": float("inf")}, "power_a", "a finite number > 0"),
        (Parity, {"train_max_length": 40, "eval_max_length": 40}, "eval_max_length", "an integer > train_max_length=40"),
        (Parity, {"train_max_length": 0}, "train_max_length", "a positive integer"),
        (Parity, {"bucket_size": 0}, "bucket_size", "a positive integer"),
        (ModularArithmetic, {"train_max_length": 5, "eval_max_length": 6}, "eval_max_length", "at least 7"),
        (ModularArithmetic, {"operators": "+*"}, "operators", "one of +, +-"),
        (ModularArithmetic, {"modulus": 1}, "modulus", "an integer from 2 to"),
        (ModularArithmetic, {"bucket_size": 1}, "bucket_size", "an integer >= 2"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_in_one_line(cls, kwargs, key, allowed) -> None:
    with pytest.raises(ConfigError) as info:
        cls.Options.check(kwargs)  # the declaration the config check reads
    assert info.value.key == key and info.value.value == kwargs[key]
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{key}=") and allowed in message


# Through the command line ---------------------------------------------------------------------

QUICK = ["model.hidden_size=8", "trainer.max_epochs=1", "trainer.accelerator=cpu",
         "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
         "callbacks.model_summary=null", "callbacks.test_figures=null", "data.train_size=64",
         "data.val_size=48", "data.test_size=48", "data.batch_size=16"]  # fmt: skip
CLI = {
    "mqar": ["data=mqar", "data.length=16", "data.vocab_size=16", "data.num_kv_pairs=2"],
    "parity": [
        "data=parity",
        "data.train_max_length=6",
        "data.eval_max_length=12",
        "data.bucket_size=3",
        "callbacks=gradient_flow",
        "callbacks.gradient_flow.epochs=[1]",
    ],  # fmt: skip
    "modular_arithmetic": [
        "data=modular_arithmetic",
        "data.train_max_length=5",
        "data.eval_max_length=13",
        "data.bucket_size=4",
    ],  # fmt: skip
}


@pytest.mark.parametrize("data", CLI)
def test_a_tiny_run_through_the_command_line(tmp_path, data: str) -> None:
    done = run_cli("train", [*CLI[data], *QUICK], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = read_metrics(tmp_path / "run")
    assert metrics["status"] == "completed" and 0 <= metrics["test/acc"] <= 1
    buckets = {"mqar": [], "parity": ["7_9", "10_12"], "modular_arithmetic": ["7_9", "11_13"]}
    names = [f"{s}/acc_len_{b}" for s in ("val", "test") for b in buckets[data]]
    assert sorted(k for k in metrics if "acc_len" in k) == sorted(names)
    assert all(metrics["better"][n] == "higher" and 0 <= metrics[n] <= 1 for n in names)
    if data == "parity":  # the gradient-flow probe reads the 4-element batch too
        assert (tmp_path / "run" / "gradient_flow.json").exists()
        # the checkpoint alone rebuilds the per-bucket metrics, with the same values
        ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
        done = run_cli("evaluate", [f"ckpt_path={ckpt}"], tmp_path / "eval")
        assert done.returncode == 0, done.stderr[-2000:]
        again = read_metrics(tmp_path / "eval" / "run")
        assert all(again[n] == metrics[n] for n in names if n.startswith("test/"))
