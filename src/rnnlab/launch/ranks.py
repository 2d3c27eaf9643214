"""Which process of a distributed job this is, from the environment (no imports of torch)."""

from __future__ import annotations

import os


def global_rank_from_env() -> int:
    """This process's rank as the launchers announce it (0 outside distributed runs)."""
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def is_ddp_child() -> bool:
    """True in a process started by the DDP launcher for local rank > 0."""
    return os.environ.get("LOCAL_RANK", "0") != "0"
