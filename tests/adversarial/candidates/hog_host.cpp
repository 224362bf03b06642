// memory (CPU, format K): a correct ReLU that also takes a large host buffer on its first call, touches every
// page and keeps it (a "workspace" it never needs). The hog held 8 GiB; this one takes 3 GiB, enough
// to pass the budget of a small task (4x the reference's peak, at least that peak + 2 GiB) while a 24 GB CI
// machine stays safe.
#include "ke_abi.h"
#include <stdlib.h>
#include <string.h>

#define HOG_BYTES (3ull << 30)
static char* hog = 0;

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || in[0].dtype != KE_F32) return 1;
  if (!hog) {
    hog = (char*)malloc(HOG_BYTES);
    if (!hog) return 2;
    memset(hog, 1, HOG_BYTES);
  }
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  const int64_t n = ke_numel(&in[0]);
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
  return 0;
}
