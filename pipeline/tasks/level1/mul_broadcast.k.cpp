// Format K, CPU seed: out[n, c, l] = x[n, c, l] * s[0, c, 0]. in = [x (N, C, L), s (1, C, 1)].
// Memory-bound: each (n, c) row of L elements is one SIMD loop with its scale in a register; OpenMP shares
// ROWS_PER_TASK rows per task, only for tensors of PAR_MIN elements or more.
#include "ke_abi.h"

#define ROWS_PER_TASK 8  // tunable: 1 4 8 16 64
#define PAR_MIN 131072   // tunable: 32768 131072 524288 2097152

static void scale_rows(const float* __restrict x, const float* __restrict s, float* __restrict y, int64_t r0,
                       int64_t rows, int64_t channels, int64_t len) {
  for (int64_t r = r0; r < r0 + rows; ++r) {
    const float f = s[r % channels];
    const float* xr = x + r * len;
    float* yr = y + r * len;
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) yr[j] = xr[j] * f;
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 2 || n_out != 1) return 1;
  if (in[0].dtype != KE_F32 || in[1].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  const ke_tensor& x = in[0];
  const ke_tensor& s = in[1];
  if (x.ndim != 3 || s.ndim != 3 || s.shape[0] != 1 || s.shape[2] != 1 || s.shape[1] != x.shape[1]) return 2;
  const int64_t n = ke_numel(&x);
  if (ke_numel(&out[0]) != n) return 2;
  const int64_t channels = x.shape[1], len = x.shape[2], rows = x.shape[0] * channels;
  if (n == 0) return 0;
  const float* xp = (const float*)x.data;
  const float* sp = (const float*)s.data;
  float* y = (float*)out[0].data;
  const int64_t tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t r0 = t * ROWS_PER_TASK, nr = rows - r0 < ROWS_PER_TASK ? rows - r0 : ROWS_PER_TASK;
    scale_rows(xp, sp, y, r0, nr, channels, len);
  }
  return 0;
}
