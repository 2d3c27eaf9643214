"""Timing of the scratch cells and minimal RNNs against torch.nn; plain dicts, no CLI.

Every number is the median wall time of ``repeats`` training steps (forward, a scalar loss,
backward) after ``warmup`` untimed ones. The two contenders are timed alternately, so a
background load that comes and goes biases neither side.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from rnnlab.benchmarks.timing import sync, threads
from rnnlab.nn.minimal import MinGRU, MinLSTM
from rnnlab.nn.recurrent import RecurrentStack
from rnnlab.nn.scan import DEFAULT_CHUNK
from rnnlab.nn.scratch import SCRATCH

_TORCH_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _train_step(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    params = [p for p in module.parameters() if p.requires_grad]

    def step() -> None:
        out, _ = module(x)
        torch.autograd.grad(out.square().mean(), [x, *params])

    return step


def _time_alternating(
    fns: dict[str, Callable[[], None]], device: torch.device, repeats: int, warmup: int
) -> dict[str, float]:
    """Median seconds per call for each function, calls interleaved round-robin."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            samples[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in samples.items()}


def scratch_vs_torch(
    cell: str,
    batch: int = 128,
    steps: int = 28,
    hidden: int = 128,
    input_size: int = 28,
    num_layers: int = 1,
    bidirectional: bool = False,
    repeats: int = 20,
    warmup: int = 3,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    num_threads: int | None = None,
) -> dict[str, float | int | str]:
    """Forward+backward time of ``SCRATCH[cell]`` against the matching torch.nn layer.

    ``ratio`` = scratch_s / torch_s; both networks hold identical weights.
    """
    dev = torch.device(device)
    kw = {"num_layers": num_layers, "bidirectional": bidirectional, "batch_first": True}
    torch.manual_seed(0)
    ref = _TORCH_CELLS[cell](input_size, hidden, **kw).to(dev, dtype)
    mine = SCRATCH[cell](input_size, hidden, **kw).to(dev, dtype)
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(batch, steps, input_size, device=dev, dtype=dtype, requires_grad=True)
    fns = {"torch": _train_step(ref, x), "scratch": _train_step(mine, x)}
    with threads(num_threads) as n_threads:
        t = _time_alternating(fns, dev, repeats, warmup)
    return {
        "cell": cell,
        "device": str(dev),
        "threads": n_threads,
        "batch": batch,
        "steps": steps,
        "hidden": hidden,
        "input_size": input_size,
        "torch_s": t["torch"],
        "scratch_s": t["scratch"],
        "ratio": t["scratch"] / t["torch"],
    }


def padded_vs_fixed(
    cell: str = "lstm",
    batch: int = 64,
    steps: int = 100,
    hidden: int = 128,
    input_size: int = 32,
    shortest: float = 0.5,
    repeats: int = 20,
    warmup: int = 3,
    device: str = "cpu",
    num_threads: int | None = None,
) -> dict[str, float | int | str]:
    """What a variable-length batch costs: forward+backward of a ``RecurrentStack`` on a
    batch with ``lengths`` (spread evenly from ``shortest * steps`` to ``steps``, padded to
    ``steps``) against the same batch without lengths, for each ``impl``, interleaved.

    ``*_ratio`` = padded / fixed time: above 1 the mask (scratch) or packing (torch) costs
    more than the padded steps it skips; torch's packed path runs only the real steps.
    """
    from rnnlab.nn.recurrent import RecurrentStack

    dev = torch.device(device)
    x = torch.randn(batch, steps, input_size, device=dev, requires_grad=True)
    lengths = torch.linspace(shortest * steps, steps, batch).round().long()
    lengths = lengths[torch.randperm(batch, generator=torch.Generator().manual_seed(0))]
    lengths = lengths.to(dev)
    fns = {}
    for impl in ("torch", "scratch"):
        torch.manual_seed(0)
        stack = RecurrentStack(input_size, cell=cell, hidden_size=hidden, impl=impl).to(dev)
        params = list(stack.parameters())

        def step(stack=stack, params=params, lengths=None) -> None:
            out, _ = stack(x, lengths=lengths)
            torch.autograd.grad(out.square().mean(), [x, *params])

        fns[f"{impl}_fixed"] = step
        fns[f"{impl}_padded"] = lambda step=step: step(lengths=lengths)
    with threads(num_threads) as n_threads:
        t = _time_alternating(fns, dev, repeats, warmup)
    return {
        "cell": cell,
        "device": str(dev),
        "threads": n_threads,
        "batch": batch,
        "steps": steps,
        "hidden": hidden,
        "real_steps": round(float(lengths.float().mean()) / steps, 3),
        **{f"{name}_s": value for name, value in t.items()},
        "torch_ratio": t["torch_padded"] / t["torch_fixed"],
        "scratch_ratio": t["scratch_padded"] / t["scratch_fixed"],
    }


