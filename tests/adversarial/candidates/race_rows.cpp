// determinism (CPU, format K): the reduced dimension is split across OpenMP threads and every thread adds
// its rows into the shared output row with a plain +=, the way a first OpenMP port of a reduction often
// looks. Nothing orders two threads' read-modify-writes of one element, so updates are lost whenever the
// threads overlap in time. On one thread, or when they happen not to overlap (a short call, a busy
// machine), the result is right: a single repeat catches it only by luck.
#include "ke_abi.h"

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || n_attrs != 1 || in[0].dtype != KE_F32 || in[0].ndim != 3 || (int)attrs[0] != 1)
    return 1;
  const int64_t B = in[0].shape[0], R = in[0].shape[1], C = in[0].shape[2];
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  for (int64_t i = 0; i < B * C; ++i) y[i] = 0.f;
  for (int64_t b = 0; b < B; ++b) {
#pragma omp parallel for
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) y[b * C + c] += x[(b * R + r) * C + c];
  }
  return 0;
}
