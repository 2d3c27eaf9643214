"""``python -m rnnlab.callbacks.gradient_flow RUN... --output`` overlays recorded runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rnnlab.callbacks.gradient_flow import main

from helpers import REPO

PNG = b"\x89PNG\r\n\x1a\n"


def run_dir(root, name: str, cell: str, norms: dict[str, list[float]]):
    path = root / name
    path.mkdir()
    (path / "gradient_flow.json").write_text(json.dumps({"cell": cell, "norms": norms}))
    return path


@pytest.fixture
def runs(tmp_path):
    return [
        run_dir(tmp_path, "a", "rnn", {"epoch 0": [1e-4, 1e-2, 1.0], "epoch 5": [0.5, 1.0, 2.0]}),
        run_dir(tmp_path, "b", "lstm", {"epoch 0": [0.3, 0.6, 1.2], "epoch 5": [1.0, 1.0, 4.0]}),
    ]


def table_rows(out: str) -> list[list[str]]:
    """The printed markdown table's body, one list of cells per row."""
    lines = [line for line in out.splitlines() if line.startswith("| ")][1:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_overlays_runs_and_tabulates_every_recording(runs, tmp_path, capsys):
    output = tmp_path / "cmp.png"
    main([str(r) for r in runs] + ["--output", str(output)])
    assert output.read_bytes()[:8] == PNG
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == f"figure: {output}"
    header = out.splitlines()[0]
    assert "‖∂L/∂h_1‖ / T" in header
    first_over_last = header.strip("|").split("|").index(" ‖∂L/∂h_1‖ / T ")
    rows = table_rows(out)
    assert [r[:3] for r in rows] == [["a", "rnn", "epoch 0"], ["a", "rnn", "epoch 5"],
                                     ["b", "lstm", "epoch 0"], ["b", "lstm", "epoch 5"]]  # fmt: skip
    assert [r[3] for r in rows] == ["1", "2", "1.2", "4"]  # ‖∂L/∂h_T‖
    assert [r[first_over_last] for r in rows] == ["0.0001", "0.25", "0.25", "0.25"]


def test_label_picks_another_recording(runs, tmp_path, capsys):
    main([str(r) for r in runs] + ["--output", str(tmp_path / "x.png"), "--label", "epoch 5"])
    rows = table_rows(capsys.readouterr().out)
    assert [r[:4] for r in rows] == [["a", "rnn", "epoch 5", "2"], ["b", "lstm", "epoch 5", "4"]]


def test_missing_recording_or_label_is_one_line(runs, tmp_path):
    with pytest.raises(SystemExit, match=r"gradient_flow\.json does not exist"):
        main([str(tmp_path), "--output", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit, match=r"has no 'epoch 9'; it has epoch 0, epoch 5"):
        main([str(runs[0]), "--output", str(tmp_path / "x.png"), "--label", "epoch 9"])
    assert not (tmp_path / "x.png").exists()


def test_runs_as_a_module(runs, tmp_path):
    output = tmp_path / "cmp.png"
    cmd = [sys.executable, "-m", "rnnlab.callbacks.gradient_flow", *map(str, runs), "--output",
           str(output)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r[:4] for r in table_rows(proc.stdout)][-1] == ["b", "lstm", "epoch 5", "4"]
    assert output.read_bytes()[:8] == PNG


def test_runs_with_the_same_folder_name_are_told_apart(tmp_path, capsys):
    (tmp_path / "cells").mkdir()
    (tmp_path / "irnn").mkdir()
    a = run_dir(tmp_path / "cells", "0", "rnn", {"epoch 0": [0.5, 1.0]})
    b = run_dir(tmp_path / "irnn", "0", "rnn", {"epoch 0": [1.0, 1.0]})
    main([str(a), str(b), "--output", str(tmp_path / "x.png")])
    assert [r[0] for r in table_rows(capsys.readouterr().out)] == ["cells/0", "irnn/0"]


def test_legend_names_the_cells_and_the_untrained_recording(tmp_path, monkeypatch):
    import rnnlab.callbacks.gradient_flow as gradient_flow

    figures = []
    monkeypatch.setattr(gradient_flow, "write_png", lambda path, fig: figures.append(fig))
    stamps = ["2026-12-06_01-00-00-123456", "2026-12-06_01-00-01-654321", "2026-12-06_01-02-03-1"]
    runs = [run_dir(tmp_path, stamp, cell, {"epoch 0": [0.5, 1.0], "epoch 5": [1.0, 1.0]})
            for stamp, cell in zip(stamps, ["rnn", "lstm", "rnn"], strict=True)]  # fmt: skip
    gradient_flow.compare([str(r) for r in runs], str(tmp_path / "x.png"))
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert legend == ["rnn #1, before training", "rnn #1, epoch 5", "lstm, before training",
                      "lstm, epoch 5", "rnn #3, before training", "rnn #3, epoch 5"]  # fmt: skip
