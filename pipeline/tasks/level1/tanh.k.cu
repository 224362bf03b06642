// Format K, CUDA: hyperbolic tangent (torch.tanh), elementwise.
// in = [x] (float32, any shape, contiguous); out = [y] of the same shape; no attrs.
// Memory-bound: one read and one write per element. Vector path: 128-bit (float4) loads/stores, UNROLL
// independent float4s per thread in flight, streaming cache hints; the n % 4 tail is done by block 0.
// A scalar grid-stride path covers misaligned pointers (and VEC 1). WAVES > 0 caps the grid at that many
// full waves of resident blocks and turns it into a grid-stride loop; 0 launches one pass over the data.
#include "ke_abi.h"
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 128 256 512 1024
#define UNROLL 4  // tunable: 1 2 4 8
#define VEC 4  // tunable: 1 4
#define WAVES 0  // tunable: 0 2 4 8
#define STREAMING 1  // tunable: 0 1

#if STREAMING
#define KE_LD(p) __ldcs(p)
#define KE_ST(p, v) __stcs((p), (v))
#else
#define KE_LD(p) (*(p))
#define KE_ST(p, v) (*(p) = (v))
#endif

// the accurate tanhf (CUDA libdevice, <= 2 ulp), as torch uses.
__device__ __forceinline__ float op(float x) {
  return tanhf(x);
}

__device__ __forceinline__ float4 op4(float4 v) {
  float4 r;
  r.x = op(v.x);
  r.y = op(v.y);
  r.z = op(v.z);
  r.w = op(v.w);
  return r;
}

// n4 float4s at x4/y4; the last n & 3 scalars (from n & ~3) are done by block 0.
__global__ void __launch_bounds__(BLOCK) tanh_vec4(const float4* __restrict__ x4, float4* __restrict__ y4,
                                                  const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  const int64_t n4 = n >> 2;
  const int64_t stride = (int64_t)gridDim.x * (BLOCK * UNROLL);
  for (int64_t base = (int64_t)blockIdx.x * (BLOCK * UNROLL) + threadIdx.x; base < n4; base += stride) {
    float4 v[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      const int64_t i = base + (int64_t)u * BLOCK;
      if (i < n4) v[u] = KE_LD(x4 + i);
      else v[u] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      const int64_t i = base + (int64_t)u * BLOCK;
      if (i < n4) KE_ST(y4 + i, op4(v[u]));
    }
  }
  if (blockIdx.x == 0 && threadIdx.x < (n & 3)) {
    const int64_t i = (n & ~(int64_t)3) + threadIdx.x;
    y[i] = op(x[i]);
  }
}

__global__ void __launch_bounds__(BLOCK) tanh_scalar(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  const int64_t stride = (int64_t)gridDim.x * BLOCK;
  for (int64_t i = (int64_t)blockIdx.x * BLOCK + threadIdx.x; i < n; i += stride) y[i] = op(x[i]);
}

static int64_t grid_for(int64_t work_per_block, int64_t n) {
  int64_t blocks = (n + work_per_block - 1) / work_per_block;
  if (WAVES > 0) {
    int dev = 0, sms = 132;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      sms = 132;
    const int64_t cap = (int64_t)WAVES * sms * (2048 / BLOCK);
    if (blocks > cap) blocks = cap;
  }
  if (blocks > 2147483647) blocks = 2147483647;
  return blocks < 1 ? 1 : blocks;
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)attrs; (void)n_attrs; (void)workspace; (void)workspace_bytes;
  if (n_in != 1 || n_out != 1 || in[0].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  const int64_t n = ke_numel(&in[0]);
  if (ke_numel(&out[0]) != n) return 1;
  if (n == 0) return 0;
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  cudaStream_t s = (cudaStream_t)stream;
  const bool aligned = (((uintptr_t)x | (uintptr_t)y) & 15) == 0;
  if (VEC == 4 && aligned) {
    const int64_t n4 = n >> 2;
    const unsigned grid = (unsigned)grid_for((int64_t)BLOCK * UNROLL, n4 > 0 ? n4 : 1);
    tanh_vec4<<<grid, BLOCK, 0, s>>>((const float4*)x, (float4*)y, x, y, n);
  } else {
    const unsigned grid = (unsigned)grid_for((int64_t)BLOCK * UNROLL, n);
    tanh_scalar<<<grid, BLOCK, 0, s>>>(x, y, n);
  }
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
