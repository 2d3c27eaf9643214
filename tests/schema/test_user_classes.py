"""A class of the user's own, named by ``_target_``, is checked by its own signature."""

from __future__ import annotations

import pytest

from rnnlab.errors import ConfigError
from rnnlab.schema.validate import validate
from rnnlab.schema.values import plain_config

from helpers import make_config


def _check(tmp_path, overrides):
    cfg = make_config(tmp_path, overrides)
    return validate(plain_config(cfg), "train")


def test_users_callback_with_its_own_arguments_is_accepted_and_built(tmp_path):
    from rnnlab.run.build import build_callbacks

    overrides = ["+callbacks.mine._target_=user_ext.Recorder", "+callbacks.mine.note=hi"]
    _check(tmp_path, overrides)
    cfg = make_config(tmp_path, overrides)
    built = build_callbacks({"mine": cfg.callbacks.mine})
    mine = [c for c in built if type(c).__name__ == "Recorder"]
    assert len(mine) == 1 and mine[0].note == "hi"


def test_an_argument_the_users_class_does_not_take_is_refused(tmp_path):
    overrides = ["+callbacks.mine._target_=user_ext.Recorder", "+callbacks.mine.evry=2"]
    with pytest.raises(ConfigError, match=r"^callbacks\.mine\.evry=2 is not allowed: an argument "
                       r"of user_ext\.Recorder \(did you mean every\?\); its arguments are "
                       r"note, every$"):  # fmt: skip
        _check(tmp_path, overrides)


def test_a_class_that_cannot_be_imported_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        _check(tmp_path, ["+callbacks.mine._target_=user_ext.Nope"])
    message = str(err.value)  # one line, with why the import failed
    assert "\n" not in message and message.startswith(
        "callbacks.mine._target_='user_ext.Nope' is not allowed: an importable class or "
        "function (Error loading 'user_ext.Nope': ModuleNotFoundError(\"No module named "
    ), message


def test_a_users_data_module_is_checked_by_its_signature(tmp_path):
    overrides = ["data._target_=user_ext.Recorder", "+data.every=3"]
    with pytest.raises(
        ConfigError, match=r"data\.\w+=.* is not allowed: an argument of user_ext\.Recorder"
    ):
        _check(tmp_path, overrides)


def test_an_import_error_without_a_message_is_named_by_its_type(monkeypatch):
    import hydra.utils

    from rnnlab.schema.validate import check_signature

    def fail(path):
        raise ImportError()

    monkeypatch.setattr(hydra.utils, "get_object", fail)
    with pytest.raises(ConfigError, match=r"an importable class or function \(ImportError\)$"):
        check_signature({}, "data", "pkg.Cls")
