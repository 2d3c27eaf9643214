from __future__ import annotations

from pathlib import Path

from run_factory import base_config, write_run

from rnnlab.io.runs import read_run
from rnnlab.results.collect import Run, collect_runs, flatten


def test_flatten_dotted_keys():
    flat = flatten({"a": 1, "b": {"c": 2, "d": {"e": [1, 2]}}, "f": {}})
    assert flat == {"a": 1, "b.c": 2, "b.d.e": [1, 2], "f": {}}


def test_collects_runs_recursively_and_keeps_numbers_only(sweep: Path):
    runs, skipped = collect_runs([sweep])
    assert skipped == []
    assert len(runs) == 6
    run = next(r for r in runs if r.path.name == "lstm_0")
    assert isinstance(run, Run)
    assert run.config["model.cell"] == "lstm"
    assert run.config["seed"] == 0
    assert run.overrides == ["model=lstm", "seed=0"]
    assert run.metrics["test/acc"] == 0.981
    assert "status" not in run.metrics and "note" not in run.metrics


def test_broken_dirs_are_skipped_with_reasons(tmp_path: Path):
    good = base_config("lstm", 0)
    write_run(tmp_path, "ok", good, {"test/acc": 0.9, "status": "completed"})
    write_run(tmp_path, "no_metrics", good, None)
    write_run(tmp_path, "bad_json", good, "{not json")
    write_run(tmp_path, "no_config", None, {"test/acc": 0.9})
    write_run(tmp_path, "failed", good, {"status": "failed", "error": "CUDA OOM"})
    write_run(tmp_path, "nan_only", good, {"test/loss": float("nan")})
    runs, skipped = collect_runs([tmp_path, tmp_path / "does_not_exist"])

    assert [r.path.name for r in runs] == ["ok"]
    reasons = {Path(s.location).name: s.reason for s in skipped}
    assert "no metrics.json" in reasons["no_metrics"]
    assert "unreadable metrics.json" in reasons["bad_json"]
    assert "missing .hydra/config.yaml" in reasons["no_config"]
    assert "failed" in reasons["failed"] and "CUDA OOM" in reasons["failed"]
    assert "no numeric metrics" in reasons["nan_only"]
    assert "does not exist" in reasons["does_not_exist"]


def test_does_not_descend_into_a_run(tmp_path: Path):
    run = write_run(tmp_path, "r", base_config(), {"test/acc": 0.5})
    # A nested folder with its own metrics.json (e.g. an eval dump) is not a separate run.
    write_run(run, "eval", base_config(), {"test/acc": 0.1})
    runs, _ = collect_runs([tmp_path])
    assert [r.path.name for r in runs] == ["r"]


def test_a_saved_interpolation_is_read_as_the_value_the_run_used(tmp_path):
    # Hydra saves `lr: ${if_equal:...}` as written; a table groups by the value (1e-4).
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(
        "model: {init: identity}\n"
        "optimizer: {lr: '${if_equal:${model.init},identity,0.0001,0.01}'}\n"
        "out: '${hydra:runtime.output_dir}'\n"
    )
    config = read_run(tmp_path).config
    assert config["optimizer"]["lr"] == 0.0001
    assert config["out"] == "${hydra:runtime.output_dir}"  # needs the live job: kept as text
