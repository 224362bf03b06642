// Format K, CPU, refusal: layernorm that leaves the last row unwritten (the harness's poisoned output shows it).
#include "ke_abi.h"
#include <math.h>

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  const float* x = (const float*)in[0].data;
  const float* w = (const float*)in[1].data;
  const float* b = (const float*)in[2].data;
  float* y = (float*)out[0].data;
  const int64_t h = ke_numel(&in[1]), rows = ke_numel(&in[0]) / h;
  for (int64_t r = 0; r + 1 < rows; ++r) {
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < h; ++i) mean += x[r * h + i];
    mean /= h;
    for (int64_t i = 0; i < h; ++i) var += (x[r * h + i] - mean) * (x[r * h + i] - mean);
    const double inv = 1.0 / sqrt(var / h + attrs[0]);
    for (int64_t i = 0; i < h; ++i) y[r * h + i] = (float)((x[r * h + i] - mean) * inv * w[i] + b[i]);
  }
  return 0;
}
