"""Each ``scripts/*.sh`` recipe runs its sweep and prints its table, in a tiny form: the
recipes pass extra arguments to every job, which make each job a batch or two."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import REPO

TINY = ["trainer.max_epochs=1", "trainer.limit_train_batches=1", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1", "model.hidden_size=4", "trainer.enable_progress_bar=false",
        "callbacks.progress_bar=null", "callbacks.model_summary=null"]  # fmt: skip
MNIST = ["data.verify=false", "data.download=false", "data.val_size=8", "data.batch_size=8",
         "data.eval_batch_size=8", "callbacks.test_figures=null"]  # fmt: skip
# recipe -> (extra arguments, jobs, groups of the table, a metric column)
RECIPES = {
    "sine": (["data.num_series=12", "data.length=40", "data.window=8", "data.horizon=2",
              "data.batch_size=32",  # at most the 160 training windows
              "callbacks.test_figures=null"], 18, 6, "test/mse"),
    "smnist_row": (MNIST, 9, 3, "test/acc"),
    "smnist_pixel": (MNIST, 9, 3, "test/acc"),
    "smnist_permuted": (MNIST, 9, 3, "test/acc"),
    "chars": (["data.corpus=path", "data.bptt=8", "data.batch_size=2", "data.eval_streams=1",
               "callbacks.text_samples.length=5"], 9, 3, "test/bpc"),
    "chars_cpu": (["data.corpus=path", "data.bptt=8", "data.batch_size=2", "data.eval_streams=1"],
                  27, 9, "test_last/loss"),  # every cell in its own settings, 3 seeds
}  # fmt: skip
LONG_MEMORY = ["data.train_size=40", "data.val_size=20", "data.test_size=20"]
LONG = ("adding", "copy", "selective_copy")
for task in LONG:  # six cells at T = 50 and 100, 3 seeds
    RECIPES[task] = (LONG_MEMORY, 36, 12, "test/loss")
RECIPES["selective_copy"] = (LONG_MEMORY, 60, 20, "test/loss")  # and LRU, S6, sLSTM, mLSTM
RECIPES["uea"] = (["data.verify=false", "data.download=false", "callbacks.test_figures=null"],
                  15, 5, "test/acc")  # fmt: skip
RECIPES["parity"] = ([], 27, 9, "test/acc_len_41_60")
RECIPES["modular_arithmetic"] = ([], 27, 9, "test/acc_len_21_39")
RECIPES["mqar"] = ([], 48, 16, "model/state_size")  # eight cells at two widths
# TINY arguments a recipe sweeps itself, so left out of its runs
OWN_SWEEP = {"mqar": {"model.hidden_size=4"}}
MIN_CELLS = {"mingru", "minlstm"}
# the cells of each recipe's table (default: rnn, lstm, gru)
CELLS = {task: {"rnn", "lstm", "gru"} | MIN_CELLS for task in (*LONG, "uea")}
CELLS["parity"] = {"rnn", "lstm", "gru", "mingru", "minlstm", "lru", "s6", "slstm", "mlstm"}
CELLS["modular_arithmetic"] = CELLS["parity"]
CELLS["mqar"] = CELLS["parity"] - {"rnn"}
CELLS["selective_copy"] = CELLS["parity"]
CELLS["chars_cpu"] = CELLS["parity"]


def write_mnist(directory: Path) -> None:
    """The four official file names holding 40 training and 20 test random digits."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = {"train": "train", "test": "t10k"}
    for split, n in (("train", 40), ("test", 20)):
        for kind, array in (
            ("images", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)),
            ("labels", rng.integers(0, 10, size=n, dtype=np.uint8)),
        ):
            dims = b"".join(d.to_bytes(4, "big") for d in array.shape)
            data = bytes([0, 0, 0x08, array.ndim]) + dims + array.tobytes()
            ubyte = "idx3-ubyte" if kind == "images" else "idx1-ubyte"
            (directory / f"{names[split]}-{kind}-{ubyte}.gz").write_bytes(gzip.compress(data))


def write_japanese_vowels(directory: Path) -> None:
    """JapaneseVowels' two file names holding 18 training and 9 test random utterances of
    12 channels and 7-29 steps, 9 speakers, in the archive's .ts format."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    header = ["@problemName JapaneseVowels", "@timeStamps false", "@missing false",
              "@univariate false", "@dimensions 12", "@equalLength false",
              "@classLabel true 1 2 3 4 5 6 7 8 9", "@data"]  # fmt: skip
    for split, n in (("TRAIN", 18), ("TEST", 9)):
        rows = []
        for i in range(n):
            case = rng.normal(size=(12, int(rng.integers(7, 30))))
            rows.append(":".join(",".join(f"{v:.4f}" for v in c) for c in case) + f":{i % 9 + 1}")
        (directory / f"JapaneseVowels_{split}.ts").write_text("\n".join(header + rows) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_recipe_runs_every_job_with_the_extra_arguments_and_prints_the_table(tmp_path, recipe):
    extra, jobs, groups, metric = RECIPES[recipe]
    tiny = [o for o in TINY if o not in OWN_SWEEP.get(recipe, set())]
    checkout = tmp_path / "checkout"  # the recipes write logs/ under their checkout
    shutil.copytree(REPO / "scripts", checkout / "scripts")
    data = tmp_path / "data"
    write_mnist(data / "mnist")
    write_japanese_vowels(data / "uea" / "JapaneseVowels")
    text = tmp_path / "text.txt"
    text.write_text("ROMEO: to be or not to be, that is the question.\n" * 40, encoding="utf-8")
    if recipe.startswith("chars"):
        extra = [*extra, f"data.path={text}"]
    env = {**os.environ, "PY": sys.executable, "RNNLAB_DATA_DIR": str(data),
           "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "MPLBACKEND": "Agg"}  # fmt: skip
    proc = subprocess.run(["bash", str(checkout / "scripts" / f"{recipe}.sh"), *tiny, *extra],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (checkout / "logs" / "tables" / recipe).iterdir()
    job_dirs = sorted(p for p in sweep.rglob("*") if p.is_dir() and p.name.isdigit())
    assert len(job_dirs) == jobs
    for job in job_dirs:  # every job got the extra arguments, and completed
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert {o.lower() for o in tiny + extra} <= {o.lower() for o in overrides}, job  # False
        assert '"status": "completed"' in (job / "metrics.json").read_text(), job
    # the last table printed (the recipe's; each sweep also prints its own before it)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    start = max(i for i, line in enumerate(lines) if line.startswith("|---")) - 1
    table = lines[start:]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert any(h.startswith(metric) for h in header)
    assert "model.cell" in header or groups == 1  # one row: the settings shared by all runs
    rows = [[c.strip() for c in row.strip("|").split("|")] for row in table[2:]]
    assert len(rows) == groups, proc.stdout  # one row per model (and direction)
    assert {row[header.index("n")] for row in rows} == {"3"}  # the three seeds of each
    if groups > 1:
        cells = CELLS.get(recipe, {"rnn", "lstm", "gru"})
        assert {row[header.index("model.cell")] for row in rows} == cells
