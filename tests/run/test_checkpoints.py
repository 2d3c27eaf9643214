"""Checkpoints: the finite-weights guard, what rnnlab adds to a checkpoint, reading one with
clear errors, comparing models, and finding the checkpoint a run starts from."""

from __future__ import annotations

import os
import random
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rnnlab.errors import ConfigError
from rnnlab.run import checkpoints as ck

from helpers import make_config


def test_non_finite_keys_names_weights_only():
    state = {"w": torch.tensor([1.0, float("nan")]), "b": torch.ones(2),
             "best": torch.tensor(float("inf")), "steps": torch.tensor([1, 2]), "note": "x"}  # fmt: skip
    assert ck.non_finite_keys(state) == ["w", "best"]
    assert ck.non_finite_keys(state, keys=["w", "b"]) == ["w"]  # a metric's +inf is no weight
    assert ck.non_finite_keys({"w": torch.tensor([float("-inf")])}) == ["w"]


def test_guard_names_the_step_and_the_keys_and_can_be_off(tmp_path):
    path = tmp_path / "c.ckpt"
    bad = {f"w{i}": torch.tensor([float("nan")]) for i in range(4)}
    checkpoint = {"state_dict": bad, "global_step": 12, "parameter_keys": list(bad)}
    with pytest.raises(ck.NonFiniteWeightsError) as err:
        ck.AtomicCheckpointIO().save_checkpoint(checkpoint, path)
    assert str(err.value) == (
        f"weights became non-finite at global step 12 (w0, w1, w2, ...); not saving {path}, "
        "the previous checkpoint is kept"
    )
    assert not path.exists()
    three = {"state_dict": dict(list(bad.items())[:3]), "global_step": 3}  # no "...": all named
    with pytest.raises(ck.NonFiniteWeightsError, match=r"global step 3 \(w0, w1, w2\); not"):
        ck.AtomicCheckpointIO().save_checkpoint(three, path)
    ck.AtomicCheckpointIO(check_finite=False).save_checkpoint(checkpoint, path)
    assert torch.load(path, weights_only=False)["global_step"] == 12
    only_metric = {"state_dict": {"best": torch.tensor(float("inf")), "w": torch.ones(1)},
                   "parameter_keys": ["w"]}  # fmt: skip
    ck.AtomicCheckpointIO().save_checkpoint(only_metric, path)  # not a weight: saved
    no_weights = {"global_step": 5}  # a checkpoint without a state_dict is still written
    ck.AtomicCheckpointIO().save_checkpoint(no_weights, path)
    assert torch.load(path, weights_only=False) == no_weights


def test_a_remote_path_goes_to_lightnings_own_writer(tmp_path):
    """A URL (``file://`` here, ``s3://`` in use) is written through fsspec, not the local
    atomic writer, which would take ``file:`` for a folder."""
    checkpoint = {"state_dict": {"w": torch.ones(2)}, "global_step": 7}
    ck.AtomicCheckpointIO().save_checkpoint(checkpoint, f"file://{tmp_path}/remote.ckpt")
    saved = torch.load(tmp_path / "remote.ckpt", weights_only=False)
    assert saved["global_step"] == 7 and torch.equal(saved["state_dict"]["w"], torch.ones(2))
    assert not any(p.name.startswith("file:") for p in tmp_path.rglob("*"))


def test_rng_state_round_trip_and_training_state():
    state = ck.rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(1)
    ck.restore_training_state({"rng": state})
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    ck.restore_training_state({})  # a checkpoint without RNG streams changes nothing
    logger = SimpleNamespace(position=lambda: {"rows": 7})
    trainer = SimpleNamespace(loggers=[logger, object()])
    saved = ck.training_state(trainer)
    assert saved["loggers"] == {"SimpleNamespace": {"rows": 7}} and set(saved["rng"]) >= {"torch"}
    assert ck.training_state(None)["loggers"] == {}
    ckpt = {"callbacks": {ck.STATE_OWNER: saved}}
    assert ck.logger_positions(ckpt) == {"SimpleNamespace": {"rows": 7}}
    assert ck.logger_positions(None) == {} and ck.logger_positions({}) == {}


class Data:
    """A datamodule's part in resuming: its saved state, then the epoch's position."""

    calls: list = []

    def load_state_dict(self, state):
        self.calls.append(("state", state))

    def continue_from(self, position):
        self.calls.append(("position", position))


