// Format K, CPU seed: C = A @ B for 2-D A (M, K) and B (K, N), any sizes. in = [A, B]. GotoBLAS-style blocking: B
// is packed (workspace) into panels of NR columns stored k-major, so a micro-tile reads one contiguous NR-vector of
// B per k; C is cut into MC x NC blocks, one OpenMP task each; inside a task the depth runs in KC slices (a KC x NR
// slice of the panel stays in L1, the MC x KC block of A in L2) and each MR x NR micro-tile keeps its accumulators
// in vector registers (GCC vector types), broadcasting one A element per row and k. Partial sums of each KC slice
// are added into C (blocked summation). Edge tiles reuse the last valid row and zero-padded panel columns, and
// store only what is inside C. The micro-kernel is cloned for AVX2+FMA (x86-64-v3) and the baseline, picked at load
// time; the team starts only for products of PAR_MIN_FLOPS or more.
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

// Panels of NR columns of B (K x N, row-major), k-major inside a panel, zero past column N.
static void pack_b(const float* B, int64_t K, int64_t N, float* bp, int par) {
  const int64_t panels = (N + NR - 1) / NR;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = bp + p * K * NR;
    const int64_t j0 = p * NR, nj = min64(NR, N - j0);
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t c = 0; c < nj; ++c) dst[k * NR + c] = B[k * N + j0 + c];
      for (int64_t c = nj; c < NR; ++c) dst[k * NR + c] = 0.0f;
    }
  }
}

static void gemm_packed(const float* A, const float* bp, float* C, int64_t M, int64_t N, int64_t K, int par) {
  const int64_t mb = (M + MC - 1) / MC, nb = (N + NC_EFF - 1) / NC_EFF;
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int64_t ib = 0; ib < mb; ++ib)
    for (int64_t jb = 0; jb < nb; ++jb) {
      const int64_t i0 = ib * MC, i1 = min64(M, i0 + MC), j0 = jb * NC_EFF, j1 = min64(N, j0 + NC_EFF);
      if (K == 0) {
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) C[i * N + j] = 0.0f;
        continue;
      }
      for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = min64(KC, K - k0);
        for (int64_t j = j0; j < j1; j += NR)
          for (int64_t i = i0; i < i1; i += MR)
            gemm_tile(A + i * K + k0, K, min64(MR, i1 - i), bp + (j / NR) * K * NR + k0 * NR, kc, C + i * N + j, N,
                      min64(NR, j1 - j), k0 > 0);
      }
    }
}

extern "C" int64_t ke_workspace_bytes(const ke_tensor* in, int n_in, const double* attrs, int n_attrs) {
  if (n_in != 2 || in[0].ndim != 2 || in[1].ndim != 2) return 0;
  const int64_t K = in[1].shape[0], N = in[1].shape[1];
  return (N + NR - 1) / NR * NR * K * (int64_t)sizeof(float);
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 2 || n_out != 1) return 1;
  if (in[0].dtype != KE_F32 || in[1].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  if (in[0].ndim != 2 || in[1].ndim != 2 || in[0].shape[1] != in[1].shape[0]) return 2;
  const int64_t M = in[0].shape[0], K = in[0].shape[1], N = in[1].shape[1];
  if (out[0].ndim != 2 || out[0].shape[0] != M || out[0].shape[1] != N) return 2;
  if (workspace_bytes < ke_workspace_bytes(in, n_in, attrs, n_attrs) || (K * N > 0 && workspace == 0)) return 3;
  if (M == 0 || N == 0) return 0;
  const int par = 2.0 * M * N * K >= PAR_MIN_FLOPS;
  float* bp = (float*)workspace;
  pack_b((const float*)in[1].data, K, N, bp, par);
  gemm_packed((const float*)in[0].data, bp, (float*)out[0].data, M, N, K, par);
  return 0;
}
