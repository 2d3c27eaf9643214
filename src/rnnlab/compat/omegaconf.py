"""OmegaConf's private node API: a value as written, before interpolation."""

from __future__ import annotations

from typing import Any


def written_value(cfg: Any, key: str) -> Any:
    """``cfg[key]`` as the config file wrote it (``${hydra:runtime.output_dir}`` stays a
    string): for a value whose interpolation cannot be resolved before the job runs."""
    return cfg._get_node(key)._value()
