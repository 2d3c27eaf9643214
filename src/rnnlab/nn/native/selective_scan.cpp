// S6's selective scan (rnnlab.nn.s6.SelectiveScan) as one fused pass over time.
//
// Every (sequence, group of LANES channels) runs its own recurrence: the N states of each
// channel stay in a small buffer, and each step reads Delta, u, B, C once, forms
// exp(Delta A) inline and writes y: one pass where torch's operations need one per
// product. The forward pass keeps the state entering every BLOCK steps; the backward pass
// recomputes a block's states from it and runs the adjoint recurrence back through it,
//   g_t = dL/dh_t + exp(Delta_{t+1} A) g_{t+1},   dL/dz_t = g_t exp(z_t) h_{t-1} (z = Delta A),
// with the same products as the torch version. Tensors are float32, contiguous, time-major:
// delta, u, grad_y [T, Bsz, H]; A [H, N] (negative); Bm, Cm [T, Bsz, N]; D [H];
// states [Bsz, H, N].
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t LANES = 16;  // channels that run together, vectorised over
constexpr int64_t BLOCK = 64;  // steps between the states kept for the backward pass
constexpr float LOG2E = 1.4426950408889634f;

// 2^x for x <= 0 to float32 precision (relative error of the polynomial 4e-9): the
// integer part goes into the exponent bits, 2^f on [0, 1) is a degree-6 polynomial
// least-squares fitted to it. Inline, so the compiler vectorises it with the loop around
// it (a library exp is one call per vector, two thirds of the scan's time).
inline float exp2_nonpositive(float x) {
  x = x < -126.f ? -126.f : x;  // below 2^-126 the factor is 0 to float32 precision anyway
  const float whole = std::floor(x), f = x - whole;
  float p = 0.000216906092f;
  p = p * f + 0.00124430815f;
  p = p * f + 0.00967847255f;
  p = p * f + 0.0554835247f;
  p = p * f + 0.240229796f;
  p = p * f + 0.693146987f;
  p = p * f + 1.0f;
  const int32_t bits = (static_cast<int32_t>(whole) + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
}

struct Group {  // one sequence b and the channels [c0, c0 + width)
  int64_t b, c0, width;
};

// A's rows of the group, laid [N][LANES] (lanes past the width are 0).
void group_a(const float* A, const Group& g, int64_t N, float scale, float* out) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t l = 0; l < LANES; ++l)
      out[n * LANES + l] = l < g.width ? A[(g.c0 + l) * N + n] * scale : 0.f;
}

void load_state(const float* src, const Group& g, int64_t H, int64_t N, float* s) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t l = 0; l < LANES; ++l)
      s[n * LANES + l] = l < g.width ? src[(g.b * H + g.c0 + l) * N + n] : 0.f;
}

void store_state(const float* s, const Group& g, int64_t H, int64_t N, float* dst) {
  for (int64_t l = 0; l < g.width; ++l)
    for (int64_t n = 0; n < N; ++n) dst[(g.b * H + g.c0 + l) * N + n] = s[n * LANES + l];
}

// Delta and Delta u of step t for the group's lanes.
inline void step_inputs(const float* delta, const float* u, int64_t row, int64_t width,
                        float* d, float* du) {
  for (int64_t l = 0; l < LANES; ++l) {
    d[l] = l < width ? delta[row + l] : 0.f;
    du[l] = l < width ? d[l] * u[row + l] : 0.f;
  }
}

// One step of the recurrence: s <- a s + Delta u B with a = exp(Delta A), kept in `a`
// when Keep (the backward pass's recomputation).
template <bool Keep>
inline void step(const float* a2, const float* d, const float* du, const float* bt, int64_t N,
                 float* s, float* a) {
  for (int64_t n = 0; n < N; ++n) {
    const float bn = bt[n];
    float* sn = s + n * LANES;
    const float* an2 = a2 + n * LANES;
#pragma omp simd
    for (int64_t l = 0; l < LANES; ++l) {
      const float an = exp2_nonpositive(d[l] * an2[l]);
      sn[l] = an * sn[l] + du[l] * bn;
      if constexpr (Keep) a[n * LANES + l] = an;
    }
  }
}

std::vector<Group> groups_of(int64_t b, int64_t H) {
  std::vector<Group> out;
  for (int64_t c0 = 0; c0 < H; c0 += LANES) out.push_back({b, c0, std::min(LANES, H - c0)});
  return out;
}

}  // namespace

