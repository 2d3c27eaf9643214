"""Gradient flow diagnostic: exact at the last step, vanishing for a tanh RNN, saved by the callback."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnlab.callbacks.gradient_flow import hidden_state_gradients
from rnnlab.run.job import train
from rnnlab.tasks.regress import RegressionTask

from helpers import FAST, make_config

OPT = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01}


def _task(cell: str, hidden: int = 16) -> RegressionTask:
    torch.manual_seed(0)
    model = {"cell": cell, "hidden_size": hidden, "num_layers": 2}
    return RegressionTask(model=model, input_size=1, num_outputs=1, optimizer=OPT)


def _batch(steps: int = 60, batch: int = 8):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(batch, steps, 1, generator=g), torch.randn(batch, 3, 1, generator=g)]


def test_last_step_gradient_equals_direct_gradient():
    task, batch = _task("gru"), _batch(steps=10)
    norms = hidden_state_gradients(task, batch).mean(0)
    features = task.rnn.encode(batch[0]).detach().requires_grad_(True)
    loss = task.loss_fn(task.head(features), batch[1][:, 0])
    (direct,) = torch.autograd.grad(loss, features)
    assert norms.shape == (10,)
    assert torch.allclose(norms[-1], direct.norm(dim=-1).mean(), rtol=1e-5)


def test_tanh_rnn_gradients_vanish_faster_than_lstm():
    batch = _batch(steps=60)
    ratios = {}
    for cell in ("rnn", "lstm"):
        norms = hidden_state_gradients(_task(cell), batch).mean(0)
        assert torch.all(norms > 0)
        ratios[cell] = (norms[0] / norms[-1]).item()
    assert ratios["rnn"] < 1e-3
    assert ratios["lstm"] > 10 * ratios["rnn"]


def test_callback_saves_figure_and_norms(tmp_path):
    cfg = make_config(
        tmp_path, [*FAST, "callbacks=gradient_flow", "callbacks.gradient_flow.epochs=[2]"]
    )
    train(cfg, tmp_path)
    data = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert data["cell"] == "lstm"
    assert set(data["norms"]) == {"before training", "epoch 2"}
    assert len(data["norms"]["before training"]) == 12  # one norm per step of data.window
    assert (tmp_path / "gradient_flow.png").stat().st_size > 0


def test_classification_task_gives_gradient_flow():
    from rnnlab.tasks.classify import ClassificationTask

    torch.manual_seed(0)
    model = {"cell": "gru", "hidden_size": 8}
    task = ClassificationTask(model=model, input_size=3, num_outputs=4, optimizer=OPT)
    batch = [torch.randn(5, 9, 3), torch.randint(0, 4, (5,))]
    norms = hidden_state_gradients(task, batch)
    assert norms.shape == (5, 9) and torch.all(norms > 0)


ADDING = ["data=adding", "data.length=12", "data.train_size=64", "data.val_size=64",
          "data.test_size=64", "data.batch_size=16", "model.hidden_size=8"]  # fmt: skip
CHARS = ["data=chars", "data.corpus=stdlib", "data.max_chars=6000", "data.bptt=12",
         "data.batch_size=4", "data.eval_streams=2", "model.hidden_size=8"]  # fmt: skip


@pytest.mark.parametrize("cell", ["rnn", "lstm", "mingru"])
def test_a_loss_on_the_outputs_counts_both_paths_of_each_h_t(tmp_path, cell):
    """The sequence task scores the head on the step outputs: at the last step only the
    output path exists, and it equals the gradient taken directly; earlier steps add the
    recurrent path, so the gradient reaches back to the first step."""
    from rnnlab.run import build

    cfg = make_config(tmp_path, [*ADDING, f"model={cell}"])
    dm = build.build_datamodule(cfg)
    dm.setup("fit")
    task = build.build_task(cfg, dm)
    batch = next(iter(dm.val_dataloader()))
    norms = hidden_state_gradients(task, batch)
    assert norms.shape == (len(batch[0]), 12) and torch.all(norms[:, 0] > 0)
    out, _ = task.rnn(task.stack_inputs(batch[0]))
    last = out[:, -1].detach().requires_grad_(True)
    outputs = torch.cat([out[:, :-1].detach(), last.unsqueeze(1)], 1)
    (direct,) = torch.autograd.grad(task.loss(task.head(outputs), batch[1], batch[2]), last)
    assert torch.allclose(norms[:, -1], direct.norm(dim=-1), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("data", ["adding", "chars"])
def test_callback_records_the_long_memory_and_language_tasks(tmp_path, data):
    overrides = {"adding": ADDING, "chars": CHARS}[data]
    cfg = make_config(tmp_path, [*overrides, *FAST[-4:], "trainer.max_epochs=1",
                                 "callbacks=gradient_flow", "callbacks.gradient_flow.epochs=[1]"])  # fmt: skip
    train(cfg, tmp_path)
    record = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert set(record["norms"]) == {"before training", "epoch 1"}
    assert all(len(v) == 12 and min(v) > 0 for v in record["norms"].values())
    if data == "adding":  # the two marked steps: the gradient that reaches what the answer needs
        assert set(record["cue_norm"]) == {"before training", "epoch 1"}


def _recorded(root, name, cell, norms, cue=None):
    run = root / name
    run.mkdir()
    record = {"cell": cell, "norms": norms, **({"cue_norm": cue} if cue else {})}
    (run / "gradient_flow.json").write_text(json.dumps(record))
    return str(run)


def test_flow_table_measures_how_much_gradient_reaches_back(tmp_path):
    from rnnlab.callbacks.gradient_flow import flow_rows, format_rows

    halving = [0.5 ** (60 - t) for t in range(60)]  # each step back keeps half
    short = [0.25, 0.5, 1.0]
    a = _recorded(tmp_path, "a", "rnn", {"epoch 0": halving}, cue={"epoch 0": 0.125})
    b = _recorded(tmp_path, "b", "lstm", {"epoch 0": short, "epoch 5": short})
    rows = flow_rows([a, b])
    assert [(r["cell"], r["recording"]) for r in rows] == [
        ("rnn", "epoch 0"), ("lstm", "epoch 0"), ("lstm", "epoch 5")
    ]  # fmt: skip
    first = rows[0]
    assert first["norm_T"] == 0.5
    assert first["T-10"] == pytest.approx(2.0**-10) and first["T-50"] == pytest.approx(2.0**-50)
    assert first["per_step"] == pytest.approx(0.5)
    assert first["first/T"] == pytest.approx(2.0**-59) and first["cue/T"] == 0.25
    # a window shorter than every span has no value there
    assert rows[1]["T-10"] is None and rows[1]["per_step"] is None
    assert [r["recording"] for r in flow_rows([b], ["epoch 5"])] == ["epoch 5"]
    table = format_rows(rows).splitlines()
    assert table[0].startswith("| run | cell | recording | ‖∂L/∂h_T‖ | T-10 / T")
    assert table[2].startswith("| a | rnn | epoch 0 | 0.5 | 0.000977 | 8.88e-16 | 0.5 |")
    assert "| — |" in table[3]


@pytest.mark.parametrize("cell", ["lstm", "mingru"])
def test_a_batch_with_lengths_gives_each_sequence_its_own_norms(cell):
    """(x, labels, lengths): on a sequence's real steps the norms are those of the sequence
    alone (times the batch size: the loss is a mean over the batch); padded steps are NaN
    and count in no mean."""
    from rnnlab.tasks.classify import ClassificationTask

    torch.manual_seed(0)
    model = {"cell": cell, "hidden_size": 8, "num_layers": 2}
    task = ClassificationTask(model=model, input_size=3, num_outputs=4, optimizer=OPT)
    lengths = torch.tensor([9, 3, 6])
    batch = [torch.randn(3, 9, 3), torch.randint(0, 4, (3,)), lengths]
    norms = hidden_state_gradients(task, batch, task.lengths_of(batch))
    for b, n in enumerate(lengths.tolist()):
        alone = hidden_state_gradients(task, [batch[0][b : b + 1, :n], batch[1][b : b + 1]])
        torch.testing.assert_close(norms[b, :n] * 3, alone[0], rtol=1e-4, atol=1e-7)
        assert norms[b, n:].isnan().all()


@pytest.mark.parametrize("cell", ["gru", "mingru"])
def test_last_step_gradient_of_every_cell_kind_equals_direct_gradient(cell):
    """Also for a minimal cell, whose final state is a view of its outputs: counted once."""
    from rnnlab.tasks.classify import ClassificationTask

    torch.manual_seed(0)
    model = {"cell": cell, "hidden_size": 8, "num_layers": 2}
    task = ClassificationTask(model=model, input_size=3, num_outputs=4, optimizer=OPT)
    x, labels = torch.randn(3, 9, 3), torch.randint(0, 4, (3,))
    norms = hidden_state_gradients(task, [x, labels])
    features = task.rnn.encode(x).detach().requires_grad_(True)
    (direct,) = torch.autograd.grad(task.loss_fn(task.head(features), labels), features)
    torch.testing.assert_close(norms[:, -1], direct.norm(dim=-1), rtol=1e-5, atol=1e-8)


def test_a_run_on_the_adding_problem_at_variable_length(tmp_path):
    """Data, task and callback together: batches (x, y, mask, lengths) train, validate and
    are probed; every step up to the longest sequence gets a (finite) mean norm."""
    cfg = make_config(tmp_path, [*ADDING, "data.length_jitter=0.5", *FAST[-4:],
                                 "trainer.max_epochs=1", "model.bidirectional=false",
                                 "callbacks=gradient_flow", "callbacks.gradient_flow.epochs=[1]"])  # fmt: skip
    metrics = train(cfg, tmp_path)
    assert math.isfinite(metrics["val/loss"]) and math.isfinite(metrics["test/loss"])
    record = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert all(len(v) == 18 and min(v) > 0 for v in record["norms"].values())
    assert all(math.isfinite(v) for v in record["cue_norm"].values())
