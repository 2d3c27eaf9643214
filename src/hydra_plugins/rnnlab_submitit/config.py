"""Configs of rnnlab's submitit launchers: the plugin's own, with rnnlab's launcher class."""

# No `from __future__ import annotations`: Hydra loads plugin modules in a way that
# breaks dataclasses with string annotations.
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf


@dataclass
class RnnlabSlurmQueueConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.rnnlab_submitit.launcher.RnnlabSlurmLauncher"


@dataclass
class RnnlabLocalQueueConf(LocalQueueConf):
    _target_: str = "hydra_plugins.rnnlab_submitit.launcher.RnnlabLocalLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="rnnlab_submitit_slurm",
                             node=RnnlabSlurmQueueConf, provider="rnnlab")  # fmt: skip
ConfigStore.instance().store(group="hydra/launcher", name="rnnlab_submitit_local",
                             node=RnnlabLocalQueueConf, provider="rnnlab")  # fmt: skip
