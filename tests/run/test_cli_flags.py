"""``rnnlab-train --cfg job`` prints the composed config and runs nothing; ``--help`` lists
the config groups and their options, never the private parts (``_*.yaml``)."""

from __future__ import annotations

import re
import sys

import pytest
import yaml

import rnnlab.run.job as job
from rnnlab.cli import train as train_cli
from rnnlab.conf import conf_dir

GROUPS = {
    "data": {"sine", "smnist", "chars"},
    "model": {"rnn", "lstm", "gru", "mingru", "minlstm", "lru", "s6", "slstm", "mlstm"},
    "optimizer": {"adam", "adamw", "sgd"},
    "scheduler": {"cosine", "plateau", "step", "onecycle", "none"},
    "trainer": {"default", "cpu", "gpu", "ddp"},
    "logger": {"csv", "tensorboard", "wandb", "many"},
    "callbacks": {"default", "early_stopping", "none", "gradient_flow"},
    "debug": {"fdr", "overfit", "limit", "profiler"},
    "experiment": {"smnist_row", "smnist_pixel", "smnist_permuted", "chars_stdlib"},
    "launcher": {"local", "slurm", "slurm_local"},
    "hparams_search": {"sine_lstm"},
}


def run_main(monkeypatch, *args: str) -> None:
    def no_job(*a, **k):
        raise AssertionError("a job ran")

    monkeypatch.setattr(job, "train", no_job)
    monkeypatch.setattr(sys, "argv", ["rnnlab-train", *args])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    train_cli.main()


def test_cfg_job_prints_the_composed_config_and_runs_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    run_main(
        monkeypatch, "--cfg", "job", "model=gru", "model.hidden_size=7", f"hydra.run.dir={run}"
    )
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["cell"] == "gru" and cfg["model"]["hidden_size"] == 7
    assert cfg["trainer"]["gradient_clip_val"] == 1.0 and cfg["optimizer"]["_target_"]
    assert "hydra" not in cfg  # the job's config, not Hydra's
    assert not run.exists() and list(tmp_path.iterdir()) == []  # no run dir, no logs


def test_help_lists_every_group_and_no_private_part(monkeypatch, capsys):
    run_main(monkeypatch, "--help")
    text = capsys.readouterr().out
    listed = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if line.startswith("  ") and len(parts) == 2:
            listed[parts[0]] = {o.strip() for o in parts[1].split(",")}
    for group, options in GROUPS.items():
        assert options <= listed.get(group, set()), group
    shown = {o for options in listed.values() for o in options} | set(listed)
    assert not [name for name in shown if name.startswith("_")]  # _stack.yaml and the like
    assert (conf_dir() + "/model/_stack.yaml") and "_stack" not in text
    assert "key=value" in text and "--cfg job" in text


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_runs_nothing(tmp_path, monkeypatch, capsys, flag):
    monkeypatch.chdir(tmp_path)
    run_main(monkeypatch, flag, f"hydra.run.dir={tmp_path / 'run'}")
    assert "Config groups" in capsys.readouterr().out and list(tmp_path.iterdir()) == []


def test_a_run_prints_no_warning_a_user_cannot_act_on(tmp_path):
    """Lightning's tips, deprecations and notes about its own defaults stay off the console
    (bf16 included: the model summary's size estimate warns there)."""
    from helpers import FAST, run_cli

    shown = [o for o in FAST if not o.startswith(("callbacks.", "trainer.enable_progress_bar"))]
    proc = run_cli("train", [*shown, "trainer.max_epochs=1", "trainer.precision=bf16-mixed"],
                   tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = proc.stdout + proc.stderr
    assert "results (completed):" in console and "Trainable params" in console  # the summary
    warned = [line for line in console.splitlines()
              if re.search(r"\.py:\d+: |Warning|Tip:|deprecated", line)]  # fmt: skip
    assert not warned, warned
