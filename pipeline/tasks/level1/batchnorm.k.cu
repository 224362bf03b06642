// Format K, CUDA: BatchNorm in inference mode with running statistics (F.batch_norm, training=False).
// in = [x, weight, bias, running_mean, running_var] (float32, contiguous): x (N, C, *), the others C elements.
// attrs = [eps]. out = [y] with x's shape: y = ((x - mean[c]) * invstd[c]) * weight[c] + bias[c],
// invstd = 1 / sqrt(var + eps) in float, the order of operations of torch's own elementwise kernel.
// Memory-bound (read x, write y). x is viewed as [N*C rows][inner = prod(dims after C)]; grid.y walks the rows
// (grid-stride past 65535) and each thread derives its row's channel constants once into registers;
// grid.x tiles the row with UNROLL float4s per thread in flight. Scalar path when inner % 4 != 0 or misaligned.
#include "ke_abi.h"
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 128 256 512 1024
#define UNROLL 4  // tunable: 1 2 4 8
#define VEC 4  // tunable: 1 4
#define STREAMING 1  // tunable: 0 1

#if STREAMING
#define KE_LD(p) __ldcs(p)
#define KE_ST(p, v) __stcs((p), (v))
#else
#define KE_LD(p) (*(p))
#define KE_ST(p, v) (*(p) = (v))
#endif

struct Affine {
  float mean, invstd, w, b;
};

__device__ __forceinline__ Affine channel(const float* __restrict__ w, const float* __restrict__ b,
                                          const float* __restrict__ rm, const float* __restrict__ rv, int64_t c,
                                          float eps) {
  Affine a;
  a.mean = rm[c];
  a.invstd = 1.0f / sqrtf(rv[c] + eps);
  a.w = w[c];
  a.b = b[c];
  return a;
}

__device__ __forceinline__ float apply(const Affine& a, float x) { return ((x - a.mean) * a.invstd) * a.w + a.b; }

__global__ void __launch_bounds__(BLOCK) bn_vec4(const float4* __restrict__ x4, float4* __restrict__ y4,
                                                 const float* __restrict__ w, const float* __restrict__ b,
                                                 const float* __restrict__ rm, const float* __restrict__ rv,
                                                 int64_t rows, int64_t iv, int64_t channels, float eps) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const Affine a = channel(w, b, rm, rv, r % channels, eps);
    const float4* xr = x4 + r * iv;
    float4* yr = y4 + r * iv;
    for (int64_t base = (int64_t)blockIdx.x * (BLOCK * UNROLL) + threadIdx.x; base < iv;
         base += (int64_t)gridDim.x * (BLOCK * UNROLL)) {
      float4 v[UNROLL];
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) {
        const int64_t i = base + (int64_t)u * BLOCK;
        if (i < iv) v[u] = KE_LD(xr + i);
        else v[u] = make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) {
        const int64_t i = base + (int64_t)u * BLOCK;
        if (i < iv) KE_ST(yr + i, make_float4(apply(a, v[u].x), apply(a, v[u].y), apply(a, v[u].z), apply(a, v[u].w)));
      }
    }
  }
}

__global__ void __launch_bounds__(BLOCK) bn_scalar(const float* __restrict__ x, float* __restrict__ y,
                                                   const float* __restrict__ w, const float* __restrict__ b,
                                                   const float* __restrict__ rm, const float* __restrict__ rv,
                                                   int64_t rows, int64_t inner, int64_t channels, float eps) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const Affine a = channel(w, b, rm, rv, r % channels, eps);
    for (int64_t i = (int64_t)blockIdx.x * BLOCK + threadIdx.x; i < inner; i += (int64_t)gridDim.x * BLOCK)
      y[r * inner + i] = apply(a, x[r * inner + i]);
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)workspace; (void)workspace_bytes;
  if (n_in != 5 || n_out != 1 || n_attrs != 1) return 1;
  for (int i = 0; i < 5; ++i)
    if (in[i].dtype != KE_F32) return 1;
  if (out[0].dtype != KE_F32) return 1;
  const ke_tensor* x = &in[0];
  if (x->ndim < 2) return 1;
  const int64_t channels = x->shape[1];
  for (int i = 1; i < 5; ++i)
    if (ke_numel(&in[i]) != channels) return 1;
  const int64_t n = ke_numel(x);
  if (ke_numel(&out[0]) != n) return 1;
  if (n == 0) return 0;
  int64_t inner = 1;
  for (int i = 2; i < x->ndim; ++i) inner *= x->shape[i];
  const int64_t rows = n / inner;
  const float eps = (float)attrs[0];
  const float* xp = (const float*)x->data;
  float* yp = (float*)out[0].data;
  const float* w = (const float*)in[1].data;
  const float* b = (const float*)in[2].data;
  const float* rm = (const float*)in[3].data;
  const float* rv = (const float*)in[4].data;
  cudaStream_t s = (cudaStream_t)stream;
  const bool vec = VEC == 4 && inner % 4 == 0 && ((((uintptr_t)xp) | ((uintptr_t)yp)) & 15) == 0;
  const int64_t iu = vec ? inner / 4 : inner;
  int64_t gx = vec ? (iu + (int64_t)BLOCK * UNROLL - 1) / ((int64_t)BLOCK * UNROLL) : (iu + BLOCK - 1) / BLOCK;
  if (gx > 2147483647) gx = 2147483647;
  const dim3 grid((unsigned)gx, (unsigned)(rows > 65535 ? 65535 : rows));
  if (vec)
    bn_vec4<<<grid, BLOCK, 0, s>>>((const float4*)xp, (float4*)yp, w, b, rm, rv, rows, iu, channels, eps);
  else
    bn_scalar<<<grid, BLOCK, 0, s>>>(xp, yp, w, b, rm, rv, rows, inner, channels, eps);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
