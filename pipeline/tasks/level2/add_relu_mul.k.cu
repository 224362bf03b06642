// Format K, CUDA: out = relu(a + b) * w, fused (out[i, j] = max(a[i, j] + b[i, j], 0) * w[j]).
// in = [a, b, weight] (float32, contiguous): a and b of one shape (any rank >= 1, last dim C), weight of C elements.
// out = [y] with a's shape. No attrs.
// Memory-bound: read a and b, write y once (eager makes three passes). grid.x tiles the columns, so each thread
// loads its weight vector once into registers and reuses it for ROWS rows; grid.y walks the row groups
// (grid-stride past 65535). Vector path: float4 when C % 4 == 0 and every pointer is 16-byte aligned.
// Rounding matches eager: (a + b) is rounded, then relu, then the product.
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

// relu that keeps NaN, as torch.relu does
__device__ __forceinline__ float arm(float a, float b, float w) {
  const float s = a + b;
  return (s < 0.f ? 0.f : s) * w;
}

__global__ void __launch_bounds__(BLOCK) add_relu_mul_vec4(const float4* __restrict__ a4, const float4* __restrict__ b4,
                                                           const float4* __restrict__ w4, float4* __restrict__ y4,
                                                           int64_t rows, int64_t cv) {
  const int64_t c = (int64_t)blockIdx.x * BLOCK + threadIdx.x;
  if (c >= cv) return;  // no barrier in this kernel
  const float4 w = w4[c];
  for (int64_t r0 = (int64_t)blockIdx.y * ROWS; r0 < rows; r0 += (int64_t)gridDim.y * ROWS) {
    float4 va[ROWS], vb[ROWS];
#pragma unroll
    for (int u = 0; u < ROWS; ++u) {
      if (r0 + u < rows) {
        va[u] = KE_LD(a4 + (r0 + u) * cv + c);
        vb[u] = KE_LD(b4 + (r0 + u) * cv + c);
      } else {
        va[u] = make_float4(0.f, 0.f, 0.f, 0.f);
        vb[u] = va[u];
      }
    }
#pragma unroll
    for (int u = 0; u < ROWS; ++u)
      if (r0 + u < rows)
        KE_ST(y4 + (r0 + u) * cv + c, make_float4(arm(va[u].x, vb[u].x, w.x), arm(va[u].y, vb[u].y, w.y),
                                                  arm(va[u].z, vb[u].z, w.z), arm(va[u].w, vb[u].w, w.w)));
  }
}

__global__ void __launch_bounds__(BLOCK) add_relu_mul_scalar(const float* __restrict__ a, const float* __restrict__ b,
                                                             const float* __restrict__ w, float* __restrict__ y,
                                                             int64_t rows, int64_t cols) {
  const int64_t c = (int64_t)blockIdx.x * BLOCK + threadIdx.x;
  if (c >= cols) return;
  const float wc = w[c];
  for (int64_t r0 = (int64_t)blockIdx.y * ROWS; r0 < rows; r0 += (int64_t)gridDim.y * ROWS) {
    float va[ROWS], vb[ROWS];
#pragma unroll
    for (int u = 0; u < ROWS; ++u) {
      va[u] = (r0 + u < rows) ? a[(r0 + u) * cols + c] : 0.f;
      vb[u] = (r0 + u < rows) ? b[(r0 + u) * cols + c] : 0.f;
    }
#pragma unroll
    for (int u = 0; u < ROWS; ++u)
      if (r0 + u < rows) y[(r0 + u) * cols + c] = arm(va[u], vb[u], wc);
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)attrs; (void)n_attrs; (void)workspace; (void)workspace_bytes;
  if (n_in != 3 || n_out != 1) return 1;
  for (int i = 0; i < 3; ++i)
    if (in[i].dtype != KE_F32) return 1;
  if (out[0].dtype != KE_F32) return 1;
  const ke_tensor* a = &in[0];
  if (a->ndim < 1 || in[1].ndim != a->ndim) return 1;
  for (int i = 0; i < a->ndim; ++i)
    if (in[1].shape[i] != a->shape[i]) return 1;
  const int64_t cols = a->shape[a->ndim - 1];
  if (ke_numel(&in[2]) != cols) return 1;
  const int64_t n = ke_numel(a);
  if (ke_numel(&out[0]) != n) return 1;
  if (n == 0) return 0;
  const int64_t rows = n / cols;
  const float* ap = (const float*)a->data;
  const float* bp = (const float*)in[1].data;
  const float* wp = (const float*)in[2].data;
  float* yp = (float*)out[0].data;
  cudaStream_t s = (cudaStream_t)stream;
  const bool aligned = ((((uintptr_t)ap) | ((uintptr_t)bp) | ((uintptr_t)wp) | ((uintptr_t)yp)) & 15) == 0;
  const bool vec = VEC == 4 && aligned && cols % 4 == 0;
  const int64_t cu = vec ? cols / 4 : cols;
  int64_t gy = (rows + ROWS - 1) / ROWS;
  if (gy > 65535) gy = 65535;
  const dim3 grid((unsigned)((cu + BLOCK - 1) / BLOCK), (unsigned)gy);
  if (vec)
    add_relu_mul_vec4<<<grid, BLOCK, 0, s>>>((const float4*)ap, (const float4*)bp, (const float4*)wp, (float4*)yp,
                                             rows, cu);
  else
    add_relu_mul_scalar<<<grid, BLOCK, 0, s>>>(ap, bp, wp, yp, rows, cols);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
