"""Every declared key: its default is what the command line composes and what the Python API
builds, and every value outside its declaration is refused with its key and what is allowed.

The bad values are derived from each declaration (its type, bounds and choices), so a key
added tomorrow is tested the same way without a line written for it.
"""

from __future__ import annotations

import inspect
import math
import typing
from dataclasses import asdict

import pytest
from omegaconf import OmegaConf

from rnnlab.errors import ConfigError
from rnnlab.schema.declare import Options, allowed, bound_of, default_of, is_optional
from rnnlab.schema.registry import STORED

from helpers import make_config

# Keys a config binds to the run (interpolations), not defaults of their own.
BOUND = {"seed", "data_dir", "dirpath", "save_dir", "tags", "default_root_dir"}
DATA_OPTIONS = ["sine", "smnist", "chars", "adding", "copy", "selective_copy"]


def _composed(tmp_path, group: str, option: str) -> dict:
    cfg = make_config(tmp_path, [f"{group}={option}"])
    return OmegaConf.to_container(cfg[group], resolve=False)


@pytest.mark.parametrize("option", DATA_OPTIONS)
def test_datamodule_built_in_python_has_the_command_lines_defaults(tmp_path, option):
    from hydra.utils import get_class

    composed = _composed(tmp_path, "data", option)
    dm = get_class(composed["_target_"])()  # the Python API, no arguments
    for key, value in composed.items():
        if key.startswith("_") or key in BOUND:
            continue
        built = getattr(dm.options, key)
        built = str(built) if key == "data_dir" else built
        assert built == value, f"data={option}: {key} is {built!r} in Python, {value!r} composed"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "mingru", "minlstm"])
def test_stack_built_in_python_has_the_command_lines_defaults(tmp_path, cell):
    from rnnlab.nn.options import StackOptions
    from rnnlab.nn.recurrent import RecurrentStack

    composed = _composed(tmp_path, "model", cell)
    stack = RecurrentStack(input_size=1, cell=cell)
    assert stack.hidden_size == composed["hidden_size"]
    assert stack.num_layers == composed["num_layers"]
    assert asdict(StackOptions(cell=cell)) == composed


def test_every_stored_declaration_composes_to_its_defaults(tmp_path):
    """The YAML files select and override: what they add to a declaration's defaults is
    only a binding to the run (an interpolation) or a documented override."""
    cfg = OmegaConf.to_container(make_config(tmp_path), resolve=False)
    for group, name in (("model", "model"), ("trainer", "trainer"), ("data", "data_sine"),
                        ("optimizer", "optimizer_adam"), ("scheduler", "scheduler_cosine")):  # fmt: skip
        defaults = STORED[name].defaults()
        for key, value in defaults.items():
            if key in BOUND:
                continue
            assert cfg[group][key] == value, f"{group}.{key}"


# Each library class and the keys its declaration names, against its real signature.
SIGNATURES = {
    "trainer": ("lightning.pytorch.Trainer", {"threads"}),
    "callback_model_checkpoint": ("lightning.pytorch.callbacks.ModelCheckpoint", set()),
    "callback_early_stopping": ("lightning.pytorch.callbacks.EarlyStopping", set()),
    "callback_progress_bar": ("lightning.pytorch.callbacks.TQDMProgressBar", set()),
    "callback_model_summary": ("lightning.pytorch.callbacks.ModelSummary", set()),
    "callback_last_checkpoint": ("rnnlab.run.interrupt.LastCheckpoint", set()),
    "callback_text_samples": ("rnnlab.callbacks.text_samples.TextSamples", set()),
    "callback_gradient_flow": ("rnnlab.callbacks.gradient_flow.GradientFlow", set()),
    "callback_optuna_pruning": ("rnnlab.launch.pruning.OptunaPruning", set()),
    "logger_csv": ("rnnlab.run.loggers.CSVLogger", set()),
    "logger_tensorboard": ("lightning.pytorch.loggers.TensorBoardLogger", set()),
    "optimizer_adam": ("torch.optim.Adam", set()),
    "optimizer_adamw": ("torch.optim.AdamW", set()),
    "optimizer_sgd": ("torch.optim.SGD", set()),
    "scheduler_cosine": ("torch.optim.lr_scheduler.CosineAnnealingLR", {"interval"}),
    "scheduler_onecycle": ("torch.optim.lr_scheduler.OneCycleLR", {"interval"}),
    "scheduler_plateau": ("torch.optim.lr_scheduler.ReduceLROnPlateau", {"interval", "monitor"}),
    "scheduler_step": ("torch.optim.lr_scheduler.StepLR", {"interval"}),
}
# Arguments rnnlab passes itself, never from a config key.
PASSED = {"params", "optimizer", "self", "summarize_kwargs", "kwargs", "keep_rows"}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_declaration_names_every_argument_of_its_class(name):
    from hydra.utils import get_class

    target, own = SIGNATURES[name]
    cls = STORED[name]
    params = set(inspect.signature(get_class(target).__init__).parameters) - PASSED
    declared = set(cls.key_names()) | set(cls.passthrough)
    assert declared - own == params, (
        f"{name}: declared but not arguments {sorted(declared - own - params)}, "
        f"arguments not declared {sorted(params - declared)}"
    )
    assert own <= set(cls.key_names())


