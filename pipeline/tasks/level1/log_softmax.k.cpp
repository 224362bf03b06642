// Format K, CPU seed: log_softmax along attrs[0] (any dim, negative allowed). in = [x] (any rank).
// The tensor is seen as (outer, len, inner) around the softmax dim.
// inner == 1 (last dim): each row is three SIMD passes while it sits in L1/L2: max, the sum of exp(x - max)
// accumulated in double, then y = (x - max) - log(sum) (no exp of the output, so no overflow or log(0)).
// inner > 1: the same three passes run down the softmax dim over a tile of COL_TILE contiguous columns at once,
// so every load is a contiguous vector.
// exp is a vectorisable float polynomial (~1 ulp); the row/tile workers are cloned for AVX2+FMA
// (x86-64-v3) and the baseline, picked at load time.
#pragma GCC optimize("no-trapping-math")  // lets the vectoriser if-convert the selects; no value changes
#include "ke_abi.h"
#include <math.h>
#include <string.h>

#define ROWS_PER_TASK 4  // tunable: 1 2 4 8 16
#define COL_TILE 64      // tunable: 16 32 64 128 256
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
void log_softmax_rows(const float* __restrict x, float* __restrict y, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * len;
    float* yr = y + r * len;
    float m = -__builtin_inff();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < len; ++i) m = xr[i] > m ? xr[i] : m;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < len; ++i) s += exp_neg(xr[i] - m);
    const float lse = (float)log(s);
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) yr[i] = (xr[i] - m) - lse;
  }
}

// Columns [c0, c0 + nc) of one outer slice (len x inner), nc <= COL_TILE.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void log_softmax_cols(const float* __restrict x, float* __restrict y, int64_t len, int64_t inner, int64_t nc) {
  float m[COL_TILE];
  double s[COL_TILE];
  for (int64_t j = 0; j < nc; ++j) { m[j] = -__builtin_inff(); s[j] = 0.0; }
  for (int64_t d = 0; d < len; ++d) {
    const float* xr = x + d * inner;
#pragma omp simd
    for (int64_t j = 0; j < nc; ++j) m[j] = xr[j] > m[j] ? xr[j] : m[j];
  }
  for (int64_t d = 0; d < len; ++d) {
    const float* xr = x + d * inner;
#pragma omp simd
    for (int64_t j = 0; j < nc; ++j) s[j] += exp_neg(xr[j] - m[j]);
  }
  float lse[COL_TILE];
  for (int64_t j = 0; j < nc; ++j) lse[j] = (float)log(s[j]);
  for (int64_t d = 0; d < len; ++d) {
    const float* xr = x + d * inner;
    float* yr = y + d * inner;
#pragma omp simd
    for (int64_t j = 0; j < nc; ++j) yr[j] = (xr[j] - m[j]) - lse[j];
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
      log_softmax_rows(x + r0 * len, y + r0 * len, nr, len);
    }
    return 0;
  }
  const int64_t tiles = (inner + COL_TILE - 1) / COL_TILE;
#pragma omp parallel for collapse(2) schedule(static) if (n >= PAR_MIN)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < tiles; ++k) {
      const int64_t c0 = k * COL_TILE, nc = inner - c0 < COL_TILE ? inner - c0 : COL_TILE;
      log_softmax_cols(x + o * len * inner + c0, y + o * len * inner + c0, len, inner, nc);
    }
  return 0;
}
