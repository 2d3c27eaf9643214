"""Training throughput of the character LM: characters per second, forward + backward + step."""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from rnnlab.benchmarks.timing import sync


def chars_per_second(
    hidden: int = 512,
    layers: int = 2,
    batch: int = 32,
    bptt: int = 64,
    device: str = "cpu",
    steps: int = 3,
    warmup: int = 1,
    cell: str = "lstm",
    vocab_size: int = 65,
    embedding_dim: int = 64,
    encoding: str = "embedding",
    impl: str = "torch",
    seed: int = 0,
    keep_freed_memory: bool = True,
    bf16: bool = False,
) -> dict[str, Any]:
    """Time ``steps`` training steps of ``LanguageModelTask``'s model on random ids.

    Each step is what ``rnnlab-train`` does per batch with sequential sampling: forward
    from the carried (detached) state, cross-entropy, backward, gradient clipping and an
    Adam step. ``warmup`` untimed steps come first (allocator, cuDNN plans). The default
    (65 characters as in tiny-shakespeare, 2x512 LSTM, 32 streams x 64 steps, 1 + 3 steps) is
    meant to take well under 20 s on an idle CPU. ``keep_freed_memory``: the allocator
    setting ``rnnlab-train`` uses (``rnnlab.run.allocator``). ``bf16``: the forward pass
    and the loss under bfloat16 autocast, as ``trainer.precision=bf16-mixed`` runs them.
    """
    from rnnlab.nn.recurrent import detach_state
    from rnnlab.run.allocator import keep_freed_memory as keep
    from rnnlab.tasks.language import LanguageModelTask

    kept = keep() if keep_freed_memory else False

    torch.manual_seed(seed)
    dev = torch.device(device)
    vocab = ["<unk>", *(chr(33 + i) for i in range(vocab_size - 1))]
    model = {"cell": cell, "hidden_size": hidden, "num_layers": layers, "impl": impl}
    task = LanguageModelTask(model=model, input_size=vocab_size, num_outputs=vocab_size, vocab=vocab,
                             encoding=encoding, embedding_dim=embedding_dim).to(dev)  # fmt: skip
    task.train()
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-3)
    ids = torch.randint(1, vocab_size, (batch, bptt + 1), device=dev)
    x, y = ids[:, :-1], ids[:, 1:]
    state = None

    def step() -> Any:
        nonlocal state
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits, state = task(x, state)
            loss = F.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
        state = detach_state(state)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.parameters(), 1.0)
        optimizer.step()
        return loss

    for _ in range(warmup):
        step()
    sync(dev)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = step()
    sync(dev)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started  # user + system, every thread
    return {
        "chars_per_second": batch * bptt * steps / seconds,
        "step_ms": 1000 * seconds / steps,
        "cpu_ms_per_step": 1000 * cpu_seconds / steps,
        "freed_memory_kept": kept,
        "precision": "bf16-mixed" if bf16 else "32",
        "last_loss": float(loss),
        "params": task.num_parameters,
        "cell": cell, "hidden": hidden, "layers": layers, "batch": batch, "bptt": bptt,
        "device": str(dev), "threads": torch.get_num_threads(), "torch": torch.__version__,
    }  # fmt: skip


def bf16_vs_fp32(repeats: int = 3, **kwargs: Any) -> dict[str, Any]:
    """``chars_per_second`` in float32 and under bfloat16 autocast, alternating ``repeats``
    times in this process; the median of each and their ratio. Where the CPU has no
    bfloat16 matrix instructions, autocast is slower, not faster."""
    import statistics

    samples: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for _ in range(repeats):
        for bf16 in (False, True):
            samples[bf16].append(chars_per_second(bf16=bf16, **kwargs))
    fp32 = statistics.median(r["chars_per_second"] for r in samples[False])
    half = statistics.median(r["chars_per_second"] for r in samples[True])
    first = samples[False][0]
    return {
        "fp32_chars_per_second": round(fp32), "bf16_chars_per_second": round(half),
        "bf16_vs_fp32": round(half / fp32, 2), "repeats": repeats,
        **{k: first[k] for k in ("params", "cell", "hidden", "layers", "batch", "bptt", "device")},
    }  # fmt: skip
