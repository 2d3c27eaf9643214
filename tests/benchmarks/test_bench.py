"""rnnlab-bench: the benchmarks listed in the config, one process per row, BENCHMARKS.md."""

from __future__ import annotations

import inspect
import os

import pytest
from hydra.utils import get_method
from omegaconf import OmegaConf

from rnnlab.benchmarks.cli import bench, run_one, spec_for
from rnnlab.benchmarks.report import format_table, parse_sections, parse_table, update_docs
from rnnlab.errors import ConfigError

from helpers import REPO, make_config


def fake(device: str, size: int = 1, fail: bool = False) -> dict:
    if fail:
        raise ValueError("planned failure")
    return {"seconds": 0.5, "ratio": 1.25, "extra_key": size, "device": device}


@pytest.fixture
def tests_importable(monkeypatch):
    """The worker process imports this module's ``fake``."""
    paths = [
        str(REPO / "tests" / "benchmarks"),
        str(REPO / "tests"),
        os.environ.get("PYTHONPATH", ""),
    ]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


def test_every_listed_benchmark_is_an_importable_function(tmp_path):
    cfg = make_config(tmp_path, [], name="bench")
    names = list(cfg.benchmarks)
    assert {"startup", "default_run", "threads", "loop", "scan_4096", "chars"} <= set(names)
    for name in names:
        assert callable(get_method(cfg.benchmarks[name]._target_)), name


@pytest.mark.parametrize("mode", ["quick", "full"])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_every_benchmark_takes_the_arguments_its_row_gets(tmp_path, mode, device):
    cfg = make_config(tmp_path, [], name="bench")
    for name, node in cfg.benchmarks.items():
        spec = spec_for(OmegaConf.to_container(node), mode, device)
        spec.pop("threads", None)  # the worker's, not the function's
        function = inspect.signature(get_method(spec.pop("_target_")))
        try:
            function.bind(**spec)
        except TypeError as err:
            pytest.fail(f"{name}: {err}")


def test_spec_takes_the_modes_own_arguments():
    node = {"_target_": "m.f", "cell": "lstm", "quick": {"repeats": 3}, "full": {"repeats": 9}}
    assert spec_for(node, "quick", "cpu") == {"_target_": "m.f", "cell": "lstm", "repeats": 3,
                                             "device": "cpu"}  # fmt: skip
    assert spec_for(node, "full", "cuda")["repeats"] == 9


def test_a_row_runs_in_its_own_process_with_one_thread(tests_importable):
    row = run_one("fake", {"_target_": "test_bench.fake", "size": 7, "device": "cpu"})
    assert row["status"] == "ok" and row["ratio"] == 1.25 and row["extra_key"] == 7
    assert row["threads"] == 1 and row["peak_rss_mb"] > 10 and "load_1min" in row
    table = format_table([row, {"name": "other", "status": "not run"}])
    assert "extra_key" in table.splitlines()[0] and "| 7 |" in table


def test_a_failing_benchmark_is_a_row_not_a_crash(tests_importable):
    row = run_one("bad", {"_target_": "test_bench.fake", "fail": True, "device": "cpu"})
    assert row["status"].startswith("failed") and "planned failure" in row["status"]
    missing = run_one("gone", {"_target_": "rnnlab.benchmarks.absent.f", "device": "cpu"})
    assert missing["status"].startswith("failed")


def test_docs_update_replaces_same_key_and_keeps_other_sections(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nintro\n\n## other\n\nhand-written text\n")
    row = {"name": "fake", "ratio": 1.5}
    update_docs(path, [row], device="cpu X", mode="quick", date="2026-01-01")
    update_docs(path, [{**row, "ratio": 2.0}], device="cpu X", mode="quick", date="2026-01-01")
    update_docs(path, [row], device="gpu Y", mode="full", date="2026-01-02")
    preamble, sections = parse_sections(path.read_text())
    assert "intro" in preamble and "hand-written text" in sections["other"]
    rows = parse_table(sections["fake"])
    assert [(r["device"], r["ratio"]) for r in rows] == [("cpu X", "2"), ("gpu Y", "1.5")]
    assert [p.name for p in tmp_path.iterdir()] == ["BENCHMARKS.md"]


def test_bench_job_writes_docs_and_metrics(tmp_path, tests_importable):
    docs = tmp_path / "B.md"
    cfg = make_config(tmp_path, ["device=cpu", f"docs_path={docs}", "only=[fake]"], name="bench")
    cfg.benchmarks = OmegaConf.create(
        {"fake": {"_target_": "test_bench.fake", "quick": {"size": 3}}}
    )
    out = bench(cfg, tmp_path)
    assert out["results"][0]["extra_key"] == 3 and (tmp_path / "metrics.json").is_file()
    assert "## fake" in docs.read_text()
    # bad values are refused by the one check, before the job (rnnlab.schema)
    from rnnlab.schema.validate import validate
    from rnnlab.schema.values import plain_config

    with pytest.raises(ConfigError, match="only='nope'"):
        validate(plain_config(make_config(tmp_path, ["only=[nope]"], name="bench")), "bench")
    with pytest.raises(ConfigError, match="mode='slow'"):
        validate(plain_config(make_config(tmp_path, ["mode=slow"], name="bench")), "bench")
