"""Character LM task: the state carried through training, the metrics' relations, sampling."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch

import rnnlab.run.build as build
from rnnlab.nn.recurrent import RecurrentStack
from rnnlab.run.job import train
from rnnlab.tasks.language import CharNLL, LanguageModelTask
from rnnlab.tasks.sampling import pick

from helpers import PHRASE, chars_overrides, make_config


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "phrase.txt"
    path.write_text(PHRASE * 30, encoding="utf-8")
    return path


@dataclass
class Call:
    epoch: int
    batch: int
    state_in: tuple[torch.Tensor, ...] | None
    state_out: tuple[torch.Tensor, ...]


def _parts(state) -> tuple[torch.Tensor, ...] | None:
    if state is None:
        return None
    return tuple(state) if isinstance(state, tuple) else (state,)


class Position(pl.Callback):
    """Which epoch and batch the training loop is at."""

    epoch = batch = -1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.epoch, self.batch = trainer.current_epoch, batch_idx


def record_training_calls(tmp_path, monkeypatch, overrides: list[str]) -> list[Call]:
    """Train, recording the state each training forward pass started from and ended with."""
    position, calls = Position(), []
    original_forward = RecurrentStack.forward

    def forward(self, x, state=None):
        out, final = original_forward(self, x, state)
        if self.training:
            calls.append(Call(position.epoch, position.batch, _parts(state), _parts(final)))
        return out, final

    monkeypatch.setattr(RecurrentStack, "forward", forward)
    original = build.build_callbacks
    monkeypatch.setattr(build, "build_callbacks", lambda *a, **k: [*original(*a, **k), position])
    train(make_config(tmp_path, overrides), tmp_path)
    return calls


def test_sequential_training_carries_the_state_detached_and_restarts_each_epoch(
    tmp_path, monkeypatch, corpus
):
    calls = record_training_calls(tmp_path, monkeypatch, chars_overrides(corpus, "test=false"))
    epochs = sorted({c.epoch for c in calls})
    assert epochs == [0, 1]
    for epoch in epochs:
        run = [c for c in calls if c.epoch == epoch]
        assert [c.batch for c in run] == list(range(len(run))) and len(run) >= 4
        assert run[0].state_in is None  # each epoch starts from a zero state
        for previous, current in zip(run, run[1:], strict=False):
            assert current.state_in is not None, f"state reset at batch {current.batch}"
            # batch k starts from batch k-1's final state, cut from its graph (truncated BPTT)
            for given, final in zip(current.state_in, previous.state_out, strict=True):
                assert torch.equal(given, final.detach())
                assert not given.requires_grad


def test_random_windows_start_from_a_fresh_state(tmp_path, monkeypatch, corpus):
    overrides = chars_overrides(
        corpus, "test=false", "data.sampling=random", "trainer.max_epochs=1"
    )
    calls = record_training_calls(tmp_path, monkeypatch, overrides)
    assert len(calls) >= 2 and all(c.state_in is None for c in calls)


def _lm(cell: str = "lstm") -> LanguageModelTask:
    return LanguageModelTask(model={"cell": cell, "hidden_size": 4}, input_size=3,
                             num_outputs=3, vocab=["<unk>", "a", "b"])  # fmt: skip


@pytest.mark.parametrize("cell", ["lstm", "gru"])  # the state: (h, c), or h alone
def test_carried_state_survives_a_checkpoint(cell):
    """A run resumed mid-epoch continues its training streams from the saved state."""
    task = _lm(cell)
    state = (torch.randn(1, 2, 4), torch.randn(1, 2, 4)) if cell == "lstm" else torch.randn(1, 2, 4)
    task._state.update(train=state, val=torch.zeros(1, 2, 4))
    task._trainer = SimpleNamespace(training=False)  # saved outside fit: no loss check
    checkpoint: dict = {}
    task.on_save_checkpoint(checkpoint)
    assert checkpoint["parameter_keys"] == [n for n, _ in task.named_parameters()]  # weights
    restored = _lm(cell)
    restored.on_load_checkpoint(checkpoint)
    assert type(restored._state["train"]) is type(state)
    parts = _parts(restored._state["train"])
    assert all(torch.equal(a, b) for a, b in zip(parts, _parts(state), strict=True))
    assert restored._initial_state("train", 2) is restored._state["train"]
    assert restored._initial_state("train", 3) is None  # another batch size: new streams
    assert restored._state["val"] is None  # only the training streams run on
    on_meta = _lm(cell).to("meta")  # the state goes where the model is
    on_meta.on_load_checkpoint(checkpoint)
    assert {t.device.type for t in _parts(on_meta._state["train"])} == {"meta"}


def test_a_checkpoint_without_a_carried_state_starts_fresh_streams():
    task = _lm()
    task._trainer = SimpleNamespace(training=False)
    checkpoint: dict = {}
    task.on_save_checkpoint(checkpoint)  # before any batch: nothing carried
    assert checkpoint["carried_state"] is None
    restored = _lm()
    restored._state["train"] = torch.zeros(1, 2, 4)
    restored.on_load_checkpoint(checkpoint)
    assert restored._state["train"] is None


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_consecutive_batches_of_one_size_carry_the_state(cell):
    torch.manual_seed(0)
    task = _lm(cell)
    x = torch.randint(1, 3, (2, 5))
    assert task._initial_state("train", 2) is None  # the first batch starts from zeros
    task.step((x, x), "train")
    carried = task._initial_state("train", 2)
    _, final = task(x)
    assert carried is not None and type(carried) is type(final)
    assert all(torch.equal(a, b) for a, b in zip(_parts(carried), _parts(final), strict=True))
    assert task._initial_state("train", 3) is None and task._initial_state("val", 2) is None


def test_loss_and_metrics_are_per_character():
    torch.manual_seed(0)
    task = _lm()
    x, y = torch.randint(1, 3, (2, 5)), torch.randint(0, 3, (2, 5))
    loss = task.step((x, y), "val")
    logits, _ = task(x)  # from a zero state, as the step's first batch
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    torch.testing.assert_close(loss, expected)
    values = task.metrics["val_"].compute()
    assert values["val/bpc"].item() == pytest.approx(expected.item() / math.log(2), rel=1e-5)
    assert task.batch_size((x, y)) == 10


def test_the_gradient_flow_loss_is_the_last_characters_prediction():
    torch.manual_seed(0)
    task = _lm()
    x, y = torch.randint(1, 3, (2, 5)), torch.randint(0, 3, (2, 5))
    outputs, state = task.rnn(task.stack_inputs(x))
    logits, _ = task(x)
    torch.testing.assert_close(task.probe_loss(outputs, state, (x, y)),
                               torch.nn.functional.cross_entropy(logits[:, -1], y[:, -1]))  # fmt: skip


def test_onehot_encoding_reads_one_vector_of_the_vocabulary_size_per_id():
    task = LanguageModelTask(model={"cell": "gru", "hidden_size": 4}, input_size=4, num_outputs=4,
                             vocab=["<unk>", "a", "b", "c"], encoding="onehot")  # fmt: skip
    x = torch.tensor([[1, 2, 1]])  # the largest id absent: the width is still the vocabulary's
    assert torch.equal(task.stack_inputs(x), torch.eye(4)[x])
    assert task(x)[0].shape == (1, 3, 4)


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_each_evaluation_starts_its_streams_from_a_zero_state(stage):
    torch.manual_seed(0)
    task = _lm()
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randint(1, 3, (2, 4), generator=g),) * 2 for _ in range(3)]
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")  # fmt: skip
    loader = torch.utils.data.DataLoader(batches, batch_size=None)
    first, again = (getattr(trainer, stage)(task, loader, verbose=False)[0] for _ in range(2))
    key = "val/loss" if stage == "validate" else "test/loss"
    assert first[key] == again[key]  # the second pass does not start where the first ended


def test_metrics_relations_and_best_bpc_of_a_run(tmp_path, corpus):
    metrics = train(
        make_config(tmp_path, chars_overrides(corpus, "trainer.max_epochs=3")), tmp_path
    )
    for stage in ("train", "val", "test"):
        loss = metrics[f"{stage}/loss"]
        assert metrics[f"{stage}/bpc"] == pytest.approx(loss / math.log(2), rel=1e-5), stage
        assert metrics[f"{stage}/ppl"] == pytest.approx(math.exp(loss), rel=1e-5), stage
    with open(tmp_path / "csv" / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/bpc")]
    per_epoch = [float(r["val/bpc"]) for r in rows]
    best = [float(r["val/bpc_best"]) for r in rows]
    assert len(per_epoch) == 3
    assert best == pytest.approx([min(per_epoch[: i + 1]) for i in range(3)], rel=1e-6)
    assert metrics["val/bpc_best"] == pytest.approx(min(per_epoch), rel=1e-6)
    assert metrics["better"]["val/bpc_best"] == "lower"


def test_char_nll_weights_every_character():
    bits, ppl = CharNLL("bits"), CharNLL("ppl")
    for nll_sum, tokens in ((torch.tensor(6.0), 3), (torch.tensor(1.0), 1)):  # means 2 and 1
        bits.update(nll_sum, tokens)
        ppl.update(nll_sum, tokens)
    assert bits.compute().item() == pytest.approx(7 / 4 / math.log(2))  # not (2 + 1) / 2
    one = CharNLL("bits")
    one.update(torch.tensor(2.0), 1)  # a single character
    assert one.compute().item() == pytest.approx(2 / math.log(2))
    assert ppl.compute().item() == pytest.approx(math.exp(7 / 4))


# -- sampling -------------------------------------------------------------------------
def test_top_k_draws_only_among_the_k_most_likely():
    logits = torch.tensor([9.0, 1.0, 3.0, 2.5, 0.0])  # id 0 is <unk>: never drawn
    g = torch.Generator().manual_seed(0)
    draws = {pick(logits, 5.0, 2, g) for _ in range(300)}
    assert draws == {2, 3}  # a high temperature, yet only the two best real ids
    assert {pick(logits, 5.0, None, g) for _ in range(300)} == {1, 2, 3, 4}
    assert {pick(logits, 1.0, 1, g) for _ in range(20)} == {2}  # top_k=1 is greedy
    assert pick(logits, 0, None, g) == 2
    assert pick(logits, 1.0, 10, g) in {1, 2, 3, 4}  # k beyond the vocabulary: all of it


def test_generate_with_top_k_one_is_the_greedy_text():
    torch.manual_seed(0)
    task = LanguageModelTask(model={"cell": "gru", "hidden_size": 8}, input_size=5,
                             num_outputs=5, vocab=["<unk>", "a", "b", "c", "d"])  # fmt: skip
    greedy = task.generate("ab", 30, temperature=0)
    for seed in (1, 2):
        g = torch.Generator().manual_seed(seed)
        assert task.generate("ab", 30, temperature=2.0, top_k=1, generator=g) == greedy
    g = torch.Generator().manual_seed(1)
    assert task.generate("ab", 30, temperature=2.0, top_k=None, generator=g) != greedy


def test_a_seeded_generator_fixes_the_text_and_stream_gives_it_a_character_at_a_time():
    torch.manual_seed(0)
    task = LanguageModelTask(model={"cell": "gru", "hidden_size": 8}, input_size=5,
                             num_outputs=5, vocab=["<unk>", "a", "b", "c", "d"])  # fmt: skip
    texts = []
    for global_seed in (1, 2):  # torch's global generator is not what decides
        torch.manual_seed(global_seed)
        texts.append(task.generate("ab", 40, generator=torch.Generator().manual_seed(3)))
    streamed = task.stream("ab", 40, generator=torch.Generator().manual_seed(3))
    assert texts[0] == texts[1] == "".join(streamed)  # with the same defaults
    assert len(texts[0]) == 40


def test_greedy_text_is_what_the_model_predicts_reading_all_the_text_so_far():
    torch.manual_seed(0)
    task = LanguageModelTask(model={"cell": "lstm", "hidden_size": 8}, input_size=5,
                             num_outputs=5, vocab=["<unk>", "a", "b", "c", "d"])  # fmt: skip
    for weight in task.parameters():  # large weights: the next character depends on the past
        torch.nn.init.normal_(weight, std=2.0)
    text = "abca"
    greedy = task.generate(text, 12, temperature=0)
    for char in greedy:  # each next character from the whole text, read from its start
        logits, _ = task(task.vocab.encode(text)[None])
        assert char == task.vocab.decode([int(logits[0, -1, 1:].argmax()) + 1])
        text += char


@pytest.mark.parametrize(
    "values,message",
    [
        ({"prompt": ""}, "prompt='' is not allowed: a non-empty string"),
        ({"prompt": None}, "prompt=null is not allowed: a non-empty string"),
        ({"length": -1}, "length=-1 is not allowed: an integer from 0 to 1000000"),
        ({"length": 2.5}, "length=2.5 is not allowed: an integer from 0 to 1000000"),
        ({"length": True}, "length=true is not allowed: an integer from 0 to 1000000"),
        ({"temperature": -0.5}, "temperature=-0.5 is not allowed: a finite number >= 0"),
        ({"temperature": float("nan")}, "temperature=nan is not allowed: a finite number >= 0"),
        ({"temperature": "hot"}, "temperature='hot' is not allowed: a finite number >= 0"),
        ({"temperature": False}, "temperature=false is not allowed: a finite number >= 0"),
        ({"top_k": 0}, "top_k=0 is not allowed: null or a positive integer"),
    ],
)  # fmt: skip
def test_sampling_settings_are_refused_in_one_line(values, message, tmp_path):
    from rnnlab.errors import ConfigError
    from rnnlab.run.options import SampleConfig

    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"")  # exists: what it holds is read when it is loaded
    with pytest.raises(ConfigError) as err:
        SampleConfig.check({"ckpt_path": str(ckpt), **values})
    assert str(err.value) == message


@pytest.mark.parametrize(
    "prompt,message",
    [
        ("abz", "prompt='abz' is not allowed: characters of the training vocabulary only; 'z' "
                "not in the training vocabulary"),
        ("a?!", "prompt='a?!' is not allowed: characters of the training vocabulary only; "
                "'!', '?' not in the training vocabulary"),
        ("<", "prompt='<' is not allowed: characters of the training vocabulary only; '<' not "
              "in the training vocabulary"),  # '<unk>' is a token, not its characters
    ],
)  # fmt: skip
def test_prompt_outside_the_vocabulary_is_refused(prompt, message):
    from rnnlab.errors import ConfigError
    from rnnlab.tasks.sampling import check_prompt

    vocab = SimpleNamespace(itos=["<unk>", "a", "b"])  # <unk> is never a prompt character
    with pytest.raises(ConfigError) as err:
        check_prompt(vocab, prompt)
    assert str(err.value) == message


def test_sampling_settings_that_are_allowed(tmp_path):
    from rnnlab.run.options import SampleConfig
    from rnnlab.tasks.sampling import check_prompt

    vocab = SimpleNamespace(itos=["<unk>", "a", "b"])
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"")
    for length, temperature, top_k in ((0, 0, None), (3, 0.7, 1), (1, 2, 5)):
        SampleConfig.check({"ckpt_path": str(ckpt), "length": length, "temperature": temperature,
                            "top_k": top_k})  # fmt: skip
    for prompt in ("ab", "b", "a"):
        check_prompt(vocab, prompt)  # no error


def test_options_are_checked_and_kept_for_the_checkpoint():
    from rnnlab.errors import ConfigError

    kwargs = {"model": {"cell": "gru", "hidden_size": 4}, "input_size": 3, "num_outputs": 3,
              "vocab": ["<unk>", "a", "b"]}  # fmt: skip
    from rnnlab.errors import config_group
    from rnnlab.tasks.options import LanguageModelOptions

    with pytest.raises(ConfigError) as err, config_group("task"):
        LanguageModelOptions.check({"encoding": "bytes"})
    assert str(err.value) == "task.encoding='bytes' is not allowed: one of embedding, onehot"
    with pytest.raises(ConfigError) as err, config_group("task"):
        LanguageModelOptions.check({"embedding_dim": 0})
    assert str(err.value) == "task.embedding_dim=0 is not allowed: a positive integer"
    task = LanguageModelTask(**kwargs)
    kept = {k: task.hparams[k] for k in ("vocab", "carry_state", "encoding", "embedding_dim",
                                         "default_prompt")}  # fmt: skip
    assert kept == {"vocab": ["<unk>", "a", "b"], "carry_state": True, "encoding": "embedding",
                    "embedding_dim": 64, "default_prompt": "\n"}  # fmt: skip
    assert task.encoder.weight.shape == (3, 64) and task.default_prompt == "\n"
    assert task.vocab.itos == ["<unk>", "a", "b"]
    onehot = LanguageModelTask(**kwargs, encoding="onehot", carry_state=False, default_prompt="a")
    assert onehot.encoder is None and onehot.default_prompt == "a"
    assert onehot.hparams.carry_state is False


def test_char_nll_in_bits_and_perplexity_over_all_characters():
    bits, ppl = CharNLL("bits"), CharNLL("ppl")
    assert float(bits.compute()) == 0 and float(ppl.compute()) == 1  # nothing seen yet
    for metric in (bits, ppl):
        metric.update(torch.tensor(3.0), 2)  # 1.5 nats a character ...
        metric.update(torch.tensor(1.0), 2)  # ... then 0.5: 1.0 over all four
    assert bits.compute().item() == pytest.approx(1 / math.log(2))
    assert ppl.compute().item() == pytest.approx(math.e)
    assert bits.nll.dtype == torch.float64 and CharNLL().unit == "bits"
