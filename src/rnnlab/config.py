"""Where configs live, and the OmegaConf resolvers they use."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The checkout this package runs from, or the working directory for an installed wheel."""
    root = PACKAGE_DIR.parents[1]
    return root if (root / "conf").is_dir() else Path.cwd()


def conf_dir() -> str:
    return os.environ.get("RNNLAB_CONF_DIR") or str(repo_root() / "conf")


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("repo_root"):
        OmegaConf.register_new_resolver("repo_root", lambda: str(repo_root()))
    if not OmegaConf.has_resolver("first_set"):
        # the first argument that is neither null nor empty (``resume_dir`` or a new run dir)
        OmegaConf.register_new_resolver(
            "first_set", lambda *values: next((v for v in values if v not in (None, "")), None)
        )
