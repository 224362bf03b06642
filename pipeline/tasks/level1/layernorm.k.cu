// Format K, CUDA: LayerNorm over the trailing dims given by weight's shape (F.layer_norm with weight and bias).
// in = [x, weight, bias] (float32, contiguous); attrs = [eps]; out = [y] of x's shape.
// y = ((x - mean) * rstd) * weight + bias, torch's order; mean and biased variance in two passes over the
// registers (float within a thread, double across threads), rstd = 1 / sqrt(var + eps) in double.
// Row framework: x is viewed as [rows][len], len the last dim. A row of at most WARP_MAX elements goes to one
// warp (WARP_ROWS rows per block, reductions by warp shuffles only); a longer one to one block of BLOCK threads
// (warp shuffles, then one shared-memory step across warps). Either way the whole row lives in registers:
// each thread loads N float4s (N picked at launch from a fixed set, so the row is read from HBM once and
// written once), 128-bit loads/stores when len % 4 == 0 and the pointers are 16-byte aligned, else a scalar
// variant of the same kernels. Rows longer than 16 vectors per thread take a multi-pass fallback:
// three strided passes: mean, variance, write.
#include "ke_abi.h"
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 128 256 512 1024
#define WARP_ROWS 8  // tunable: 2 4 8 16
#define WARP_MAX 1024  // tunable: 0 512 1024 2048
#define VEC 4  // tunable: 1 4
#define STREAMING 1  // tunable: 0 1

#if STREAMING
#define KE_LD(p) __ldcs(p)
#define KE_ST(p, v) __stcs((p), (v))
#else
#define KE_LD(p) (*(p))
#define KE_ST(p, v) (*(p) = (v))
#endif

struct Args {
  const float* x;
  float* y;
  const float* w;  // per-column weight (or nullptr)
  const float* b;  // per-column bias (or nullptr)
  int64_t rows, len;
  float scale;
  double eps;
};

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// All-reduce over the G threads of a row (G == 32: the warp; else the block, through sh[G / 32]). Every thread
// gets the same value (the butterfly is symmetric; the cross-warp step reads sh in one order).
template <int G>
__device__ __forceinline__ float group_max(float v, float* sh) {
  v = warp_max(v);
  if constexpr (G > 32) {
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    v = sh[0];
#pragma unroll
    for (int w = 1; w < G / 32; ++w) v = fmaxf(v, sh[w]);
  }
  return v;
}

template <int G, class T>
__device__ __forceinline__ T group_sum(T v, T* sh) {
  v = warp_sum(v);
  if constexpr (G > 32) {
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    v = sh[0];
#pragma unroll
    for (int w = 1; w < G / 32; ++w) v += sh[w];
  }
  return v;
}

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

// a parameter vector (weight/bias): small and reused by every row, so an ordinary cached load
template <int V>
__device__ __forceinline__ void load_param(const float* p, int64_t e, float* v) {
  if constexpr (V == 4) {
    const float4 t = __ldg(reinterpret_cast<const float4*>(p + e));
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  } else {
    v[0] = __ldg(p + e);
  }
}

template <int V>
__device__ __forceinline__ void store_y(float* p, int64_t e, const float* v) {
  if constexpr (V == 4) KE_ST(reinterpret_cast<float4*>(p + e), make_float4(v[0], v[1], v[2], v[3]));
  else KE_ST(p + e, v[0]);
}


// G threads per row; each holds N groups of V elements: group j covers elements (j * G + g) * V + [0, V).
template <int V, int N, int G>
__global__ void __launch_bounds__(G == 32 ? 32 * WARP_ROWS : BLOCK) rows_regs(Args a) {
  constexpr int RPB = G == 32 ? WARP_ROWS : 1;  // rows per block
  __shared__ double sh_a[G / 32], sh_b[G / 32];
  const int g = G == 32 ? (int)(threadIdx.x & 31) : (int)threadIdx.x;
  const int64_t len = a.len;
  for (int64_t row = (int64_t)blockIdx.x * RPB + (G == 32 ? (threadIdx.x >> 5) : 0); row < a.rows;
       row += (int64_t)gridDim.x * RPB) {
    const float* xr = a.x + row * len;
    float* yr = a.y + row * len;
    float v[N][V];
#pragma unroll
    for (int j = 0; j < N; ++j) load_x<V>(xr, ((int64_t)j * G + g) * V, len, v[j]);
    // mean, then the variance about it (two passes over registers: no cancellation); float within a thread,
    // double across threads
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < N; ++j)
#pragma unroll
      for (int k = 0; k < V; ++k) s += v[j][k];  // out-of-row slots hold 0
    const double ds = group_sum<G, double>((double)s, sh_a);
    const float mean = (float)(ds / (double)len);
    float q = 0.f;
#pragma unroll
    for (int j = 0; j < N; ++j)
      if (((int64_t)j * G + g) * V < len) {
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const float d = v[j][k] - mean;
          q += d * d;
        }
      }
    const double dq = group_sum<G, double>((double)q, sh_b);
    const float rstd = (float)(1.0 / sqrt(dq / (double)len + a.eps));
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int64_t e = ((int64_t)j * G + g) * V;
      if (e < len) {
        float w[V], b[V];
        load_param<V>(a.w, e, w);
        load_param<V>(a.b, e, b);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          float t = ((v[j][k] - mean) * rstd) * w[k] + b[k];
          v[j][k] = t;
        }
        store_y<V>(yr, e, v[j]);
      }
    }
    if constexpr (G > 32) __syncthreads();  // the shared scratch is reused by the next row
  }
}

