"""Bad input: a non-zero exit, one clear line naming key, value and what is allowed, no metrics."""

from __future__ import annotations

import pytest

from helpers import FAST, run_cli

CASES = {
    "unknown group option": (["model=foo"], ["model", "foo", "lstm"]),
    "non-positive hidden size": (
        ["model.hidden_size=0"],
        ["model.hidden_size=0", "positive integer"],
    ),
    "negative layers": (["model.num_layers=-2"], ["model.num_layers=-2", "positive integer"]),
    "non-positive window": (["data.window=0"], ["data.window=0", "positive integer"]),
    "window + horizon too long": (
        ["data.window=40", "data.horizon=10", "data.length=48"],
        ["data.window=40", "at most length=48"],
    ),
    "unknown key": (["model.hiden_size=8"], ["hiden_size"]),
    "unknown cell choice": (["model.cell=lstn"], ["model.cell='lstn'", "rnn, lstm, gru"]),
    "bad dropout": (["model.dropout=1.5"], ["model.dropout=1.5", "[0, 1)"]),
    "bad sampling": (["data.sampling=shuffle"], ["data.sampling='shuffle'", "sequential, random"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_cleanly(tmp_path, case):
    overrides, expected = CASES[case]
    proc = run_cli("train", [*FAST, *overrides], tmp_path)
    assert proc.returncode != 0
    for text in expected:
        assert text in proc.stderr, (text, proc.stderr[-1500:])
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()
