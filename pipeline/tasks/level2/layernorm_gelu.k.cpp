// Format K, CPU seed: exact GELU of LayerNorm over the last dim. in = [x (..., H), weight (H), bias (H)],
// attrs = [eps].
// Per row (in L1/L2 after the first touch): mean as a SIMD sum in double lanes, then the variance as a second
// SIMD pass over (x - mean)^2 in double (two-pass: no cancellation of E[x^2] - mean^2), then one fused pass
// y = gelu((x - mean) * rstd * w + b): the GELU is the epilogue of the normalising pass, so the activation is
// never written and read back (eager: two kernels). GELU: Phi(-|v|) = exp(-a^2) Q(t) / 2, a = |v|/sqrt(2),
// t = 1/(1 + 0.8a), Q a degree-10 polynomial fitted for this kernel (~3e-7 relative), all branch-free SIMD code.
// OpenMP shares ROWS_PER_TASK rows per task, only for tensors of PAR_MIN elements or more; the row worker is
// cloned for AVX2+FMA (x86-64-v3) and the baseline, picked at load time.
#pragma GCC optimize("no-trapping-math")  // lets the vectoriser if-convert the selects; no value changes
#include "ke_abi.h"
#include <math.h>
#include <string.h>

#define ROWS_PER_TASK 4  // tunable: 1 2 4 8 16
#define PAR_MIN 65536    // tunable: 16384 65536 262144 1048576

// e^x for x <= 0 (clamped at -87, where it is ~1e-38): n = round(x / ln2), r = x - n ln2, 2^n from bits.
static inline __attribute__((always_inline)) float exp_neg(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float shift = 12582912.0f;  // 1.5 * 2^23
  float kf = x * 1.44269504f + shift;
  int32_t ki;
  memcpy(&ki, &kf, 4);
  kf -= shift;
  const float r = x - kf * 0.693145751953125f - kf * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f; p = p * r + 1.0f / 120.0f; p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f; p = p * r + 0.5f; p = p * r + 1.0f; p = p * r + 1.0f;
  const int32_t bits = (ki - 0x4B400000 + 127) << 23;
  float s;
  memcpy(&s, &bits, 4);
  return p * s;
}

// x * Phi(x), exact GELU in float.
static inline __attribute__((always_inline)) float gelu_f(float v) {
  float a = __builtin_fabsf(v) * 0.70710678f;
  a = a > 5.0f ? 5.0f : a;
  const float t = 1.0f / (1.0f + 0.8f * a);
  float q = -0.0844588285f;
  q = q * t + 0.4516455f; q = q * t - 0.909560476f; q = q * t + 0.62911982f; q = q * t + 0.532227686f;
  q = q * t - 1.17694118f; q = q * t + 0.451252547f; q = q * t + 0.18537342f; q = q * t + 0.471840595f;
  q = q * t + 0.449422834f; q = q * t + 7.80692823e-05f;
  const float h = 0.5f * exp_neg(-a * a) * q;  // Phi(-|v|)
  return v * (v > 0.0f ? 1.0f - h : h);
}

__attribute__((target_clones("arch=x86-64-v3", "default")))
void ln_gelu_rows(const float* __restrict x, const float* __restrict w, const float* __restrict b,
                  float* __restrict y, int64_t rows, int64_t h, double eps) {
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
    for (int64_t i = 0; i < h; ++i) yr[i] = gelu_f((xr[i] - m) * rstd * w[i] + b[i]);
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
    ln_gelu_rows(x + r0 * h, w, b, y + r0 * h, nr, h, attrs[0]);
  }
  return 0;
}
