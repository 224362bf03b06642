// Format K, CUDA: inclusive prefix sum along one dim (torch.cumsum(x, dim)).
// in = [x] (float32, contiguous, any rank); attrs = [dim] (negative counts from the end); out = [y] of x's shape.
// Scan along the last dim (the task): one block per row, the row walked in chunks of BLOCK * VEC * ITEMS
// elements (the task's 6144-element rows are one chunk: read once, written once). Per chunk, each thread loads
// ITEMS float4s (all loads in flight), scans inside each float4, then a warp-shuffle scan of the float4 totals;
// warp 0 scans the ITEMS x (BLOCK / 32) warp totals in double and adds the running carry of earlier chunks, so
// two __syncthreads per chunk and no look-back are needed (rows are independent and plentiful).
// Numerics: float within a warp segment (<= 128 elements), double for segment offsets and the carry, each
// offset rounded once to float: no error grows along the row.
// Other dims (inner > 1): one thread per column, a sequential double accumulator, coalesced across columns.
// OCCUPANCY asks ptxas to fit that many threads an SM (1024: 64 registers, no spill; unbounded it takes 78).
// Scalar path when len % 4 != 0 or a pointer is misaligned.
#include "ke_abi.h"
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 128 256 512 1024
#define ITEMS 6  // tunable: 2 4 6 8
#define VEC 4  // tunable: 1 4
#define STREAMING 1  // tunable: 0 1
#define OCCUPANCY 1024  // tunable: 512 768 1024 1536

// resident blocks of scan_rows per SM asked of the register allocator: OCCUPANCY threads an SM
#define SCAN_MIN_BLOCKS (OCCUPANCY / BLOCK > 0 ? OCCUPANCY / BLOCK : 1)

#if STREAMING
#define KE_LD(p) __ldcs(p)
#define KE_ST(p, v) __stcs((p), (v))
#else
#define KE_LD(p) (*(p))
#define KE_ST(p, v) (*(p) = (v))
#endif

template <int V>
__device__ __forceinline__ void load_x(const float* p, int64_t e, int64_t len, float* v) {
  if constexpr (V == 4) {
    if (e < len) {
      const float4 t = KE_LD(reinterpret_cast<const float4*>(p + e));
      v[0] = t.x;
      v[1] = t.y;
      v[2] = t.z;
      v[3] = t.w;
    } else {
      v[0] = v[1] = v[2] = v[3] = 0.f;
    }
  } else {
    v[0] = e < len ? KE_LD(p + e) : 0.f;
  }
}

template <int V>
__device__ __forceinline__ void store_y(float* p, int64_t e, const float* v) {
  if constexpr (V == 4) KE_ST(reinterpret_cast<float4*>(p + e), make_float4(v[0], v[1], v[2], v[3]));
  else KE_ST(p + e, v[0]);
}

// Chunk layout: thread t's group j covers elements c0 + (j * BLOCK + t) * V + [0, V), so in element order the
// warp segments come j-major: segment s = j * NW + warp.
template <int V>
__global__ void __launch_bounds__(BLOCK, SCAN_MIN_BLOCKS) scan_rows(const float* __restrict__ x, float* __restrict__ y, int64_t rows,
                                                   int64_t len) {
  constexpr int NW = BLOCK / 32;
  constexpr int NSEG = ITEMS * NW;
  constexpr int PER = (NSEG + 31) / 32;  // segments per lane of warp 0
  constexpr int64_t CHUNK = (int64_t)BLOCK * V * ITEMS;
  __shared__ float seg_total[NSEG];
  __shared__ double seg_off[NSEG];
  __shared__ double chunk_end;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * len;
    float* yr = y + row * len;
    double carry = 0.0;  // sum of the earlier chunks of this row (the same in every thread)
    for (int64_t c0 = 0; c0 < len; c0 += CHUNK) {
      float v[ITEMS][V];
#pragma unroll
      for (int j = 0; j < ITEMS; ++j) load_x<V>(xr, c0 + ((int64_t)j * BLOCK + tid) * V, len, v[j]);
      float excl[ITEMS];  // this lane's exclusive prefix within its warp segment
#pragma unroll
      for (int j = 0; j < ITEMS; ++j) {
#pragma unroll
        for (int k = 1; k < V; ++k) v[j][k] += v[j][k - 1];
        float inc = v[j][V - 1];
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const float t = __shfl_up_sync(0xffffffffu, inc, o);
          if (lane >= o) inc += t;
        }
        const float ex = __shfl_up_sync(0xffffffffu, inc, 1);
        excl[j] = lane == 0 ? 0.f : ex;
        if (lane == 31) seg_total[j * NW + warp] = inc;
      }
      __syncthreads();
      if (warp == 0) {
        double loc[PER];
        double run = 0.0;
#pragma unroll
        for (int p = 0; p < PER; ++p) {
          const int sidx = lane * PER + p;
          loc[p] = run;
          if (sidx < NSEG) run += (double)seg_total[sidx];
        }
        double inc = run;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const double t = __shfl_up_sync(0xffffffffu, inc, o);
          if (lane >= o) inc += t;
        }
        double ex = __shfl_up_sync(0xffffffffu, inc, 1);
        if (lane == 0) ex = 0.0;
#pragma unroll
        for (int p = 0; p < PER; ++p) {
          const int sidx = lane * PER + p;
          if (sidx < NSEG) seg_off[sidx] = carry + ex + loc[p];
        }
        if (lane == 31) chunk_end = carry + inc;
      }
      __syncthreads();
