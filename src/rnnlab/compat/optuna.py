"""Optuna storage operations rnnlab needs that have no public API.

- ``trial_id``: a trial's storage id from its number (a job knows only its number).
- ``fail_trial``: mark a trial FAIL with a user attribute (a trial a killed sweep left
  RUNNING can no longer be told through ``study.tell``).
- ``trial_attrs``: a trial's user attributes as the storage holds them now.
"""

from __future__ import annotations

from typing import Any


def trial_id(study: Any, number: int) -> int:
    return study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)


def fail_trial(study: Any, trial: Any, attr: str) -> None:
    from optuna.trial import TrialState

    study._storage.set_trial_user_attr(trial._trial_id, attr, True)
    study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)


def trial_attrs(study: Any, trial: Any) -> dict[str, Any]:
    return dict(study._storage.get_trial(trial._trial_id).user_attrs)
