"""Device-resident index batching against the usual per-item DataLoader path.

Both paths serve the same in-memory MNIST-shaped tensors, shuffled, one epoch each.
``IndexBatches`` gathers a whole batch with one indexing operation on the device;
``DataLoader(TensorDataset, shuffle=True)`` fetches every example in Python and
collates the batch with ``torch.stack``. Optionally each batch also goes through a
forward and backward pass of a recurrent classifier, to show how much of a real
training step the data path costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

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
    num_examples: int = 60_000,
    shape: tuple[int, int] = (28, 28),
    batch_size: int = 128,
    device: str = "cpu",
    with_model: bool = False,
    hidden_size: int = 128,
    max_batches: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Time one shuffled epoch through ``IndexBatches`` and through a ``DataLoader``.

    Args:
        num_examples: examples of synthetic data of ``shape`` (MNIST row-wise by default).
        batch_size: examples per batch on both paths.
        device: where the resident tensors live and where DataLoader batches are copied.
        with_model: also run a forward/backward/Adam step of LSTM(``hidden_size``) per batch.
        max_batches: stop each pass after this many batches (keeps model runs short).
        seed: seed of the synthetic data and of the shuffles.

    Returns:
        ``resident_s`` and ``dataloader_s`` (seconds per pass), ``speedup``
        (dataloader_s / resident_s), ``batches`` per pass, the settings and the
        number of torch intra-op threads.
    """
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(num_examples, *shape, generator=g)
    labels = torch.randint(10, (num_examples,), generator=g)
    step = _model_step(shape[1], hidden_size, dev) if with_model else None

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

    if step is not None:  # first calls allocate workspaces; keep that out of both timings
        _time_epoch(resident, dev, step, max_batches=2)
    resident_s, batches = _time_epoch(resident, dev, step, max_batches)
    loader_s, _ = _time_epoch(loader, dev, step, max_batches)
    return {
        "resident_s": resident_s,
        "dataloader_s": loader_s,
        "speedup": loader_s / resident_s,
        "batches": batches,
        "num_examples": num_examples,
        "batch_size": batch_size,
        "device": str(dev),
        "with_model": with_model,
        # Index gathers use intra-op threads; on a busy CPU more threads than free cores
        # make the resident path many times slower, so the count belongs in the result.
        "threads": torch.get_num_threads(),
    }
