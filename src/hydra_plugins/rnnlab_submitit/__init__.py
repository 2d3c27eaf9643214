"""Hydra's submitit launchers, with a job that never returned recorded instead of ending
the sweep (``rnnlab.launch.lost``): ``hydra/launcher=rnnlab_submitit_slurm`` and
``rnnlab_submitit_local``, chosen by ``launcher=slurm`` and ``launcher=slurm_local``."""
