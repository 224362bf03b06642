// Format K, CPU seed: relu. in = [x] (any rank), out = max(x, 0); NaN stays NaN, as in torch.
// Memory-bound: the flat range is cut into CHUNK-element pieces, shared by an OpenMP team only when the tensor
// is big enough (PAR_MIN) to pay for waking it; each piece is one SIMD loop the compiler vectorises.
#include "ke_abi.h"

#define CHUNK 16384     // tunable: 4096 8192 16384 32768 65536
#define PAR_MIN 131072  // tunable: 32768 131072 524288 2097152

static void relu_piece(const float* __restrict x, float* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
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
    relu_piece(x + lo, y + lo, len);
  }
  return 0;
}
