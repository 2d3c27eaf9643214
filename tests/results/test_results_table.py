from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from run_factory import ACC, LOSS, SINE, base_config, write_run

from rnnlab.results.collect import Run, collect_runs
from rnnlab.results.references import REFERENCES
from rnnlab.results.render import fmt_number, render
from rnnlab.results.table import build_table, direction, is_noise_key, varying_keys


@pytest.fixture
def runs(sweep: Path) -> list[Run]:
    loaded, _ = collect_runs([sweep])
    return loaded


def pm(metric: str, values: list[float], sep: str = "±") -> str:
    """Expected cell text computed independently with numpy."""
    arr = np.array(values)
    mean, std = arr.mean(), arr.std(ddof=1)
    return f"{fmt_number(metric, mean)} {sep} {fmt_number(metric, std, like=mean)}"


def test_groups_by_varying_keys_excluding_seed_and_noise(runs: list[Run]):
    # seed, paths, trainer.default_root_dir, logger ids and callbacks all vary.
    assert varying_keys(runs) == ["model.cell"]
    table = build_table(runs)
    assert table.keys == ["model.cell"]
    assert [g.values["model.cell"] for g in table.groups] == ["gru", "lstm"]
    assert all(len(g.runs) == 3 for g in table.groups)


@pytest.mark.parametrize(
    "key",
    [
        "seed",
        "data.seed",
        "paths.output_dir",
        "hydra.run.dir",
        "logger.wandb.id",
        "callbacks.ckpt.dirpath",
        "trainer.default_root_dir",
        "task_name",
        "data.data_dir",
    ],
)
def test_noise_keys(key: str):
    assert is_noise_key(key)


def test_mean_and_sample_std_match_numpy(runs: list[Run]):
    table = build_table(runs, metrics=["test/acc", "test/loss"])
    for g in table.groups:
        cell = g.values["model.cell"]
        for name, ref in (("test/acc", ACC), ("test/loss", LOSS)):
            stat = g.stats[name]
            assert stat.n == 3
            assert stat.mean == pytest.approx(np.mean(ref[cell]))
            assert stat.std == pytest.approx(np.std(ref[cell], ddof=1))


def test_default_metrics_are_test_and_val_best(runs: list[Run]):
    assert build_table(runs).metrics == ["test/acc", "test/loss", "val/acc_best"]


def test_markdown_cells_bold_best_with_direction(runs: list[Run]):
    text = render(build_table(runs, metrics=["test/acc", "test/loss"]), "markdown")
    lines = text.splitlines()
    assert lines[0] == "| model.cell | n | test/acc (%) | test/loss | published |"
    gru = next(line for line in lines if line.startswith("| gru "))
    lstm = next(line for line in lines if line.startswith("| lstm "))
    # Accuracy: higher is better and shown in percent with two decimals.
    assert f"**{pm('test/acc', ACC['lstm'])}**" in lstm
    assert pm("test/acc", ACC["gru"]) in gru and "**" + pm("test/acc", ACC["gru"]) not in gru
    assert pm("test/acc", ACC["lstm"]).startswith("97.80 ± 0.")
    # Loss: lower is better.
    assert f"**{pm('test/loss', LOSS['gru'])}**" in gru
    assert "**" + pm("test/loss", LOSS["lstm"]) not in lstm


def test_latex_booktabs_escaped_and_bold(runs: list[Run]):
    text = render(build_table(runs, metrics=["test/acc", "test/loss"]), "latex")
    assert r"\toprule" in text and r"\midrule" in text and r"\bottomrule" in text
    assert r"model.cell & n & test/acc (\%) & test/loss & published \\" in text
    assert "test_" not in text  # every underscore escaped
    best = pm("test/acc", ACC["lstm"], sep=r"$\pm$")
    assert rf"\textbf{{{best}}}" in text


def test_csv_has_separate_mean_std_n(runs: list[Run]):
    text = render(build_table(runs, metrics=["test/acc"]), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "model.cell",
        "n",
        "test/acc mean",
        "test/acc std",
        "test/acc n",
        "published",
        "published source",
    ]
    lstm = next(r for r in rows if r["model.cell"] == "lstm")
    assert float(lstm["test/acc mean"]) == pytest.approx(np.mean(ACC["lstm"]))
    assert float(lstm["test/acc std"]) == pytest.approx(np.std(ACC["lstm"], ddof=1))
    assert lstm["test/acc n"] == "3"
    assert "**" not in text and "textbf" not in text


def test_by_keys_override_grouping(runs: list[Run]):
    table = build_table(runs, by=["seed"], metrics=["test/acc"])
    assert table.keys == ["seed"]
    assert [g.values["seed"] for g in table.groups] == [0, 1, 2]
    g0 = table.groups[0]
    assert g0.stats["test/acc"].mean == pytest.approx(np.mean([ACC["lstm"][0], ACC["gru"][0]]))
    with pytest.raises(ValueError, match="not found"):
        build_table(runs, by=["model.nope"])


def test_single_run_shows_no_std_and_no_bold(tmp_path: Path):
    write_run(tmp_path, "a", base_config("lstm"), {"test/acc": 0.9})
    runs, _ = collect_runs([tmp_path])
    text = render(build_table(runs), "markdown")
    assert "| all runs | 1 | 90.00 |" in text
    assert "±" not in text and "**" not in text


