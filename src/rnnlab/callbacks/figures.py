"""Figures saved in the run directory and sent to the loggers that take images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from rnnlab.io.atomic import write_png


def log_figure(trainer: pl.Trainer, key: str, fig: Any, path: Path) -> None:
    """Write ``fig`` as PNG to ``path`` and log it to W&B/TensorBoard where they are on."""
    write_png(path, fig)
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):  # W&B
            logger.log_image(key=key, images=[str(path)], step=trainer.global_step)
        elif hasattr(getattr(logger, "experiment", None), "add_figure"):  # TensorBoard
            logger.experiment.add_figure(key, fig, global_step=trainer.global_step)


class TestFigures(pl.Callback):
    """At the end of testing, save each figure the task's ``test_figures()`` returns."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        figures = pl_module.test_figures()  # every task has it (BaseTask: none by default)
        if not figures:
            return
        import matplotlib.pyplot as plt

        for name, fig in figures.items():
            log_figure(trainer, f"test/{name}", fig, self.dirpath / f"{name}.png")
            plt.close(fig)
