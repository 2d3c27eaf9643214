"""``scripts/uea_1nn.py``: the archive paper's 1-NN baselines (ED, DTW_I, DTW_D) on tiny
hand-made series whose nearest neighbours are known, and its ``main`` on a tiny problem."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from helpers import REPO

SCRIPT = REPO / "scripts" / "uea_1nn.py"
_spec = importlib.util.spec_from_file_location("uea_1nn", SCRIPT)
uea_1nn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(uea_1nn)


def spike(at: int, length: int = 8) -> np.ndarray:
    """``[length]``: zeros with a one at step ``at``."""
    out = np.zeros(length)
    out[at] = 1.0
    return out


def block(start: int, stop: int, length: int = 8) -> np.ndarray:
    out = np.zeros(length)
    out[start:stop] = 1.0
    return out


def col(*channels: np.ndarray) -> np.ndarray:
    return np.stack(channels, axis=1)


def predictions(test, train, labels, how="series"):
    found = uea_1nn.distances(test, train, how)
    return {m: uea_1nn.nearest_labels(d, labels) for m, d in found.items()}


def test_a_time_shift_fools_ed_but_not_dtw():
    # the test spike sits four steps later than the training spike: step by step it is
    # nearer the plateau (which overlaps it), but DTW warps the spike onto the spike
    train = [col(spike(1)), col(block(3, 6))]
    found = uea_1nn.distances([col(spike(5))], train)
    assert found["DTW_D"][0, 0] == pytest.approx(0.0, abs=1e-12)
    assert found["DTW_I"][0, 0] == pytest.approx(0.0, abs=1e-12)
    assert found["DTW_D"][0, 1] > 1.0
    # by hand: after z-normalisation a spike of 8 steps is 7/sqrt(7) at the spike and
    # -1/sqrt(7) elsewhere, so two shifted spikes differ by 8/sqrt(7) at two steps
    assert found["ED"][0, 0] == pytest.approx(2 * 64 / 7)
    assert found["ED"][0, 1] < found["ED"][0, 0]
    assert predictions([col(spike(5))], train, ["spike", "plateau"]) == {
        "ED": ["plateau"], "DTW_I": ["spike"], "DTW_D": ["spike"]}  # fmt: skip


def test_channels_shifted_apart_separate_dtw_i_from_dtw_d_and_ties_go_to_the_first():
    query = [col(spike(1), spike(5))]
    together = col(spike(3), spike(3))  # both channels' spikes at one step
    in_order = col(spike(1), spike(4))  # the same order as the query's, one step closer
    found = uea_1nn.distances(query, [together, in_order])
    # each channel warps on its own under DTW_I: both are at distance 0, a tie
    assert found["DTW_I"][0] == pytest.approx([0.0, 0.0], abs=1e-12)
    # one warp for both channels: only the series whose spikes keep their order fits
    assert found["DTW_D"][0, 1] == pytest.approx(0.0, abs=1e-12)
    assert found["DTW_D"][0, 0] > 1.0
    labels = ["together", "in order"]
    assert predictions(query, [together, in_order], labels)["DTW_I"] == ["together"]
    assert predictions(query, [in_order, together], labels[::-1])["DTW_I"] == ["in order"]
    assert predictions(query, [together, in_order], labels)["DTW_D"] == ["in order"]


def test_ed_pads_each_series_with_its_own_last_step():
    padded = uea_1nn.pad_last([col(np.array([1.0, 2.0])), col(np.array([5.0, 6.0, 7.0]))], 4)
    assert padded[:, :, 0].tolist() == [[1, 2, 2, 2], [5, 6, 7, 7]]


def loop_dtw(a: np.ndarray, b: np.ndarray) -> float:
    cost = np.full((len(a) + 1, len(b) + 1), np.inf)
    cost[0, 0] = 0.0
    for i in range(len(a)):
        for j in range(len(b)):
            step = float(((a[i] - b[j]) ** 2).sum())
            cost[i + 1, j + 1] = step + min(cost[i, j], cost[i, j + 1], cost[i + 1, j])
    return float(cost[-1, -1])


def test_matches_plain_loops_on_random_variable_length_series():
    rng = np.random.default_rng(3)
    test = [rng.normal(size=(int(rng.integers(3, 9)), 3)) for _ in range(5)]
    train = [rng.normal(size=(int(rng.integers(3, 9)), 3)) for _ in range(7)]
    found = uea_1nn.distances(test, train)
    z = uea_1nn.znormalise
    for q, a in enumerate(test):
        for n, b in enumerate(train):
            a_z, b_z = z(a), z(b)
            assert found["DTW_D"][q, n] == pytest.approx(loop_dtw(a_z, b_z))
            independent = sum(loop_dtw(a_z[:, [c]], b_z[:, [c]]) for c in range(3))
            assert found["DTW_I"][q, n] == pytest.approx(independent)
            longest = uea_1nn.pad_last([a_z, b_z], 8)
            assert found["ED"][q, n] == pytest.approx(((longest[0] - longest[1]) ** 2).sum())
    # per series: shifting and scaling one series' channels changes none of its distances
    moved = [a * np.array([3.0, 0.5, 10.0]) + np.array([5.0, -2.0, 0.0]) for a in test]
    for method, dist in uea_1nn.distances(moved, train).items():
        assert dist == pytest.approx(found[method]), method


def ts_file(path, cases, labels):
    lines = ["@problemName Tiny", "@timeStamps false", "@missing false", "@univariate true",
             "@dimensions 1", "@equalLength true", "@seriesLength 8",
             "@classLabel true plateau spike", "@data"]  # fmt: skip
    lines += [
        ",".join(repr(float(v)) for v in c) + f":{y}" for c, y in zip(cases, labels, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def run(tmp_path, monkeypatch, capsys, *args):
    """The script's ``main`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    try:
        uea_1nn.main(list(args))
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def test_the_script_reads_the_problem_where_data_uea_does_and_prints_the_table(
    tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "data" / "uea" / "Tiny"
    folder.mkdir(parents=True)
    ts_file(folder / "Tiny_TRAIN.ts", [spike(1), block(3, 6)], ["spike", "plateau"])
    ts_file(folder / "Tiny_TEST.ts", [spike(5), block(2, 5)], ["spike", "plateau"])
    status, out, err = run(tmp_path, monkeypatch, capsys, "Tiny")
    assert status == 0, err
    rows = [line for line in out.splitlines() if line.startswith("| 1-NN")]
    # the shifted spike: ED wrong, DTW right; the shifted plateau: right for all three
    assert rows == ["| 1-NN ED | 50.00 | 1/2 |", "| 1-NN DTW_I | 100.00 | 2/2 |",
                    "| 1-NN DTW_D | 100.00 | 2/2 |"]  # fmt: skip
    assert "z-normalised per channel on its own" in out


@pytest.mark.parametrize(("args", "says"), [
    (["no such"], "name='no such'"),
    (["Missing"], "Missing: files missing"),
    (["Tiny", "--normalise", "global"], "invalid choice: 'global'"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, says):
    status, out, err = run(tmp_path, monkeypatch, capsys, *args)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert out == "" and not (tmp_path / "data").exists()