def test_library_defaults_kept_unless_rnnlab_chooses_otherwise():
    """A declared default that differs from the library's is one of rnnlab's choices, listed
    here; any other difference is a copy that drifted."""
    from hydra.utils import get_class

    chosen = {("trainer", k) for k in ("devices", "max_epochs", "precision", "gradient_clip_val",
                                       "gradient_clip_algorithm", "log_every_n_steps",
                                       "deterministic", "num_sanity_val_steps",
                                       "enable_model_summary", "enable_progress_bar")}  # fmt: skip
    chosen |= {("callback_model_checkpoint", k) for k in ("filename", "monitor", "mode",
                                                          "save_last", "auto_insert_metric_name")}  # fmt: skip
    chosen |= {("callback_early_stopping", k) for k in ("monitor", "mode", "patience")}
    chosen |= {("callback_progress_bar", "refresh_rate"), ("logger_tensorboard", "name"),
               ("logger_tensorboard", "version"), ("logger_tensorboard", "default_hp_metric")}  # fmt: skip
    chosen |= {(f"optimizer_{o}", "lr") for o in ("adam", "adamw", "sgd")}
    chosen |= {("optimizer_sgd", "momentum"), ("scheduler_onecycle", "max_lr"),
               ("scheduler_onecycle", "total_steps"), ("scheduler_plateau", "factor"),
               ("scheduler_plateau", "patience"), ("scheduler_plateau", "mode"),
               ("scheduler_cosine", "T_max"), ("scheduler_step", "step_size"),
               ("scheduler_step", "gamma"), ("callback_gradient_flow", "epochs")}  # fmt: skip
    for name, (target, _) in SIGNATURES.items():
        params = inspect.signature(get_class(target).__init__).parameters
        for f in STORED[name].declared():
            p = params.get(f.name)
            if p is None or p.default is inspect.Parameter.empty or (name, f.name) in chosen:
                continue
            if default_of(f) == "???":  # bound by the config (a folder of the run)
                continue
            library = list(p.default) if isinstance(p.default, tuple) else p.default
            assert default_of(f) == library, f"{name}.{f.name}: {default_of(f)!r} vs {library!r}"


# -- bad values, derived from each declaration -------------------------------------------------


def bad_values(tp, bound) -> list:
    """Values outside one declaration: the wrong type, past each bound, off the choices."""
    mapping = tp is dict or typing.get_origin(tp) is dict
    out: list = [] if mapping else [{"a": 1}]  # a mapping where a value belongs
    if mapping:
        return [*out, "zz", [1, 2]]
    if bound.check is not None:  # a test the type cannot express: only the type is known
        return out
    base = [t for t in typing.get_args(tp) if t is not type(None)] if is_optional(tp) else [tp]
    if typing.get_origin(tp) in (typing.Union,) or str(type(tp)) == "<class 'types.UnionType'>":
        base = [t for t in typing.get_args(tp) if t is not type(None)]
    for t in base:
        if t is bool:
            out += ["yes", 1]
        elif t in (int, float):
            out += ["zz", True, math.inf if t is float else 2.5]
            if t is int:
                out.append(1.0)
            for edge, step in ((bound.ge, -1), (bound.gt, 0), (bound.le, 1), (bound.lt, 0)):
                if edge is not None:
                    out.append(edge + step if t is int else edge + step * max(abs(edge), 1) * 0.5)
        elif t is str:
            numbers = int in base or float in base
            out += ([] if numbers else [3]) + ["zz-not-a-choice" if bound.choices else ""]
        elif typing.get_origin(t) in (list, tuple):
            out += ["zz", [["nested"]]]
            if bound.pair:
                out.append([2.0, 1.0])
    if not is_optional(tp) and tp is not typing.Any:
        out.append(None)
    return out


CASES = [
    (name, f.name, value)
    for name, cls in STORED.items()
    for f in cls.declared()
    for value in bad_values(cls.hints()[f.name], bound_of(f))
]


