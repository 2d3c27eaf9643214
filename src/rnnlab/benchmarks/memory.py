"""Peak memory of setting up sequential MNIST on the official protocol (70,000 images).

Run in a process of its own (as ``rnnlab-bench`` runs every row), so the process's peak
resident set is the setup's: reading and checking the four files, building the splits and
the pixels on the device, and one training batch.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any


def mnist_setup_memory(data_dir: str, device: str = "cpu", mode: str = "row") -> dict[str, Any]:
    """Peak RSS (MB) after setup and one batch; skipped when the files are not there."""
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # fmt: skip
    missing = [n for n in names if not (Path(data_dir) / n).is_file()]
    if missing:
        return {"status": f"skipped: {', '.join(missing)} not in {data_dir}"}
    from rnnlab.data.mnist import SequentialMNIST

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    dm = SequentialMNIST(data_dir=data_dir, mode=mode, download=False)
    dm.prepare_data()
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "images": len(dm.images),
        "stored_mb": round(dm.images.numel() * dm.images.element_size() / 2**20, 1),
        "rss_before_mb": round(before, 1),
        "setup_s": round(seconds, 2),
        "batch": list(x.shape),
        "peak_after_setup_mb": round(after, 1),
    }
