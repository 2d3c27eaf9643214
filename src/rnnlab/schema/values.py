"""A composed config as the Python values the check reads (``rnnlab.schema.validate``).

Interpolations that cannot be resolved before the job runs (``${hydra:runtime.output_dir}``)
stay as written.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.compat.omegaconf import written_value


def plain(node: Any) -> Any:
    """A config node as Python values, leaving interpolations that cannot be resolved yet
    (``${hydra:runtime.output_dir}``) as they are."""
    if isinstance(node, DictConfig):
        out = {}
        for key in node:
            try:
                out[key] = plain(node[key])
            except Exception:  # not resolvable before the job runs
                out[key] = written_value(node, key)
        return out
    if OmegaConf.is_list(node):
        return [plain(v) for v in node]
    return node


def plain_item(cfg: DictConfig, key: str) -> Any:
    """``plain(cfg[key])``; an interpolation that cannot be resolved stays as written."""
    try:
        return plain(cfg[key])
    except Exception:
        return written_value(cfg, key)


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """A composed config as Python values for the check: every key but ``hydra``, plus the
    parts of ``hydra`` the check reads (the group choices and the sweeper)."""
    out = {k: plain_item(cfg, k) for k in cfg if k != "hydra"}
    if "hydra" in cfg:
        hydra = cfg.hydra
        out["hydra"] = {
            "runtime": {"choices": plain(hydra.runtime.choices)},
            "sweeper": plain_item(hydra, "sweeper") if "sweeper" in hydra else {},
        }
    return out
