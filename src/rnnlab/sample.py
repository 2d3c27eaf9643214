"""``rnnlab-sample ckpt_path=... prompt="ROMEO:"``: continue a prompt with a trained char LM.

Everything comes from the checkpoint (weights, vocabulary, model config); the seed
fixes the draws, so the same command prints the same text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from rnnlab.cli import hydra_main
from rnnlab.errors import ConfigError, check_positive
from rnnlab.experiment import load_checkpoint
from rnnlab.io import atomic_write_text


def sample(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Print ``prompt`` and its continuation; also write it to ``<run>/sample.txt``."""
    from rnnlab.tasks.language import LanguageModelTask

    ckpt = load_checkpoint(cfg.ckpt_path)
    if "vocab" not in ckpt["hyper_parameters"]:
        raise ConfigError(
            "ckpt_path",
            str(cfg.ckpt_path),
            "a checkpoint of a character language model (data=chars)",
        )
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int):
        raise ConfigError("seed", cfg.seed, "an integer")
    if cfg.top_k is not None:
        check_positive("top_k", cfg.top_k)
    task = LanguageModelTask.load_from_checkpoint(cfg.ckpt_path, map_location="cpu")
    generator = torch.Generator().manual_seed(cfg.seed)
    text = task.generate(str(cfg.prompt), cfg.length, cfg.temperature, cfg.top_k, generator)
    print(cfg.prompt + text)
    atomic_write_text(output_dir / "sample.txt", cfg.prompt + text)
    return {"length": len(text)}


main = hydra_main("sample", sample)

if __name__ == "__main__":
    main()