// Rows too long for registers: one block per row, strided scalar passes over global memory (L2-resident rows).
__global__ void __launch_bounds__(BLOCK) rows_loop(Args a) {
  __shared__ double sh_a[BLOCK / 32], sh_b[BLOCK / 32];
  const int64_t len = a.len;
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const float* xr = a.x + row * len;
    float* yr = a.y + row * len;
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < len; i += BLOCK) s += xr[i];
    s = group_sum<BLOCK, double>(s, sh_a);
    const float mean = (float)(s / (double)len);
    double q = 0.0;
    for (int64_t i = threadIdx.x; i < len; i += BLOCK) {
      const float d = xr[i] - mean;
      q += (double)(d * d);
    }
    q = group_sum<BLOCK, double>(q, sh_b);
    const float rstd = (float)(1.0 / sqrt(q / (double)len + a.eps));
    for (int64_t i = threadIdx.x; i < len; i += BLOCK) {
      float t = ((xr[i] - mean) * rstd) * a.w[i] + a.b[i];
      yr[i] = t;
    }
    __syncthreads();  // the shared scratch is reused by the next row
  }
}

template <int V, int N, int G>
static void launch_regs(const Args& a, cudaStream_t s) {
  constexpr int RPB = G == 32 ? WARP_ROWS : 1;
  int64_t blocks = (a.rows + RPB - 1) / RPB;
  if (blocks > 2147483647) blocks = 2147483647;
  rows_regs<V, N, G><<<(unsigned)blocks, G == 32 ? 32 * WARP_ROWS : BLOCK, 0, s>>>(a);
}

template <int V>
static void dispatch(const Args& a, cudaStream_t s) {
  const int64_t wn = (a.len + 32 * V - 1) / (32 * V);  // groups per lane if one warp takes the row
  if (a.len <= WARP_MAX && wn <= 16) {
    if (wn <= 1) launch_regs<V, 1, 32>(a, s);
    else if (wn <= 2) launch_regs<V, 2, 32>(a, s);
    else if (wn <= 4) launch_regs<V, 4, 32>(a, s);
    else if (wn <= 8) launch_regs<V, 8, 32>(a, s);
    else launch_regs<V, 16, 32>(a, s);
    return;
  }
  const int64_t bn = (a.len + (int64_t)BLOCK * V - 1) / ((int64_t)BLOCK * V);  // groups per thread, one block a row
  if (bn <= 1) launch_regs<V, 1, BLOCK>(a, s);
  else if (bn <= 2) launch_regs<V, 2, BLOCK>(a, s);
  else if (bn <= 3) launch_regs<V, 3, BLOCK>(a, s);
  else if (bn <= 4) launch_regs<V, 4, BLOCK>(a, s);
  else if (bn <= 6) launch_regs<V, 6, BLOCK>(a, s);
  else if (bn <= 8) launch_regs<V, 8, BLOCK>(a, s);
  else if (bn <= 12) launch_regs<V, 12, BLOCK>(a, s);
  else if (bn <= 16) launch_regs<V, 16, BLOCK>(a, s);
  else {
    const unsigned blocks = (unsigned)(a.rows < 2147483647 ? a.rows : 2147483647);
    rows_loop<<<blocks, BLOCK, 0, s>>>(a);
  }
}


extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)workspace; (void)workspace_bytes;
  if (n_out != 1 || out[0].dtype != KE_F32) return 1;
  for (int i = 0; i < n_in; ++i)
    if (in[i].dtype != KE_F32) return 1;
  if (n_in != 3 || n_attrs != 1) return 1;
  // normalized_shape = weight.shape: the trailing dims of x
  const ke_tensor* x = &in[0];
  const ke_tensor* wt = &in[1];
  if (wt->ndim < 1 || wt->ndim > x->ndim) return 1;
  for (int i = 0; i < wt->ndim; ++i)
    if (wt->shape[i] != x->shape[x->ndim - wt->ndim + i]) return 1;
  Args a;
  a.len = ke_numel(wt);
  a.w = (const float*)wt->data;
  a.b = (const float*)in[2].data;
  if (ke_numel(&in[2]) != a.len) return 1;
  a.scale = 1.f;
  a.eps = attrs[0];
  const int64_t n = ke_numel(&in[0]);
  if (ke_numel(&out[0]) != n) return 1;
  if (n == 0 || a.len == 0) return 0;
  a.rows = n / a.len;
  a.x = (const float*)in[0].data;
  a.y = (float*)out[0].data;
  const uintptr_t ptrs = (uintptr_t)a.x | (uintptr_t)a.y | (uintptr_t)a.w | (uintptr_t)a.b;
  cudaStream_t s = (cudaStream_t)stream;
  if (VEC == 4 && a.len % 4 == 0 && (ptrs & 15) == 0) dispatch<4>(a, s);
  else dispatch<1>(a, s);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
