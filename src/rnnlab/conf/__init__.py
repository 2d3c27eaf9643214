"""The Hydra configs (the YAML files in this folder, shipped with the package) and the
two things every entry point needs to read them: where they are, and the resolvers they use.

A user adds configs of their own with Hydra's ``--config-dir DIR``: a file ``DIR/<group>/<name>.yaml``
is a new option of that group, and ``DIR/local/default.yaml`` (optional, like the one a checkout may
keep untracked in ``local/`` here) is merged over every run's config.
"""

from __future__ import annotations

import os
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The checkout this package runs from, or the working directory for an installed wheel.

    Outputs (``logs/``) and datasets (``data/``) default to folders under this root.
    """
    root = CONF_DIR.parents[2]
    is_checkout = (root / "pyproject.toml").is_file() and (root / "src" / "rnnlab").is_dir()
    return root if is_checkout else Path.cwd()


def conf_dir() -> str:
    """The primary config folder; ``RNNLAB_CONF_DIR`` replaces it (tests of a copied tree)."""
    return os.environ.get("RNNLAB_CONF_DIR") or str(CONF_DIR)


def register_resolvers() -> None:
    """What composing the configs needs: ``${repo_root:}`` and ``${first_set:a,b}`` (used by
    ``paths`` and ``hydra``), ``${if_equal:a,b,x,y}``, and the declared defaults
    (``schema/*``) the YAML files start from (``rnnlab.schema.registry``)."""
    from omegaconf import OmegaConf

    from rnnlab.schema.registry import store

    store()

    if not OmegaConf.has_resolver("repo_root"):
        OmegaConf.register_new_resolver("repo_root", lambda: str(repo_root()))
    if not OmegaConf.has_resolver("first_set"):
        # the first argument that is neither null nor empty (``resume_dir`` or a new run dir)
        OmegaConf.register_new_resolver(
            "first_set", lambda *values: next((v for v in values if v not in (None, "")), None)
        )
    if not OmegaConf.has_resolver("if_equal"):
        # x where a == b, else y: a recipe whose value depends on another choice (the IRNN's
        # smaller lr in the long-memory experiments), stated in that recipe's own config
        OmegaConf.register_new_resolver(
            "if_equal", lambda a, b, then, otherwise: then if a == b else otherwise
        )
