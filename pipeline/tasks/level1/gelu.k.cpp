// Format K, CPU seed: exact (erf) GELU, y = x * Phi(x). in = [x] (any rank). Phi(-|x|) = erfc(a)/2 with a =
// |x|/sqrt(2) is written as exp(-a^2) * Q(t)/2, t = 1/(1 + 0.8 a), Q a degree-10 polynomial least-squares fitted
// (relative weighting) for this kernel on a in [0, 5] (~3e-7 relative in float; past a = 5 the tail is below float
// resolution of Phi). Branch-free, so the loop is SIMD; exp is a vectorisable float polynomial. The chunk loop is
// cloned for AVX2+FMA (x86-64-v3) and the baseline, picked at load time.
#pragma GCC optimize("no-trapping-math")  // lets the vectoriser if-convert the selects; no value changes
#include "ke_abi.h"
#include <string.h>

#define CHUNK 8192      // tunable: 2048 4096 8192 16384 32768
#define PAR_MIN 65536   // tunable: 16384 65536 262144 1048576

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
void gelu_piece(const float* __restrict x, float* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_f(x[i]);
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || in[0].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  const int64_t n = ke_numel(&in[0]);
  if (ke_numel(&out[0]) != n) return 2;
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  const int64_t pieces = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t p = 0; p < pieces; ++p) {
    const int64_t lo = p * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
    gelu_piece(x + lo, y + lo, len);
  }
  return 0;
}
