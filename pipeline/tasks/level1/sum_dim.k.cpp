// Format K, CPU seed: sum along attrs[0] (any dim, negative allowed; the dim is dropped). in = [x] (any rank).
// The tensor is seen as (outer, len, inner) around the summed dim. inner > 1 (this task: the middle dim): for a
// tile of COL_TILE contiguous columns, the rows of the dim are added as SIMD vectors into double accumulators
// (every load contiguous, no horizontal sums). inner == 1: each row is one SIMD reduction in double lanes.
// Double accumulation keeps the error at the final rounding. Workers are cloned for AVX2+FMA (x86-64-v3) and the
// baseline, picked at load time.
#include "ke_abi.h"

#define COL_TILE 64     // tunable: 16 32 64 128 256
#define ROWS_PER_TASK 8 // tunable: 1 4 8 32
#define PAR_MIN 65536   // tunable: 16384 65536 262144 1048576

__attribute__((target_clones("arch=x86-64-v3", "default")))
void sum_cols(const float* __restrict x, float* __restrict y, int64_t len, int64_t inner, int64_t nc) {
  double acc[COL_TILE];
  for (int64_t j = 0; j < nc; ++j) acc[j] = 0.0;
  for (int64_t d = 0; d < len; ++d) {
    const float* xr = x + d * inner;
#pragma omp simd
    for (int64_t j = 0; j < nc; ++j) acc[j] += xr[j];
  }
  for (int64_t j = 0; j < nc; ++j) y[j] = (float)acc[j];
}

__attribute__((target_clones("arch=x86-64-v3", "default")))
void sum_rows(const float* __restrict x, float* __restrict y, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * len;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < len; ++i) s += xr[i];
    y[r] = (float)s;
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || n_attrs != 1 || in[0].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  const ke_tensor& t = in[0];
  if (t.ndim < 1 || attrs[0] != attrs[0]) return 2;
  int d = (int)attrs[0];
  if (d < 0) d += t.ndim;
  if (d < 0 || d >= t.ndim) return 2;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= t.shape[i];
  for (int i = d + 1; i < t.ndim; ++i) inner *= t.shape[i];
  const int64_t len = t.shape[d], n = ke_numel(&t);
  if (ke_numel(&out[0]) != outer * inner) return 2;
  const float* x = (const float*)t.data;
  float* y = (float*)out[0].data;
  if (inner == 1) {
    const int64_t tasks = (outer + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t k = 0; k < tasks; ++k) {
      const int64_t r0 = k * ROWS_PER_TASK, nr = outer - r0 < ROWS_PER_TASK ? outer - r0 : ROWS_PER_TASK;
      sum_rows(x + r0 * len, y + r0, nr, len);
    }
    return 0;
  }
  const int64_t tiles = (inner + COL_TILE - 1) / COL_TILE;
#pragma omp parallel for collapse(2) schedule(static) if (n >= PAR_MIN)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < tiles; ++k) {
      const int64_t c0 = k * COL_TILE, nc = inner - c0 < COL_TILE ? inner - c0 : COL_TILE;
      sum_cols(x + o * len * inner + c0, y + o * inner + c0, len, inner, nc);
    }
  return 0;
}
