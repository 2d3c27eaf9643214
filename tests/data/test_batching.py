"""``IndexBatches`` and ``TensorDataModule``: the one batching path of in-memory data."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from rnnlab.data.batching import IndexBatches, TensorDataModule
from rnnlab.data.options import SineOptions
from rnnlab.errors import ConfigError


def ids(batches) -> list[list[int]]:
    return [b.tolist() for b in batches]


def identity(idx):
    return idx


def test_in_order_batches_and_their_count():
    assert ids(IndexBatches(7, identity, 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(IndexBatches(7, identity, 3)) == 3
    assert ids(IndexBatches(7, identity, 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(IndexBatches(7, identity, 3, drop_last=True)) == 2
    assert len(IndexBatches(6, identity, 3)) == 2


def test_shuffle_is_a_permutation_fixed_by_seed_and_epoch():
    def order(seed: int, epoch: int) -> list[int]:
        batches = IndexBatches(50, identity, 8, shuffle=True, seed=seed, epoch=lambda: epoch)
        return [i for b in ids(batches) for i in b]

    assert sorted(order(1, 0)) == list(range(50)) and order(1, 0) != list(range(50))
    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(1, 1)  # a new order every epoch
    assert order(1, 0) != order(2, 0)
    assert order(1, 5) != order(2, 4)  # seed and epoch are not simply added


def test_num_samples_with_and_without_replacement():
    drawn = [
        i for b in ids(IndexBatches(10, identity, 4, num_samples=30, replacement=True)) for i in b
    ]
    assert len(drawn) == 30 and set(drawn) <= set(range(10)) and len(set(drawn)) < 30
    assert len(IndexBatches(10, identity, 4, num_samples=30, replacement=True)) == 8
    subset = [i for b in ids(IndexBatches(10, identity, 4, shuffle=True, num_samples=6)) for i in b]
    assert len(subset) == len(set(subset)) == 6  # a part of one permutation
    first = [i for b in ids(IndexBatches(10, identity, 4, num_samples=6)) for i in b]
    assert first == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("size", [10, 11])
@pytest.mark.parametrize("world", [2, 3])
def test_ranks_share_an_epoch_in_lockstep(size, world):
    shares = [ids(IndexBatches(size, identity, 2, rank=r, world_size=world)) for r in range(world)]
    assert len({len(s) for s in shares}) == 1  # every rank runs as many batches
    flat = [[i for b in s for i in b] for s in shares]
    assert all(len(f) == -(-size // world) for f in flat)  # padded to a multiple of the ranks
    assert sorted(set().union(*flat)) == list(range(size))  # together: every example
    assert flat[0][:2] == [0, world] and flat[1][:2] == [1, 1 + world]  # as DistributedSampler
    assert len(IndexBatches(size, identity, 2, rank=0, world_size=world)) == len(shares[0])


def test_one_process_by_default_with_seed_zero():
    batches = IndexBatches(6, identity, 2, shuffle=True)
    assert (batches.seed, batches.rank, batches.world_size) == (0, 0, 1)
    assert ids(batches) == ids(IndexBatches(6, identity, 2, shuffle=True, seed=0, rank=0))


def test_make_batch_gets_indices_on_the_device():
    seen = []
    batches = IndexBatches(4, lambda idx: seen.append(idx) or idx.sum(), 2, device="meta")
    assert len(list(batches)) == 2 and all(i.device.type == "meta" for i in seen)


def test_state_counts_batches_served_in_this_epoch():
    batches = IndexBatches(10, identity, 3, epoch=lambda: 4)
    assert batches.state_dict() == {"epoch": -1, "batches_done": 0}
    it = iter(batches)
    next(it), next(it)
    assert batches.state_dict() == {"epoch": 4, "batches_done": 2}
    resumed = IndexBatches(10, identity, 3, epoch=lambda: 4)
    resumed.load_state_dict({"epoch": 4, "batches_done": 3})
    assert ids(resumed) == [[9]]
    assert ids(resumed) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]  # only the first pass resumes


# -- length bucketing -------------------------------------------------------------------
LENGTHS = torch.randint(1, 200, (500,), generator=torch.Generator().manual_seed(3))


def bucketed(seed=0, epoch=0, rank=0, world=1, batch=8, lengths=LENGTHS) -> IndexBatches:
    return IndexBatches(len(lengths), identity, batch, shuffle=True, seed=seed,
                        epoch=lambda: epoch, rank=rank, world_size=world, bucket_lengths=lengths)  # fmt: skip


def spread(batches: list[list[int]], lengths=LENGTHS) -> float:
    """Mean over batches of (longest - shortest) length: the padding a batch costs."""
    return sum(int(lengths[b].max() - lengths[b].min()) for b in batches) / len(batches)


def test_bucketing_keeps_every_example_once_and_groups_similar_lengths():
    batches = ids(bucketed())
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert [len(b) for b in batches] == [8] * 62 + [4]  # the smaller batch stays last
    plain = ids(IndexBatches(500, identity, 8, shuffle=True))
    assert spread(batches) < spread(plain) / 4
    # the batches are shuffled: not in increasing length through a chunk
    firsts = [int(LENGTHS[b[0]]) for b in batches[:32]]
    assert firsts != sorted(firsts)


def test_bucketing_is_fixed_by_seed_and_epoch_and_resumes():
    assert ids(bucketed(1, 2)) == ids(bucketed(1, 2))
    assert ids(bucketed(1, 2)) != ids(bucketed(1, 3)) and ids(bucketed(1, 2)) != ids(bucketed(2, 2))
    resumed = bucketed(1, 2)
    resumed.load_state_dict({"epoch": 2, "batches_done": 40})
    assert ids(resumed) == ids(bucketed(1, 2))[40:]


@pytest.mark.parametrize("world", [2, 3])
def test_bucketing_shards_across_ranks_in_lockstep(world):
    shares = [ids(bucketed(rank=r, world=world)) for r in range(world)]
    assert len({len(s) for s in shares}) == 1
    flat = [i for s in shares for b in s for i in b]
    assert set(flat) == set(range(500)) and len(flat) == -(-500 // world) * world
    # at each step the ranks' batches come from one bucket of similar lengths
    step_spread = [spread([sum((s[k] for s in shares), [])]) for k in range(len(shares[0]) - 1)]
    assert (
        sum(step_spread) / len(step_spread)
        < spread(ids(IndexBatches(500, identity, 8 * world, shuffle=True))) / 4
    )


class Ones(TensorDataModule):
    """The base options only: no eval_batch_size, so evaluation uses the training size."""

    batch_format = "forecast"
    input_size, num_outputs = 3, 2


class OnesWithEvalSize(Ones):
    Options = SineOptions  # a datamodule's options that have eval_batch_size


def test_datamodule_sizes_spec_and_defaults():
    dm = Ones(batch_size=4, seed=9)
    assert (dm.batch_size, dm.eval_batch_size, dm.seed) == (4, 4, 9)
    assert OnesWithEvalSize(batch_size=4, eval_batch_size=16).eval_batch_size == 16
    assert OnesWithEvalSize(batch_size=4, eval_batch_size=None).eval_batch_size == 4
    with pytest.raises(ConfigError, match="eval_batch_size=16 is not allowed: a key"):
        Ones.Options.check({"batch_size": 4, "eval_batch_size": 16})
    assert dm.spec() == {"input_size": 3, "num_outputs": 2} and dm.stats() == {}
    assert dm.device == torch.device("cpu") and dm._epoch() == 0
    with pytest.raises(ConfigError, match="batch_size=0"):
        Ones.Options.check({"batch_size": 0})
    with pytest.raises(ConfigError, match="eval_batch_size=-1"):
        OnesWithEvalSize.Options.check({"batch_size": 4, "eval_batch_size": -1})


def test_batches_follow_the_split_and_the_trainer():
    dm = OnesWithEvalSize(batch_size=4, eval_batch_size=8, seed=2)
    train, val = dm.batches(20, identity, train=True), dm.batches(20, identity, train=False)
    assert (train.batch_size, train.shuffle, val.batch_size, val.shuffle) == (4, True, 8, False)
    assert dm.batches(20, identity, train=True, shuffle=False, batch_size=5).batch_size == 5
    assert not dm.batches(20, identity, train=True, shuffle=False).shuffle
    assert train.seed == 2 and train.world_size == 1 and train.rank == 0
    dm.trainer = SimpleNamespace(overfit_batches=0, global_rank=1, world_size=2, current_epoch=3,
                                 strategy=SimpleNamespace(root_device=torch.device("meta")))  # fmt: skip
    ranked = dm.batches(20, identity, train=True)
    assert (ranked.rank, ranked.world_size, ranked.epoch(), ranked.device.type) == (1, 2, 3, "meta")
    assert ranked.shuffle  # overfit_batches=0: an ordinary epoch
    dm.trainer.overfit_batches = 1  # the same first batches every epoch
    assert not dm.batches(20, identity, train=True).shuffle


def test_continue_from_applies_to_the_next_training_loader_only():
    dm = Ones(batch_size=3)
    dm.continue_from({"epoch": 0, "batches_done": 2})
    assert ids(dm.batches(9, identity, train=False)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(ids(dm.batches(9, identity, train=True, shuffle=False))) == 1  # resumed
    assert len(ids(dm.batches(9, identity, train=True, shuffle=False))) == 3  # then whole
