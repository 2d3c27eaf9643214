"""sLSTM and mLSTM, the two cells of xLSTM (Beck et al. 2024, "xLSTM: Extended Long
Short-Term Memory"), each a stack of layer-directions as torch.nn's recurrent layers.

Both have an exponential input gate, kept finite by a stabiliser state m:

    m_t = max(log f_t + m_{t-1}, i~_t),  i'_t = exp(i~_t - m_t),  f'_t = exp(log f_t + m_{t-1} - m_t),

with log f_t = logsigmoid(f~_t) (the sigmoid forget gate). With no initial state m_0 = -inf
(so m_1 = i~_1 and the empty memories are not counted) and the memories are zero.

sLSTM (sequential only): gates from the input and, block-diagonally per head, from h_{t-1}:
z = tanh(.), i~, f~, o = sigmoid(.) ; c_t = f' c + i' z ; n_t = f' n + i' ; h_t = o c_t / n_t.
State per layer-direction: (h, c, n, m), each [B, H].

mLSTM: gates from the input only, per head (d = H / heads): q, k / sqrt(d), v, and scalar
i~, f~ per head; matrix memory C_t = f' C + i' k v^T, normaliser n_t = f' n + i' k,
h~_t = C_t^T q_t / max(|n_t . q_t|, exp(-m_t)), h_t = sigmoid(o_t) * h~_t. Its parallel form
(the paper's stabilised D matrix) gives all steps at once: with F_t = sum_{s<=t} log f_s,
log D_ts = F_t - F_s + i~_s (s <= t), m_t = max_s log D_ts, S = (Q K^T) * exp(log D - m),
h~ = S V / max(|S 1|, exp(-m)). An initial state enters as one more term of weight
exp(F_t + m_0). ``parallel=True`` runs this form on chunks of ``chunk`` steps, passing the
state from chunk to chunk (so memory is T * chunk, not T^2); ``parallel=False`` runs the
recurrence. State per layer-direction: (h [B, H], C [B, heads*d*d], n [B, heads*d], m [B, heads]).

Initialisation as NX-AI/xlstm's: forget-gate biases linspace(3, 6) (over each head's units
for sLSTM, over heads for mLSTM), mLSTM gate weights 0 and input-gate bias N(0, 0.1);
other weights as torch.nn's LSTM (sLSTM) or nn.Linear (mLSTM).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.nn.stacking import StackedLayers, last_valid, valid_steps

CHUNK = 64  # mLSTM parallel form: steps per chunk


def _gated_input(i_tilde: Tensor, log_f: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor]:
    """At padded steps i~ = -inf and log f = 0: the memories, n and m stay as they were."""
    if valid is None:
        return i_tilde, log_f
    return i_tilde.masked_fill(~valid, -math.inf), log_f * valid


class SLSTMDirection(nn.Module):
    def __init__(self, n_in: int, hidden: int, num_heads: int) -> None:
        super().__init__()
        self.heads, self.d = num_heads, hidden // num_heads
        bound = 1 / math.sqrt(hidden)
        self.W = nn.Linear(n_in, 4 * hidden)  # z, i, f, o; units head-major within each
        self.R = nn.Parameter(torch.empty(num_heads, self.d, 4 * self.d).uniform_(-bound, bound))
        with torch.no_grad():
            nn.init.uniform_(self.W.weight, -bound, bound)
            nn.init.uniform_(self.W.bias, -bound, bound)
            self.W.bias[2 * hidden : 3 * hidden] = torch.linspace(3, 6, self.d).repeat(num_heads)

    def forward(self, x: Tensor, state: tuple[Tensor, ...] | None, lengths: Tensor | None,
                parallel: bool = False) -> tuple[Tensor, tuple[Tensor, ...]]:  # fmt: skip
        batch, steps, _ = x.shape
        pre = self.W(x).view(batch, steps, 4, self.heads, self.d).transpose(2, 3)
        if state is None:
            zeros = x.new_zeros(batch, self.heads, self.d)
            h, c, n, m = zeros, zeros, zeros, torch.full_like(zeros, -math.inf)
        else:
            h, c, n, m = (s.view(batch, self.heads, self.d) for s in state)
        valid = valid_steps(lengths, steps, x.device)
        outs = []
        # unbind, not pre[:, t]: indexing's backward writes a whole-sequence gradient per step.
        for t, pre_t in enumerate(pre.unbind(1)):
            rec = torch.bmm(h.transpose(0, 1), self.R).transpose(0, 1)  # [B, heads, 4d]
            z, i_tilde, f_tilde, o = (pre_t + rec.unflatten(2, (4, self.d))).unbind(2)
            log_f = F.logsigmoid(f_tilde)
            if valid is not None:
                i_tilde, log_f = _gated_input(i_tilde, log_f, valid[:, t, None, None])
            m_new = torch.maximum(log_f + m, i_tilde)
            i, f = torch.exp(i_tilde - m_new), torch.exp(log_f + m - m_new)
            c, n, m = f * c + i * torch.tanh(z), f * n + i, m_new
            h_new = torch.sigmoid(o) * c / n
            h = h_new if valid is None else torch.where(valid[:, t, None, None], h_new, h)
            outs.append(h_new if valid is None else h_new * valid[:, t, None, None])
        out = torch.stack(outs, 1).flatten(2)
        return out, tuple(s.reshape(batch, -1) for s in (h, c, n, m))


class MLSTMDirection(nn.Module):
    def __init__(self, n_in: int, hidden: int, num_heads: int) -> None:
        super().__init__()
        self.heads, self.d = num_heads, hidden // num_heads
        self.qkvo = nn.Linear(n_in, 4 * hidden)
        self.gates = nn.Linear(n_in, 2 * num_heads)  # i~, f~ per head
        with torch.no_grad():
            nn.init.zeros_(self.gates.weight)
            nn.init.normal_(self.gates.bias[:num_heads], std=0.1)
            self.gates.bias[num_heads:] = torch.linspace(3, 6, num_heads)

    def forward(self, x: Tensor, state: tuple[Tensor, ...] | None, lengths: Tensor | None,
                parallel: bool = True) -> tuple[Tensor, tuple[Tensor, ...]]:  # fmt: skip
        batch, steps, _ = x.shape
        # [B, heads, T, d] each; gates [B, heads, T]
        q, k, v, o = self.qkvo(x).view(batch, steps, 4, self.heads, self.d).permute(2, 0, 3, 1, 4)
        # Contiguous once here, rather than a copy per chunk for each matrix product.
        q, v, k = q.contiguous(), v.contiguous(), k / math.sqrt(self.d)
        i_tilde, f_tilde = self.gates(x).view(batch, steps, 2, self.heads).permute(2, 0, 3, 1)
        valid = valid_steps(lengths, steps, x.device)
        i_tilde, log_f = _gated_input(
            i_tilde, F.logsigmoid(f_tilde), None if valid is None else valid.unsqueeze(1)
        )
        if state is None:
            mem = None
        else:
            mem = (state[1].view(batch, self.heads, self.d, self.d),
                   state[2].view(batch, self.heads, self.d), state[3])  # fmt: skip
        run = _mlstm_chunked if parallel else _mlstm_steps
        h_tilde, mem = run(q, k, v, i_tilde, log_f, mem)
        h = (torch.sigmoid(o) * h_tilde).transpose(1, 2).flatten(2)  # [B, T, H]
        if valid is not None:
            h = h * valid.unsqueeze(-1)
        return h, (last_valid(h, lengths), *(s.reshape(batch, -1) for s in mem))


Memory = tuple[Tensor, Tensor, Tensor]  # C [B, heads, d, d], n [B, heads, d], m [B, heads]


def _mlstm_steps(q, k, v, i_tilde, log_f, mem: Memory | None) -> tuple[Tensor, Memory]:
    """The recurrent form, one step at a time."""
    batch, heads, _, d = q.shape
    if mem is None:
        mem = (q.new_zeros(batch, heads, d, d), q.new_zeros(batch, heads, d),
               q.new_full((batch, heads), -math.inf))  # fmt: skip
    C, n, m = mem
    outs = []
    # unbind, not x[:, :, t]: indexing's backward writes a whole-sequence gradient per step.
    steps_in = zip(q.unbind(2), k.unbind(2), v.unbind(2), i_tilde.unbind(-1), log_f.unbind(-1),
                   strict=True)  # fmt: skip
    for q_t, k_t, v_t, i_t, log_f_t in steps_in:
        m_new = torch.maximum(log_f_t + m, i_t)
        i = torch.exp(i_t - m_new).unsqueeze(-1)
        f = torch.exp(log_f_t + m - m_new).unsqueeze(-1)
        C = f.unsqueeze(-1) * C + (i * k_t).unsqueeze(-1) * v_t.unsqueeze(-2)
        n, m = f * n + i * k_t, m_new
        num = (q_t.unsqueeze(-2) @ C).squeeze(-2)
        den = torch.maximum((n * q_t).sum(-1).abs(), torch.exp(-m)).unsqueeze(-1)
        outs.append(num / den)
    return torch.stack(outs, 2), (C, n, m)


def _mlstm_parallel(q, k, v, i_tilde, log_f, mem: Memory | None) -> tuple[Tensor, Memory]:
    """The stabilised parallel form over all steps given, from ``mem`` (None: empty)."""
    steps = q.shape[2]
    cum = log_f.cumsum(-1)  # F_t
    log_d = cum.unsqueeze(-1) - cum.unsqueeze(-2) + i_tilde.unsqueeze(-2)  # [B, h, t, s]
    causal = torch.ones(steps, steps, dtype=torch.bool, device=q.device).tril()
    log_d = log_d.masked_fill(~causal, -math.inf)
    m = log_d.amax(-1)  # [B, h, T]
    if mem is not None:
        log_w0 = cum + mem[2].unsqueeze(-1)  # weight of the initial state at each step
        m = torch.maximum(m, log_w0)
    weights = torch.exp(log_d - m.unsqueeze(-1))
    scores = (q @ k.transpose(-1, -2)) * weights
    num, norm = scores @ v, scores.sum(-1)
    if mem is not None:
        w0 = torch.exp(log_w0 - m)
        num = num + w0.unsqueeze(-1) * (q @ mem[0])
        norm = norm + w0 * (q * mem[1].unsqueeze(2)).sum(-1)
    h_tilde = num / torch.maximum(norm.abs(), torch.exp(-m)).unsqueeze(-1)
    # The state after the last step: its row of the D matrix, as weights of k v^T and k.
    last = weights[:, :, -1].unsqueeze(-1)  # [B, h, s, 1]
    C, n = (k * last).transpose(-1, -2) @ v, (k * last).sum(2)
    if mem is not None:
        C, n = C + w0[..., -1, None, None] * mem[0], n + w0[..., -1, None] * mem[1]
    return h_tilde, (C, n, m[..., -1])


def _mlstm_chunked(q, k, v, i_tilde, log_f, mem: Memory | None,
                   chunk: int = CHUNK) -> tuple[Tensor, Memory]:  # fmt: skip
    """The parallel form chunk by chunk, each chunk starting from the previous one's state."""
    outs = []
    # split, not q[:, :, part]: a slice's backward writes a whole-sequence gradient (zeros
    # but for the chunk) per chunk and input, and autograd then sums those; split's backward
    # is one concatenation. That was 60% of a training step at T=4096.
    parts = zip(q.split(chunk, 2), k.split(chunk, 2), v.split(chunk, 2),
                i_tilde.split(chunk, -1), log_f.split(chunk, -1), strict=True)  # fmt: skip
    for q_c, k_c, v_c, i_c, log_f_c in parts:
        h, mem = _mlstm_parallel(q_c, k_c, v_c, i_c, log_f_c, mem)
        outs.append(h)
    return torch.cat(outs, 2), mem


