"""Device-resident index batching against the usual per-item DataLoader path; no CLI.

Both paths serve the same in-memory MNIST-shaped tensors, shuffled, one epoch each.
``IndexBatches`` gathers a whole batch with one indexing operation on the device;
``DataLoader(TensorDataset, shuffle=True)`` fetches every example in Python and
collates the batch with ``torch.stack``. The batches are then timed again, each
followed by a training step of an LSTM classifier, to show how much of a real step
the data path costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from rnnlab.benchmarks.timing import threads
from rnnlab.data.batching import IndexBatches
from rnnlab.nn.recurrent import RecurrentStack


def _model_step(
    input_size: int, hidden_size: int, device: torch.device
) -> Callable[[Tensor, Tensor], None]:
    rnn = RecurrentStack(input_size, cell="lstm", hidden_size=hidden_size).to(device)
    head = nn.Linear(hidden_size, 10).to(device)
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)

    def step(x: Tensor, y: Tensor) -> None:
        loss = nn.functional.cross_entropy(head(rnn.encode(x)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _time_epoch(
    batches: Iterable[tuple[Tensor, Tensor]],
    device: torch.device,
    step: Callable[[Tensor, Tensor], None] | None,
    max_batches: int | None,
) -> tuple[float, int]:
    """Seconds for one pass (moving each batch to ``device``), and the batches seen."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started, seen = time.perf_counter(), 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if step is not None:
            step(x, y)
        seen += 1
        if max_batches is not None and seen >= max_batches:
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started, seen


def resident_vs_dataloader(
    device: str = "cpu",
    quick: bool = True,
    num_examples: int = 60_000,
    shape: tuple[int, int] = (28, 28),
    batch_size: int = 128,
    hidden_size: int = 128,
    model_batches: int | None = None,
    num_threads: int | None = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Seconds per shuffled epoch through ``IndexBatches`` and through a ``DataLoader``.

    Args:
        device: where the resident tensors live and where DataLoader batches are copied.
        quick: time the model step on 20 batches per path (the whole epoch otherwise).
        num_examples: examples of synthetic data of ``shape`` (MNIST row-wise by default).
        batch_size: examples per batch on both paths.
        hidden_size: units of the LSTM in the timed training step.
        model_batches: batches per path with the model step (overrides ``quick``).
        num_threads: torch intra-op threads while timing (None: leave as is). On a CPU
            shared with other jobs, 1 keeps OpenMP threads from waiting on each other,
            which slows the resident gathers most.
        seed: seed of the synthetic data and of the shuffles.

    Returns:
        ``resident_s`` and ``dataloader_s`` for batches alone, with ``ratio`` =
        resident_s / dataloader_s (below 1: the resident path is faster);
        ``resident_step_s``, ``dataloader_step_s`` and ``step_ratio`` for the same
        batches each followed by a forward/backward/Adam step of LSTM(``hidden_size``).
    """
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(num_examples, *shape, generator=g)
    labels = torch.randint(10, (num_examples,), generator=g)
    resident_x, resident_y = images.to(dev), labels.to(dev)
    resident = IndexBatches(
        num_examples,
        lambda idx: (resident_x[idx], resident_y[idx]),
        batch_size,
        device=dev,
        shuffle=True,
        seed=seed,
    )
    torch.manual_seed(seed)
    loader = DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=True)
    model_batches = model_batches or (20 if quick else None)

    with threads(num_threads) as n_threads:
        resident_s, batches = _time_epoch(resident, dev, None, None)
        loader_s, _ = _time_epoch(loader, dev, None, None)
        step = _model_step(shape[1], hidden_size, dev)
        _time_epoch(resident, dev, step, max_batches=2)  # first calls allocate workspaces
        resident_step_s, step_batches = _time_epoch(resident, dev, step, model_batches)
        loader_step_s, _ = _time_epoch(loader, dev, step, model_batches)
    return {
        "name": "resident_vs_dataloader",
        "resident_s": resident_s,
        "dataloader_s": loader_s,
        "ratio": resident_s / loader_s,
        "resident_step_s": resident_step_s,
        "dataloader_step_s": loader_step_s,
        "step_ratio": resident_step_s / loader_step_s,
        "batches": batches,
        "step_batches": step_batches,
        "batch_size": batch_size,
        "hidden_size": hidden_size,
        "threads": n_threads,
    }
