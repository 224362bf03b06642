// Format K, CUDA: out = x * s, s broadcast over x (the task: x (N, C, L), s (1, C, 1): out[n, c, l] = x[n, c, l] * s[c]).
// in = [x, s] (float32, contiguous); out = [y] with x's shape. No attrs.
// Supported: s of rank <= rank(x) whose non-1 dims (right-aligned) equal x's and form one run; x is then viewed
// as [rows][inner] with row r scaled by s[r % mid] (mid = numel(s)). Other broadcasts return 1.
// Memory-bound (read x, write y). grid.y walks the rows (grid-stride past 65535): one scale per row, held in a
// register; grid.x tiles the row with UNROLL float4s per thread in flight (128-bit loads, streaming hints).
// Scalar path when inner % 4 != 0 or a pointer is misaligned.
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

__global__ void __launch_bounds__(BLOCK) mul_bcast_vec4(const float4* __restrict__ x4, const float* __restrict__ sc,
                                                        float4* __restrict__ y4, int64_t rows, int64_t iv, int64_t mid) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const float m = sc[r % mid];
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
        if (i < iv) KE_ST(yr + i, make_float4(v[u].x * m, v[u].y * m, v[u].z * m, v[u].w * m));
      }
    }
  }
}

__global__ void __launch_bounds__(BLOCK) mul_bcast_scalar(const float* __restrict__ x, const float* __restrict__ sc,
                                                          float* __restrict__ y, int64_t rows, int64_t inner,
                                                          int64_t mid) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const float m = sc[r % mid];
    for (int64_t i = (int64_t)blockIdx.x * BLOCK + threadIdx.x; i < inner; i += (int64_t)gridDim.x * BLOCK)
      y[r * inner + i] = x[r * inner + i] * m;
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)attrs; (void)n_attrs; (void)workspace; (void)workspace_bytes;
  if (n_in != 2 || n_out != 1) return 1;
  if (in[0].dtype != KE_F32 || in[1].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  const ke_tensor* x = &in[0];
  const ke_tensor* sv = &in[1];
  const int nx = x->ndim, ns = sv->ndim;
  if (ns > nx) return 1;
  // right-align s on x; find the run [p, q] of x's dims that s spans (s's non-1 dims).
  int p = -1, q = -1;
  for (int i = 0; i < ns; ++i) {
    const int64_t sd = sv->shape[i], xd = x->shape[i + nx - ns];
    if (sd == 1) continue;
    if (sd != xd) return 1;
    if (p < 0) p = i + nx - ns;
    q = i + nx - ns;
  }
  int64_t outer = 1, mid = 1, inner = 1;
  if (p < 0) {
    for (int i = 0; i < nx; ++i) inner *= x->shape[i];
  } else {
    for (int i = p; i <= q; ++i) {
      const int si = i - (nx - ns);
      if (sv->shape[si] == 1 && x->shape[i] != 1) return 1;  // a gap in the run: not one contiguous block
      mid *= x->shape[i];
    }
    for (int i = 0; i < p; ++i) outer *= x->shape[i];
    for (int i = q + 1; i < nx; ++i) inner *= x->shape[i];
  }
  const int64_t n = ke_numel(x);
  if (ke_numel(&out[0]) != n || ke_numel(sv) != mid) return 1;
  if (n == 0) return 0;
  const int64_t rows = outer * mid;
  const float* xp = (const float*)x->data;
  const float* sp = (const float*)sv->data;
  float* yp = (float*)out[0].data;
  cudaStream_t s = (cudaStream_t)stream;
  const bool vec = VEC == 4 && inner % 4 == 0 && ((((uintptr_t)xp) | ((uintptr_t)yp)) & 15) == 0;
  const int64_t iu = vec ? inner / 4 : inner;
  int64_t gx = (iu + (int64_t)BLOCK * UNROLL - 1) / ((int64_t)BLOCK * UNROLL);
  if (!vec) gx = (iu + BLOCK - 1) / BLOCK;
  if (gx > 2147483647) gx = 2147483647;
  const dim3 grid((unsigned)gx, (unsigned)(rows > 65535 ? 65535 : rows));
  if (vec)
    mul_bcast_vec4<<<grid, BLOCK, 0, s>>>((const float4*)xp, sp, (float4*)yp, rows, iu, mid);
  else
    mul_bcast_scalar<<<grid, BLOCK, 0, s>>>(xp, sp, yp, rows, inner, mid);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