@pytest.mark.parametrize(
    ("name", "key", "value"), CASES, ids=[f"{n}.{k}={v!r}" for n, k, v in CASES]
)
def test_every_value_outside_its_declaration_is_refused(name, key, value):
    cls: type[Options] = STORED[name]
    f = next(f for f in cls.declared() if f.name == key)
    hints = cls.hints()
    assert not isinstance(value, bool) or hints[key] is not bool
    with pytest.raises(ConfigError) as err:
        cls.check_value(key, value)
    assert err.value.key == key
    assert err.value.allowed == allowed(hints[key], bound_of(f))


@pytest.mark.parametrize("name", sorted(STORED))
def test_every_default_is_allowed_by_its_own_declaration(name):
    cls = STORED[name]
    for f in cls.declared():
        default = default_of(f)
        if default != "???":
            cls.check_value(f.name, default)


@pytest.mark.parametrize("name", sorted(STORED))
def test_unknown_key_is_named_with_a_near_match(name):
    cls = STORED[name]
    key = cls.key_names()[0] + "x" if cls.key_names() else "nokey"
    with pytest.raises(ConfigError, match=f"{key}=1 is not allowed: a key"):
        cls.check({key: 1})


def test_a_check_decides_every_value_but_null_of_an_optional_key():
    """``check`` is written for the values of the key's type: null, where the type allows
    it, never reaches it; where the type does not, the check decides."""
    from rnnlab.schema.declare import Bound, fits

    positive = Bound(check=lambda v: v > 0)  # raises on None
    assert fits(int | None, None, positive) and fits(int | None, 3, positive)
    assert not fits(int | None, -3, positive)
    anything = Bound(check=lambda v: True)
    assert fits(int | str, None, anything)  # not optional: the check, not the type, decides
    assert not fits(int | str, None, Bound(check=lambda v: v is not None))


def test_what_each_kind_of_type_allows():
    """The check of each kind of declared type, beyond the bounds the generated cases try:
    ``Any``, an untyped list, the bounds of a list's items, a pair's equal ends, a mapping."""
    from rnnlab.schema.declare import Bound, fits

    assert fits(typing.Any, object(), Bound())
    assert fits(typing.List, [1, "a", None], Bound())  # noqa: UP006  # items of any type
    for bound, outside, inside in ((Bound(gt=0), 0.0, 0.5), (Bound(ge=0), -0.5, 0.0),
                                   (Bound(le=1), 1.5, 1.0), (Bound(lt=1), 1.0, 0.5)):  # fmt: skip
        assert not fits(list[float], [inside, outside], bound), (bound, outside)
        assert fits(list[float], [inside, inside], bound), (bound, inside)
    assert fits(list[float], [0.5, 0.5], Bound(pair=True))  # low == high is a range
    assert not fits(list[float], [0.6, 0.5], Bound(pair=True))
    assert fits(dict[str, int], {"a": 1}, Bound()) and not fits(dict, "a", Bound())
    with pytest.raises(TypeError, match="does not know: <class 'bytes'>"):
        fits(bytes, b"", Bound())


def test_every_declared_type_is_one_the_check_knows():
    from rnnlab.schema import registry
    from rnnlab.schema.declare import fits

    tables = (registry.CALLBACKS, registry.DATA, registry.TASKS, registry.OPTIMIZERS,
              registry.SCHEDULERS, registry.LOGGERS, registry.LAUNCHERS)  # fmt: skip
    every = {*STORED.values(), registry.SWEEPER, registry.OptunaTrial, registry.PathsConfig}
    for cls in every | {c for table in tables for c in table.values()}:
        hints = cls.hints()
        for f in cls.declared():
            value = default_of(f)
            fits(hints[f.name], None if value == "???" else value, bound_of(f))  # no TypeError


def test_a_required_key_composes_as_missing_and_an_unknown_key_of_an_unnamed_node_says_so():
    from dataclasses import dataclass

    from rnnlab.schema.declare import Bound, option
    from rnnlab.schema.registry import SWEEPER

    @dataclass(kw_only=True)
    class Unnamed(Options):
        width: int = option(1, "a width", ge=1)
        path: str = option(meaning="no default: the user must give it")
        depth: int = 2  # a plain field: its type, no bounds
        _target_: str = "pkg.Unnamed"  # rnnlab's own, not a key

    assert OmegaConf.is_missing(OmegaConf.create(Unnamed.defaults()), "path")
    assert Unnamed.key_names() == ["width", "path", "depth"]
    assert bound_of(next(f for f in Unnamed.declared() if f.name == "depth")) == Bound()
    Unnamed.check_value("depth", -5)
    assert "_target_" in SWEEPER.__dataclass_fields__ and "_target_" not in SWEEPER.key_names()

    with pytest.raises(ConfigError, match=r"^wdith=2 is not allowed: a key of this node "
                                          r"\(did you mean width\?\)"):  # fmt: skip
        Unnamed.check({"wdith": 2})
