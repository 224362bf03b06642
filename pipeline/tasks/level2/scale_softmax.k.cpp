// Format K, CPU seed: softmax(scores * scale, dim=-1). in = [scores] (any rank), attrs = [scale]. Fused: z = scores
// * scale (rounded to float, as eager's temporary is) is recomputed in each pass instead of being stored. Each row
// is SIMD passes while it sits in L1/L2: max of z, e = exp(z - max) stored with its sum in double, then a scale by
// 1/sum. exp is a vectorisable float polynomial (~1 ulp); the row worker is cloned for AVX2+FMA (x86-64-v3) and the
// baseline, picked at load time. OpenMP shares ROWS_PER_TASK rows per task, only for tensors of PAR_MIN elements or
// more.
#pragma GCC optimize("no-trapping-math")  // lets the vectoriser if-convert the selects; no value changes
#include "ke_abi.h"
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

__attribute__((target_clones("arch=x86-64-v3", "default")))
void scale_softmax_rows(const float* __restrict x, float* __restrict y, int64_t rows, int64_t len, float scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * len;
    float* yr = y + r * len;
    float m = -__builtin_inff();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < len; ++i) {
      const float z = xr[i] * scale;
      m = z > m ? z : m;
    }
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < len; ++i) {
      const float e = exp_neg(xr[i] * scale - m);
      yr[i] = e;
      s += e;
    }
    const float inv = (float)(1.0 / s);
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) yr[i] *= inv;
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || n_attrs != 1 || in[0].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  const ke_tensor& t = in[0];
  if (t.ndim < 1 || attrs[0] != attrs[0]) return 2;
  const int64_t len = t.shape[t.ndim - 1], n = ke_numel(&t);
  if (ke_numel(&out[0]) != n) return 2;
  if (n == 0) return 0;
  const int64_t rows = n / len;
  const float scale = (float)attrs[0];
  const float* x = (const float*)t.data;
  float* y = (float*)out[0].data;
  const int64_t tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t k = 0; k < tasks; ++k) {
    const int64_t r0 = k * ROWS_PER_TASK, nr = rows - r0 < ROWS_PER_TASK ? rows - r0 : ROWS_PER_TASK;
    scale_softmax_rows(x + r0 * len, y + r0 * len, nr, len, scale);
  }
  return 0;
}
