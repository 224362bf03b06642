// Format K, CPU seed: out[i, j] = max(a[i, j] + b[i, j], 0) * w[j]. in = [a (rows, cols), b (rows, cols), w
// (cols)]. Fused: one pass reads a and b and writes out once (eager makes three passes and two temporaries). Same
// float operations in the same order as eager, so the result is bit-identical. Rows are one SIMD loop each; OpenMP
// shares ROWS_PER_TASK rows per task only for tensors of PAR_MIN elements or more.
#include "ke_abi.h"

#define ROWS_PER_TASK 8  // tunable: 1 4 8 16 64
#define PAR_MIN 131072   // tunable: 32768 131072 524288 2097152

static void fused_rows(const float* __restrict a, const float* __restrict b, const float* __restrict w,
                       float* __restrict y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * cols;
    const float* br = b + r * cols;
    float* yr = y + r * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) {
      const float s = ar[j] + br[j];
      yr[j] = (s < 0.0f ? 0.0f : s) * w[j];
    }
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 3 || n_out != 1) return 1;
  for (int i = 0; i < 3; ++i)
    if (in[i].dtype != KE_F32) return 1;
  if (out[0].dtype != KE_F32 || in[2].ndim != 1 || in[0].ndim < 1) return 2;
  const int64_t cols = in[2].shape[0];
  const int64_t n = ke_numel(&in[0]);
  if (in[0].shape[in[0].ndim - 1] != cols || ke_numel(&in[1]) != n || ke_numel(&out[0]) != n) return 2;
  if (in[1].shape[in[1].ndim - 1] != cols) return 2;
  if (cols == 0) return 0;
  const int64_t rows = n / cols;
  const float* a = (const float*)in[0].data;
  const float* b = (const float*)in[1].data;
  const float* w = (const float*)in[2].data;
  float* y = (float*)out[0].data;
  const int64_t tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t r0 = t * ROWS_PER_TASK, nr = rows - r0 < ROWS_PER_TASK ? rows - r0 : ROWS_PER_TASK;
    fused_rows(a + r0 * cols, b + r0 * cols, w, y + r0 * cols, nr, cols);
  }
  return 0;
}
