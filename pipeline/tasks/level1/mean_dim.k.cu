// Format K, CUDA: mean over one dim (torch.mean(x, dim)), e.g. the last dim of (R, C): a row reduction.
// in = [x] (float32, contiguous, any rank); attrs = [dim] (negative counts from the end). out = [y]: x's shape
// with dim dropped. x is viewed as [outer][len][inner], len the reduced dim.
// inner == 1 (a row reduction): one block per row, float4 loads with ROW_UNROLL in flight per thread,
// warp-shuffle then block reduction. inner > 1 (a column reduction): blocks of 32 x COL_BY threads; each lane
// owns 4 adjacent columns (a float4; a warp reads 512 contiguous bytes of a row), the COL_BY threads of a column
// split the reduced dim (COL_UNROLL loads in flight each) and meet in a shared-memory tree. When the grid is too
// small to fill the GPU (SPLIT_WAVES waves), the reduced dim is also split over blockIdx.z into a workspace
// of partials, combined in a fixed order by a second kernel (deterministic: no atomics).
// Numerics: float within a thread's unrolled loads, double across them; y = (float)(sum / len).
// Scalar paths cover rows/columns that are not a multiple of 4 and misaligned pointers.
#include "ke_abi.h"
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 128 256 512 1024
#define ROW_UNROLL 4  // tunable: 1 2 4 8
#define COL_BY 16  // tunable: 4 8 16 32
#define COL_UNROLL 4  // tunable: 1 2 4 8
#define SPLIT_WAVES 4  // tunable: 0 2 4 8
#define VEC 4  // tunable: 1 4
#define STREAMING 1  // tunable: 0 1

#if STREAMING
#define KE_LD(p) __ldcs(p)
#else
#define KE_LD(p) (*(p))
#endif

// Sums: float within one thread's unrolled loads (at most 16 terms), double across loads, threads and splits.
typedef double acc_t;
#define ACC_INIT 0.0
#define PART_INIT 0.f
__device__ __forceinline__ float part_add(float a, float b) { return a + b; }
__device__ __forceinline__ double acc_add(double a, double b) { return a + b; }
__device__ __forceinline__ float finish(double t, int64_t len) { return (float)(t / (double)len); }

template <int V>
__global__ void __launch_bounds__(BLOCK) reduce_rows(const float* __restrict__ x, float* __restrict__ y, int64_t rows,
                                                     int64_t len) {
  __shared__ acc_t part[BLOCK / 32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * len;
    acc_t acc = ACC_INIT;
    if constexpr (V == 4) {
      const float4* x4 = reinterpret_cast<const float4*>(xr);
      const int64_t nv = len >> 2;
      for (int64_t i = threadIdx.x; i < nv; i += (int64_t)BLOCK * ROW_UNROLL) {
        float4 v[ROW_UNROLL];
#pragma unroll
        for (int u = 0; u < ROW_UNROLL; ++u) {
          const int64_t j = i + (int64_t)u * BLOCK;
          v[u] = j < nv ? KE_LD(x4 + j) : make_float4(PART_INIT, PART_INIT, PART_INIT, PART_INIT);
        }
        float p = PART_INIT;
#pragma unroll
        for (int u = 0; u < ROW_UNROLL; ++u) p = part_add(p, part_add(part_add(v[u].x, v[u].y), part_add(v[u].z, v[u].w)));
        acc = acc_add(acc, p);
      }
    } else {
      for (int64_t i = threadIdx.x; i < len; i += BLOCK) acc = acc_add(acc, KE_LD(xr + i));
    }
    // warp shuffles, then thread 0 combines the warp partials in a fixed order
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc = acc_add(acc, __shfl_xor_sync(0xffffffffu, acc, o));
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
      acc_t t = part[0];
#pragma unroll
      for (int w = 1; w < BLOCK / 32; ++w) t = acc_add(t, part[w]);
      y[row] = finish(t, len);
    }
    __syncthreads();  // part is reused by the next row
  }
}

