"""The autograd functions of the scratch layers: one layer-direction's whole sequence.

Each is a ``torch.autograd.Function`` with a hand-written backward through time: the loop
runs a few fused kernels per step, and the ``W_hh`` gradient is accumulated by one matmul
over all steps. Everything inside is time-major ``[T, B, ...]`` so one step is a
contiguous slab. The input projection ``x W_ih^T`` of every step is one matmul done before
the loop (by the layer, or here for the LSTM), so the loop carries only the recurrent part.

Each also takes an optional ``mask`` ``[T, B, 1]`` (1 at a sequence's real steps, 0 at its
padding, which comes after them): at a padded step the state is carried unchanged,
h_t = h_{t-1} (and c_t = c_{t-1}), and the backward pass mirrors it: the step's
pre-activation gradients are zero and the state's gradient passes straight to the step
before. The returned outputs are the carried states, so the last one is each sequence's
state at its last real step; the layer zeros the padded outputs. Without a mask nothing of
this runs.

This file holds the equations and their derivatives for three cells in one place; it is
longer than most on purpose.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def _tanh(x: Tensor, out: Tensor) -> Tensor:
    """tanh(x) written into out.

    On CPU this is computed as 2 sigmoid(2x) - 1, the same function: torch's CPU tanh kernel
    is ~5x slower than its sigmoid kernel and was the largest elementwise cost per step.
    """
    if x.is_cuda:
        return torch.tanh(x, out=out)
    return torch.mul(x, 2, out=out).sigmoid_().mul_(2).sub_(1)


def _prev_states(h0: Tensor, out: Tensor) -> Tensor:
    """h_{t-1} for every t: [h0, h_1, ..., h_{T-1}]."""
    return torch.cat([h0.unsqueeze(0), out[:-1]], 0)


def _weight_grad(dpre: Tensor, h_prev: Tensor) -> Tensor:
    """dL/dW_hh = sum_t dpre_t^T h_{t-1}, as one matmul over all steps."""
    return dpre.flatten(0, 1).t() @ h_prev.flatten(0, 1)


class RNNScan(torch.autograd.Function):
    """h_t = act(xp_t + h_{t-1} W_hh^T), where xp already holds x_t W_ih^T + b_ih + b_hh."""

    @staticmethod
    def forward(
        ctx, xp: Tensor, w_hh: Tensor, h0: Tensor, relu: bool, mask: Tensor | None = None
    ) -> Tensor:
        xp = xp.contiguous()
        out = torch.empty_like(xp)
        w_t = w_hh.t()
        h = h0
        for t in range(xp.shape[0]):
            torch.addmm(xp[t], h, w_t, out=out[t])
            new = out[t].relu_() if relu else _tanh(out[t], out=out[t])
            h = new if mask is None else torch.lerp(h, new, mask[t], out=out[t])
        ctx.save_for_backward(w_hh, h0, out, mask)
        ctx.relu = relu
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        w_hh, h0, out, mask = ctx.saved_tensors
        # act'(a) written in terms of the output: tanh' = 1 - h^2, relu' = [h > 0].
        deriv = (out > 0).to(out.dtype) if ctx.relu else 1 - out * out
        if mask is not None:  # a padded step: no pre-activation gradient, dh passes through
            deriv.mul_(mask)
            skip = 1 - mask
        dh = grad_out.clone()
        da = torch.empty_like(out)
        for t in range(out.shape[0] - 1, -1, -1):
            torch.mul(dh[t], deriv[t], out=da[t])
            if t > 0:
                dh[t - 1].addmm_(da[t], w_hh)
                if mask is not None:
                    dh[t - 1].addcmul_(dh[t], skip[t])
        dh0 = da[0] @ w_hh  # step 0 is real (lengths >= 1): nothing passes it by
        return da, _weight_grad(da, _prev_states(h0, out)), dh0, None, None


class LSTMScan(torch.autograd.Function):
    """Gates i, f, g, o = split(x_t W_ih^T + b + h_{t-1} W_hh^T);  c_t = f c_{t-1} + i g;
    h_t = o tanh(c_t).  b = b_ih + b_hh.

    Unlike the RNN and GRU scans this one also owns the input projection: writing it straight
    into the gate buffer lets each step accumulate h W_hh^T in place instead of copying x_t W_ih^T
    first, which mattered for the LSTM, the slowest of the three.
    """

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        w_ih: Tensor,
        b: Tensor | None,
        w_hh: Tensor,
        h0: Tensor,
        c0: Tensor,
        mask: Tensor | None = None,
    ):
        T, B, _ = x.shape
        H = w_hh.shape[1]
        x2 = x.reshape(T * B, -1)
        gates = x2 @ w_ih.t() if b is None else torch.addmm(b, x2, w_ih.t())
        gates = gates.view(T, B, 4 * H)  # pre-activations, then post-activation i, f, g, o
        out = x.new_empty(T, B, H)
        cs = x.new_empty(T, B, H)
        tcs = x.new_empty(T, B, H)  # tanh(c_t), reused by the backward
        # Per-step views made once by unbind: Python-level indexing in the loop costs as much
        # as some of the small kernels it feeds.
        gv = gates.view(T, B, 4, H)
        i_, f_, g_, o_ = (gv[:, :, k].unbind(0) for k in range(4))
        gates_, if_ = gates.unbind(0), gv[:, :, :2].unbind(0)
        cs_, tcs_, out_ = cs.unbind(0), tcs.unbind(0), out.unbind(0)
        w_t = w_hh.t()
        fast = not x.is_cuda
        h, c = h0, c0
        for t in range(T):
            gt = gates_[t].addmm_(h, w_t)
            if fast:  # one sigmoid over all four gates; g via the tanh identity
                g_[t].mul_(2)
                gt.sigmoid_()
                g_[t].mul_(2).sub_(1)
            else:
                if_[t].sigmoid_()
                g_[t].tanh_()
                o_[t].sigmoid_()
            c_new = torch.mul(f_[t], c, out=cs_[t]).addcmul_(i_[t], g_[t])
            h_new = torch.mul(o_[t], _tanh(c_new, out=tcs_[t]), out=out_[t])
            if mask is None:
                h, c = h_new, c_new
            else:  # tanh(c_t) keeps the new value: the backward masks that step out
                c = torch.lerp(c, c_new, mask[t], out=cs_[t])
                h = torch.lerp(h, h_new, mask[t], out=out_[t])
        ctx.save_for_backward(x2, w_ih, w_hh, h0, c0, gates, cs, tcs, out, mask)
        ctx.has_bias = b is not None
        return out, cs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor, grad_cn: Tensor):
        x2, w_ih, w_hh, h0, c0, gates, cs, tcs, out, mask = ctx.saved_tensors
        T, B, G = gates.shape
        H = G // 4
        gv = gates.view(T, B, 4, H)
        dh = grad_out.clone()
        dpre = torch.empty_like(gates)
        dpv = dpre.view(T, B, 4, H)
        dc = grad_cn.clone()
        tmp = torch.empty_like(dc)
        s_, d_, dpre_ = gv.unbind(0), dpv.unbind(0), dpre.unbind(0)
        i_, f_, g_, o_ = (gv[:, :, k].unbind(0) for k in range(4))
        d0_, d1_, d2_, d3_ = (dpv[:, :, k].unbind(0) for k in range(4))
        d012_ = dpv[:, :, :3].unbind(0)
        tcs_, dh_ = tcs.unbind(0), dh.unbind(0)
        c_prev_ = (c0, *cs.unbind(0)[:-1])
        if mask is not None:
            skip = 1 - mask
            dc_skip, dh_skip = torch.empty_like(dc), torch.empty_like(dc)
        # Step-sized temporaries stay in cache; whole-sequence ones were measurably slower.
        for t in range(T - 1, -1, -1):
            i, f, g, o, tc, dh_t = i_[t], f_[t], g_[t], o_[t], tcs_[t], dh_[t]
            if mask is not None:  # a padded step passes dh and dc on and computes nothing
                torch.mul(dc, skip[t], out=dc_skip)
                torch.mul(dh_t, skip[t], out=dh_skip)
                dc.mul_(mask[t])
                dh_t.mul_(mask[t])
            # dc_t = dc_{t+1} f_{t+1} + dh_t o_t (1 - tanh(c_t)^2)
            torch.mul(o, tc, out=tmp)
            dc.addcmul_(dh_t, torch.addcmul(o, tmp, tc, value=-1, out=tmp))
            # d pre-activation = [dc g i', dc c_{t-1} f', dc i (1 - g^2), dh tanh(c_t) o']
            torch.addcmul(s_[t], s_[t], s_[t], value=-1, out=d_[t])  # sigmoid' = s - s^2
            torch.mul(i, g, out=d2_[t])
            torch.addcmul(i, d2_[t], g, value=-1, out=d2_[t])
            d0_[t].mul_(g)
            d1_[t].mul_(c_prev_[t])
            d012_[t].mul_(dc.unsqueeze(1))
            d3_[t].mul_(tc).mul_(dh_t)
            dc.mul_(f)
            if mask is not None:
                dc.add_(dc_skip)
            if t > 0:
                dh_[t - 1].addmm_(dpre_[t], w_hh)
                if mask is not None:
                    dh_[t - 1].add_(dh_skip)
        dh0 = dpre[0] @ w_hh  # step 0 is real (lengths >= 1): nothing passes it by
        dpre2 = dpre.view(T * B, G)
        dx = (dpre2 @ w_ih).view(T, B, -1) if ctx.needs_input_grad[0] else None
        db = dpre2.sum(0) if ctx.has_bias else None
        dw_hh = _weight_grad(dpre, _prev_states(h0, out))
        return dx, dpre2.t() @ x2, db, dw_hh, dh0, dc, None


class GRUScan(torch.autograd.Function):
    """cuDNN-style GRU with gx = x W_ih^T + b_ih precomputed and gh = h W_hh^T + b_hh:

    r, z = sigmoid(gx_rz + gh_rz);  n = tanh(gx_n + r * gh_n);  h_t = (1 - z) n + z h_{t-1}.
    """

    @staticmethod
    def forward(
        ctx, xp: Tensor, w_hh: Tensor, b_hh: Tensor | None, h0: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        xp = xp.contiguous()
        T, B, G = xp.shape
        H = G // 3
        gh = torch.empty_like(xp)
        rz = xp.new_empty(T, B, 2 * H)
        n = xp.new_empty(T, B, H)
        out = xp.new_empty(T, B, H)
        w_t = w_hh.t()
        h = h0
        for t in range(T):
            if b_hh is None:
                torch.mm(h, w_t, out=gh[t])
            else:
                torch.addmm(b_hh, h, w_t, out=gh[t])
            torch.add(xp[t, :, : 2 * H], gh[t, :, : 2 * H], out=rz[t]).sigmoid_()
            _tanh(
                torch.addcmul(xp[t, :, 2 * H :], rz[t, :, :H], gh[t, :, 2 * H :], out=n[t]),
                out=n[t],
            )
            new = torch.lerp(n[t], h, rz[t, :, H:], out=out[t])  # n + z (h - n)
            h = new if mask is None else torch.lerp(h, new, mask[t], out=out[t])
        ctx.save_for_backward(w_hh, h0, gh, rz, n, out, mask)
        ctx.has_bias = b_hh is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        w_hh, h0, gh, rz, n, out, mask = ctx.saved_tensors
        T, B, G = gh.shape
        H = G // 3
        r, z = rz[..., :H], rz[..., H:]
        h_prev = _prev_states(h0, out)
        # Per-step coefficients, so that d(gh_t) = dh_t * coef_t inside the loop.
        dn_da = (1 - z) * (1 - n * n)  # dh_t -> d(pre-tanh of n)
        coef = gh.new_empty(T, B, 3, H)
        torch.mul(dn_da * gh[..., 2 * H :], r * (1 - r), out=coef[:, :, 0])
        torch.mul(h_prev - n, z * (1 - z), out=coef[:, :, 1])
        torch.mul(dn_da, r, out=coef[:, :, 2])
        if mask is not None:
            # A padded step: dh_{t-1} = dh_t (as if z_t = 1) and no gate gradients.
            z = 1 - mask * (1 - z)
            dn_da = dn_da * mask
            coef.mul_(mask.unsqueeze(2))

        dh = grad_out.clone()
        dgh = torch.empty_like(gh)
        dghv = dgh.view(T, B, 3, H)
        for t in range(T - 1, -1, -1):
            torch.mul(dh[t].unsqueeze(1), coef[t], out=dghv[t])
            if t > 0:
                dh[t - 1].addcmul_(dh[t], z[t]).addmm_(dgh[t], w_hh)
        dh0 = torch.addmm(dh[0] * z[0], dgh[0], w_hh)
        # gx shares the r and z gradients with gh; its n part skips the r gate.
        dxp = torch.cat([dgh[..., : 2 * H], dh * dn_da], -1)
        db_hh = dgh.sum((0, 1)) if ctx.has_bias else None
        return dxp, _weight_grad(dgh, h_prev), db_hh, dh0, None
