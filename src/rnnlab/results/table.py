"""Aggregate runs into groups and render paper-style tables.

Runs are grouped by the config keys that actually vary across the sweep, so a
seed sweep over three cells becomes three rows without naming anything. Keys that
differ between runs for bookkeeping reasons only (seed, output paths, logger ids)
must not split groups, hence the noise rules below.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlab.errors import ConfigError, did_you_mean
from rnnlab.results.collect import Run
from rnnlab.results.references import REFERENCES, Reference

FORMATS = ("markdown", "latex", "csv")

NOISE_KEYS = {"seed", "data.seed", "task_name", "tags", "ckpt_path", "trainer.default_root_dir"}
NOISE_PREFIXES = ("paths.", "hydra.", "logger.", "callbacks.", "extras.", "optuna.")  # trial ids
# Output and cache locations differ per machine or per run.
NOISE_SUFFIXES = ("_dir", "_root")


def is_noise_key(key: str) -> bool:
    if key in NOISE_KEYS or key.startswith(NOISE_PREFIXES):
        return True
    return key.rsplit(".", 1)[-1].endswith(NOISE_SUFFIXES)


def _tokens(metric: str) -> list[str]:
    return re.split(r"[_\-]", metric.rsplit("/", 1)[-1].lower())


def direction(metric: str, runs: Sequence[Run]) -> int:
    """+1 when higher is better, -1 when lower is better, 0 when no run says.

    The direction comes from the runs: every task writes, beside its metrics, which way
    each is better (``better`` in ``metrics.json``, from the torchmetrics objects that
    computed them). Runs that disagree leave the metric unranked.
    """
    said = {r.better[metric] for r in runs if metric in r.better}
    if len(said) != 1:
        return 0
    return 1 if said.pop() == "higher" else -1


def is_accuracy(metric: str) -> bool:
    return any(t in ("acc", "accuracy") for t in _tokens(metric))


def value_key(value: Any) -> str:
    """Hashable, stable text for a config value (lists and dicts included)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def display_value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"  # a sampled lr has 17 digits; four tell settings apart
    text = value_key(value)
    # Class paths are long and only the class name tells settings apart.
    if key.endswith("_target_") and isinstance(value, str):
        return text.rsplit(".", 1)[-1]
    return text


def _partition(runs: Sequence[Run], keys: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(value_key(r.config.get(k)) for k in keys) for r in runs}


def varying_keys(runs: Sequence[Run]) -> list[str]:
    """Config keys whose value differs between runs, noise keys excluded.

    Mixing data modules or cells makes every key that exists for only some runs
    "vary" (data.corpus exists only for char runs). Such a key is dropped when
    the remaining keys already split the runs the same way, so the table shows
    what was swept rather than which config groups exist.
    """
    keys = sorted({k for r in runs for k in r.config})
    varying = [k for k in keys if not is_noise_key(k) and len(_partition(runs, [k])) > 1]
    full = len(_partition(runs, varying))
    for key in [k for k in varying if any(k not in r.config for r in runs)]:
        rest = [k for k in varying if k != key]
        if len(_partition(runs, rest)) == full:
            varying = rest
    return varying


def default_metrics(runs: Sequence[Run]) -> list[str]:
    names = {m for r in runs for m in r.metrics}
    test = sorted(m for m in names if m.startswith("test/"))
    best = sorted(m for m in names if m.startswith("val/") and m.endswith("_best"))
    return test + best


@dataclass
class Stat:
    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        arr = np.asarray(values, dtype=float)
        std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
        return cls(float(arr.mean()), std, int(arr.size))


