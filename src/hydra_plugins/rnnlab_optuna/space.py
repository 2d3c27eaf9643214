"""The search space: Hydra sweep syntax or plain dicts, as Optuna distributions."""

from __future__ import annotations

import re
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import DictConfig, OmegaConf

from rnnlab.compat.hydra import convert_choice
from rnnlab.errors import ConfigError

_PLAIN = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _from_override(key: str, override: Override) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution([convert_choice(override, v) for v in value.list])
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if all(float(x).is_integer() for x in (start, stop, step)):
            return IntDistribution(int(start), int(stop) - int(step), step=int(step))
        return CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ConfigError(
        f"hydra.sweeper.params.{key}",
        override.input_line,
        "choice(...), range(...) or interval(...)",
    )


def _from_dict(key: str, spec: dict[str, Any]) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kind = spec.get("type")
    try:
        if kind == "float":
            return FloatDistribution(
                spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step")
            )
        if kind == "int":
            return IntDistribution(
                spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step", 1)
            )
        if kind == "categorical":
            return CategoricalDistribution(list(spec["choices"]))
    except (KeyError, ValueError, TypeError) as err:
        raise ConfigError(
            f"hydra.sweeper.params.{key}", spec, f"a valid {kind} range ({err})"
        ) from None
    raise ConfigError(f"hydra.sweeper.params.{key}.type", kind, "one of float, int, categorical")


def distributions(space: dict[str, Any], config_loader: Any) -> dict[str, Any]:
    """``{key: distribution}`` from the sweeper's ``params`` and command-line sweeps."""
    parser = OverridesParser.create(config_loader=config_loader)
    dists = {}
    for key, spec in space.items():
        if isinstance(spec, DictConfig):
            spec = OmegaConf.to_container(spec, resolve=True)
        if isinstance(spec, str):
            spec = parser.parse_override(f"{key}={spec}")
        dists[key] = (
            _from_override(key, spec) if isinstance(spec, Override) else _from_dict(key, spec)
        )
    if not dists:
        raise ConfigError("hydra.sweeper.params", {}, "at least one parameter to search")
    return dists


def _value(v: Any) -> str:
    if isinstance(v, str) and not _PLAIN.match(v):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(v).lower() if isinstance(v, bool) else str(v)


def trial_overrides(trial: Any, storage: str, study_name: str) -> list[str]:
    """The overrides of one trial's job: its parameters and how to find the trial."""
    params = [f"{k}={_value(v)}" for k, v in trial.params.items()]
    return params + [
        f"++optuna.trial={trial.number}",
        f"++optuna.storage={_value(storage)}",
        f"++optuna.study_name={_value(study_name)}",
    ]