def test_train_position_and_restore_data():
    ckpt = {
        "loops": {
            "fit_loop": {"state_dict": {"combined_loader": [{"epoch": 1, "batches_done": 3}]}}
        }
    }
    assert ck.train_position(ckpt) == {"epoch": 1, "batches_done": 3}
    assert ck.train_position({}) is None
    calls = Data.calls = []
    ck.restore_data(Data(), {**ckpt, "Data": {"vocab": ["a"]}})
    assert calls == [("state", {"vocab": ["a"]}), ("position", {"epoch": 1, "batches_done": 3})]
    calls.clear()
    ck.restore_data(Data(), {})
    assert calls == [("position", None)]


def _refusal(path, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        ck.load_checkpoint(path, **kwargs)
    return info.value


def test_load_checkpoint_errors_name_the_key_and_file(tmp_path, monkeypatch):
    missing = tmp_path / "nope.ckpt"
    assert str(_refusal(missing)) == (
        f"ckpt_path='{missing}' is not allowed: an existing checkpoint file"
    )
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(b"not a checkpoint")
    with pytest.raises(Exception) as torch_error:
        torch.load(damaged, map_location="cpu", weights_only=False)
    first_line = str(torch_error.value).splitlines()[0]
    err = _refusal(damaged, key="resume_dir")
    assert (err.key, err.value) == ("resume_dir", str(damaged))
    assert err.allowed == f"a readable checkpoint (loading failed: {first_line})"
    for message, reason in (("line one\nline two", "line one"), ("", "EOFError")):

        def fail(*args, message=message, **kwargs):
            raise EOFError(message)

        monkeypatch.setattr(ck.torch, "load", fail)
        assert _refusal(damaged).allowed == f"a readable checkpoint (loading failed: {reason})"
    monkeypatch.undo()
    for foreign in ({"state_dict": {}}, {"hyper_parameters": {"run_config": {}}}, [1, 2],
                    {"state_dict": {}, "hyper_parameters": {}}):  # fmt: skip
        path = tmp_path / "foreign.ckpt"
        torch.save(foreign, path)
        assert str(_refusal(path, key="resume_dir")) == (
            f"resume_dir='{path}' is not allowed: a checkpoint written by rnnlab-train"
        )
    good = {"state_dict": {}, "hyper_parameters": {"run_config": {"seed": 1}}}
    torch.save(good, tmp_path / "good.ckpt")
    assert ck.load_checkpoint(tmp_path / "good.ckpt")["hyper_parameters"]["run_config"] == {
        "seed": 1
    }


def model_hparams(**model) -> dict:
    run_config = {"data": {"_target_": "rnnlab.data.sine.SineDataModule"},
                  "task": {"_target_": "rnnlab.tasks.regress.RegressionTask"}}  # fmt: skip
    return {"model": {"cell": "lstm", "hidden_size": 8, **model}, "input_size": 1,
            "num_outputs": 1, "run_config": run_config}  # fmt: skip


def test_check_same_model_names_every_difference():
    ckpt = {"hyper_parameters": model_hparams()}
    ck.check_same_model(ckpt, model_hparams(), "a.ckpt")  # the same: no error
    other = model_hparams(cell="gru", hidden_size=4)
    other["num_outputs"] = 3
    other["run_config"]["data"]["_target_"] = "rnnlab.data.chars.CharDataModule"
    with pytest.raises(ConfigError) as err:
        ck.check_same_model(ckpt, other, "a.ckpt")
    message = str(err.value)
    assert message == (
        "ckpt_path='a.ckpt' is not allowed: a checkpoint of the same model ("
        "model.cell='lstm' in the checkpoint, 'gru' here; "
        "model.hidden_size=8 in the checkpoint, 4 here; num_outputs=1 in the checkpoint, 3 here; "
        "data._target_='rnnlab.data.sine.SineDataModule' in the checkpoint, "
        "'rnnlab.data.chars.CharDataModule' here)"
    )
    other_task = model_hparams()
    other_task["run_config"]["task"]["_target_"] = "rnnlab.tasks.classify.ClassificationTask"
    with pytest.raises(ConfigError, match=r"\(task\._target_='rnnlab.tasks.regress.Regr"):
        ck.check_same_model(ckpt, other_task, "a.ckpt")
    unknown = model_hparams()
    del unknown["run_config"]["task"]  # a target known on one side only is not compared
    ck.check_same_model(ckpt, unknown, "a.ckpt")
    extra = model_hparams(dropout=0.1)
    with pytest.raises(ConfigError, match=r"model.dropout=None in the checkpoint, 0.1 here"):
        ck.check_same_model(ckpt, extra, "a.ckpt")


def test_newest_last_checkpoint_across_runs_and_sweeps(tmp_path):
    paths = [tmp_path / "t" / "runs" / "a" / ck.LAST, tmp_path / "t" / "multiruns" / "s" / "0" / ck.LAST,
             tmp_path / "t" / "runs" / "b" / ck.LAST, tmp_path / "other" / "runs" / "c" / ck.LAST]  # fmt: skip
    for i, path in enumerate(paths):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
        os.utime(path, (100 + i, 100 + i))
    os.utime(paths[1], (500, 500))  # the sweep's job is the newest of task t
    assert ck.newest_last_checkpoint(tmp_path, "t") == paths[1]
    assert ck.newest_last_checkpoint(tmp_path, "t", exclude=paths[1].parents[1]) == paths[2]
    assert ck.newest_last_checkpoint(tmp_path, "none") is None


def test_resolve_ckpt_path(tmp_path):
    assert ck.resolve_ckpt_path(make_config(tmp_path, []), tmp_path) is None
    given = make_config(tmp_path, [f"ckpt_path={tmp_path / 'x.ckpt'}"])
    assert ck.resolve_ckpt_path(given, tmp_path) == str(tmp_path / "x.ckpt")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / ck.LAST).write_bytes(b"x")
    for extra in ([], ["ckpt_path=last"]):
        cfg = make_config(tmp_path, [f"resume_dir={run}", *extra])
        assert ck.resolve_ckpt_path(cfg, tmp_path) == str(run / ck.LAST)
    with pytest.raises(ConfigError) as err:
        ck.resolve_ckpt_path(make_config(tmp_path, [f"resume_dir={tmp_path}"]), tmp_path)
    assert str(err.value) == (
        f"resume_dir='{tmp_path}' is not allowed: a run dir with a checkpoints/last.ckpt file"
    )


