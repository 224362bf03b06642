// Format K, CPU seed: y = (x @ W^T + b) * scale + x. in = [x (M, H), W (H, H), b (H)], attrs = [scale].
// GotoBLAS-style blocking: W^T is packed (workspace) into panels of NR columns stored k-major, so a micro-tile
// reads one contiguous NR-vector per k; y is cut into MC x NC blocks, one OpenMP task each; inside a task the depth
// runs in KC slices (a KC x NR panel slice in L1, the MC x KC block of x in L2) and each MR x NR micro-tile keeps
// its accumulators in vector registers (GCC vector types). Partial sums of each KC slice are added into y (blocked
// summation). Fused epilogue: when a block's last slice is done, bias, scale and the residual are applied to it
// while it is in L2, in eager's order ((acc + b) * scale + x). The micro-kernel is cloned for AVX2+FMA (x86-64-v3)
// and the baseline, picked at load time; the team starts only for products of PAR_MIN_FLOPS or more.
#pragma GCC optimize("no-trapping-math")  // lets the vectoriser if-convert the selects; no value changes
#include "ke_abi.h"

#define MR 6                  // tunable: 2 4 6 8
#define NR 16                 // tunable: 8 16 32
#define KC 256                // tunable: 64 128 256 512
#define MC 96                 // tunable: 24 48 96 192
#define NC 256                // tunable: 64 128 256 512
#define PAR_MIN_FLOPS 4000000 // tunable: 500000 4000000 32000000

#define NV (NR / 8)
#define NC_EFF ((NC + NR - 1) / NR * NR)
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// One MR x NR tile of C (mr x nr of it inside C) += A rows . packed panel slice (kc deep).
__attribute__((target_clones("arch=x86-64-v3", "default")))
void gemm_tile(const float* __restrict A, int64_t lda, int64_t mr, const float* __restrict bp, int64_t kc,
               float* __restrict C, int64_t ldc, int64_t nr, int accumulate) {
  const float* a[MR];
  for (int r = 0; r < MR; ++r) a[r] = A + (r < mr ? r : mr - 1) * lda;
  v8 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = (v8){0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t k = 0; k < kc; ++k) {
    v8 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = *(const v8u*)(bp + k * NR + 8 * v);
    for (int r = 0; r < MR; ++r) {
      const v8 av = (v8){0, 0, 0, 0, 0, 0, 0, 0} + a[r][k];
      for (int v = 0; v < NV; ++v) acc[r][v] += av * b[v];
    }
  }
  if (mr == MR && nr == NR) {
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) {
        v8u* c = (v8u*)(C + r * ldc + 8 * v);
        *c = accumulate ? *c + acc[r][v] : acc[r][v];
      }
    return;
  }
  float t[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) *(v8u*)(&t[r][8 * v]) = acc[r][v];
  for (int64_t r = 0; r < mr; ++r)
    for (int64_t c = 0; c < nr; ++c) C[r * ldc + c] = accumulate ? C[r * ldc + c] + t[r][c] : t[r][c];
}

// Panels of NR rows of W (N x K, row-major; B = W^T), k-major inside a panel, zero past row N.
static void pack_bt(const float* W, int64_t K, int64_t N, float* bp, int par) {
  const int64_t panels = (N + NR - 1) / NR;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = bp + p * K * NR;
    const int64_t j0 = p * NR, nj = min64(NR, N - j0);
    for (int64_t c = 0; c < NR; ++c) {
      const float* wr = W + (j0 + (c < nj ? c : 0)) * K;
      if (c < nj)
        for (int64_t k = 0; k < K; ++k) dst[k * NR + c] = wr[k];
      else
        for (int64_t k = 0; k < K; ++k) dst[k * NR + c] = 0.0f;
    }
  }
}

// The fused epilogue, on a finished block while it is in L2: y = (y + bias) * scale + x (N == K).
static void scale_residual_block(float* __restrict C, int64_t ldc, const float* __restrict bias,
                                 const float* __restrict X, int64_t ldx, float scale, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    float* c = C + i * ldc;
    const float* x = X + i * ldx;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) c[j] = (c[j] + bias[j]) * scale + x[j];
  }
}

static void gemm_packed(const float* A, const float* bp, const float* bias, float scale, float* C, int64_t M,
                        int64_t N, int64_t K, int par) {
  const int64_t mb = (M + MC - 1) / MC, nb = (N + NC_EFF - 1) / NC_EFF;
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int64_t ib = 0; ib < mb; ++ib)
    for (int64_t jb = 0; jb < nb; ++jb) {
      const int64_t i0 = ib * MC, i1 = min64(M, i0 + MC), j0 = jb * NC_EFF, j1 = min64(N, j0 + NC_EFF);
      for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = min64(KC, K - k0);
        for (int64_t j = j0; j < j1; j += NR)
          for (int64_t i = i0; i < i1; i += MR)
            gemm_tile(A + i * K + k0, K, min64(MR, i1 - i), bp + (j / NR) * K * NR + k0 * NR, kc, C + i * N + j, N,
                      min64(NR, j1 - j), k0 > 0);
      }
      scale_residual_block(C + i0 * N + j0, N, bias + j0, A + i0 * K + j0, K, scale, i1 - i0, j1 - j0);
    }
}

extern "C" int64_t ke_workspace_bytes(const ke_tensor* in, int n_in, const double* attrs, int n_attrs) {
  if (n_in != 3 || in[0].ndim != 2 || in[1].ndim != 2) return 0;
  const int64_t N = in[1].shape[0], K = in[1].shape[1];
  return (N + NR - 1) / NR * NR * K * (int64_t)sizeof(float);
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 3 || n_out != 1 || n_attrs != 1) return 1;
  if (in[0].dtype != KE_F32 || in[1].dtype != KE_F32 || in[2].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  if (in[0].ndim != 2 || in[1].ndim != 2 || in[0].shape[1] != in[1].shape[1]) return 2;
  const int64_t M = in[0].shape[0], K = in[0].shape[1], N = in[1].shape[0];
  if (in[2].ndim != 1 || in[2].shape[0] != N || N != K || K == 0) return 2;  // the residual needs N == K
  if (out[0].ndim != 2 || out[0].shape[0] != M || out[0].shape[1] != N) return 2;
  if (workspace_bytes < ke_workspace_bytes(in, n_in, attrs, n_attrs) || (K * N > 0 && workspace == 0)) return 3;
  if (M == 0 || N == 0) return 0;
  const int par = 2.0 * M * N * K >= PAR_MIN_FLOPS;
  float* bp = (float*)workspace;
  pack_bt((const float*)in[1].data, K, N, bp, par);
  gemm_packed((const float*)in[0].data, bp, (const float*)in[2].data, (float)attrs[0], (float*)out[0].data, M, N, K,
              par);
  return 0;
}