// -> y [T, Bsz, H] (with D u), the last state [Bsz, H, N], the states entering each block
// [ceil(T / BLOCK), Bsz, H, N].
std::vector<torch::Tensor> forward(torch::Tensor delta, torch::Tensor u, torch::Tensor A,
                                   torch::Tensor Bm, torch::Tensor Cm, torch::Tensor D,
                                   torch::Tensor h0) {
  const int64_t T = delta.size(0), Bsz = delta.size(1), H = delta.size(2), N = A.size(1);
  auto y = torch::empty_like(delta);
  auto last = torch::empty({Bsz, H, N}, delta.options());
  auto entering = torch::empty({(T + BLOCK - 1) / BLOCK, Bsz, H, N}, delta.options());
  const float *pd = delta.data_ptr<float>(), *pu = u.data_ptr<float>(),
              *pa = A.data_ptr<float>(), *pb = Bm.data_ptr<float>(),
              *pc = Cm.data_ptr<float>(), *pD = D.data_ptr<float>(),
              *ph0 = h0.data_ptr<float>();
  float *py = y.data_ptr<float>(), *plast = last.data_ptr<float>(),
        *pe = entering.data_ptr<float>();
  at::parallel_for(0, Bsz, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> s(N * LANES), a2(N * LANES);
    float d[LANES], du[LANES], acc[LANES];
    for (int64_t b = begin; b < end; ++b) {
      for (const Group& g : groups_of(b, H)) {
        group_a(pa, g, N, LOG2E, a2.data());
        load_state(ph0, g, H, N, s.data());
        for (int64_t t = 0; t < T; ++t) {
          if (t % BLOCK == 0) store_state(s.data(), g, H, N, pe + (t / BLOCK) * Bsz * H * N);
          const int64_t row = (t * Bsz + b) * H + g.c0;
          const float* ct = pc + (t * Bsz + b) * N;
          step_inputs(pd, pu, row, g.width, d, du);
          step<false>(a2.data(), d, du, pb + (t * Bsz + b) * N, N, s.data(), nullptr);
          for (int64_t l = 0; l < LANES; ++l) acc[l] = 0.f;
          for (int64_t n = 0; n < N; ++n) {
            const float cn = ct[n];
            const float* sn = s.data() + n * LANES;
#pragma omp simd
            for (int64_t l = 0; l < LANES; ++l) acc[l] += cn * sn[l];
          }
          for (int64_t l = 0; l < g.width; ++l)
            py[row + l] = acc[l] + pD[g.c0 + l] * pu[row + l];
        }
        store_state(s.data(), g, H, N, plast);
      }
    }
  });
  return {y, last, entering};
}