def test_partial_metric_reports_its_own_n(tmp_path: Path):
    write_run(tmp_path, "a", base_config(seed=0), {"test/acc": 0.9, "test/mse": 0.5})
    write_run(tmp_path, "b", base_config(seed=1), {"test/acc": 0.8})
    runs, _ = collect_runs([tmp_path])
    text = render(build_table(runs), "markdown")
    assert "0.500 (n=1)" in text


def test_published_column_for_matching_setting(runs: list[Run]):
    # The sweep is row-wise sMNIST: only the LSTM row has a published number.
    table = build_table(runs, metrics=["test/acc"])
    lstm = next(g for g in table.groups if g.values["model.cell"] == "lstm")
    gru = next(g for g in table.groups if g.values["model.cell"] == "gru")
    assert [r.value for r in lstm.published] == [0.9864]
    assert gru.published == []
    text = render(table, "markdown")
    assert text.splitlines()[0].endswith("| published |")
    assert "98.64 test/acc [1]" in text
    assert "[1] test/acc 98.64: Keras example mnist_hierarchical_rnn.py" in text
    assert "published" not in render(build_table(runs, references=()), "markdown")


def test_reference_entries_match_their_settings():
    def cfg(target: str, cell: str, **data: str) -> dict:
        return {
            "data._target_": target,
            "model.cell": cell,
            "model.bidirectional": False,
            **{f"data.{k}": v for k, v in data.items()},
        }

    mnist, chars = "rnnlab.data.mnist.SequentialMNIST", "rnnlab.data.chars.CharDataModule"
    cases = [
        (cfg(mnist, "lstm", mode="pixel"), 0.989),
        (cfg(mnist, "lstm", mode="permuted"), 0.902),
        (cfg(mnist, "rnn", mode="pixel"), 0.35),
        (cfg(chars, "lstm", corpus="ptb"), 1.36),
        (cfg(chars, "gru", corpus="ptb"), 1.37),
        (cfg(chars, "rnn", corpus="ptb"), 1.48),
        (cfg(chars, "mingru", corpus="tinyshakespeare"), 1.4697),
        (cfg(SINE, "lstm"), None),
        ({**cfg(mnist, "lstm", mode="pixel"), "model.bidirectional": True}, None),
    ]
    selective = "rnnlab.data.synthetic.SelectiveCopy"
    for cell, layers, expected in (
        ("mingru", 1, 0.370),
        ("mingru", 3, 0.995),
        ("minlstm", 1, 0.376),
        ("minlstm", 2, 0.857),
        ("mingru", 4, None),  # no published row at that depth
        ("gru", 1, None),  # the paper has no GRU on this task
    ):
        cases.append(({**cfg(selective, cell), "model.num_layers": layers}, expected))
    cases.append(
        ({**cfg("rnnlab.data.synthetic.CopyMemory", "mingru"), "model.num_layers": 1}, None)
    )
    for config, expected in cases:
        values = [r.value for r in REFERENCES if r.applies(config)]
        assert values == ([] if expected is None else [expected]), config
    assert all(r.source and r.note and r.metric for r in REFERENCES)


def test_direction_comes_from_what_the_runs_declare():
    def run(better: dict) -> Run:
        return Run("r", {}, {"m": 1.0}, better=better)

    assert direction("m", [run({"m": "higher"}), run({})]) == 1
    assert direction("m", [run({"m": "lower"})]) == -1
    # No name guessing: a metric no run declares is not ranked, whatever its name says.
    assert direction("test/acc", [run({})]) == 0
    assert direction("m", [run({"m": "lower"}), run({"m": "higher"})]) == 0  # disagreement


def test_unknown_format_rejected(runs: list[Run]):
    with pytest.raises(ValueError, match="unknown format"):
        render(build_table(runs), "html")


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("test/acc", 0.98123, "98.12"),
        ("test/loss", 0.0612345, "0.0612"),
        ("test/bpc", 1.36321, "1.36"),
        ("val/ppl", 123.456, "123.5"),
        ("test/mse", 0.000123, "1.23e-04"),
        ("model/params", 12345.0, "12345"),
    ],
)
def test_number_precision(metric: str, value: float, text: str):
    assert fmt_number(metric, value) == text


def test_keys_of_partial_config_groups_collapse(tmp_path: Path):
    # Char runs have data.corpus and no data.mode/batch_size; those keys only
    # restate which data module was used and must not become columns.
    for i, (mode, cell) in enumerate([("pixel", "lstm"), ("permuted", "lstm"), ("pixel", "rnn")]):
        write_run(tmp_path, f"m{i}", base_config(cell, 0, mode), {"test/acc": 0.5})
    chars = base_config("lstm")
    chars["data"] = {"_target_": "rnnlab.data.chars.CharDataModule", "corpus": "ptb"}
    write_run(tmp_path, "c", chars, {"test/bpc": 1.4})
    runs, _ = collect_runs([tmp_path])
    assert varying_keys(runs) == ["data._target_", "data.mode", "model.cell"]
    table = build_table(runs, metrics=["test/acc"])
    assert len(table.groups) == 4
    chars_row = render(table, "csv").splitlines()[1]
    # CSV keeps full class paths and leaves keys a run lacks empty.
    assert chars_row.startswith("rnnlab.data.chars.CharDataModule,,lstm,1,")
    # Bold is decided within one data setting: the lone permuted row gets none.
    best = {(g.values["data.mode"], g.values["model.cell"]) for g in table.groups if g.best}
    assert best == {("pixel", "lstm"), ("pixel", "rnn")}  # tied at 0.5