def scan_vs_gru(
    seq_len: int = 512,
    batch: int = 8,
    hidden: int = 128,
    input_size: int = 32,
    device: str = "cpu",
    repeats: int = 3,
    warmup: int = 1,
    num_threads: int | None = None,
) -> dict[str, float | int | str]:
    """One training step of MinGRU and MinLSTM (parallel scans) against nn.GRU.

    ``mingru_s`` and ``minlstm_s`` use the default chunked linear scan, ``mingru_log_s`` the
    log-space scan; each ``speedup*`` is gru_s over that time, i.e. how many times faster.
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    models = {
        "gru": nn.GRU(input_size, hidden, batch_first=True),
        "mingru": MinGRU(input_size, hidden),
        "mingru_log": MinGRU(input_size, hidden, scan="log"),
        "minlstm": MinLSTM(input_size, hidden),
    }
    x = torch.randn(batch, seq_len, input_size, device=dev, requires_grad=True)
    fns = {name: _train_step(m.to(dev), x) for name, m in models.items()}
    with threads(num_threads) as n_threads:
        t = _time_alternating(fns, dev, repeats, warmup)
    return {
        "device": str(dev),
        "threads": n_threads,
        "seq_len": seq_len,
        "batch": batch,
        "hidden": hidden,
        "input_size": input_size,
        "chunk": DEFAULT_CHUNK,
        "gru_s": t["gru"],
        "mingru_s": t["mingru"],
        "mingru_log_s": t["mingru_log"],
        "minlstm_s": t["minlstm"],
        "speedup": t["gru"] / t["mingru"],
        "speedup_log": t["gru"] / t["mingru_log"],
        "speedup_minlstm": t["gru"] / t["minlstm"],
    }


MODERN_CELLS = ("lru", "s6", "s6_torch", "slstm", "mlstm")
# a cell's variant timed beside it: its model keys
VARIANTS = {"s6_torch": ("s6", {"kernel": "torch"})}


def modern_vs_gru(
    seq_len: int = 512,
    batch: int = 8,
    hidden: int = 64,
    input_size: int = 32,
    cells: tuple[str, ...] | list[str] = MODERN_CELLS,
    num_heads: int = 4,
    device: str = "cpu",
    repeats: int = 3,
    warmup: int = 1,
    num_threads: int | None = None,
) -> dict[str, float | int | str]:
    """One training step of each modern cell (a one-layer ``RecurrentStack`` with the cell's
    defaults; ``num_heads`` for slstm and mlstm, as their model configs) against nn.GRU.

    ``<cell>_s`` is its median time and ``speedup_<cell>`` gru_s over it (above 1: faster);
    ``s6`` runs its scan in C++ where that builds (``model.kernel=auto``), ``s6_torch`` in
    torch's operations.
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    models: dict[str, nn.Module] = {"gru": nn.GRU(input_size, hidden, batch_first=True)}
    for name in cells:
        cell, keys = VARIANTS.get(name, (name, {}))
        heads = {"num_heads": num_heads} if cell in ("slstm", "mlstm") else {}
        models[name] = RecurrentStack(input_size, cell=cell, hidden_size=hidden, **heads, **keys)
    x = torch.randn(batch, seq_len, input_size, device=dev, requires_grad=True)
    fns = {name: _train_step(m.to(dev), x) for name, m in models.items()}
    with threads(num_threads) as n_threads:
        t = _time_alternating(fns, dev, repeats, warmup)
    row: dict[str, float | int | str] = {
        "device": str(dev), "threads": n_threads, "seq_len": seq_len, "batch": batch,
        "hidden": hidden, "input_size": input_size, "gru_s": t["gru"],
    }  # fmt: skip
    for cell in cells:
        row[f"{cell}_s"] = t[cell]
        row[f"speedup_{cell}"] = t["gru"] / t[cell]
    return row