@dataclass(frozen=True)
class Selection:
    """Best over a swept key: of the values ``key`` takes among some runs, keep the one whose
    runs (its seeds) have the best mean ``metric``; ``sign`` says which way that is (+1 higher,
    -1 lower, as ``direction`` reads it from the runs)."""

    key: str
    metric: str
    sign: int

    @property
    def wording(self) -> str:
        return "highest" if self.sign > 0 else "lowest"

    def choose(self, runs: Sequence[Run]) -> tuple[Choice, list[Run]]:
        """The choice among ``runs`` and the runs of the chosen value (none when no value's
        runs report ``metric``). Equal means keep the first value in sort order."""
        by_value: dict[str, list[Run]] = {}
        for run in runs:
            by_value.setdefault(value_key(run.config.get(self.key)), []).append(run)
        scored = []
        for members in by_value.values():
            vals = [r.metrics[self.metric] for r in members if self.metric in r.metrics]
            if vals:
                scored.append((members[0].config.get(self.key), Stat.of(vals), members))
        scored.sort(key=lambda s: sort_key((s[0],)))
        tried = [(value, stat) for value, stat, _ in scored]
        if not scored:
            return Choice(self, None, tried, list(runs)), []
        value, _, members = max(scored, key=lambda s: self.sign * s[1].mean)
        return Choice(self, value, tried, list(runs)), members


@dataclass
class Choice:
    """What ``Selection.choose`` kept for one set of runs: the value, and every value tried
    with its runs' ``metric`` (mean ± std); ``pool`` is all the runs it chose among."""

    selection: Selection
    value: Any
    tried: list[tuple[Any, Stat]]
    pool: list[Run]

    @property
    def made(self) -> bool:
        return bool(self.tried)


@dataclass
class Group:
    values: dict[str, Any]
    runs: list[Run]
    stats: dict[str, Stat] = field(default_factory=dict)
    published: list[Reference] = field(default_factory=list)
    best: set[str] = field(default_factory=set)
    choice: Choice | None = None  # with a Selection: runs are the chosen value's runs

    @property
    def pool(self) -> list[Run]:
        """Every run of the group, whichever value of a swept key was chosen."""
        return self.choice.pool if self.choice else self.runs

    @property
    def label(self) -> str:
        """Short legend text: ``SequentialMNIST, mode=pixel, cell=lstm``."""
        if not self.values:
            return "all runs"
        parts = []
        for key, value in self.values.items():
            name = key.rsplit(".", 1)[-1]
            text = display_value(key, value)
            parts.append(text if name == "_target_" else f"{name}={text}")
        return ", ".join(parts)

    @property
    def count(self) -> str:
        """The n column: runs in the group, and how many of them were pruned trials."""
        pruned = sum(r.status == "pruned" for r in self.runs)
        return f"{len(self.runs)} ({pruned} pruned)" if pruned else str(len(self.runs))

    def shared_config(self) -> dict[str, Any]:
        """Config entries identical across the group's runs; what a reference may match."""
        runs = self.runs or self.pool
        first = runs[0].config
        return {
            k: v
            for k, v in first.items()
            if all(value_key(r.config.get(k)) == value_key(v) for r in runs[1:])
        }


@dataclass
class ResultTable:
    keys: list[str]
    metrics: list[str]
    groups: list[Group]
    selection: Selection | None = None


VALIDATION_PREFIX = "val/"
TEST_PREFIXES = ("test/", "test_last/")


def check_selection(
    runs: Sequence[Run], key: str, metric: str | None, by: Sequence[str] | None
) -> Selection:
    """The ``--best-over`` / ``--select-on`` pair as a Selection, or a ConfigError that names
    the option, the value and what is allowed.

    ``metric`` defaults to the runs' one ``val/*_best`` (the checkpoint monitor's best). A test
    metric is refused: a number chosen on the test set is no longer a test number.
    """
    keys = sorted({k for r in runs for k in r.config})
    if key not in keys:
        some = ", ".join(varying_keys(runs)) or keys[0]
        allowed = f"a config key of the runs, such as {some}{did_you_mean(key, keys)}"
        raise ConfigError("--best-over", key, allowed)
    if is_noise_key(key):
        raise ConfigError("--best-over", key, "a swept setting; the seed and bookkeeping keys "
                          "would pick the luckiest run")  # fmt: skip
    if by and key in by:
        raise ConfigError("--best-over", key, "a key that is not also a --by key (a row holds "
                          "one value of a --by key: nothing to choose from)")  # fmt: skip
    names = sorted({m for r in runs for m in r.metrics})
    validation = ", ".join(m for m in names if m.startswith(VALIDATION_PREFIX))
    if metric is None:
        best = [m for m in names if m.startswith(VALIDATION_PREFIX) and m.endswith("_best")]
        if len(best) != 1:
            found = f"{len(best)} val/*_best metrics ({', '.join(best) or 'none'})"
            raise ConfigError("--best-over", key, f"with --select-on METRIC: the runs report "
                              f"{found}, so the metric to choose by must be named")  # fmt: skip
        metric = best[0]
    if metric.startswith(TEST_PREFIXES):
        raise ConfigError("--select-on", metric, "a validation metric (a choice made on the "
                          f"test set biases the test numbers), such as {validation}")  # fmt: skip
    if metric not in names:
        some = validation or ", ".join(names)
        allowed = f"a metric some run reports, such as {some}{did_you_mean(metric, names)}"
        raise ConfigError("--select-on", metric, allowed)
    sign = direction(metric, runs)
    if sign == 0:
        raise ConfigError("--select-on", metric, "a metric whose runs all say which way it is "
                          "better (their metrics.json 'better' entry)")  # fmt: skip
    return Selection(key, metric, sign)


def sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    # Numbers sort numerically (hidden 64 before 128), everything else as text.
    out = []
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((0, float(v)))
        else:
            out.append((1, value_key(v)))
    return tuple(out)


def build_table(
    runs: Sequence[Run],
    by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    references: Sequence[Reference] | None = None,
    selection: Selection | None = None,
) -> ResultTable:
    """Group ``runs`` (by ``by`` or by every varying key) and aggregate ``metrics``.

    ``references`` defaults to the built-in published numbers; pass ``()`` for none. With a
    ``selection`` (from ``check_selection``), each group reports the runs of the value of the
    swept key its own runs chose, and that key does not split groups.
    """
    refs = REFERENCES if references is None else references
    if not runs:
        raise ValueError("no runs to tabulate")
    if by:
        unknown = [k for k in by if not any(k in r.config for r in runs)]
        if unknown:
            raise ValueError(f"--by key(s) not found in any run config: {', '.join(unknown)}")
        keys = list(by)
    else:
        keys = varying_keys(runs)
        if selection:
            keys = [k for k in keys if k != selection.key]
    names = list(metrics) if metrics else default_metrics(runs)
    if not names:
        raise ValueError("no metrics to show (no test/* or val/*_best metrics in the runs)")

    buckets: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        buckets.setdefault(tuple(value_key(run.config.get(k)) for k in keys), []).append(run)

    groups = []
    for members in buckets.values():
        group = Group({k: members[0].config.get(k) for k in keys}, members)
        if selection:
            group.choice, group.runs = selection.choose(members)
        for name in names:
            vals = [r.metrics[name] for r in group.runs if name in r.metrics]
            if vals:
                group.stats[name] = Stat.of(vals)
        shared = group.shared_config()
        group.published = [ref for ref in refs if ref.applies(shared)]
        groups.append(group)
    groups.sort(key=lambda g: sort_key(tuple(g.values.values())))
    _mark_best(groups, names, runs)
    return ResultTable(keys, names, groups, selection)


def _mark_best(groups: list[Group], metrics: list[str], runs: Sequence[Run]) -> None:
    """Bold the best mean per column, compared only among groups on the same data
    (a char-LM loss and an sMNIST loss in one column are not competitors)."""
    blocks: dict[tuple[str, ...], list[Group]] = {}
    for g in groups:
        task = tuple(value_key(v) for k, v in g.values.items() if k.startswith("data."))
        blocks.setdefault(task, []).append(g)
    for name in metrics:
        sign = direction(name, runs)
        if sign == 0:
            continue
        for block in blocks.values():
            have = [g for g in block if name in g.stats]
            # A single entry is not "best" of anything.
            if len(have) < 2:
                continue
            target = max(sign * g.stats[name].mean for g in have)
            for g in have:
                if math.isclose(sign * g.stats[name].mean, target, rel_tol=1e-9, abs_tol=1e-12):
                    g.best.add(name)


# ---------------------------------------------------------------- formatting