// ws == nullptr: write y; else write this blockIdx.z's partials to ws[z][outer][inner].
template <int V>
__global__ void __launch_bounds__(32 * COL_BY) reduce_cols(const float* __restrict__ x, float* __restrict__ y,
                                                         acc_t* __restrict__ ws, int64_t outer, int64_t len,
                                                         int64_t inner, int64_t chunk) {
  __shared__ acc_t sh[COL_BY][V][32];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t cv = (int64_t)blockIdx.x * 32 + tx;  // this lane's column group (V columns)
  const bool active = cv < inner / V;
  const int64_t r0 = (int64_t)blockIdx.z * chunk;
  const int64_t r1 = r0 + chunk < len ? r0 + chunk : len;
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    acc_t acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = ACC_INIT;
    if (active) {
      const float* base = x + o * len * inner + cv * V;
      for (int64_t r = r0 + ty; r < r1; r += (int64_t)COL_BY * COL_UNROLL) {
        float v[COL_UNROLL][V];
#pragma unroll
        for (int u = 0; u < COL_UNROLL; ++u) {
          const int64_t rr = r + (int64_t)u * COL_BY;
          if constexpr (V == 4) {
            const float4 t = rr < r1 ? KE_LD(reinterpret_cast<const float4*>(base + rr * inner))
                                     : make_float4(PART_INIT, PART_INIT, PART_INIT, PART_INIT);
            v[u][0] = t.x;
            v[u][1] = t.y;
            v[u][2] = t.z;
            v[u][3] = t.w;
          } else {
            v[u][0] = rr < r1 ? KE_LD(base + rr * inner) : PART_INIT;
          }
        }
#pragma unroll
        for (int k = 0; k < V; ++k) {
          float p = v[0][k];
#pragma unroll
          for (int u = 1; u < COL_UNROLL; ++u) p = part_add(p, v[u][k]);
          acc[k] = acc_add(acc[k], p);
        }
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) sh[ty][k][tx] = acc[k];
    __syncthreads();
#pragma unroll
    for (int s = COL_BY / 2; s > 0; s >>= 1) {
      if (ty < s) {
#pragma unroll
        for (int k = 0; k < V; ++k) sh[ty][k][tx] = acc_add(sh[ty][k][tx], sh[ty + s][k][tx]);
      }
      __syncthreads();
    }
    if (ty == 0 && active) {
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int64_t c = cv * V + k;
        if (ws != nullptr) ws[((int64_t)blockIdx.z * outer + o) * inner + c] = sh[0][k][tx];
        else y[o * inner + c] = finish(sh[0][k][tx], len);
      }
    }
    __syncthreads();  // sh is reused by the next o
  }
}

__global__ void __launch_bounds__(256) combine_split(const acc_t* __restrict__ ws, float* __restrict__ y, int64_t count,
                                                     int64_t split, int64_t len) {
  for (int64_t i = (int64_t)blockIdx.x * 256 + threadIdx.x; i < count; i += (int64_t)gridDim.x * 256) {
    acc_t t = ws[i];
    for (int64_t z = 1; z < split; ++z) t = acc_add(t, ws[z * count + i]);
    y[i] = finish(t, len);
  }
}

struct Plan {
  int64_t outer, len, inner;
  int64_t gx, gy, split, chunk;
};

