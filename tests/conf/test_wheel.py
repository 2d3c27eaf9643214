"""An installed wheel runs outside the checkout: the configs travel with the package."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv

import pytest

from helpers import FAST, REPO


@pytest.mark.slow  # builds a wheel and a virtual environment
def test_wheel_runs_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPO), "-w", str(dist)],
                   check=True, capture_output=True)  # fmt: skip
    (wheel,) = dist.glob("rnnlab-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   capture_output=True)  # fmt: skip
    # the dependencies come from the environment running the tests, behind the wheel
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    with open(os.path.join(purelib, "deps.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RNNLAB_CONF_DIR")}
    env["OMP_NUM_THREADS"] = "1"
    rnnlab = env_dir / "bin" / "rnnlab-train"
    where = subprocess.run([python, "-c", "import rnnlab; print(rnnlab.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert str(env_dir) in where  # the wheel's copy, not the checkout
    proc = subprocess.run([rnnlab, *FAST, "trainer.max_epochs=1", "callbacks.test_figures=null"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (metrics,) = (work / "logs" / "train" / "runs").glob("*/metrics.json")
    assert json.loads(metrics.read_text())["status"] == "completed"
