"""Every ``rnnlab-*`` command shown in README.md and docs/*.md runs, in a tiny form.

The commands are read from the fenced ``bash`` blocks (continuation lines joined, comments
dropped, shell arrays of the block expanded) and run with small overrides appended: one
short epoch, outputs under the test's folder. So a recipe that needs another value (the
IRNN's learning rate) must carry it in its own config, not in a comment beside the command.
Only commands that need a GPU, SLURM or the network are skipped, each with its reason. The
whole list is slow; ``FAST`` names the few that run by default.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import REPO, SHARED_DATA

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

# Appended to every training command: one short epoch on the CPU.
TINY = ["trainer.max_epochs=1", "trainer.limit_train_batches=5", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1", "trainer.accelerator=cpu", "trainer.threads=1"]  # fmt: skip
# Why a command cannot run here; the first pattern found in it decides.
NEEDS = [
    ("trainer=gpu", "needs a GPU"),
    ("trainer=ddp", "needs several GPUs"),
    ("device=cuda", "needs a GPU"),
    ("launcher=slurm ", "needs a SLURM cluster (sbatch)"),
    ("--wandb", "needs the network (the W&B API)"),
    ("experiment=chars_ptb", "needs the network (downloads PTB)"),
    ("experiment=chars_shakespeare ", "needs the network (downloads tiny-shakespeare)"),
]
# Commands that run in the default suite (the rest are marked slow).
FAST = {
    "rnnlab-train experiment=adding model=rnn model.nonlinearity=relu model.init=identity",
    "rnnlab-train --help",
    "rnnlab-eval 'ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt'",
}


@dataclass(frozen=True)
class Shown:
    """One command as a document shows it."""

    doc: str
    line: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def _blocks(text: str):
    """(first line number, body) of every fenced bash block."""
    for match in re.finditer(r"^ *```(bash|sh)\n(.*?)^ *```", text, re.S | re.M):
        yield text[: match.start(2)].count("\n") + 1, match.group(2)


def _expand(words: list[str], arrays: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for word in words:
        array = re.fullmatch(r"\$\{(\w+)\[@\]\}", word)
        out.extend(arrays[array.group(1)] if array else [word])
    return out


def shown_commands(doc: Path) -> list[Shown]:
    """The ``rnnlab-*`` commands of a document's bash blocks, as word lists joined by spaces."""
    found: list[Shown] = []
    for first, body in _blocks(doc.read_text(encoding="utf-8")):
        arrays: dict[str, list[str]] = {}
        lines = body.split("\n")
        i = 0
        while i < len(lines):
            start, line = i, lines[i]
            i += 1
            # a continued line, or an array definition over several lines, is one command
            while i < len(lines) and (line.endswith("\\") or line.count("(") > line.count(")")):
                line = line.removesuffix("\\") + " " + lines[i]
                i += 1
            definition = re.fullmatch(r"\s*(\w+)=\((.*)\)\s*", line.split("#")[0])
            if definition:
                arrays[definition.group(1)] = shlex.split(definition.group(2))
                continue
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                words = words[1:]  # OMP_NUM_THREADS=1 before the command
            if words and words[0].startswith("rnnlab-"):
                words = _expand(words, arrays)
                found.append(Shown(doc.name, first + start, shlex.join(words)))
    return found


ALL = [shown for doc in DOCS for shown in shown_commands(doc)]


def test_the_documents_show_commands_and_the_parser_reads_them():
    texts = [s.text for s in ALL]
    assert set(texts) >= FAST
    # a continued line is one command; a comment is not part of it; an array is expanded
    assert any(t.startswith("rnnlab-train -m model=rnn,lstm,gru data.window=100") for t in texts)
    assert not any("#" in t for t in texts)
    assert not any("${" in t for t in texts)


# -- running one -----------------------------------------------------------------------------
def _skip_reason(text: str) -> str | None:
    for pattern, reason in NEEDS:
        if pattern in text + " ":
            return reason
    if "smnist" in text and not (SHARED_DATA / "mnist").is_dir():
        return f"needs the network (downloads MNIST; no copy in {SHARED_DATA})"
    if "chars_shakespeare_cpu" in text and not (SHARED_DATA / "tinyshakespeare").is_dir():
        return f"needs the network (downloads tiny-shakespeare; no copy in {SHARED_DATA})"
    if ("data=uea" in text or "uea.sh" in text) and not (SHARED_DATA / "uea").is_dir():
        return f"needs the network (downloads the UEA archive; no copy in {SHARED_DATA})"
    return None