#pragma unroll
      for (int j = 0; j < ITEMS; ++j) {
        const int64_t e = c0 + ((int64_t)j * BLOCK + tid) * V;
        if (e < len) {
          const float off = (float)(seg_off[j * NW + warp] + (double)excl[j]);
#pragma unroll
          for (int k = 0; k < V; ++k) v[j][k] += off;
          store_y<V>(yr, e, v[j]);
        }
      }
      carry = chunk_end;  // rewritten only after the next chunk's first __syncthreads
    }
  }
}

// inner > 1: y[o, r, i] = sum_{t <= r} x[o, t, i]; one thread per (o, i).
__global__ void __launch_bounds__(BLOCK) scan_cols(const float* __restrict__ x, float* __restrict__ y, int64_t outer,
                                                   int64_t len, int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t t = (int64_t)blockIdx.x * BLOCK + threadIdx.x; t < total; t += (int64_t)gridDim.x * BLOCK) {
    const int64_t o = t / inner, i = t - o * inner;
    const float* p = x + o * len * inner + i;
    float* q = y + o * len * inner + i;
    double acc = 0.0;
    for (int64_t r = 0; r < len; ++r) {
      acc += (double)p[r * inner];
      q[r * inner] = (float)acc;
    }
  }
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)workspace; (void)workspace_bytes;
  if (n_in != 1 || n_out != 1 || n_attrs != 1) return 1;
  if (in[0].dtype != KE_F32 || out[0].dtype != KE_F32) return 1;
  const double da = attrs[0];
  if (!(da == da) || da < -64.0 || da > 64.0 || (double)(int)da != da) return 1;
  const int nd = in[0].ndim > 0 ? in[0].ndim : 1;
  int dim = (int)da;
  if (dim < 0) dim += nd;
  if (dim < 0 || dim >= nd) return 1;
  int64_t outer = 1, len = 1, inner = 1;
  for (int i = 0; i < in[0].ndim; ++i) {
    if (i < dim) outer *= in[0].shape[i];
    else if (i == dim) len = in[0].shape[i];
    else inner *= in[0].shape[i];
  }
  const int64_t n = ke_numel(&in[0]);
  if (ke_numel(&out[0]) != n) return 1;
  if (n == 0) return 0;
  const float* xp = (const float*)in[0].data;
  float* yp = (float*)out[0].data;
  cudaStream_t s = (cudaStream_t)stream;
  if (inner == 1) {
    const unsigned grid = (unsigned)(outer < 2147483647 ? outer : 2147483647);
    if (VEC == 4 && len % 4 == 0 && ((((uintptr_t)xp) | ((uintptr_t)yp)) & 15) == 0)
      scan_rows<4><<<grid, BLOCK, 0, s>>>(xp, yp, outer, len);
    else
      scan_rows<1><<<grid, BLOCK, 0, s>>>(xp, yp, outer, len);
  } else {
    int64_t blocks = (outer * inner + BLOCK - 1) / BLOCK;
    if (blocks > 2147483647) blocks = 2147483647;
    scan_cols<<<(unsigned)blocks, BLOCK, 0, s>>>(xp, yp, outer, len, inner);
  }
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
