// Format K, CUDA: out = a + b, b a vector broadcast over the leading dims of a (out[i, j] = a[i, j] + b[j]).
// in = [a, b] (float32, contiguous): a of any rank >= 1 with last dim C, b of C elements (shape (C,), (1, C), ...).
// out = [y] with a's shape. No attrs.
// Memory-bound (read a, write y; b stays in L1/L2). grid.x tiles the columns, so each thread loads its b vector
// once into registers and reuses it for ROWS rows of a; grid.y walks the row groups (grid-stride past 65535).
// Vector path: float4 over columns when C % 4 == 0 and every pointer is 16-byte aligned; scalar path otherwise.
#include "ke_abi.h"
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 64 128 256 512
#define ROWS 8  // tunable: 2 4 8 16
#define VEC 4  // tunable: 1 4
#define STREAMING 1  // tunable: 0 1

#if STREAMING
#define KE_LD(p) __ldcs(p)
#define KE_ST(p, v) __stcs((p), (v))
#else
#define KE_LD(p) (*(p))
#define KE_ST(p, v) (*(p) = (v))
#endif

__device__ __forceinline__ float4 add4(float4 a, float4 b) {
  return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

// a4/y4 rows of cv float4s; b4 of cv float4s.
__global__ void __launch_bounds__(BLOCK) add_bcast_vec4(const float4* __restrict__ a4, const float4* __restrict__ b4,
                                                        float4* __restrict__ y4, int64_t rows, int64_t cv) {
  const int64_t c = (int64_t)blockIdx.x * BLOCK + threadIdx.x;
  if (c >= cv) return;  // no barrier in this kernel
  const float4 bv = b4[c];
  for (int64_t r0 = (int64_t)blockIdx.y * ROWS; r0 < rows; r0 += (int64_t)gridDim.y * ROWS) {
    float4 v[ROWS];
#pragma unroll
    for (int u = 0; u < ROWS; ++u) {
      if (r0 + u < rows) v[u] = KE_LD(a4 + (r0 + u) * cv + c);
      else v[u] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int u = 0; u < ROWS; ++u)
      if (r0 + u < rows) KE_ST(y4 + (r0 + u) * cv + c, add4(v[u], bv));
  }
}

__global__ void __launch_bounds__(BLOCK) add_bcast_scalar(const float* __restrict__ a, const float* __restrict__ b,
                                                          float* __restrict__ y, int64_t rows, int64_t cols) {
  const int64_t c = (int64_t)blockIdx.x * BLOCK + threadIdx.x;
  if (c >= cols) return;
  const float bv = b[c];
  for (int64_t r0 = (int64_t)blockIdx.y * ROWS; r0 < rows; r0 += (int64_t)gridDim.y * ROWS) {
    float v[ROWS];
#pragma unroll
    for (int u = 0; u < ROWS; ++u) v[u] = (r0 + u < rows) ? a[(r0 + u) * cols + c] : 0.f;
#pragma unroll
    for (int u = 0; u < ROWS; ++u)
      if (r0 + u < rows) y[(r0 + u) * cols + c] = v[u] + bv;
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)attrs; (void)n_attrs; (void)workspace; (void)workspace_bytes;
  if (n_in != 2 || n_out != 1) return 1;
  if (in[0].dtype != KE_F32 || in[1].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  const ke_tensor* a = &in[0];
  const ke_tensor* b = &in[1];
  if (a->ndim < 1 || b->ndim > a->ndim) return 1;
  const int64_t cols = a->shape[a->ndim - 1];
  // b must broadcast as a row vector: its last dim is C (or b is empty with C == 0) and every other dim is 1.
  if (b->ndim >= 1 && b->shape[b->ndim - 1] != cols) return 1;
  for (int i = 0; i + 1 < b->ndim; ++i)
    if (b->shape[i] != 1) return 1;
  if (b->ndim == 0 && cols != 1) return 1;
  const int64_t n = ke_numel(a);
  if (ke_numel(&out[0]) != n) return 1;
  if (n == 0) return 0;
  const int64_t rows = n / cols;
  const float* ap = (const float*)a->data;
  const float* bp = (const float*)b->data;
  float* yp = (float*)out[0].data;
  cudaStream_t s = (cudaStream_t)stream;
  const bool aligned = ((((uintptr_t)ap) | ((uintptr_t)bp) | ((uintptr_t)yp)) & 15) == 0;
  const bool vec = VEC == 4 && aligned && cols % 4 == 0;
  const int64_t cu = vec ? cols / 4 : cols;
  int64_t gy = (rows + ROWS - 1) / ROWS;
  if (gy > 65535) gy = 65535;
  const dim3 grid((unsigned)((cu + BLOCK - 1) / BLOCK), (unsigned)gy);
  if (vec)
    add_bcast_vec4<<<grid, BLOCK, 0, s>>>((const float4*)ap, (const float4*)bp, (float4*)yp, rows, cu);
  else
    add_bcast_scalar<<<grid, BLOCK, 0, s>>>(ap, bp, yp, rows, cols);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
