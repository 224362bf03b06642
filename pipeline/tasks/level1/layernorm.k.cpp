// Format K, CPU seed: LayerNorm over the last dim. in = [x (..., H), weight (H), bias (H)], attrs = [eps].
// Per row (in L1/L2 after the first touch): mean as a SIMD sum in double lanes, then the variance as a second
// SIMD pass over (x - mean)^2 in double (two-pass: no cancellation of E[x^2] - mean^2), then one fused pass
// y = (x - mean) * rstd * w + b. OpenMP shares ROWS_PER_TASK rows per task, only for tensors of PAR_MIN
// elements or more; the row worker is cloned for AVX2+FMA (x86-64-v3) and the baseline, picked at load time.
#include "ke_abi.h"
#include <math.h>

#define ROWS_PER_TASK 4  // tunable: 1 2 4 8 16
#define PAR_MIN 65536    // tunable: 16384 65536 262144 1048576

__attribute__((target_clones("arch=x86-64-v3", "default")))
void ln_rows(const float* __restrict x, const float* __restrict w, const float* __restrict b, float* __restrict y,
             int64_t rows, int64_t h, double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * h;
    float* yr = y + r * h;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < h; ++i) s += xr[i];
    const double mean = s / (double)h;
    double v = 0.0;
#pragma omp simd reduction(+ : v)
    for (int64_t i = 0; i < h; ++i) {
      const double d = (double)xr[i] - mean;
      v += d * d;
    }
    const float rstd = (float)(1.0 / sqrt(v / (double)h + eps));
    const float m = (float)mean;
#pragma omp simd
    for (int64_t i = 0; i < h; ++i) yr[i] = (xr[i] - m) * rstd * w[i] + b[i];
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 3 || n_out != 1 || n_attrs != 1) return 1;
  for (int i = 0; i < 3; ++i)
    if (in[i].dtype != KE_F32) return 1;
  if (out[0].dtype != KE_F32 || in[0].ndim < 1 || !(attrs[0] >= 0.0)) return 2;
  const int64_t h = ke_numel(&in[1]), n = ke_numel(&in[0]);
  if (in[1].ndim != 1 || ke_numel(&in[2]) != h || in[0].shape[in[0].ndim - 1] != h || ke_numel(&out[0]) != n)
    return 2;
  if (n == 0) return 0;
  const int64_t rows = n / h;
  const float* x = (const float*)in[0].data;
  const float* w = (const float*)in[1].data;
  const float* b = (const float*)in[2].data;
  float* y = (float*)out[0].data;
  const int64_t tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t k = 0; k < tasks; ++k) {
    const int64_t r0 = k * ROWS_PER_TASK, nr = rows - r0 < ROWS_PER_TASK ? rows - r0 : ROWS_PER_TASK;
    ln_rows(x + r0 * h, w, b, y + r0 * h, nr, h, attrs[0]);
  }
  return 0;
}
