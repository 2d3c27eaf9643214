"""Bad input and faults given to rnnlab-train, rnnlab-eval and rnnlab-sample.

Every case of the table ends in exactly one line on stderr that names the key (or the
file), the value and what is allowed; the exit code says which kind of error it was (2 a
config or data value, 1 a file or disk); there is no traceback; and nothing is lost: a
refused fresh run leaves no run dir (nothing new at all under the test's folder), and a
refused command leaves every file of an existing run dir byte for byte as it was, with
its modification time. Most cases call the command's ``main()`` in this process; the
concurrency case runs the first command in a separate process.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from rnnlab.cli import eval as eval_cli
from rnnlab.cli import sample as sample_cli
from rnnlab.cli import train as train_cli
from rnnlab.run.checkpoints import CHECKSUM, tensor_checksum
from rnnlab.run.rundir import RunDirLock

from helpers import FAST, REPO, make_config

MAINS = {"train": train_cli.main, "eval": eval_cli.main, "sample": sample_cli.main}
# A run that reaches training: FAST, one short epoch, no figures.
TINY = [
    *FAST,
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "callbacks.test_figures=null",
]
# Tiny sizes for the other data options (FAST's data keys are the sine data's).
QUICK = ["model.hidden_size=8", "trainer.max_epochs=1", "trainer.accelerator=cpu",
         "trainer.enable_progress_bar=false"]  # fmt: skip
PHRASE = "to be or not to be,\nthat is the question.\n"
NO_GPU = torch.cuda.is_available()
HAS_SLURM = bool(shutil.which("sbatch") and shutil.which("srun"))


# -- running a command in this process --------------------------------------------------
@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def invoke(command: str, args: list[str], monkeypatch, capfd) -> Result:
    """``rnnlab-<command> ARGS`` in this process: exit code, stdout, stderr."""
    capfd.readouterr()
    root = logging.getLogger()
    handlers = root.handlers[:]
    with monkeypatch.context() as m:
        m.setattr(sys, "argv", [f"rnnlab-{command}", *args])
        m.delenv("HYDRA_FULL_ERROR", raising=False)  # the commands' own one-line errors
        try:
            MAINS[command]()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            # A process ends after one command; here the job's log handlers (files in run
            # dirs a later test may have removed) must not outlive it.
            root.handlers[:] = handlers
    out, err = capfd.readouterr()
    return Result(code, out, err)


def tree(root: Path) -> dict[str, tuple[bytes, int] | None]:
    """Every file under ``root`` with its bytes and modification time (folders: None)."""
    out: dict[str, tuple[bytes, int] | None] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = (path.read_bytes(), path.stat().st_mtime_ns) if path.is_file() else None
    return out


def fill(text: str, places: dict[str, str]) -> str:
    """``{sine}`` and the like replaced by their paths (Hydra's ``${...}`` left alone)."""
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


# -- runs the cases read ---------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A finished LSTM run on sine data made by rnnlab-train (run dir, .hydra, last.ckpt),
    a character model, and checkpoints that are damaged, foreign or do not fit."""
    root = tmp_path_factory.mktemp("runs")
    sine = root / "sine"
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(sys, "argv", ["rnnlab-train", *TINY, f"hydra.run.dir={sine}"])
        mp.delenv("HYDRA_FULL_ERROR", raising=False)
        mp.setenv("RNNLAB_DATA_DIR", str(root / "data"))
        train_cli.main()
    finally:
        mp.undo()
    assert json.loads((sine / "metrics.json").read_text())["status"] == "completed"
    best = sine / "checkpoints" / "best.ckpt"

    text = root / "phrase.txt"
    text.write_text(PHRASE * 60, encoding="utf-8")
    chars = root / "chars"
    from rnnlab.run.job import train

    chars_args = ["data=chars", "data.corpus=path", f"data.path={text}", "data.bptt=16",
                  "data.batch_size=4", "data.eval_streams=2", "task.embedding_dim=8",
                  "~scheduler", "trainer.limit_train_batches=2", "callbacks.progress_bar=null",
                  "callbacks.model_summary=null", *QUICK]  # fmt: skip
    train(make_config(chars, chars_args), chars)

    files = root / "files"
    files.mkdir()
    data = best.read_bytes()
    (files / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (files / "notes.txt").write_text("not a checkpoint\n")
    torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"lr": 0.1},
                "epoch": 3, "pytorch-lightning_version": "2.2.0"}, files / "foreign.ckpt")  # fmt: skip
    ckpt = torch.load(best, weights_only=False)
    key = next(k for k in ckpt["state_dict"] if "weight_hh" in k)
    ckpt["state_dict"][key] = torch.zeros(3, 3)
    ckpt[CHECKSUM] = tensor_checksum(ckpt)  # intact, but not the weights its config builds
    torch.save(ckpt, files / "misfit.ckpt")

    damaged = root / "damaged"
    shutil.copytree(sine, damaged)
    last = damaged / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    return {
        "sine": sine,
        "best": best,
        "chars": chars / "checkpoints" / "best.ckpt",
        "damaged": damaged,
        "files": files,
        "text": text,
    }


# -- the table -------------------------------------------------------------------------
@dataclass
class Case:
    command: str
    args: list[str]
    code: int
    expect: list[str]  # each must be in the one stderr line ({placeholders} filled in)
    base: list[str] = field(default_factory=list)  # overrides put before args
    hold_lock: str | None = None  # a run dir locked by "another process" meanwhile
    skip: str | None = None


# Under every training case: should a rule be lost, the case trains a few steps at most
# (max_epochs=-1 would otherwise train for ever) and then fails on its assertions.
BOUND = "trainer.max_steps=4"
SINE = [*TINY, BOUND]
OTHER = [*QUICK, BOUND, "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
         "callbacks.progress_bar=null", "callbacks.model_summary=null"]  # fmt: skip
NO_CALLBACK_KEYS = [*FAST[:6], *QUICK[1:], BOUND]  # for a callbacks option without the defaults


def train(args, expect, code=2, base=SINE, **kw) -> Case:
    return Case("train", args, code, expect, list(base), **kw)


def evaluate(args, expect, code=2, **kw) -> Case:
    return Case("eval", args, code, expect, **kw)


def sample(args, expect, code=2, **kw) -> Case:
    return Case("sample", ["ckpt_path={chars}", *args], code, expect, **kw)


GPU = "a GPU is visible" if NO_GPU else None
# fmt: off
CASES: dict[str, Case] = {
    # top-level values
    "seed not a number": train(["seed=abc"], ["seed='abc'", "an integer from 0 to"]),
    "seed a fraction": train(["seed=1.5"], ["seed=1.5", "an integer from 0 to"]),
    "seed too large": train(["seed=99999999999999"], ["seed=99999999999999", "4294967295"]),
    "seed empty": train(["seed="], ["seed=''", "an integer"]),
    "seed unresolvable": train(["seed=${oc.env:RNNLAB_NO_SUCH_VAR}"], ["seed=", "RNNLAB_NO_SUCH"]),
    # optimizer
    "lr a word": train(["optimizer.lr=fast"], ["optimizer.lr='fast'", "a finite number"]),
    "lr a list": train(["optimizer.lr=[0.1,0.2]"], ["optimizer.lr=[0.1, 0.2]", "finite number"]),
    "lr nan": train(["optimizer.lr=nan"], ["optimizer.lr=nan", "a finite number > 0"]),
    "lr inf": train(["optimizer.lr=inf"], ["optimizer.lr=inf", "a finite number"]),
    "lr negative": train(["optimizer.lr=-0.1"], ["optimizer.lr=-0.1", "a finite number > 0"]),
    "lr without value": train(["optimizer.lr"], ["optimizer.lr", "optimizer.lr=VALUE"]),
    "negative weight decay": train(["optimizer.weight_decay=-1"], ["optimizer.weight_decay=-1", "a finite number >= 0"]),
    "momentum a word": train(["optimizer=sgd", "optimizer.momentum=lots"], ["optimizer.momentum='lots'", "[0, 1)"]),
    "betas not a pair": train(["optimizer=adamw", "optimizer.betas=[0.9]"], ["optimizer.betas=[0.9]", "a pair"]),
    "sweep list without -m": train(["optimizer.lr=1e-3,1e-2"], ["optimizer.lr=1e-3,1e-2", "--multirun"]),
    "unknown optimizer": train(["optimizer=adamm"], ["optimizer='adamm'", "adam, adamw, sgd"]),
    # trainer
    "negative epochs": train(["trainer.max_epochs=-1"], ["trainer.max_epochs=-1", "positive"]),
    "epochs a word": train(["trainer.max_epochs=ten"], ["trainer.max_epochs='ten'", "positive"]),
    "zero epochs": train(["trainer.max_epochs=0"], ["trainer.max_epochs=0", "positive integer"]),
    "fractional epochs": train(["trainer.max_epochs=1.5"], ["trainer.max_epochs=1.5", "integer"]),
    "negative clipping": train(["trainer.gradient_clip_val=-1"], ["trainer.gradient_clip_val=-1", "null or a finite number > 0"]),
    "zero threads": train(["trainer.threads=0"], ["trainer.threads=0", "auto or a positive"]),
    "zero devices": train(["trainer.devices=0"], ["trainer.devices=0", "auto, -1"]),
    "precision 8": train(["trainer.precision=8"], ["trainer.precision=8", "32-true"]),
    "unknown accelerator": train(["trainer.accelerator=tpu"], ["trainer.accelerator='tpu'", "cpu"]),
    "clipping nan": train(["trainer.gradient_clip_val=nan"], ["trainer.gradient_clip_val=nan", "finite"]),
    "misspelt trainer option": train(["trainer=gpus"], ["trainer='gpus'", "cpu, ddp, default, gpu"]),
    "limit above 1": train(["trainer.limit_train_batches=1.5"], ["trainer.limit_train_batches=1.5", "(0, 1]"]),
    "gpu without a gpu": train(["experiment=smnist_pixel", "trainer=gpu"], ["trainer.accelerator='gpu'", "no GPU is visible", "trainer=cpu"], base=[BOUND], skip=GPU),
    # scheduler
    "scheduler null": train(["scheduler=null"], ["scheduler='null'", "scheduler=none"]),
    "step size 0": train(["scheduler=step", "scheduler.step_size=0"], ["scheduler.step_size=0", "positive integer"]),
    "T_max a word": train(["scheduler.T_max=abc"], ["scheduler.T_max='abc'", "auto or a positive"]),
    "eta_min nan": train(["scheduler.eta_min=nan"], ["scheduler.eta_min=nan", "finite"]),
    "negative max_lr": train(["scheduler=onecycle", "scheduler.max_lr=-1"], ["scheduler.max_lr=-1", "a finite number > 0"]),
    "plateau factor 2": train(["scheduler=plateau", "scheduler.factor=2"], ["scheduler.factor=2", "(0, 1)"]),
    "plateau on a metric never logged": train(["scheduler=plateau", "scheduler.monitor=val/nonexist"], ["scheduler.monitor='val/nonexist'", "a metric this task logs", "val/loss"]),
    "optimized metric never logged": train(["optimized_metric=val/nope"], ["optimized_metric='val/nope'", "val/mse"]),
    "checkpoint monitor never logged": train(["callbacks.model_checkpoint.monitor=val/acc"], ["callbacks.model_checkpoint.monitor='val/acc'", "a metric this task logs"]),
    # model
    "hidden size 0": train(["model.hidden_size=0"], ["model.hidden_size=0", "positive integer"]),
    "hidden size too big for memory": train(["model.hidden_size=1000000000"], ["model.hidden_size=1000000000", "fits in memory"]),
    "hidden size a list": train(["model.hidden_size=[16,32]"], ["model.hidden_size=[16, 32]", "positive integer"]),
    "hidden size inf": train(["model.hidden_size=inf"], ["model.hidden_size=inf", "positive"]),
    "fractional layers": train(["model.num_layers=2.5"], ["model.num_layers=2.5", "positive integer"]),
    "negative layers": train(["model.num_layers=-2"], ["model.num_layers=-2", "positive integer"]),
    "new misspelt model key": train(["+model.hiden_size=32"], ["model.hiden_size=32", "did you mean model.hidden_size"]),
    "misspelt model key": train(["model.hiden_size=32"], ["model.hiden_size=32", "did you mean model.hidden_size"]),
    "misspelt group": train(["modle.hidden_size=32"], ["modle.hidden_size=32", "did you mean model"]),
    "sine keys under another data option": train(["data=smnist", "data.num_series=24", "data.length=48"], ["data.num_series=24", "a key of data;", "data_dir"], base=[BOUND]),
    "unknown top-level key": train(["foo=1"], ["foo=1", "a key of rnnlab-train"]),
    "unknown model option": train(["model=foo"], ["model='foo'", "gru, lru, lstm, mingru, minlstm, mlstm, rnn, s6, slstm"]),
    "model null": train(["model=null"], ["model='null'", "one of gru, lru, lstm"]),
    "unknown cell": train(["model.cell=lstn"], ["model.cell='lstn'", "rnn, lstm, gru"]),
    "empty cell": train(["model.cell="], ["model.cell=''", "rnn, lstm, gru"]),
    "dropout 1.5": train(["model.dropout=1.5"], ["model.dropout=1.5", "[0, 1)"]),
    "bidirectional yes": train(["model.bidirectional=yes"], ["model.bidirectional='yes'", "true"]),
    "identity init for lstm": train(["model.init=identity", "model=lstm"], ["model.init='identity'", "for cell=lstm"]),
    "chrono without t_max": train(["model.init=chrono"], ["model.chrono_t_max=null", ">= 2"]),
    "forget bias for gru": train(["model.forget_bias=1", "model=gru"], ["model.forget_bias=1", "no forget gate"]),
    "relu for gru": train(["model.nonlinearity=relu", "model=gru"], ["model.nonlinearity='relu'", "unless cell is rnn"]),
    "unparsable value": train(["model.hidden_size=abc=3"], ["model.hidden_size='abc=3'", "quote"]),
    # data
    "moved key": train(["data.encoding=onehot"], ["data.encoding='onehot'", "task.encoding"]),
    "moved key added": train(["+data.encoding=onehot"], ["data.encoding='onehot'", "task.encoding"]),
    "misspelt data option": train(["data=sinee"], ["data='sinee'", "adding, chars, copy, modular_arithmetic, mqar, parity, selective_copy, sequences, sine, smnist, uea"], base=[BOUND]),
    "window empty": train(["data.window="], ["data.window=''", "positive integer"]),
    "stride a list": train(["data.stride=[1,2]"], ["data.stride=[1, 2]", "positive integer"]),
    "unknown encoding": train(["data=chars", "data.corpus=path", "data.path={text}", "task.encoding=bits"], ["task.encoding='bits'", "embedding, onehot"], base=OTHER),
    "embedding size 0": train(["data=chars", "data.corpus=path", "data.path={text}", "task.embedding_dim=0"], ["task.embedding_dim=0", "positive integer"], base=OTHER),
    "bad sampling": train(["data.sampling=shuffle"], ["data.sampling='shuffle'", "sequential"]),
    "window 0": train(["data.window=0"], ["data.window=0", "positive integer"]),
    "window + horizon > length": train(["data.window=40", "data.horizon=10", "data.length=48"], ["data.window=40", "at most length=48"]),
    "amplitude range nan": train(["data.amplitude_range=[nan,1]"], ["data.amplitude_range=[nan, 1", "finite"]),
    "frequency range reversed": train(["data.freq_range=[0.1,0.02]"], ["data.freq_range=[0.1, 0.02]", "low <= high"]),
    "noise inf": train(["data.noise=inf"], ["data.noise=inf", "finite number >= 0"]),
    "val fraction 1.5": train(["data.val_fraction=1.5"], ["data.val_fraction=1.5", "[0, 1)"]),
    "batch size 0": train(["data.batch_size=0"], ["data.batch_size=0", "positive integer"]),
    "corpus file missing": train(["data=chars", "data.corpus=path", "data.path=/no/such"], ["data.path='/no/such'", "an existing UTF-8 text file"], base=OTHER),
    "bptt 0": train(["data=chars", "data.bptt=0"], ["data.bptt=0", "positive integer"], base=OTHER),
    "adding length 1": train(["data=adding", "data.length=1"], ["data.length=1", ">= 2"], base=OTHER),
    "more tokens than steps": train(["data=selective_copy", "data.num_tokens=200"], ["data.num_tokens=200", "at most length=100"], base=OTHER),
    "more pairs than keys": train(["data=mqar", "data.vocab_size=16", "data.num_kv_pairs=8"], ["data.num_kv_pairs=8", "at most vocab_size // 2 - 1 = 7"], base=OTHER),
    "evaluation not longer than training": train(["data=parity", "data.train_max_length=40", "data.eval_max_length=40"], ["data.eval_max_length=40", "> train_max_length=40"], base=OTHER),
    "mnist files missing, download off": train(["data=smnist", "data.download=false"], ["MNIST files missing in {tmp}/data/mnist", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "download is off"], base=OTHER),
    # what needs built objects: refused before training, and before the run dir is written
    "misspelt experiment": train(["experiment=smnist_rows"], ["experiment='smnist_rows'", "smnist_row"]),
    "misspelt callbacks option": train(["callbacks=gradient_flw"], ["callbacks='gradient_flw'", "gradient_flow"]),
    "misspelt logger": train(["logger=wandbb"], ["logger='wandbb'", "csv, many, tensorboard, wandb"]),
    "empty checkpoint path": train(["ckpt_path="], ["ckpt_path=''", "an existing checkpoint file, last, or null"]),
    "classification task on sine data": train(["task=classification"], ["task='ClassificationTask'", "forecast"]),
    "text samples on sine data": train(["callbacks=text_samples"], ["callbacks.text_samples='RegressionTask'", "data=chars"], base=NO_CALLBACK_KEYS),
    "fused optimizer, float16 scaler and clipping": train(["optimizer=adamw", "+optimizer.fused=true", "trainer.precision=16-mixed"], ["optimizer.fused=true", "16-mixed", "bf16-mixed"]),
    "gradient flow of a bidirectional model": train(["callbacks=gradient_flow", "callbacks.gradient_flow.epochs=1", "model.bidirectional=true"], ["callbacks.gradient_flow", "model.bidirectional=true", "unidirectional"]),
    # sweeps
    "slurm without slurm": train(["launcher=slurm", "-m", "seed=1,2", "hydra.sweep.dir={tmp}/sweep"], ["launcher='slurm'", "sbatch", "launcher=local"], skip="SLURM is installed here" if HAS_SLURM else None),
    # run dirs: unwritable, in use, not a run, another model, a damaged checkpoint
    "run dir inside a file": train(["hydra.run.dir={files}/notes.txt/run"], ["{files}/notes.txt/run", "Not a directory"], code=1),
    "second run into a busy run dir": train(["hydra.run.dir={sine}"], ["hydra.run.dir='{sine}'", "no other rnnlab process"], hold_lock="sine"),
    "resume of a busy run dir": train(["resume_dir={sine}"], ["resume_dir='{sine}'", "no other rnnlab process"], hold_lock="sine"),
    "resume of a folder that is not a run": train(["resume_dir={files}"], ["resume_dir='{files}'", ".hydra/config.yaml"]),
    "resume of a missing folder": train(["resume_dir={tmp}/nothing"], ["resume_dir='{tmp}/nothing'", "a run dir"]),
    "resume of an empty path": train(["resume_dir="], ["resume_dir=''", "a run dir of rnnlab-train"]),
    "resume as another model": train(["resume_dir={sine}", "model=gru"], ["model='gru'", "unchanged when resuming"]),
    "resume with another learning rate": train(["resume_dir={sine}", "optimizer.lr=0.5"], ["optimizer.lr='0.5'", "unchanged when resuming"]),
    "resume with 0 epochs": train(["resume_dir={sine}", "trainer.max_epochs=0"], ["trainer.max_epochs=0", "positive integer"]),
    "resume from a damaged last.ckpt": train(["resume_dir={damaged}"], ["ckpt_path='{damaged}/checkpoints/last.ckpt'", "a readable checkpoint"]),
    "fresh run into a finished run dir": train(["hydra.run.dir={sine}"], ["hydra.run.dir='{sine}'", "resume_dir={sine}"]),
    "fresh run into an existing folder, refused late": train(["hydra.run.dir={files}", "task=classification"], ["task='ClassificationTask'"]),
    "checkpoint of another model": train(["ckpt_path={best}", "model=gru"], ["model.cell='lstm' in the checkpoint, 'gru' here"]),
    # rnnlab-eval
    "eval without arguments": evaluate([], ["ckpt_path='???'", "rnnlab-eval ckpt_path="]),
    "eval of a missing file": evaluate(["ckpt_path={tmp}/no.ckpt"], ["ckpt_path='{tmp}/no.ckpt'", "an existing checkpoint"]),
    "eval sweep with a missing file": evaluate(["-m", "ckpt_path={best},{tmp}/no.ckpt", "hydra.sweep.dir={tmp}/sweep"], ["ckpt_path='{tmp}/no.ckpt'", "an existing checkpoint file"]),
    "sample sweep of missing files": Case("sample", ["-m", "ckpt_path={tmp}/a.ckpt,{tmp}/b.ckpt", "hydra.sweep.dir={tmp}/sweep"], 2, ["ckpt_path='{tmp}/a.ckpt'", "an existing checkpoint file"]),
    "train from last with no earlier run": train(["ckpt_path=last"], ["ckpt_path='last'", "an earlier run under {tmp}/logs/train"]),
    "train sweep from last with no earlier run": train(["-m", "ckpt_path=last", "seed=1,2", "hydra.sweep.dir={tmp}/sweep"], ["ckpt_path='last'", "an earlier run under {tmp}/logs/train"]),
    "train from a missing checkpoint": train(["ckpt_path={tmp}/no.ckpt"], ["ckpt_path='{tmp}/no.ckpt'", "an existing checkpoint file, last, or null"]),
    "eval of an empty path": evaluate(["ckpt_path="], ["ckpt_path=''", "an existing checkpoint file"]),
    "eval of a folder": evaluate(["ckpt_path={files}"], ["ckpt_path='{files}'", "an existing checkpoint file"]),
    "eval of a text file": evaluate(["ckpt_path={files}/notes.txt"], ["ckpt_path='{files}/notes.txt'", "a readable checkpoint"]),
    "eval of a truncated checkpoint": evaluate(["ckpt_path={files}/truncated.ckpt"], ["ckpt_path='{files}/truncated.ckpt'", "a readable checkpoint"]),
    "eval of another project's checkpoint": evaluate(["ckpt_path={files}/foreign.ckpt"], ["ckpt_path='{files}/foreign.ckpt'", "written by rnnlab-train"]),
    "eval of weights that do not fit their config": evaluate(["ckpt_path={files}/misfit.ckpt"], ["ckpt_path='{files}/misfit.ckpt'", "weights fit its config", "size mismatch for rnn."]),
    "eval on a gpu without a gpu": evaluate(["ckpt_path={best}", "trainer.accelerator=gpu"], ["trainer.accelerator='gpu'", "no GPU is visible"], skip=GPU),
    "eval with a bad trainer value": evaluate(["ckpt_path={best}", "trainer.devices=0"], ["trainer.devices=0", "auto, -1"]),
    # rnnlab-sample
    "sample without arguments": Case("sample", [], 2, ["ckpt_path='???'", "rnnlab-sample"]),
    "sample from a sine model": Case("sample", ["ckpt_path={best}"], 2, ["ckpt_path='{best}'", "character language model"]),
    "sample prompt outside the vocabulary": sample(["prompt=Zebra"], ["prompt='Zebra'", "'Z' not in the training vocabulary"]),
    "sample temperature -1": sample(["temperature=-1"], ["temperature=-1", "a finite number >= 0"]),
    "sample temperature nan": sample(["temperature=nan"], ["temperature=nan", "a finite number >= 0"]),
    "sample length beyond the maximum": sample(["length=1000000000000"], ["length=1000000000000", "an integer from 0 to 1000000"]),
    "sample top_k 0": sample(["top_k=0"], ["top_k=0", "positive integer"]),
    "sample top_k a fraction": sample(["top_k=2.5"], ["top_k=2.5", "positive integer"]),
    "sample negative length": sample(["length=-5"], ["length=-5", "an integer from 0 to"]),
    "sample empty prompt": sample(["prompt="], ["prompt=''", "a non-empty string"]),
    "sample seed a word": sample(["seed=abc"], ["seed='abc'", "an integer"]),
}
# fmt: on


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_loses_nothing(name, runs, tmp_path, monkeypatch, capfd):
    case = CASES[name]
    if case.skip:
        pytest.skip(case.skip)
    places = {k: str(v) for k, v in runs.items()} | {"tmp": str(tmp_path)}
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path / "data"))
    args = [fill(a, places) for a in [*case.base, *case.args]]
    if case.command == "train" and not any(a.startswith("hydra.run.dir=") for a in args):
        args.append(f"paths.log_dir={tmp_path / 'logs'}")  # where a new run dir would go
    elif case.command != "train":
        args.append(f"paths.log_dir={tmp_path / 'logs'}")
    before_runs = tree(runs["sine"].parent)
    before_tmp = tree(tmp_path)
    lock = None
    if case.hold_lock:
        lock = RunDirLock(runs[case.hold_lock])
        lock.acquire()
    try:
        result = invoke(case.command, args, monkeypatch, capfd)
    finally:
        if lock is not None:
            lock.release()
    assert result.code == case.code, result.err[-3000:]
    assert "Traceback" not in result.err + result.out, result.err[-3000:]
    assert len(result.lines) == 1, result.lines
    (line,) = result.lines
    assert line.startswith("error: "), line
    for text in case.expect:
        assert fill(text, places) in line, (text, line)
    assert tree(tmp_path) == before_tmp, "a refused command created files"
    assert tree(runs["sine"].parent) == before_runs, "a refused command changed a run dir"


# -- accepted input that once looked suspicious ------------------------------------------
def test_gradient_flow_on_a_later_epoch_runs(tmp_path, monkeypatch, capfd):
    run = tmp_path / "run"
    args = [*TINY, "callbacks=gradient_flow", "callbacks.gradient_flow.epochs=3",
            "trainer.max_epochs=3", f"hydra.run.dir={run}"]  # fmt: skip
    result = invoke("train", args, monkeypatch, capfd)
    assert result.code == 0, result.err[-3000:]
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
    assert (run / "gradient_flow.json").is_file()


def test_eval_of_a_checkpoint_path_with_equals_signs(runs, tmp_path, monkeypatch, capfd):
    odd = tmp_path / "a=b" / "best=1.ckpt"
    odd.parent.mkdir()
    shutil.copy(runs["best"], odd)
    run = tmp_path / "run"
    result = invoke("eval", [f"ckpt_path={odd}", f"hydra.run.dir={run}"], monkeypatch, capfd)
    assert result.code == 0, result.err[-3000:]
    assert json.loads((run / "metrics.json").read_text())["test/ckpt"] == str(odd)


def test_an_eval_sweep_tests_each_checkpoint_given(runs, tmp_path, monkeypatch, capfd):
    odd = tmp_path / "a=b" / "best=1.ckpt"  # a path that needs quoting, in a sweep
    odd.parent.mkdir()
    shutil.copy(runs["best"], odd)
    sweep = tmp_path / "sweep"
    args = ["-m", f"ckpt_path={runs['best']},{odd}", f"hydra.sweep.dir={sweep}"]
    result = invoke("eval", args, monkeypatch, capfd)
    assert result.code == 0, result.err[-3000:]
    tested = [json.loads((sweep / job / "metrics.json").read_text())["test/ckpt"]
              for job in ("0", "1")]  # fmt: skip
    assert tested == [str(runs["best"]), str(odd)]


def test_a_sweep_from_last_starts_every_job_from_the_same_earlier_run(
    runs, tmp_path, monkeypatch, capfd
):
    """``-m ckpt_path=last seed=1,2``: both jobs start from the newest run before the sweep,
    not the second from the first job's last.ckpt (the newest once the first job ends)."""
    earlier = tmp_path / "logs" / "train" / "runs" / "earlier"
    shutil.copytree(runs["sine"], earlier)
    sweep = tmp_path / "sweep"
    args = ["-m", "ckpt_path=last", "seed=1,2", *TINY, "trainer.max_epochs=2",
            f"paths.log_dir={tmp_path / 'logs'}", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    result = invoke("train", args, monkeypatch, capfd)
    assert result.code == 0, result.err[-3000:]
    last = str(earlier / "checkpoints" / "last.ckpt")
    for job in ("0", "1"):
        assert json.loads((sweep / job / "metrics.json").read_text())["status"] == "completed"
        assert f"ckpt_path={last}" in (sweep / job / ".hydra" / "overrides.yaml").read_text()


def _fake_mnist_test_files(directory: Path, n: int = 60) -> None:
    """The two t10k files of MNIST, holding random digits."""
    import gzip

    import numpy as np

    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {"t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (n, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n, dtype=np.uint8)}  # fmt: skip
    for name, array in arrays.items():
        header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
        (directory / name).write_bytes(gzip.compress(header + array.tobytes()))


def test_eval_uses_the_runs_own_existing_data_dir(tmp_path, monkeypatch, capfd):
    """A run trained on data in a folder of its own is evaluated on that folder, not on the
    default data folder (which here holds nothing)."""
    from rnnlab.run.job import train

    custom = tmp_path / "custom" / "mnist"
    _fake_mnist_test_files(custom)
    args = ["data=smnist", f"data.data_dir={custom}", "data.protocol=test10k",
            "data.verify=false", "data.download=false", "data.batch_size=16", *QUICK,
            "callbacks.progress_bar=null", "callbacks.model_summary=null"]  # fmt: skip
    out = tmp_path / "trained"
    train(make_config(out, args), out)
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path / "empty"))
    run = tmp_path / "eval"
    ckpt = out / "checkpoints" / "best.ckpt"
    result = invoke("eval", [f"ckpt_path={ckpt}", f"hydra.run.dir={run}"], monkeypatch, capfd)
    assert result.code == 0, result.err[-3000:]
    assert "test/acc" in json.loads((run / "metrics.json").read_text())
    assert not (tmp_path / "empty").exists()


def test_ctrl_c_before_training_leaves_nothing(runs, tmp_path, monkeypatch, capfd):
    """Ctrl-C while the run is still being built (data, say): one line, exit 130, and the
    run dir this command created is gone again."""
    from rnnlab.run import build

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "build_datamodule", interrupted)
    before = tree(tmp_path)
    result = invoke("train", [*SINE, f"paths.log_dir={tmp_path / 'logs'}"], monkeypatch, capfd)
    assert result.code == 130 and "Traceback" not in result.err, result.err[-3000:]
    assert result.lines == ["interrupted by SIGINT during setup"]
    assert tree(tmp_path) == before


