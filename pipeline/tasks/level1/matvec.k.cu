// Format K, CUDA: y = A @ x, A [M, K], x [K, 1], y [M, 1], fp32 (level1/matvec). in = [a, x], no attrs.
// Memory-bound (default 32768 x 14336: 1.88 GB of A read once, 0.94 GFLOP): each warp owns MV_ROWS rows and walks
// them with 16-byte streaming loads (ld.global.cs: A is read once, so it should not evict x from the caches),
// MV_UNROLL independent float4 loads per row in flight per lane; the x chunk a lane loads is reused for all of
// its warp's rows. Four partial sums per row (one per float4 lane) keep the FMA chains short; a warp-shuffle
// tree adds the 32 lanes. Rows whose length is not a multiple of 4 (or misaligned data) take a scalar path.
#include "ke_abi.h"
#include <cuda_runtime.h>
#include <stdint.h>

#define MV_THREADS 256  // tunable: 128 256 512
#define MV_ROWS 2  // tunable: 1 2 4
#define MV_UNROLL 2  // tunable: 1 2 4

constexpr int MV_WARPS = MV_THREADS / 32;

template <bool VEC>
__global__ void __launch_bounds__(MV_THREADS) matvec_rows(const float* __restrict__ A, const float* __restrict__ x,
                                                         float* __restrict__ y, int64_t M, int64_t K) {
  const int lane = threadIdx.x & 31;
  const int64_t row0 = ((int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5)) * MV_ROWS;
  if (row0 >= M) return;  // whole warp
  const float* rows[MV_ROWS];
#pragma unroll
  for (int r = 0; r < MV_ROWS; ++r) rows[r] = A + (row0 + r < M ? row0 + r : M - 1) * K;  // clamp: no branch
  float4 acc[MV_ROWS];
#pragma unroll
  for (int r = 0; r < MV_ROWS; ++r) acc[r] = make_float4(0.f, 0.f, 0.f, 0.f);

  if (VEC) {
    const int64_t K4 = K / 4;
    const float4* x4 = reinterpret_cast<const float4*>(x);
    int64_t k = lane;
    for (; k + 32 * (MV_UNROLL - 1) < K4; k += 32 * MV_UNROLL) {
      float4 xv[MV_UNROLL], av[MV_ROWS][MV_UNROLL];
#pragma unroll
      for (int u = 0; u < MV_UNROLL; ++u) xv[u] = __ldg(x4 + k + 32 * u);
#pragma unroll
      for (int r = 0; r < MV_ROWS; ++r)
#pragma unroll
        for (int u = 0; u < MV_UNROLL; ++u) av[r][u] = __ldcs(reinterpret_cast<const float4*>(rows[r]) + k + 32 * u);
#pragma unroll
      for (int r = 0; r < MV_ROWS; ++r)
#pragma unroll
        for (int u = 0; u < MV_UNROLL; ++u) {
          acc[r].x = fmaf(av[r][u].x, xv[u].x, acc[r].x);
          acc[r].y = fmaf(av[r][u].y, xv[u].y, acc[r].y);
          acc[r].z = fmaf(av[r][u].z, xv[u].z, acc[r].z);
          acc[r].w = fmaf(av[r][u].w, xv[u].w, acc[r].w);
        }
    }
    for (; k < K4; k += 32) {
      const float4 xv = __ldg(x4 + k);
#pragma unroll
      for (int r = 0; r < MV_ROWS; ++r) {
        const float4 av = __ldcs(reinterpret_cast<const float4*>(rows[r]) + k);
        acc[r].x = fmaf(av.x, xv.x, acc[r].x);
        acc[r].y = fmaf(av.y, xv.y, acc[r].y);
        acc[r].z = fmaf(av.z, xv.z, acc[r].z);
        acc[r].w = fmaf(av.w, xv.w, acc[r].w);
      }
    }
  } else {
    for (int64_t k = lane; k < K; k += 32) {
      const float xv = __ldg(x + k);
#pragma unroll
      for (int r = 0; r < MV_ROWS; ++r) acc[r].x = fmaf(__ldcs(rows[r] + k), xv, acc[r].x);
    }
  }
#pragma unroll
  for (int r = 0; r < MV_ROWS; ++r) {
    float s = (acc[r].x + acc[r].y) + (acc[r].z + acc[r].w);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0 && row0 + r < M) y[row0 + r] = s;
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)attrs; (void)n_attrs; (void)workspace; (void)workspace_bytes;
  if (n_in != 2 || n_out != 1) return 1;
  const ke_tensor &a = in[0], &x = in[1], &y = out[0];
  if (a.dtype != KE_F32 || x.dtype != KE_F32 || y.dtype != KE_F32 || a.ndim != 2) return 1;
  const int64_t M = a.shape[0], K = a.shape[1];
  if (ke_numel(&x) != K || x.ndim < 1 || x.shape[0] != K || ke_numel(&y) != M) return 1;
  if (M == 0) return 0;
  const int64_t rows_per_block = (int64_t)MV_WARPS * MV_ROWS;
  const int64_t blocks = (M + rows_per_block - 1) / rows_per_block;
  if (blocks > 0x7fffffffLL) return 3;
  const bool vec = K % 4 == 0 && ((uintptr_t)a.data & 15u) == 0 && ((uintptr_t)x.data & 15u) == 0;
  cudaStream_t st = (cudaStream_t)stream;
  if (vec)
    matvec_rows<true><<<(unsigned)blocks, MV_THREADS, 0, st>>>((const float*)a.data, (const float*)x.data,
                                                               (float*)y.data, M, K);
  else
    matvec_rows<false><<<(unsigned)blocks, MV_THREADS, 0, st>>>((const float*)a.data, (const float*)x.data,
                                                                (float*)y.data, M, K);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
