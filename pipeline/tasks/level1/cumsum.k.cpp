// Format K, CPU seed: inclusive cumsum along attrs[0] (any dim, negative allowed). in = [x] (any rank).
// Running sums are kept in double (as torch's CPU kernel does), so each output is one rounding of the exact sum.
// The tensor is seen as (outer, len, inner) around dim. inner == 1 (this task: dim 1 of a matrix): a scan is a
// serial chain per row, so ROW_ILP rows are scanned together (independent chains the CPU overlaps) inside a task
// of ROWS_PER_TASK rows. inner > 1: the scan runs down the dim over a tile of COL_TILE contiguous columns as
// SIMD vectors. Workers are cloned for AVX2+FMA (x86-64-v3) and the baseline, picked at load time.
#include "ke_abi.h"

#define ROW_ILP 4        // tunable: 1 2 4 8
#define ROWS_PER_TASK 8  // tunable: 4 8 16 64
#define COL_TILE 64      // tunable: 16 32 64 128 256
#define PAR_MIN 65536    // tunable: 16384 65536 262144 1048576

__attribute__((target_clones("arch=x86-64-v3", "default")))
void scan_rows(const float* __restrict x, float* __restrict y, int64_t rows, int64_t len) {
  int64_t r = 0;
  for (; r + ROW_ILP <= rows; r += ROW_ILP) {
    double acc[ROW_ILP];
    for (int k = 0; k < ROW_ILP; ++k) acc[k] = 0.0;
    for (int64_t i = 0; i < len; ++i)
      for (int k = 0; k < ROW_ILP; ++k) {
        acc[k] += x[(r + k) * len + i];
        y[(r + k) * len + i] = (float)acc[k];
      }
  }
  for (; r < rows; ++r) {
    double acc = 0.0;
    for (int64_t i = 0; i < len; ++i) {
      acc += x[r * len + i];
      y[r * len + i] = (float)acc;
    }
  }
}

__attribute__((target_clones("arch=x86-64-v3", "default")))
void scan_cols(const float* __restrict x, float* __restrict y, int64_t len, int64_t inner, int64_t nc) {
  double acc[COL_TILE];
  for (int64_t j = 0; j < nc; ++j) acc[j] = 0.0;
  for (int64_t d = 0; d < len; ++d) {
    const float* xr = x + d * inner;
    float* yr = y + d * inner;
#pragma omp simd
    for (int64_t j = 0; j < nc; ++j) {
      acc[j] += xr[j];
      yr[j] = (float)acc[j];
    }
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
  if (ke_numel(&out[0]) != n) return 2;
  if (n == 0) return 0;
  const float* x = (const float*)t.data;
  float* y = (float*)out[0].data;
  if (inner == 1) {
    const int64_t tasks = (outer + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t k = 0; k < tasks; ++k) {
      const int64_t r0 = k * ROWS_PER_TASK, nr = outer - r0 < ROWS_PER_TASK ? outer - r0 : ROWS_PER_TASK;
      scan_rows(x + r0 * len, y + r0 * len, nr, len);
    }
    return 0;
  }
  const int64_t tiles = (inner + COL_TILE - 1) / COL_TILE;
#pragma omp parallel for collapse(2) schedule(static) if (n >= PAR_MIN)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < tiles; ++k) {
      const int64_t c0 = k * COL_TILE, nc = inner - c0 < COL_TILE ? inner - c0 : COL_TILE;
      scan_cols(x + o * len * inner + c0, y + o * len * inner + c0, len, inner, nc);
    }
  return 0;
}
