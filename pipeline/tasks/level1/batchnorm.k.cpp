// Format K, CPU seed: inference BatchNorm over (N, C, spatial...). in = [x, weight, bias, running_mean,
// running_var] (the last four of C elements), attrs = [eps].
// Per channel the affine is folded once, in double: scale = w / sqrt(var + eps), shift = b - mean * scale;
// then every (n, c) plane is one SIMD loop y = x * scale + shift (memory-bound). OpenMP shares PLANES_PER_TASK
// planes per task, only for tensors of PAR_MIN elements or more.
#include "ke_abi.h"
#include <math.h>

#define PLANES_PER_TASK 4  // tunable: 1 2 4 8 32
#define PAR_MIN 131072     // tunable: 32768 131072 524288 2097152

static void norm_planes(const float* __restrict x, float* __restrict y, const float* w, const float* b,
                        const float* mean, const float* var, double eps, int64_t p0, int64_t planes,
                        int64_t channels, int64_t hw) {
  for (int64_t p = p0; p < p0 + planes; ++p) {
    const int64_t c = p % channels;
    const double sc = (double)w[c] / sqrt((double)var[c] + eps);
    const float scale = (float)sc;
    const float shift = (float)((double)b[c] - (double)mean[c] * sc);
    const float* xp = x + p * hw;
    float* yp = y + p * hw;
#pragma omp simd
    for (int64_t i = 0; i < hw; ++i) yp[i] = xp[i] * scale + shift;
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 5 || n_out != 1 || n_attrs != 1) return 1;
  for (int i = 0; i < 5; ++i)
    if (in[i].dtype != KE_F32) return 1;
  if (out[0].dtype != KE_F32 || in[0].ndim < 2) return 2;
  const int64_t channels = in[0].shape[1];
  for (int i = 1; i < 5; ++i)
    if (ke_numel(&in[i]) != channels) return 2;
  const int64_t n = ke_numel(&in[0]);
  if (ke_numel(&out[0]) != n) return 2;
  if (n == 0) return 0;
  int64_t hw = 1;
  for (int d = 2; d < in[0].ndim; ++d) hw *= in[0].shape[d];
  const int64_t planes = in[0].shape[0] * channels;
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  const int64_t tasks = (planes + PLANES_PER_TASK - 1) / PLANES_PER_TASK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t p0 = t * PLANES_PER_TASK, np = planes - p0 < PLANES_PER_TASK ? planes - p0 : PLANES_PER_TASK;
    norm_planes(x, y, (const float*)in[1].data, (const float*)in[2].data, (const float*)in[3].data,
                (const float*)in[4].data, attrs[0], p0, np, channels, hw);
  }
  return 0;
}