class _XLSTM(StackedLayers):
    """Stacked, optionally bidirectional layers of one xLSTM cell (constructor arguments as
    torch.nn's recurrent layers, plus ``num_heads``)."""

    direction_class: type[nn.Module]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 num_heads: int = 1, **options: Any) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, num_layers, **options)
        if hidden_size % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide hidden_size={hidden_size}")
        self.num_heads = num_heads
        self.cells = self.per_direction(
            lambda n_in: self.direction_class(n_in, hidden_size, num_heads)
        )

    def forward(self, x: Tensor, state: tuple[Tensor, ...] | None = None,
                lengths: Tensor | None = None, parallel: bool = True,
                ) -> tuple[Tensor, tuple[Tensor, ...]]:  # fmt: skip
        """x: [B, T, I] -> (outputs [B, T, D*H], state: per part [L*D, B, ...])."""

        def direction(seq: Tensor, k: int) -> tuple[Tensor, tuple[Tensor, ...]]:
            mine = None if state is None else tuple(s[k] for s in state)
            return self.cells[k](seq, mine, lengths, parallel)

        out, finals = self.stack(x, direction, time_dim=1, lengths=lengths)
        return out, tuple(torch.stack(part) for part in zip(*finals, strict=True))


class SLSTM(_XLSTM):
    direction_class = SLSTMDirection

    @property
    def state_size(self) -> int:
        """h, c, n and m: 4H per layer-direction."""
        return len(self.cells) * 4 * self.hidden_size


class MLSTM(_XLSTM):
    direction_class = MLSTMDirection

    @property
    def state_size(self) -> int:
        """C, n and m: heads * (d*d + d + 1) per layer-direction (h is not recurrent)."""
        d = self.hidden_size // self.num_heads
        return len(self.cells) * self.num_heads * (d * d + d + 1)