def test_ckpt_path_last_is_an_earlier_run_never_the_run_itself(tmp_path):
    logs = tmp_path / "logs"
    cfg = make_config(tmp_path, ["ckpt_path=last", f"paths.log_dir={logs}"])
    with pytest.raises(ConfigError) as err:
        ck.resolve_ckpt_path(cfg, tmp_path / "new")
    assert str(err.value) == (
        f"ckpt_path='last' is not allowed: a path, or 'last' with an earlier run under "
        f"{logs / cfg.task_name}"
    )
    earlier, itself = (logs / cfg.task_name / "runs" / name for name in ("earlier", "itself"))
    for age, run in ((100, earlier), (0, itself)):  # the run itself is the newest
        (run / "checkpoints").mkdir(parents=True)
        (run / ck.LAST).write_bytes(b"x")
        os.utime(run / ck.LAST, (time.time() - age, time.time() - age))
    assert ck.resolve_ckpt_path(cfg, itself) == str(earlier / ck.LAST)


def test_partial_checkpoints_compare_and_report_what_they_hold():
    assert ck.logger_positions({"callbacks": {}}) == {}
    assert ck.logger_positions({"callbacks": {ck.STATE_OWNER: {"rng": {}}}}) == {}
    older = model_hparams()
    del older["run_config"]["task"]  # written before tasks were named: nothing to compare
    ck.check_same_model({"hyper_parameters": older}, model_hparams(), "a.ckpt")
    other_task = model_hparams()
    other_task["run_config"]["task"]["_target_"] = "rnnlab.tasks.classify.ClassificationTask"
    with pytest.raises(
        ConfigError, match=r"task._target_='rnnlab.tasks.regress.RegressionTask' in"
    ):
        ck.check_same_model({"hyper_parameters": model_hparams()}, other_task, "a.ckpt")
    no_model = model_hparams()
    del no_model["model"]
    with pytest.raises(ConfigError, match=r"model=None in the checkpoint, \{'cell': 'lstm'"):
        ck.check_same_model({"hyper_parameters": no_model}, model_hparams(), "a.ckpt")