// Shapes and the column split; a function of the shapes and the device only, so that ke_workspace_bytes and
// ke_launch agree. Non-zero for what this kernel does not support.
static int make_plan(const ke_tensor* in, int n_in, const double* attrs, int n_attrs, Plan* p) {
  if (n_in != 1 || n_attrs != 1 || in[0].dtype != KE_F32) return 1;
  const ke_tensor* x = &in[0];
  const int nd = x->ndim;
  const double da = attrs[0];
  if (!(da == da) || da < -64.0 || da > 64.0) return 1;
  int dim = (int)da;
  if ((double)dim != da) return 1;
  if (dim < 0) dim += (nd > 0 ? nd : 1);
  if (dim < 0 || dim >= (nd > 0 ? nd : 1)) return 1;
  p->outer = 1;
  p->len = 1;
  p->inner = 1;
  for (int i = 0; i < nd; ++i) {
    if (i < dim) p->outer *= x->shape[i];
    else if (i == dim) p->len = x->shape[i];
    else p->inner *= x->shape[i];
  }
  p->split = 1;
  p->chunk = p->len;
  p->gx = p->gy = 1;
  if (p->inner > 1) {
    const int64_t cols = (VEC == 4 && p->inner % 4 == 0) ? p->inner / 4 : p->inner;
    p->gx = (cols + 31) / 32;
    p->gy = p->outer < 65535 ? p->outer : 65535;
    if (SPLIT_WAVES > 0 && p->gx * p->gy > 0) {
      int dev = 0, sms = 132;
      if (cudaGetDevice(&dev) != cudaSuccess ||
          cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
        sms = 132;
      const int64_t want = (int64_t)SPLIT_WAVES * sms * (2048 / (32 * COL_BY));
      int64_t split = (want + p->gx * p->gy - 1) / (p->gx * p->gy);
      int64_t most = p->len / ((int64_t)COL_BY * COL_UNROLL * 4);  // >= 4 loads per thread and chunk
      if (most > 256) most = 256;
      if (split > most) split = most;
      if (split > 1) {
        p->chunk = (p->len + split - 1) / split;
        p->split = (p->len + p->chunk - 1) / p->chunk;
      }
    }
  }
  return 0;
}

static int64_t ws_bytes(const Plan& p) {
  return p.split > 1 ? p.split * p.outer * p.inner * (int64_t)sizeof(acc_t) : 0;
}

extern "C" int64_t ke_workspace_bytes(const ke_tensor* in, int n_in, const double* attrs, int n_attrs) {
  Plan p;
  if (make_plan(in, n_in, attrs, n_attrs, &p) != 0) return 0;
  return ws_bytes(p);
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  Plan p;
  if (n_out != 1 || out[0].dtype != KE_F32) return 1;
  if (make_plan(in, n_in, attrs, n_attrs, &p) != 0) return 1;
  if (ke_numel(&out[0]) != p.outer * p.inner) return 1;
  // an empty reduced dim gives 0 / 0 = NaN, as torch does
  if (p.outer * p.inner == 0) return 0;
  const float* x = (const float*)in[0].data;
  float* y = (float*)out[0].data;
  cudaStream_t s = (cudaStream_t)stream;
  const bool aligned = (((uintptr_t)x) & 15) == 0;
  if (p.inner == 1) {
    const unsigned grid = (unsigned)(p.outer < 2147483647 ? p.outer : 2147483647);
    if (VEC == 4 && aligned && p.len % 4 == 0)
      reduce_rows<4><<<grid, BLOCK, 0, s>>>(x, y, p.outer, p.len);
    else
      reduce_rows<1><<<grid, BLOCK, 0, s>>>(x, y, p.outer, p.len);
    return cudaGetLastError() == cudaSuccess ? 0 : 2;
  }
  int64_t split = p.split, chunk = p.chunk;
  acc_t* ws = nullptr;
  if (split > 1) {
    if (workspace != nullptr && workspace_bytes >= ws_bytes(p)) ws = (acc_t*)workspace;
    else { split = 1; chunk = p.len; }  // no workspace: one pass, no split
  }
  const dim3 block(32, COL_BY);
  if (VEC == 4 && aligned && p.inner % 4 == 0) {
    const dim3 grid((unsigned)p.gx, (unsigned)p.gy, (unsigned)split);
    reduce_cols<4><<<grid, block, 0, s>>>(x, y, ws, p.outer, p.len, p.inner, chunk);
  } else {
    const dim3 grid((unsigned)((p.inner + 31) / 32), (unsigned)p.gy, (unsigned)split);
    reduce_cols<1><<<grid, block, 0, s>>>(x, y, ws, p.outer, p.len, p.inner, chunk);
  }
  if (ws != nullptr) {
    const int64_t count = p.outer * p.inner;
    int64_t blocks = (count + 255) / 256;
    if (blocks > 65536) blocks = 65536;
    combine_split<<<(unsigned)blocks, 256, 0, s>>>(ws, y, count, split, p.len);
  }
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
