"""The submitit launchers, collecting an answer for each job that never returned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher


class _AnswersLostJobs:
    config: Any

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
               ) -> Sequence[JobReturn]:  # fmt: skip
        from rnnlab.compat.submitit import answering_lost_jobs

        with answering_lost_jobs(self._lost):
            return super().launch(job_overrides, initial_job_idx)  # type: ignore[misc]

    def _lost(self, job: Any, num: int, overrides: list[str], err: Exception) -> JobReturn:
        from rnnlab.launch.lost import answer

        return answer(self.config, job, num, overrides, err)


class RnnlabSlurmLauncher(_AnswersLostJobs, SlurmLauncher):
    pass


class RnnlabLocalLauncher(_AnswersLostJobs, LocalLauncher):
    pass
