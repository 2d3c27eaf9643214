"""Lightning internals rnnlab uses, and the messages it silences.

- ``logs_this_step``: whether Lightning sends this training step's values to the loggers
  (the task logs per-step values only then: each ``self.log`` call costs time).
- ``subprocess_command``, ``SubprocessLauncher``, ``set_threads_for_processes``: the pieces
  of Lightning's DDP process launcher that ``rnnlab.launch.ddp`` adapts to Hydra.
- ``drop_wandb_anonymous``: WandbLogger always passes ``anonymous`` to ``wandb.init``, a
  setting W&B deprecated and warns about at every run.
- ``keep_signal_handlers``: stops Lightning from installing its own SIGTERM handler, which
  would end a run with exit status 0 and no record (``rnnlab.run.lifecycle`` owns signals).
- ``clip_before_fused_steps``: Lightning refuses gradient clipping with a fused optimizer
  under every mixed precision, for fear that the optimizer unscales gradients itself; under
  bfloat16 autocast there is no gradient scaler, so clipping before the step is sound.
- ``quiet``: drops messages a user cannot act on (tips to install other products, a
  deprecation inside Lightning, the logging-interval warning for short epochs).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lightning.fabric.strategies.launchers.subprocess_script import _basic_subprocess_cmd
from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

SubprocessLauncher = _SubprocessScriptLauncher


def subprocess_command() -> list[str]:
    """The command line Lightning would start a DDP child with (outside Hydra)."""
    return _basic_subprocess_cmd()


def set_threads_for_processes(num_processes: int) -> None:
    _set_num_threads_if_needed(num_processes=num_processes)


def logs_this_step(trainer: Any) -> bool:
    """True when Lightning writes this training step's logged values to the loggers."""
    return bool(trainer._logger_connector.should_update_logs or trainer.fast_dev_run)


def drop_wandb_anonymous(logger: Any) -> None:
    """Leave ``anonymous`` out of the WandbLogger's ``wandb.init`` arguments (it has no
    effect, and passing it, even as None, makes W&B warn)."""
    logger._wandb_init.pop("anonymous", None)


def keep_signal_handlers(trainer: Any) -> None:
    """Leave the process's signal handlers as they are while ``trainer`` runs."""
    connector = trainer._signal_connector
    connector.register_signal_handlers = lambda: None
    connector.teardown = lambda: None


def clip_before_fused_steps(trainer: Any) -> None:
    """Let ``trainer`` clip gradients before a fused optimizer's step when its mixed precision
    has no gradient scaler (bfloat16): clipping as plain precision does. With a scaler
    (float16) Lightning's refusal stands; the config check refuses that case first."""
    import types

    from lightning.pytorch.plugins.precision import MixedPrecision, Precision

    plugin = trainer.strategy.precision_plugin
    if isinstance(plugin, MixedPrecision) and plugin.scaler is None:
        plugin.clip_gradients = types.MethodType(Precision.clip_gradients, plugin)


_NOISE = (
    "💡 Tip:",  # advertisements for other products, at every run
    "`weights_only` was not set",
    "Loading `train_dataloader` to estimate number of stepping batches",
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.lstrip().startswith(n) for n in _NOISE)


def quiet() -> None:
    """Silence Lightning's messages that say nothing about this run (idempotent).

    When the run has its own log handlers (console and log file), Lightning's messages go
    through them only: Lightning's own console handler would print each a second time.
    """
    root = logging.getLogger()
    if root.handlers:
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True
    names = ("lightning", "lightning.pytorch", "lightning.fabric")
    handlers = [*root.handlers, *(h for n in names for h in logging.getLogger(n).handlers)]
    for handler in handlers:
        if not any(isinstance(f, _DropNoise) for f in handler.filters):
            handler.addFilter(_DropNoise())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r"The number of training batches .* logging interval")
    warnings.filterwarnings("ignore", message=r".*does not have many workers")
    warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r".*You are using a CUDA device .* Tensor Cores")
    # the summary's size estimate under bf16: the table's counts are right, the MB a guess
    warnings.filterwarnings("ignore", message=r"Precision .* is not supported by the model summary")
    # rnnlab's tasks skip moving batches that are already on the device, on purpose
    warnings.filterwarnings("ignore", message=r"You have overridden `transfer_batch_to_device`")
