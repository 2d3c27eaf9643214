"""How Hydra's submitit launcher collects a sweep's results, and what rnnlab changes there.

- ``answering_lost_jobs(lost)``: the launcher plugin's ``launch`` builds its executor as
  ``submitit.AutoExecutor``, submits the sweep as ``map_array(launcher, overrides, dir_key,
  job_num, job_id, singleton_state)`` (one sequence per argument) and then collects each
  job's ``JobReturn`` as ``job.results()[0]``, in job order. For a job that never returned
  (no result file: killed, timed out, its node lost) or whose process raised outside the
  job's own handling, ``results()`` raises, and the sweep ends there with the jobs after it
  uncollected. Within ``answering_lost_jobs``, the jobs ``map_array`` hands the plugin answer
  ``results()`` for such a job with ``[lost(job, job_num, overrides, err)]`` instead.
- ``NEVER_RETURNED``: the exceptions submitit raises for it.
- ``job_log``: the file where submitit keeps the job's stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from submitit.core.utils import FailedJobError, UncompletedJobError

NEVER_RETURNED = (UncompletedJobError, FailedJobError)

Lost = Callable[[Any, int, list[str], Exception], Any]


class _Answering:
    """A submitted job whose ``results()`` answers for it when it never returned."""

    def __init__(self, job: Any, num: int, overrides: list[str], lost: Lost) -> None:
        self._job, self._num, self._overrides, self._lost = job, num, overrides, lost

    def results(self) -> list[Any]:
        try:
            return self._job.results()
        except NEVER_RETURNED as err:
            return [self._lost(self._job, self._num, self._overrides, err)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)


@contextmanager
def answering_lost_jobs(lost: Lost) -> Iterator[None]:
    """While it lasts, the plugin's ``launch`` collects ``lost(...)`` for a lost job."""
    import submitit

    plain = submitit.AutoExecutor

    class Executor(plain):  # type: ignore[misc, valid-type]
        def map_array(self, fn: Callable[..., Any], *iterables: Any) -> list[Any]:
            jobs = super().map_array(fn, *iterables)
            overrides, nums = iterables[0], iterables[2]
            return [_Answering(job, int(num), list(over), lost)
                    for job, num, over in zip(jobs, nums, overrides, strict=True)]  # fmt: skip

    submitit.AutoExecutor = Executor
    try:
        yield
    finally:
        submitit.AutoExecutor = plain


def job_log(job: Any) -> Path:
    return Path(job.paths.stderr)
