// Format K, CPU: layernorm over the last dimension. in = [x, weight, bias], attrs = [eps].
#include "ke_abi.h"
#include <math.h>

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 3 || n_out != 1 || n_attrs != 1 || in[0].dtype != KE_F32) return 1;
  const float* x = (const float*)in[0].data;
  const float* w = (const float*)in[1].data;
  const float* b = (const float*)in[2].data;
  float* y = (float*)out[0].data;
  const int64_t h = ke_numel(&in[1]);
  const int64_t rows = ke_numel(&in[0]) / h;
  const double eps = attrs[0];
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * h;
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < h; ++i) mean += xr[i];
    mean /= h;
    for (int64_t i = 0; i < h; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= h;
    const double inv = 1.0 / sqrt(var + eps);
    for (int64_t i = 0; i < h; ++i) y[r * h + i] = (float)((xr[i] - mean) * inv * w[i] + b[i]);
  }
  return 0;
}