# -- two commands at once --------------------------------------------------------------
class WaitForFile(pl.Callback):
    """Holds a run at its start until ``release`` exists; ``started`` says it got there."""

    def __init__(self, started: str, release: str) -> None:
        self.started, self.release = Path(started), Path(release)

    def on_train_start(self, trainer, pl_module) -> None:
        self.started.touch()
        deadline = time.monotonic() + 120
        while not self.release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def test_second_run_into_a_busy_run_dir_is_refused(tmp_path, monkeypatch, capfd):
    """The first run (its own process) keeps its dir and config; the second, started while
    the first trains, is refused in one line and changes nothing."""
    run, started, release = tmp_path / "run", tmp_path / "started", tmp_path / "release"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline",
           "RNNLAB_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests"),
                                          str(Path(__file__).parent)])}  # fmt: skip
    env.pop("HYDRA_FULL_ERROR", None)
    waiter = ["+callbacks.wait._target_=test_bad_input.WaitForFile",
              f"+callbacks.wait.started={started}", f"+callbacks.wait.release={release}"]  # fmt: skip
    first = subprocess.Popen(
        [sys.executable, "-m", "rnnlab.cli.train", *TINY, *waiter, f"hydra.run.dir={run}"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), first.communicate()[1][-3000:]
        before = tree(run)
        second = [*TINY, "model.hidden_size=8", f"hydra.run.dir={run}"]
        result = invoke("train", second, monkeypatch, capfd)
        assert result.code == 2 and len(result.lines) == 1, result.err[-3000:]
        assert f"hydra.run.dir='{run}'" in result.lines[0]
        assert "no other rnnlab process" in result.lines[0]
        assert tree(run) == before
    finally:
        release.touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    assert "hidden_size: 16" in (run / ".hydra" / "config.yaml").read_text()
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"


# -- a full disk during training ---------------------------------------------------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _torch_write_failed(obj, f, *args, **kwargs):
    """What torch.save raises when the file's writes fail (its zip writer's message)."""
    f.write(b"PK\x03\x04 half a checkpoint")
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 46 vs 0")


class FullDisk:
    """The disk fills up after the first checkpoint: later saves fail."""

    def __init__(self, fail: Callable, save: Callable) -> None:
        self.fail, self.save, self.calls = fail, save, 0

    def __call__(self, obj, f, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            return self.save(obj, f, *args, **kwargs)
        return self.fail(obj, f, *args, **kwargs)


@pytest.mark.parametrize("fault", ["fsync", "write", "torch", "torch, disk not full"])
def test_full_disk_during_training_is_one_line_and_keeps_the_last_checkpoint(
    fault, tmp_path, monkeypatch, capfd
):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        if fault == "fsync":
            m.setattr("rnnlab.io.atomic.os.fsync", _no_space)
        else:
            failing = {"write": lambda o, f, *a, **k: _no_space()}.get(fault, _torch_write_failed)
            m.setattr(torch, "save", FullDisk(failing, torch.save))
            if fault == "torch":
                usage = shutil.disk_usage(tmp_path)
                m.setattr("rnnlab.io.atomic.shutil.disk_usage", lambda p: usage._replace(free=0))
        result = invoke("train", [*TINY, "trainer.max_epochs=2", f"hydra.run.dir={run}"],
                        monkeypatch, capfd)  # fmt: skip
    assert result.code == 1, result.err[-3000:]
    assert "Traceback" not in result.err and len(result.lines) == 1, result.err[-3000:]
    (line,) = result.lines
    assert line.startswith(f"error: {run}"), line
    reason = "write failed (" if fault == "torch, disk not full" else "No space left on device"
    assert reason in line, line
    folder = run / "checkpoints"
    checkpoints = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    assert not [n for n in checkpoints if n.startswith(".")], checkpoints  # no temporaries
    for name in checkpoints:  # whatever was saved before the disk filled up is whole
        torch.load(run / "checkpoints" / name, weights_only=False)
    if fault != "fsync":
        assert checkpoints == ["best.ckpt"]
    if fault == "fsync":  # the disk that failed the run fails metrics.json too
        assert not (run / "metrics.json").exists()
    else:  # the run is recorded as failed where it stopped
        metrics = json.loads((run / "metrics.json").read_text())
        assert (metrics["status"], metrics["phase"]) == ("failed", "train"), metrics