def _env(tmp: Path) -> dict[str, str]:
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    for name in ("mnist", "tinyshakespeare", "uea"):
        if (SHARED_DATA / name).is_dir() and not (data / name).exists():
            shutil.copytree(SHARED_DATA / name, data / name)
    return {**os.environ, "RNNLAB_DATA_DIR": str(data), "WANDB_MODE": "offline",
            "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}  # fmt: skip


def _run(words: list[str], tmp: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    words = [str(BIN / words[0]), *words[1:]]
    return subprocess.run(
        words, cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=timeout
    )


def _train(tmp: Path, name: str, overrides: list[str]) -> Path:
    run = tmp / name
    if not (run / "metrics.json").is_file():
        done = _run(["rnnlab-train", *overrides, *TINY, f"hydra.run.dir={run}"], tmp)
        assert done.returncode == 0, done.stderr[-3000:]
    return run


def tiny(shown: Shown, tmp: Path) -> list[str]:
    """The command's words with its placeholders filled and the small overrides appended."""
    words = [w.replace("<stamp>", "stamp") for w in shlex.split(shown.text)]
    tool = words[0]
    if tool == "rnnlab-train":
        words = [w if w != "data.path=my.txt" else f"data.path={_text_file(tmp)}" for w in words]
        words = [_sequence_file(w, tmp, "data.target=regression" in words) for w in words]
        where = f"hydra.sweep.dir={tmp / 'sweep'}" if "-m" in words else f"hydra.run.dir={tmp}/run"
        if "--help" in words or "--cfg" in words:
            return words
        small = ["hydra.sweeper.n_trials=2"] if "hparams_search=" in shown.text else []
        # A figure of an epoch the one short epoch does not reach becomes the first epoch's.
        words = ["callbacks.gradient_flow.epochs=[1]"
                 if w.startswith("callbacks.gradient_flow.epochs=") else w for w in words]  # fmt: skip
        return [*words, *TINY, *small, f"paths.log_dir={tmp}/logs", where]
    if tool in ("rnnlab-eval", "rnnlab-sample"):
        chars = tool == "rnnlab-sample"
        run = _train(tmp, "chars_run" if chars else "sine_run",
                     ["experiment=chars_stdlib", "model.hidden_size=16"] if chars else [])  # fmt: skip
        words = [f"ckpt_path={run}/checkpoints/best.ckpt" if w.startswith("ckpt_path=") else w
                 for w in words]  # fmt: skip
        small = [] if chars else ["trainer.limit_test_batches=1"]
        return [*words, f"hydra.run.dir={tmp}/{tool}", *small]
    if tool == "rnnlab-table":
        runs = tmp / "runs"
        _train(tmp, "runs/a", ["seed=1"]), _train(tmp, "runs/b", ["seed=2", "model=gru"])
        out = []
        for w in words:
            if w.startswith("logs/") or w == "RUN_DIRS...":
                out.append(str(runs))
            else:
                out.append(w)
        return out
    if tool == "rnnlab-bench":
        return [*words, "write_docs=false", f"hydra.run.dir={tmp}/bench"]
    raise AssertionError(f"{shown.id}: no tiny form for {tool}")


def _sequence_file(word: str, tmp: Path, regression: bool) -> str:
    """``data.train_path=train.csv`` (and the like) pointing at a small file of that kind."""
    import numpy as np

    key, _, name = word.partition("=")
    if key not in ("data.train_path", "data.val_path", "data.test_path"):
        return word
    path = tmp / name
    rng = np.random.default_rng(len(name))
    labels = [rng.normal() for _ in range(12)] if regression else ["a", "b"] * 6
    if path.suffix == ".csv":
        rows = ["id,time,f0,f1,label"]
        for i, label in enumerate(labels):
            rows += [f"s{i},{t},{rng.normal():.3f},{rng.normal():.3f},{label}"
                     for t in range(3 + i % 4)]  # fmt: skip
        path.write_text("\n".join(rows) + "\n")
    else:
        x = rng.normal(size=(len(labels), 6, 2))
        np.savez(path, x=x, lengths=np.array([3 + i % 4 for i in range(len(labels))]),
                 y=np.array(labels))  # fmt: skip
    return f"{key}={path}"


def _text_file(tmp: Path) -> Path:
    path = tmp / "my.txt"
    path.write_text("To be, or not to be: that is the question.\n" * 200, encoding="utf-8")
    return path


def _params():
    for shown in ALL:
        marks = [] if shown.text in FAST else [pytest.mark.slow]
        yield pytest.param(shown, id=shown.id, marks=marks)


@pytest.mark.parametrize("shown", _params())
def test_shown_command_runs(shown, tmp_path):
    reason = _skip_reason(shown.text)
    if reason:
        pytest.skip(f"{shown.text}: {reason}")
    words = tiny(shown, tmp_path)
    # The default benchmarks take minutes on a quiet 2-core CPU, more on a busy one.
    done = _run(words, tmp_path, timeout=1500 if words[0] == "rnnlab-bench" else 600)
    assert done.returncode == 0, (
        f"{shown.id}: {shown.text}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    )
    summary = tmp_path / "sweep" / "summary.json"
    if "-m" in words and summary.is_file():  # a sweep exits 0 with failed jobs: look at them
        jobs = json.loads(summary.read_text(encoding="utf-8"))
        bad = [(j["job"], j["status"], j["error"]) for j in jobs
               if j["status"] not in ("completed", "pruned")]  # fmt: skip
        assert jobs and not bad, f"{shown.id}: {shown.text}: jobs that did not complete: {bad}"
