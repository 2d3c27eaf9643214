from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from run_factory import ACC, FakeApi, base_config, fake_run, write_run

from rnnlab.results import cli, wandb_source


def test_markdown_to_stdout_and_skips_on_stderr(sweep: Path, capsys: pytest.CaptureFixture):
    write_run(sweep, "crashed", base_config(seed=9), {"status": "failed", "error": "NaN loss"})
    assert cli.main([str(sweep)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("| model.cell | n | test/acc (%) | test/loss | val/acc_best (%) |")
    assert f"{np.mean(ACC['lstm']) * 100:.2f}" in out
    assert "crashed: run failed: NaN loss" in err
    assert "6 runs in 2 groups" in err


def test_by_metrics_latex_output_file_and_plot(sweep: Path, tmp_path: Path, capsys):
    out_file = tmp_path / "tables" / "t.tex"
    png = tmp_path / "curves.png"
    rc = cli.main(
        [
            str(sweep),
            "--by",
            "model.cell",
            "--metrics",
            "test/acc",
            "--format",
            "latex",
            "--output",
            str(out_file),
            "--plot",
            str(png),
            "--plot-metric",
            "val/acc",
            "--plot-x",
            "epoch",
            "--no-published",
        ]
    )
    assert rc == 0
    assert capsys.readouterr().out == ""
    text = out_file.read_text()
    assert text.startswith(r"\begin{tabular}") and "test/loss" not in text
    assert "published" not in text
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in out_file.parent.iterdir()] == ["t.tex"]  # no temp leftovers
    umask = os.umask(0)
    os.umask(umask)
    assert out_file.stat().st_mode & 0o777 == 0o666 & ~umask


def test_unknown_metric_warns(sweep: Path, capsys):
    assert cli.main([str(sweep), "--metrics", "test/acc,test/bpc"]) == 0
    out, err = capsys.readouterr()
    assert "no run reports metric 'test/bpc'" in err
    assert "| - |" in out


def test_csv_format(sweep: Path, capsys):
    assert cli.main([str(sweep), "--format", "csv", "--metrics", "test/acc,test/loss"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("model.cell,n,test/acc mean,test/acc std,test/acc n,test/loss mean")


def test_no_usable_runs_is_an_error(tmp_path: Path, capsys):
    write_run(tmp_path, "half", base_config(), None)
    assert cli.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no metrics.json" in err and "no usable runs" in err


def test_bad_by_key_is_an_error(sweep: Path, capsys):
    assert cli.main([str(sweep), "--by", "model.cel"]) == 2
    err = capsys.readouterr().err
    assert "model.cel" in err and "did you mean model.cell?" in err and err.count("\n") == 1


def test_needs_a_source(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
    assert "--wandb" in capsys.readouterr().err


def test_wandb_unavailable_is_reported(monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert cli.main(["--wandb", "me/proj"]) == 1
    assert "offline" in capsys.readouterr().err


def test_wandb_runs_through_cli(monkeypatch: pytest.MonkeyPatch, capsys):
    api = FakeApi([fake_run("a", "lstm", 0, 0.5), fake_run("b", "gru", 0, 0.25)])
    monkeypatch.setattr(wandb_source, "_make_api", lambda: api)
    assert cli.main(["--wandb", "me/proj", "--wandb-filters", '{"state": "finished"}']) == 0
    assert api.calls == [("me/proj", {"state": "finished"})]
    out = capsys.readouterr().out
    assert "| lstm | 1 | **50.00** |" in out


def test_runs_as_module(sweep: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "rnnlab.results.cli", str(sweep), "--format", "csv"],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(Path(cli.__file__).parents[2]), "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("model.cell,n,")
