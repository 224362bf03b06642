// Format K, CPU seed: y = A @ x for A (M, K) and x (K, 1) or (K). in = [A, x].
// Memory-bound GEMV: ROWS rows of A stream together against one vector of x (x is read once per row block, each A
// element once); the dot products run in 8-float vector accumulators (GCC vector types) over KBLK-long pieces, and
// each piece's sum is added into a double total (blocked summation: float lanes inside a piece, double across).
// OpenMP shares ROWS_PER_TASK rows per task, only for matrices of PAR_MIN elements or more; the row worker is
// cloned for AVX2+FMA (x86-64-v3) and the baseline, picked at load time.
#include "ke_abi.h"

#define ROWS 4             // tunable: 1 2 4 8
#define KBLK 512           // tunable: 128 256 512 2048
#define ROWS_PER_TASK 32   // tunable: 8 32 128 512
#define PAR_MIN 262144     // tunable: 65536 262144 1048576 4194304

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));

__attribute__((target_clones("arch=x86-64-v3", "default")))
void gemv_rows(const float* __restrict A, const float* __restrict x, float* __restrict y, int64_t rows, int64_t K) {
  for (int64_t r0 = 0; r0 < rows; r0 += ROWS) {
    const int64_t nr = rows - r0 < ROWS ? rows - r0 : ROWS;
    const float* a[ROWS];
    for (int r = 0; r < ROWS; ++r) a[r] = A + (r0 + (r < nr ? r : nr - 1)) * K;
    double tot[ROWS];
    for (int r = 0; r < ROWS; ++r) tot[r] = 0.0;
    for (int64_t k0 = 0; k0 < K; k0 += KBLK) {
      const int64_t k1 = K - k0 < KBLK ? K : k0 + KBLK;
      v8 acc[ROWS];
      for (int r = 0; r < ROWS; ++r) acc[r] = (v8){0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = k0;
      for (; k + 8 <= k1; k += 8) {
        const v8 xv = *(const v8u*)(x + k);
        for (int r = 0; r < ROWS; ++r) acc[r] += *(const v8u*)(a[r] + k) * xv;
      }
      for (int r = 0; r < ROWS; ++r) {
        float part = ((acc[r][0] + acc[r][4]) + (acc[r][1] + acc[r][5])) +
                     ((acc[r][2] + acc[r][6]) + (acc[r][3] + acc[r][7]));
        for (int64_t t = k; t < k1; ++t) part += a[r][t] * x[t];
        tot[r] += part;
      }
    }
    for (int64_t r = 0; r < nr; ++r) y[r0 + r] = (float)tot[r];
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 2 || n_out != 1) return 1;
  if (in[0].dtype != KE_F32 || in[1].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  if (in[0].ndim != 2) return 2;
  const int64_t M = in[0].shape[0], K = in[0].shape[1];
  if (!(in[1].ndim == 1 || (in[1].ndim == 2 && in[1].shape[1] == 1)) || in[1].shape[0] != K) return 2;
  if (ke_numel(&out[0]) != M) return 2;
  if (M == 0) return 0;
  const float* A = (const float*)in[0].data;
  const float* x = (const float*)in[1].data;
  float* y = (float*)out[0].data;
  const int64_t tasks = (M + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
#pragma omp parallel for schedule(static) if (M * K >= PAR_MIN)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t r0 = t * ROWS_PER_TASK, nr = M - r0 < ROWS_PER_TASK ? M - r0 : ROWS_PER_TASK;
    gemv_rows(A + r0 * K, x, y + r0, nr, K);
  }
  return 0;
}
