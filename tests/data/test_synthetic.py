"""The generated long-memory tasks: the random generator, each task's layout and baseline."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from rnnlab.data.synthetic import AddingProblem, CopyMemory, CounterRNG, SelectiveCopy
from rnnlab.data.synthetic.copy import BLANK, DELIMITER
from rnnlab.data.synthetic.counter_rng import as_int64, mix64, to_integers
from rnnlab.errors import ConfigError

M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15

# Small versions of each task, quick to build in bulk.
SMALL = {
    "adding": (AddingProblem, {"length": 10}),
    "copy": (CopyMemory, {"length": 5}),
    "selective": (SelectiveCopy, {"length": 12, "num_tokens": 3, "num_symbols": 4}),
}


def small(name: str, **overrides):
    cls, kwargs = SMALL[name]
    return cls(**{**kwargs, **overrides})


def batch(dm, split: str, n: int, start: int = 0):
    return dm.make_batch(split)(torch.arange(start, start + n))


# Plain-Python splitmix64 on unsigned integers, written from the published algorithm.
def ref_mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def ref_bits(seed: int, stream: int, index: int, draw: int) -> int:
    key = ref_mix((ref_mix((seed + GAMMA) & M64) + (stream + 1) * GAMMA) & M64)
    example = ref_mix((index * GAMMA + key) & M64)
    return ref_mix((example + (draw + 1) * GAMMA) & M64)


# The generator ----------------------------------------------------------------------


def test_mix64_is_splitmix64_bit_for_bit() -> None:
    # splitmix64 seeded with 0 first outputs 0xE220A8397B1DCDAF: mix64 of one increment.
    assert mix64(torch.tensor([as_int64(GAMMA)])).item() & M64 == 0xE220A8397B1DCDAF
    words = [0, 1, 2, (1 << 63) - 1, 1 << 63, M64, 0x0123456789ABCDEF, 0xFEDCBA9876543210]
    got = mix64(torch.tensor([as_int64(w) for w in words]))
    assert [g & M64 for g in got.tolist()] == [ref_mix(w) for w in words]


def test_draws_are_the_published_function_of_seed_stream_index_and_draw() -> None:
    # Pins every number: any device or torch version that wrapped or shifted differently fails.
    for seed, stream in [(0, 0), (7, 2), (-3, 1), (2**70 + 5, 0)]:
        rng = CounterRNG(seed, stream)
        index = torch.tensor([0, 1, 5, 2**40])
        got = rng.bits(index, 4, offset=3)
        want = [[ref_bits(seed, stream, i, 3 + j) for j in range(4)] for i in index.tolist()]
        assert [[g & M64 for g in row] for row in got.tolist()] == want


def test_an_example_depends_only_on_its_index_and_draws_only_on_their_number() -> None:
    rng = CounterRNG(11, 0)
    together = rng.bits(torch.tensor([3, 7, 9]), 6)
    assert torch.equal(rng.bits(torch.tensor([7]), 6)[0], together[1])
    assert torch.equal(rng.bits(torch.tensor([9, 3]), 4, offset=2), together[[2, 0], 2:])


def test_uniform_floats_have_the_moments_of_u01() -> None:
    u = CounterRNG(0, 0).uniform(torch.arange(1000), 100)  # 1e5 draws
    assert u.dtype == torch.float32 and u.min() >= 0 and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.005  # standard error 0.0009
    assert abs(u.var().item() - 1 / 12) < 0.002  # standard error 0.0003
    centred = u - 0.5
    across_draws = (centred[:, 1:] * centred[:, :-1]).mean().item() * 12
    across_examples = (centred[1:] * centred[:-1]).mean().item() * 12
    assert abs(across_draws) < 0.02 and abs(across_examples) < 0.02  # correlations, se 0.003


def test_integers_take_a_bound_per_example() -> None:
    rng, index = CounterRNG(5, 1), torch.arange(40)
    highs = torch.arange(1, 41)[:, None]
    per_example = rng.integers(index, highs, 3, offset=2)
    for i, high in enumerate(highs[:, 0].tolist()):
        assert torch.equal(per_example[i], rng.integers(index[i : i + 1], high, 3, offset=2)[0])
    with pytest.raises(ValueError, match="integer tensor"):
        rng.integers(index, highs.float(), 1)


def test_integers_cover_every_value_evenly() -> None:
    n = CounterRNG(1, 2).integers(torch.arange(700), 7, 100)  # 7e4 draws, 1e4 expected each
    counts = torch.bincount(n.flatten(), minlength=7)
    assert n.min() == 0 and n.max() == 6 and len(counts) == 7
    assert (counts - 10_000).abs().max() < 500  # 5 standard errors
    assert (CounterRNG(1, 2).integers(torch.arange(5), 1, 3) == 0).all()
    with pytest.raises(ValueError, match="high"):
        CounterRNG(1, 2).integers(torch.arange(5), 0, 3)


def test_integers_take_a_bound_per_draw() -> None:
    bits = CounterRNG(5, 0).bits(torch.arange(50), 4)
    highs = torch.tensor([1, 3, 1000, 2**31])
    per_draw = to_integers(bits, highs)
    for column, high in enumerate(highs.tolist()):
        assert torch.equal(per_draw[:, column], to_integers(bits[:, column], high))
    assert (per_draw >= 0).all() and (per_draw < highs).all()


def test_seeds_and_streams_give_different_numbers() -> None:
    index = torch.arange(64)
    draws = [CounterRNG(s, k).bits(index, 8) for s, k in [(0, 0), (1, 0), (0, 1), (0, 2)]]
    for i in range(len(draws)):
        for j in range(i):
            assert not torch.isin(draws[i], draws[j]).any()


# Every task -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_same_seed_same_batch_other_seed_other_batch(name: str) -> None:
    x, y, mask = batch(small(name, seed=3), "train", 16)
    x2, y2, mask2 = batch(small(name, seed=3), "train", 16)
    assert torch.equal(x, x2) and torch.equal(y, y2) and torch.equal(mask, mask2)
    assert not torch.equal(x, batch(small(name, seed=4), "train", 16)[0])
    # data_seed fixes the examples while seed (the batch order) varies.
    fixed = batch(small(name, seed=4, data_seed=3), "train", 16)[0]
    assert torch.equal(x, fixed)


@pytest.mark.parametrize("name", SMALL)
def test_splits_share_no_example(name: str) -> None:
    # The streams never share a draw; the contents could still meet by chance where the
    # task has few distinct examples, so selective copying gets room here (~1e15 of them).
    dm = small(
        name, **({"length": 40, "num_tokens": 8, "num_symbols": 8} if name == "selective" else {})
    )
    rows = {
        split: {tuple(r.flatten().tolist()) for r in batch(dm, split, 500)[0]}
        for split in ("train", "val", "test")
    }
    assert all(len(r) == 500 for r in rows.values())
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"]
    assert not rows["val"] & rows["test"]


@pytest.mark.parametrize("name", SMALL)
def test_batches_are_built_on_the_device_of_the_indices(name: str) -> None:
    # The meta device computes no numbers, but anything made elsewhere would not be on it.
    dm = small(name)
    for split in ("train", "val", "test"):
        out = dm.make_batch(split)(torch.arange(4, device="meta"))
        assert [t.device.type for t in out] == ["meta"] * 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", SMALL)
def test_cuda_batches_equal_cpu_batches(name: str) -> None:
    dm = small(name)
    index = torch.arange(100, 400)
    on_cpu = dm.make_batch("val")(index)
    on_gpu = dm.make_batch("val")(index.cuda())
    assert all(g.is_cuda and torch.equal(g.cpu(), c) for g, c in zip(on_gpu, on_cpu, strict=True))


@pytest.mark.parametrize("name", SMALL)
def test_shapes_types_and_description(name: str) -> None:
    dm = small(name)
    x, y, mask = batch(dm, "train", 5)
    t = dm.sequence_length
    assert x.shape == (5, t, dm.input_size) and x.dtype == torch.float32
    assert mask.shape == (5, t) and mask.dtype == torch.bool
    if dm.objective == "mse":
        assert y.shape == (5, t, 1) and y.dtype == torch.float32
    else:
        assert y.shape == (5, t) and y.dtype == torch.long
        assert y.min() >= 0 and y.max() < dm.num_outputs
    spec = dm.spec()
    assert spec["objective"] in ("mse", "cross_entropy") and spec["loss_on"] in ("marked", "all")
    assert spec["input_size"] == dm.input_size and spec["num_outputs"] == dm.num_outputs
    assert dm.batch_format == "steps"
    assert set(dm.stats()) == {"baseline/loss", "baseline/acc"}
    cue = dm.cue_steps((x, y, mask))
    assert cue.shape == mask.shape and cue.dtype == torch.bool and bool(cue.any())


@pytest.mark.parametrize("name", SMALL)
def test_the_training_set_is_fixed_and_reshuffled_each_epoch(name: str) -> None:
    def examples(epoch: int) -> list[tuple]:
        dm = small(name, train_size=10, batch_size=4)
        dm._epoch = lambda: epoch
        loader = dm.train_dataloader()
        assert len(loader) == 3
        return [tuple(r.flatten().tolist()) for x, _, _ in loader for r in x]

    first, second = examples(0), examples(1)
    every = {tuple(r.flatten().tolist()) for r in batch(small(name), "train", 10)[0]}
    assert len(first) == 10 and set(first) == set(second) == every
    assert first != second
    val = [r for x, _, _ in small(name, val_size=6, eval_batch_size=4).val_dataloader() for r in x]
    assert torch.equal(torch.stack(val), batch(small(name), "val", 6)[0])


@pytest.mark.parametrize(
    ("cls", "kwargs", "key"),
    [
        (AddingProblem, {"length": 1}, "length"),
        (AddingProblem, {"length": 2.5}, "length"),
        (AddingProblem, {"length": True}, "length"),
        (CopyMemory, {"length": 0}, "length"),
        (SelectiveCopy, {"length": 0}, "length"),
        (SelectiveCopy, {"num_tokens": 0}, "num_tokens"),
        (SelectiveCopy, {"length": 4, "num_tokens": 5}, "num_tokens"),
        (SelectiveCopy, {"num_symbols": 1}, "num_symbols"),
        (SelectiveCopy, {"num_symbols": 2**31 + 1}, "num_symbols"),
        (AddingProblem, {"train_size": 0}, "train_size"),
        (CopyMemory, {"val_size": -1}, "val_size"),
        (SelectiveCopy, {"test_size": "9"}, "test_size"),
        (AddingProblem, {"data_seed": 1.5}, "data_seed"),
        (CopyMemory, {"data_seed": False}, "data_seed"),
        (SelectiveCopy, {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_name_the_key(cls, kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        cls.Options.check(kwargs)  # the declaration the config check reads
    assert info.value.key == key and info.value.value == kwargs[key]


# The adding problem ---------------------------------------------------------------------


@pytest.mark.parametrize("length", [2, 7, 10])
def test_adding_marks_one_step_per_half_and_targets_their_sum(length: int) -> None:
    x, y, mask = batch(AddingProblem(length=length), "train", 2000)
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    half = length // 2
    assert (markers[:, :half].sum(1) == 1).all() and (markers[:, half:].sum(1) == 1).all()
    marked_sum = (values * markers).sum(1)
    assert torch.equal(y[:, -1, 0], marked_sum)
    assert (y[:, :-1] == 0).all()
    assert (mask[:, -1]).all() and mask.sum() == len(mask)


def test_adding_marks_every_step_of_each_half_about_equally_often() -> None:
    x = batch(AddingProblem(length=10), "train", 5000)[0]
    counts = x[..., 1].sum(0)  # 1000 expected per step
    assert (counts - 1000).abs().max() < 130  # 4.5 standard errors
    # The two marks are independent of each other: all 25 pairs, 200 expected each.
    marked = x[..., 1].nonzero()[:, 1].view(-1, 2)
    pairs = torch.bincount(marked[:, 0] * 10 + marked[:, 1], minlength=100).view(10, 10)
    assert (pairs[:5, 5:] - 200).abs().max() < 65 and pairs.sum() == 5000
    # ... and of the values they mark.
    values = x[..., 0][x[..., 1] == 1].view(-1, 2)
    for column in range(2):
        corr = torch.corrcoef(torch.stack([marked[:, column].float(), values[:, column]]))[0, 1]
        assert abs(corr.item()) < 0.06  # standard error 0.014


def test_adding_baseline_is_the_mse_of_always_predicting_one() -> None:
    dm = AddingProblem(length=20, test_size=20_000)
    assert dm.baseline()["loss"] == pytest.approx(1 / 6, abs=1e-12)
    _, y, mask = batch(dm, "test", 20_000)
    target = y[mask].squeeze(-1).double()
    assert abs(target.mean().item() - 1) < 0.01  # so 1 is the best constant
    mse = F.mse_loss(torch.ones_like(target), target).item()
    assert mse == pytest.approx(dm.baseline()["loss"], abs=0.006)  # standard error 0.0014
    for tolerance in (0.04, 0.3, 0.7):  # the share of answers within it of 1
        dm.tolerance = tolerance
        hits = ((target - 1).abs() < tolerance).double().mean().item()
        assert hits == pytest.approx(dm.baseline()["acc"], abs=0.012)  # 3.5 standard errors


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_adding_with_jitter_draws_lengths_in_range_and_marks_within_each(jitter) -> None:
    dm = AddingProblem(length=10, length_jitter=jitter)
    longest = 10 + math.floor(10 * jitter + 1e-9)
    x, y, mask, lengths = batch(dm, "train", 3000)
    assert x.shape == (3000, longest, 2) and dm.sequence_length == longest
    assert lengths.dtype == torch.int64
    assert set(lengths.tolist()) == set(range(10, longest + 1))  # every length, both ends
    steps = torch.arange(longest)
    real = steps < lengths[:, None]
    values, markers = x[..., 0], x[..., 1]
    assert (x[~real] == 0).all() and (values[real] > 0).sum() > 0.99 * real.sum()
    half = (lengths // 2)[:, None]
    assert ((markers * (steps < half)).sum(1) == 1).all()  # one in the first half ...
    assert ((markers * ((steps >= half) & real)).sum(1) == 1).all()  # ... one in the second
    assert markers.sum() == 2 * len(lengths)  # and none in the padding
    last = steps == (lengths - 1)[:, None]
    assert torch.equal(mask, last)  # scored at each sequence's last real step only
    assert torch.equal(y[last, 0], (values * markers).sum(1)) and (y[~last] == 0).all()


def test_adding_with_jitter_is_a_function_of_seed_and_index() -> None:
    dm = AddingProblem(length=20, length_jitter=0.1, data_seed=3)
    whole = batch(dm, "val", 50)
    again = batch(AddingProblem(length=20, length_jitter=0.1, data_seed=3), "val", 50)
    assert all(torch.equal(a, b) for a, b in zip(whole, again, strict=True))
    part = batch(dm, "val", 10, start=30)  # the same examples in another batch
    assert all(torch.equal(a[30:40], b) for a, b in zip(whole, part, strict=True))
    other = batch(AddingProblem(length=20, length_jitter=0.1, data_seed=4), "val", 50)
    assert not torch.equal(whole[3], other[3])
    assert len(batch(AddingProblem(length=20), "val", 5)) == 3  # no jitter: no lengths


@pytest.mark.parametrize(("length", "jitter", "longest"), [(100, 0.1, 110), (100, 0.29, 129),
                                                           (7, 0.1, 7), (7, 0.0, 7)])  # fmt: skip
def test_adding_longest_sequence_is_floor_of_length_times_one_plus_jitter(
    length, jitter, longest
) -> None:
    assert AddingProblem(length=length, length_jitter=jitter).sequence_length == longest


@pytest.mark.parametrize("jitter", [-0.1, 1.5, True, "0.1", None])
def test_adding_refuses_a_jitter_outside_zero_to_one(jitter) -> None:
    with pytest.raises(ConfigError) as info:
        AddingProblem.Options.check({"length": 10, "length_jitter": jitter})
    assert info.value.key == "length_jitter" and "[0, 1]" in str(info.value)


# Copying memory -------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 5, 30])
def test_copy_layout_follows_the_paper(length: int) -> None:
    dm = CopyMemory(length=length)
    x, y, mask = batch(dm, "train", 300)
    t = length + 20
    assert dm.sequence_length == t and x.shape[1] == t
    assert (x.sum(-1) == 1).all()
    tokens = x.argmax(-1)
    symbols = tokens[:, :10]
    assert (symbols < 8).all()
    assert (tokens[:, 10 : 10 + length - 1] == BLANK).all()  # T - 1 blanks
    assert (tokens[:, length + 9] == DELIMITER).all()
    assert (tokens[:, length + 10 :] == BLANK).all()  # 10 blanks
    assert (y[:, : length + 10] == BLANK).all() and torch.equal(y[:, length + 10 :], symbols)
    assert (mask[:, -10:]).all() and mask.sum() == 10 * len(mask)
    assert dm.loss_on == "all"


def test_copy_baseline_is_the_memoryless_strategys_cross_entropy() -> None:
    length = 30
    dm = CopyMemory(length=length)
    _, y, mask = batch(dm, "test", 2000)
    # Blank with certainty for T + 10 steps, then uniform over the 8 symbols.
    logits = torch.full((*y.shape, 10), -1e4)
    logits[:, : length + 10, BLANK] = 0
    logits[:, length + 10 :, :8] = 0
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert loss == pytest.approx(dm.baseline()["loss"], rel=1e-5)
    assert dm.baseline()["loss"] == pytest.approx(10 * math.log(8) / 50)
    # No fixed guess does better: the recalled symbols are uniform over all 8.
    counts = torch.bincount(y[mask], minlength=10).double()
    p = counts[:8] / counts.sum()
    assert counts[8:].sum() == 0 and -(p * p.log()).sum().item() > math.log(8) - 0.005
    assert p.max().item() == pytest.approx(dm.baseline()["acc"], abs=0.01)


# Selective copying ----------------------------------------------------------------------


def test_selective_copy_queries_the_tokens_in_order_of_appearance() -> None:
    dm = SelectiveCopy(length=12, num_tokens=3, num_symbols=4)
    x, y, mask = batch(dm, "train", 500)
    tokens = x.argmax(-1)
    assert (x.sum(-1) == 1).all() and dm.input_size == 6 and dm.num_outputs == 4
    region, queries = tokens[:, :12], tokens[:, 12:]
    assert (queries == dm.query).all() and (region != dm.query).all()
    data = region != dm.noise
    assert (data.sum(1) == 3).all()  # three distinct positions
    assert torch.equal(region[data].view(-1, 3), y[:, 12:])  # in order of appearance
    assert (y[:, :12] == 0).all()
    assert (mask[:, 12:]).all() and mask.sum() == 3 * len(mask)


def test_selective_copy_positions_are_uniform_subsets() -> None:
    dm = SelectiveCopy(length=12, num_tokens=3, num_symbols=4)
    positions = dm.positions(dm.rng("train"), torch.arange(4000))
    assert (positions[:, 1:] > positions[:, :-1]).all()  # increasing, so distinct
    counts = torch.bincount(
        dm.positions(dm.rng("val"), torch.arange(20_000)).flatten(), minlength=12
    )
    assert (counts - 5000).abs().max() < 245  # each step in 1/4 of examples; 4 standard errors
    subsets = Counter(map(tuple, positions.tolist()))
    assert len(subsets) == math.comb(12, 3)  # 220 subsets, about 18 draws each
    expected = 4000 / 220
    chi2 = sum((c - expected) ** 2 / expected for c in subsets.values())
    assert chi2 < 219 + 6 * math.sqrt(2 * 219)  # 219 degrees of freedom


def test_selective_copy_at_the_published_size() -> None:
    dm = SelectiveCopy(length=4096, num_tokens=16, num_symbols=14)
    x, y, mask = batch(dm, "train", 8)
    assert x.shape == (8, 4112, 16)
    data = x[:, :4096].argmax(-1) != dm.noise
    assert (data.sum(1) == 16).all()
    assert torch.equal(x[:, :4096].argmax(-1)[data].view(8, 16), y[mask].view(8, 16))


def test_selective_copy_baseline_is_uniform_guessing() -> None:
    dm = SelectiveCopy(length=12, num_tokens=3, num_symbols=5)
    assert dm.baseline() == {"loss": pytest.approx(math.log(5)), "acc": 0.2}
    _, y, mask = batch(dm, "test", 2000)
    logits = torch.zeros(*y.shape, 5)
    loss = F.cross_entropy(logits[mask], y[mask]).item()
    assert loss == pytest.approx(dm.baseline()["loss"], rel=1e-6)
    # No fixed guess per query step does better: each step's token is uniform.
    for step in range(12, 15):
        p = torch.bincount(y[:, step], minlength=5).double() / len(y)
        assert -(p * p.log()).sum().item() > math.log(5) - 0.01


# The generator's arguments -------------------------------------------------------------


@pytest.mark.parametrize("key", ["seed", "stream"])
@pytest.mark.parametrize("value", [True, 1.0, "1", None])
def test_the_generator_takes_integer_seeds_and_streams_only(key: str, value) -> None:
    kwargs = {"seed": 1, "stream": 0, key: value}
    with pytest.raises(ConfigError) as info:
        CounterRNG(**kwargs)
    assert (info.value.key, info.value.value, info.value.allowed) == (key, value, "an integer")


def test_draws_are_read_from_the_offset_given() -> None:
    rng, index = CounterRNG(4, 1), torch.arange(6)
    assert torch.equal(rng.uniform(index, 3, offset=5), rng.uniform(index, 8)[:, 5:])
    assert torch.equal(rng.integers(index, 9, 3, offset=2), rng.integers(index, 9, 5)[:, 2:])
    assert rng.bits(index, 0).shape == (6, 0)  # nothing drawn is allowed
    for count, offset in ((-1, 0), (0, -1)):
        with pytest.raises(ValueError, match=rf"^count and offset must be >= 0, got {count} "):
            rng.bits(index, count, offset)


@pytest.mark.parametrize(
    "index", [torch.ones(3, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.long), torch.ones(3)]
)
def test_example_indices_are_one_integer_per_example(index) -> None:
    with pytest.raises(ValueError, match=r"^index must be a 1-d integer tensor, got torch\."):
        CounterRNG(0, 0).example_keys(index)


@pytest.mark.parametrize("high", [1.5, 2.0, "3", True, 0, 2**31 + 1])
def test_an_integer_bound_out_of_range_is_refused(high) -> None:
    with pytest.raises(ValueError, match=r"^high must be an integer in \[1, 2147483648\], got "):
        to_integers(CounterRNG(0, 0).bits(torch.arange(2), 2), high)


def test_a_sample_is_the_order_of_its_draws() -> None:
    rng, index = CounterRNG(7, 2), torch.arange(30)
    expected = torch.argsort(rng.bits(index, 12, offset=4), dim=1)[:, :5]
    assert torch.equal(rng.sample(index, 12, 5, offset=4), expected)
    first = torch.argsort(rng.bits(index, 12), dim=1)[:, :5]
    assert torch.equal(rng.sample(index, 12, 5), first)  # from draw 0 unless told


@pytest.mark.parametrize("n", [2, 5, 8, 9, 17])
def test_a_sample_breaks_ties_of_its_draws_by_position(monkeypatch, n: int) -> None:
    # Draws equal in every bit (all ones: each low bit the position could set is set
    # already) keep their positions' order, whatever the device's topk does with ties.
    rng = CounterRNG(0, 0)
    monkeypatch.setattr(rng, "bits", lambda index, count, offset=0: torch.full((1, count), -1))
    assert rng.sample(torch.arange(1), n, n).tolist() == [list(range(n))]
