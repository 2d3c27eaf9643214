"""Character-level language modelling: batching, carried state, checkpoints, sampling, errors."""

from __future__ import annotations

import json
import math

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F

from rnnlab.data.chars import CharDataModule
from rnnlab.errors import ConfigError
from rnnlab.run.build import build_datamodule, build_task
from rnnlab.run.job import train

from helpers import PHRASE, chars_overrides, check_config, make_config, read_metrics, run_cli


@pytest.fixture
def corpus(tmp_path):
    """About 2,600 characters; val and test hold characters ('Q', '!') never seen in training."""
    path = tmp_path / "tiny.txt"
    train = PHRASE * 55
    path.write_text(train + "Q" * 3 + PHRASE * 3 + "!!" + PHRASE * 3, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short run on a repeated phrase through the CLI: its run dir."""
    tmp = tmp_path_factory.mktemp("trained")
    path = tmp / "phrase.txt"
    path.write_text(PHRASE * 60, encoding="utf-8")
    proc = run_cli("train", chars_overrides(path, "trainer.max_epochs=4", "optimizer.lr=0.02"), tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp / "run"


def datamodule(path, **kwargs) -> CharDataModule:
    dm = CharDataModule(corpus="path", path=str(path), **{"bptt": 8, "batch_size": 4, **kwargs})
    dm.setup("fit")
    return dm


def test_sequential_batches_continue_each_other(corpus):
    dm = datamodule(corpus)
    batches = list(dm.train_dataloader())
    assert len(batches) > 3
    for (x0, y0), (x1, _) in zip(batches, batches[1:], strict=False):
        assert torch.equal(x0[:, 1:], y0[:, :-1])
        assert torch.equal(x1[:, 0], y0[:, -1])  # batch k+1 starts where batch k's targets ended
    rows = torch.cat([x for x, _ in batches] + [batches[-1][1][:, -1:]], dim=1)
    train_ids = dm.ids["train"]
    length = len(train_ids) // 4
    assert torch.equal(rows, train_ids[: 4 * length].view(4, length))  # contiguous streams
    again = list(dm.train_dataloader())  # no shuffling between epochs
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))


def test_ranks_take_their_own_streams(corpus, monkeypatch):
    per_rank = {}
    for rank in (0, 1):
        dm = datamodule(corpus)
        monkeypatch.setattr(dm, "_world", lambda rank=rank: (rank, 2))
        per_rank[rank] = list(dm.train_dataloader())
    assert len(per_rank[0]) == len(per_rank[1])
    both = torch.cat([per_rank[0][0][0], per_rank[1][0][0]])  # first windows of 2 x 4 streams
    length = len(dm.ids["train"]) // 8
    assert torch.equal(both, dm.ids["train"][: 8 * length].view(8, length)[:, :8])


def test_random_sampling_is_seeded_and_shifted(corpus):
    a = list(datamodule(corpus, sampling="random", seed=3).train_dataloader())
    b = list(datamodule(corpus, sampling="random", seed=3).train_dataloader())
    c = list(datamodule(corpus, sampling="random", seed=4).train_dataloader())
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b, strict=True))
    assert not torch.equal(a[0][0], c[0][0])
    assert all(torch.equal(x[:, 1:], y[:, :-1]) for x, y in a)


def test_carried_state_equals_one_long_pass_and_resets(tmp_path, corpus):
    cfg = make_config(tmp_path, chars_overrides(corpus, "data.eval_streams=1", "data.bptt=7"))
    dm = build_datamodule(cfg)
    task = build_task(cfg, dm)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    first = trainer.validate(task, datamodule=dm, verbose=False)[0]
    second = trainer.validate(task, datamodule=dm, verbose=False)[0]  # state reset at the start
    ids = dm.ids["val"]
    with torch.no_grad():
        logits, _ = task.eval()(ids[None, :-1])
        expected = F.cross_entropy(logits[0], ids[1:]).item()
    assert first["val/loss"] == pytest.approx(expected, abs=1e-5)
    assert second["val/loss"] == pytest.approx(expected, abs=1e-5)
    assert first["val/bpc"] == pytest.approx(expected / math.log(2), abs=1e-5)
    assert first["val/ppl"] == pytest.approx(math.exp(expected), rel=1e-5)


def test_memorises_a_tiny_corpus(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_text("abcdefgh" * 60, encoding="utf-8")
    overrides = chars_overrides(path, "trainer.max_epochs=12", "optimizer.lr=0.03", "test=false",
                                "callbacks.model_checkpoint=null")  # fmt: skip
    metrics = train(make_config(tmp_path, overrides), tmp_path)
    assert metrics["val/bpc"] < 0.2, metrics


def test_vocab_in_checkpoint_and_unknown_counts(tmp_path, corpus):
    metrics = train(
        make_config(tmp_path, chars_overrides(corpus, "trainer.max_epochs=1", "data.bptt=32")),
        tmp_path,
    )
    dm = datamodule(corpus)
    assert metrics["data/val_unknown"] == dm.unknown["val"]
    assert metrics["data/test_unknown"] == dm.unknown["test"]
    assert dm.unknown["val"] + dm.unknown["test"] == 5  # 'QQQ' and '!!'
    ckpt = torch.load(
        tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False
    )
    assert ckpt["hyper_parameters"]["vocab"] == dm.vocab.to_list()
    assert ckpt["CharDataModule"]["vocab"] == dm.vocab.to_list()
    assert "Q" not in dm.vocab.itos and dm.vocab.itos[0] == "<unk>"


@pytest.mark.parametrize("encoding", ["embedding", "onehot"])
def test_fast_dev_run_both_encodings(tmp_path, corpus, encoding):
    cfg = make_config(
        tmp_path,
        chars_overrides(corpus, f"task.encoding={encoding}", "debug=fdr"),
    )
    metrics = train(cfg, tmp_path)
    assert math.isfinite(metrics["test/bpc"]) and metrics["status"] == "completed"


def test_sample_is_seeded_and_greedy_ignores_seed(trained, tmp_path):
    from rnnlab.tasks.language import LanguageModelTask

    ckpt = trained / "checkpoints" / "last.ckpt"

    def sample(name, *args):
        proc = run_cli(
            "sample", [f"ckpt_path={ckpt}", "prompt=to", "length=40", *args], tmp_path / name
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return (tmp_path / name / "run" / "sample.txt").read_text(encoding="utf-8")

    task = LanguageModelTask.load_from_checkpoint(ckpt, map_location="cpu")

    def generate(seed, temperature):
        generator = torch.Generator().manual_seed(seed)
        return "to" + task.generate("to", 40, temperature=temperature, generator=generator)

    sampled = sample("a", "seed=1", "temperature=0.8")
    assert sampled == generate(1, 0.8) == generate(1, 0.8)  # the seed fixes the text
    assert generate(2, 0.8) != sampled or generate(3, 0.8) != sampled
    greedy = sample("c", "temperature=0", "seed=1")
    assert greedy == generate(1, 0) == generate(2, 0)  # greedy ignores the seed
    assert greedy[:40] in PHRASE * 3  # the phrase it was trained on


def test_eval_reproduces_test_bpc(trained, tmp_path):
    proc = run_cli("evaluate", [f"ckpt_path={trained / 'checkpoints' / 'best.ckpt'}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trained_metrics, evaluated = read_metrics(trained), read_metrics(tmp_path / "run")
    for key in ("test/bpc", "test/loss", "test/ppl"):
        assert evaluated[key] == trained_metrics[key], key


def test_empty_corpus_fails_cleanly(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    proc = run_cli("train", chars_overrides(empty), tmp_path)
    assert proc.returncode == 2
    assert f"data.path='{empty}'" in proc.stderr and "is empty" in proc.stderr, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    "content,expected",
    [
        ("caf\u00e9 ".encode("latin-1") * 200, r"data\.path=.*not valid UTF-8: byte 0xe9"),
        (b"abc" * 10, r"data\.batch_size=4 .*too short"),
    ],
)
def test_unusable_corpus_names_the_key(tmp_path, content, expected):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    dm = build_datamodule(make_config(tmp_path, chars_overrides(path)))
    with pytest.raises(ConfigError, match=expected):
        dm.setup("fit")


def test_prompt_with_unseen_characters_fails_cleanly(trained, tmp_path):
    ckpt = trained / "checkpoints" / "last.ckpt"
    proc = run_cli("sample", [f"ckpt_path={ckpt}", "prompt=TO BE"], tmp_path)
    assert proc.returncode == 2
    assert "prompt='TO BE'" in proc.stderr and "'B', 'E', 'O', 'T'" in proc.stderr
    assert "not in the training vocabulary" in proc.stderr and "Traceback" not in proc.stderr


def test_config_errors_name_data_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.corpus='shakespeare'.*tinyshakespeare"):
        check_config(tmp_path, ["data=chars", "data.corpus=shakespeare"])
    with pytest.raises(ConfigError, match=r"data\.path='/no/such/file'"):
        check_config(tmp_path, ["data=chars", "data.corpus=path", "data.path=/no/such/file"])
    with pytest.raises(ConfigError, match=r"task\.encoding='bits'"):
        check_config(tmp_path, ["data=chars", "data.corpus=stdlib", "task.encoding=bits"])


def test_offline_default_corpus_fails_in_one_line(tmp_path, monkeypatch):
    from rnnlab.data.chars import corpora
    from rnnlab.errors import DataError

    monkeypatch.setattr(corpora, "TINYSHAKESPEARE_URLS", ("http://127.0.0.1:9/input.txt",))
    dm = build_datamodule(make_config(tmp_path, ["data=chars"]))
    with pytest.raises(DataError, match=r"data\.corpus='tinyshakespeare'") as err:
        dm.prepare_data()
    assert "\n" not in str(err.value) and "data.corpus=stdlib" in str(err.value)


def test_text_samples_callback_appends_every_n_epochs_and_logs_to_wandb(tmp_path):
    from types import SimpleNamespace

    from rnnlab.callbacks.text_samples import TextSamples
    from rnnlab.tasks.language import LanguageModelTask

    model = {"cell": "lstm", "hidden_size": 8}
    task = LanguageModelTask(
        model=model, input_size=4, num_outputs=4, vocab=["<unk>", "a", "b", "c"]
    )
    rows = []
    wandb_like = SimpleNamespace(log_text=lambda **kwargs: rows.append(kwargs))
    callback = TextSamples(dirpath=str(tmp_path), every_n_epochs=2, prompt="ab", length=5)
    for epoch in range(4):
        trainer = SimpleNamespace(current_epoch=epoch, global_step=10 * epoch, is_global_zero=True,
                                  loggers=[wandb_like])  # fmt: skip
        callback.on_train_epoch_end(trainer, task)
    text = (tmp_path / "samples.txt").read_text(encoding="utf-8")
    assert text.count("=== epoch") == 2 and "=== epoch 1 (step 10)\nab" in text
    assert [row["data"][0][0] for row in rows] == [1, 3] and rows[0]["key"] == "samples"
    assert len(rows[0]["data"][0][3]) == 5 and "<unk>" not in rows[0]["data"][0][3]


def test_a_sweep_of_samples_lists_every_job_as_completed(trained, tmp_path):
    ckpt = trained / "checkpoints" / "last.ckpt"
    sweep = tmp_path / "sweep"  # where run_cli puts a sweep
    proc = run_cli("sample", ["-m", f"ckpt_path={ckpt}", "prompt=to", "length=12",
                              "temperature=0,0.8"], tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads((sweep / "summary.json").read_text(encoding="utf-8"))
    assert [(r["status"], r["sample/chars"]) for r in rows] == [("completed", 12)] * 2
    assert all((sweep / str(job) / "sample.txt").is_file() for job in (0, 1))