// -> dL/d(delta, u, A, Bm, Cm, D, h0).
std::vector<torch::Tensor> backward(torch::Tensor delta, torch::Tensor u, torch::Tensor A,
                                    torch::Tensor Bm, torch::Tensor Cm, torch::Tensor D,
                                    torch::Tensor entering, torch::Tensor grad_y,
                                    torch::Tensor grad_last) {
  const int64_t T = delta.size(0), Bsz = delta.size(1), H = delta.size(2), N = A.size(1);
  auto grad_delta = torch::empty_like(delta), grad_u = torch::empty_like(delta);
  auto grad_b = torch::empty_like(Bm), grad_c = torch::empty_like(Cm);
  auto grad_a_per_b = torch::empty({Bsz, H, N}, delta.options());
  auto grad_h0 = torch::empty({Bsz, H, N}, delta.options());
  const float *pd = delta.data_ptr<float>(), *pu = u.data_ptr<float>(),
              *pa = A.data_ptr<float>(), *pb = Bm.data_ptr<float>(),
              *pc = Cm.data_ptr<float>(), *pD = D.data_ptr<float>(),
              *pe = entering.data_ptr<float>(), *pgy = grad_y.data_ptr<float>(),
              *pgl = grad_last.data_ptr<float>();
  float *pgd = grad_delta.data_ptr<float>(), *pgu = grad_u.data_ptr<float>(),
        *pgb = grad_b.data_ptr<float>(), *pgc = grad_c.data_ptr<float>(),
        *pga = grad_a_per_b.data_ptr<float>(), *pgh = grad_h0.data_ptr<float>();
  at::parallel_for(0, Bsz, 1, [&](int64_t begin, int64_t end) {
    const int64_t NL = N * LANES, n_groups = (H + LANES - 1) / LANES;
    std::vector<float> a2(NL), a1(NL), grad_a(n_groups * NL), carry(n_groups * NL);
    std::vector<float> hs((BLOCK + 1) * NL), as(BLOCK * NL);  // a block's states, factors
    // dL/dB and dL/dC of a block per lane, summed over the lanes once all groups are done
    std::vector<float> part_b(BLOCK * NL), part_c(BLOCK * NL);
    float d[LANES], du[LANES], gy[LANES], gdu[LANES], gdelta[LANES];
    for (int64_t b = begin; b < end; ++b) {
      const std::vector<Group> groups = groups_of(b, H);
      for (size_t k = 0; k < groups.size(); ++k)  // dL/dh_T
        load_state(pgl, groups[k], H, N, carry.data() + k * NL);
      std::fill(grad_a.begin(), grad_a.end(), 0.f);
      for (int64_t blk = (T - 1) / BLOCK; blk >= 0; --blk) {
        const int64_t t0 = blk * BLOCK, n_steps = std::min(BLOCK, T - t0);
        std::fill(part_b.begin(), part_b.end(), 0.f);
        std::fill(part_c.begin(), part_c.end(), 0.f);
        for (size_t k = 0; k < groups.size(); ++k) {
          const Group& grp = groups[k];
          float *cy = carry.data() + k * NL, *ga = grad_a.data() + k * NL;
          group_a(pa, grp, N, LOG2E, a2.data());
          group_a(pa, grp, N, 1.f, a1.data());
          load_state(pe + blk * Bsz * H * N, grp, H, N, hs.data());
          for (int64_t j = 0; j < n_steps; ++j) {  // the block's states again
            const int64_t t = t0 + j;
            std::copy(hs.begin() + j * NL, hs.begin() + (j + 1) * NL, hs.begin() + (j + 1) * NL);
            step_inputs(pd, pu, (t * Bsz + b) * H + grp.c0, grp.width, d, du);
            step<true>(a2.data(), d, du, pb + (t * Bsz + b) * N, N, hs.data() + (j + 1) * NL,
                       as.data() + j * NL);
          }
          for (int64_t j = n_steps - 1; j >= 0; --j) {
            const int64_t t = t0 + j, row = (t * Bsz + b) * H + grp.c0;
            const float *bt = pb + (t * Bsz + b) * N, *ct = pc + (t * Bsz + b) * N;
            const float *h_now = hs.data() + (j + 1) * NL, *h_before = hs.data() + j * NL;
            const float* a = as.data() + j * NL;
            float *pb_j = part_b.data() + j * NL, *pc_j = part_c.data() + j * NL;
            step_inputs(pd, pu, row, grp.width, d, du);
            for (int64_t l = 0; l < LANES; ++l) {
              gy[l] = l < grp.width ? pgy[row + l] : 0.f;
              gdu[l] = 0.f;
              gdelta[l] = 0.f;
            }
            for (int64_t n = 0; n < N; ++n) {
              const float bn = bt[n], cn = ct[n];
              float *cyn = cy + n * LANES, *gan = ga + n * LANES;
              float *pbn = pb_j + n * LANES, *pcn = pc_j + n * LANES;
              const float *an = a + n * LANES, *hn = h_now + n * LANES,
                          *hbn = h_before + n * LANES, *a1n = a1.data() + n * LANES;
#pragma omp simd
              for (int64_t l = 0; l < LANES; ++l) {
                const float g = cyn[l] + gy[l] * cn;  // dL/dh_t
                pcn[l] += gy[l] * hn[l];              // dL/dC_t, this lane's part
                pbn[l] += du[l] * g;                  // dL/dB_t, this lane's part
                gdu[l] += bn * g;                     // dL/d(Delta u)_t
                const float dz = g * an[l] * hbn[l];
                gdelta[l] += a1n[l] * dz;             // dL/dDelta_t through exp(Delta A)
                gan[l] += d[l] * dz;                  // dL/dA
                cyn[l] = an[l] * g;                   // reaches h_{t-1}
              }
            }
            for (int64_t l = 0; l < grp.width; ++l) {
              pgd[row + l] = gdelta[l] + gdu[l] * pu[row + l];
              pgu[row + l] = gdu[l] * d[l] + gy[l] * pD[grp.c0 + l];
            }
          }
        }
        for (int64_t j = 0; j < n_steps; ++j) {  // the lanes' parts, summed
          float *gbt = pgb + ((t0 + j) * Bsz + b) * N, *gct = pgc + ((t0 + j) * Bsz + b) * N;
          for (int64_t n = 0; n < N; ++n) {
            float sum_b = 0.f, sum_c = 0.f;
            const float *pbn = part_b.data() + (j * N + n) * LANES,
                        *pcn = part_c.data() + (j * N + n) * LANES;
#pragma omp simd reduction(+ : sum_b, sum_c)
            for (int64_t l = 0; l < LANES; ++l) {
              sum_b += pbn[l];
              sum_c += pcn[l];
            }
            gbt[n] = sum_b;
            gct[n] = sum_c;
          }
        }
      }
      for (size_t k = 0; k < groups.size(); ++k) {
        store_state(carry.data() + k * NL, groups[k], H, N, pgh);
        store_state(grad_a.data() + k * NL, groups[k], H, N, pga);
      }
    }
  });
  auto grad_d = (grad_y * u).sum({0, 1});
  return {grad_delta, grad_u, grad_a_per_b.sum(0), grad_b, grad_c, grad_d, grad_h0};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "S6's selective scan, forward");
  m.def("backward", &backward, "S6's selective scan, backward");
}
