"""The regression task's test figure: input window, truth and free-running prediction."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rnnlab.tasks.regress import RegressionTask  # noqa: E402

OPT = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01}


def test_prediction_figure_joins_the_window_to_truth_and_rollout():
    task = RegressionTask(model={"cell": "gru", "hidden_size": 4}, input_size=1, num_outputs=1,
                          optimizer=OPT)  # fmt: skip
    assert task.test_figures() == {}  # before a test: nothing to draw
    window = torch.arange(8.0).reshape(2, 4, 1)  # two windows of 4 steps
    truth = torch.tensor([[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]]).unsqueeze(-1)
    rollout = truth + 0.5
    task._example = (window, truth, rollout)
    fig = task.test_figures()["predictions"]
    assert fig._suptitle.get_text() == (  # what was run, for a reader who did not run it
        "Test windows: free-running prediction against truth\n"
        "gru, 4 units × 1 layer; window 4, horizon 3"
    )
    assert tuple(fig.get_size_inches()) == (7.0, 3.6)  # 1.8 inches a window
    axes = fig.axes
    assert len(axes) == 2 and axes[-1].get_xlabel() == "time step"
    assert axes[0].get_shared_x_axes().joined(axes[0], axes[1])  # one time axis for all windows
    for k, ax in enumerate(axes):
        assert ax.get_ylabel() == "value (normalised)"
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"input window", "truth", "rollout"}
        w = window[k, :, 0].numpy()
        np.testing.assert_array_equal(lines["input window"].get_xydata(), np.c_[range(4), w])
        for name, values, style, colour in (("truth", truth, "-", "tab:blue"),
                                            ("rollout", rollout, "--", "tab:orange")):  # fmt: skip
            joined = np.c_[range(3, 7), [w[-1], *values[k, :, 0].numpy()]]  # from the last input
            np.testing.assert_array_equal(lines[name].get_xydata(), joined)
            assert lines[name].get_linestyle() == style and lines[name].get_color() == colour
        assert lines["input window"].get_color() == "0.4"
    legend = axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["input window", "truth", "rollout"]
    assert axes[1].get_legend() is None


def test_rollout_feeds_each_prediction_back_as_the_newest_step():
    task = RegressionTask(model={"cell": "gru", "hidden_size": 4}, input_size=1, num_outputs=1,
                          optimizer=OPT)  # fmt: skip
    seen = []

    def forward(window):  # a stand-in model: the next value is the window's sum
        seen.append(window.clone())
        return window.sum(dim=1)

    task.forward = forward
    window = torch.arange(1.0, 5.0).reshape(1, 4, 1)
    preds = task.rollout(window, 3)
    assert torch.equal(seen[0], window)
    for before, pred, after in zip(seen, preds[0], seen[1:], strict=False):
        assert torch.equal(after[0, :, 0], torch.cat([before[0, 1:, 0], pred]))
    assert preds[0, :, 0].tolist() == [10.0, 19.0, 36.0]  # 1+2+3+4, 2+3+4+10, 3+4+10+19


def test_the_run_summary_names_the_model_its_settings_and_the_seed():
    model = {"cell": "rnn", "hidden_size": 8, "num_layers": 2, "bidirectional": True,
             "nonlinearity": "relu", "init": "identity"}  # fmt: skip
    task = RegressionTask(model=model, input_size=1, num_outputs=1, optimizer=OPT,
                          run_config={"seed": 7})  # fmt: skip
    assert task.run_summary() == (
        "rnn, 8 units × 2 layers, bidirectional, relu, init=identity, seed 7"
    )
    defaults = RegressionTask(model={"hidden_size": 4}, input_size=1, num_outputs=1, optimizer=OPT)
    assert defaults.run_summary() == "lstm, 4 units × 1 layer"  # the cell it was built with


def test_rollout_of_several_features_appends_each_prediction_as_one_step():
    torch.manual_seed(0)
    task = RegressionTask(model={"cell": "gru", "hidden_size": 4}, input_size=2, num_outputs=2,
                          optimizer=OPT)  # fmt: skip
    window = torch.randn(3, 5, 2)
    preds = task.rollout(window, 2)
    assert preds.shape == (3, 2, 2)
    torch.testing.assert_close(preds[:, 1], task(torch.cat([window[:, 1:], preds[:, :1]], 1)))
