// Format K, CPU seed: out[i, j] = a[i, j] + b[j]. in = [a (rows, cols) or any rank ending in cols, b (cols)].
// Memory-bound: ROWS_PER_TASK rows per OpenMP task, a team only for tensors of PAR_MIN elements or more;
// the row loop is a SIMD loop over contiguous columns with b kept hot in L1.
#include "ke_abi.h"

#define ROWS_PER_TASK 8  // tunable: 1 4 8 16 64
#define PAR_MIN 131072   // tunable: 32768 131072 524288 2097152

static void add_rows(const float* __restrict a, const float* __restrict b, float* __restrict y, int64_t rows,
                     int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * cols;
    float* yr = y + r * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) yr[j] = ar[j] + b[j];
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 2 || n_out != 1) return 1;
  if (in[0].dtype != KE_F32 || in[1].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  if (in[0].ndim < 1 || in[1].ndim != 1) return 2;
  const int64_t cols = in[1].shape[0];
  const int64_t n = ke_numel(&in[0]);
  if (in[0].shape[in[0].ndim - 1] != cols || ke_numel(&out[0]) != n) return 2;
  if (cols == 0) return 0;
  const int64_t rows = n / cols;
  const float* a = (const float*)in[0].data;
  const float* b = (const float*)in[1].data;
  float* y = (float*)out[0].data;
  const int64_t tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t r0 = t * ROWS_PER_TASK, nr = rows - r0 < ROWS_PER_TASK ? rows - r0 : ROWS_PER_TASK;
    add_rows(a + r0 * cols, b, y + r0 * cols, nr, cols);
  }
  return 0;
}
