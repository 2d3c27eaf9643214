"""What a study found, in the sweep dir: ``trials.csv`` and ``best_params.yaml``."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rnnlab.io.atomic import atomic_write_text


def write_trials_csv(study: Any, path: Path) -> None:
    trials = study.get_trials(deepcopy=False)
    params = sorted({k for t in trials for k in t.params})
    attrs = sorted({k for t in trials for k in t.user_attrs})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["number", "state", "value", *params, *attrs, "epochs_reported", "duration_s"])
    for t in trials:
        duration = t.duration.total_seconds() if t.duration is not None else ""
        writer.writerow(
            [
                t.number,
                t.state.name,
                "" if t.value is None else t.value,
                *(t.params.get(k, "") for k in params),
                *(t.user_attrs.get(k, "") for k in attrs),
                len(t.intermediate_values),
                duration,
            ]
        )
    atomic_write_text(path, buf.getvalue())


def write_best_params(study: Any, path: Path) -> None:
    """The best trial's parameters as overrides-ready YAML (nothing before a trial completes)."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return
    best = study.best_trial
    doc = {
        "study_name": study.study_name,
        "direction": study.direction.name.lower(),
        "best_trial": best.number,
        "best_value": best.value,
        "params": dict(best.params),
    }
    atomic_write_text(path, OmegaConf.to_yaml(OmegaConf.create(doc)))
