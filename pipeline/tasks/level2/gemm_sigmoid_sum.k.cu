// Format K, CUDA: y = sigmoid(x @ W^T + b).sum(dim=1, keepdim=True), x [M, K], W [N, K], b [N], fp32
// (level2/gemm_sigmoid_sum). in = [x, weight, bias], no attrs, out [M, 1].
// 3xTF32 tensor-core GEMM (split-precision mma.sync m16n8k8, fp32 accumulation, fp32-class accuracy), multi-stage
// cp.async pipeline; the epilogue applies bias + sigmoid into a shared-memory tile, sums each row of the tile
// (warp shuffles) into a workspace of per-tile partial sums [N / BN_][M], and a second small kernel adds the
// partials in a fixed order (deterministic, no atomics). USE_TC 0 selects the fp32 FMA register-tiled path.
// Default 4096 x 4096 x 4096: 137 GFLOP.
#include "ke_abi.h"
#include <cuda_runtime.h>
#include <stdint.h>

// Tunables (every combination compiles; registers grow with WM*WN, and 512-thread blocks cap them at 128).
#define USE_TC 1  // tunable: 0 1
#define ACC_FLUSH 1  // tunable: 0 1
#define WM 64  // tunable: 32 64
#define WN 32  // tunable: 16 32
#define WARPS_M 2  // tunable: 1 2 4
#define WARPS_N 4  // tunable: 1 2 4
#define BK 32  // tunable: 16 32
#define STAGES 3  // tunable: 2 3 4
#define GROUP_M 8  // tunable: 1 4 8 16
#define MIN_BLOCKS 1  // tunable: 1 2

// ---------------------------------------------------------------------------------------------------------------
// GEMM core (the same in every matmul/conv seed): C[M][N] = A[M][K] * B (+ the task's epilogue), fp32 in and out.
//
// USE_TC 1: 3xTF32 on tensor cores. Each fp32 operand x is split into x_hi = tf32(x) and x_lo = tf32(x - x_hi);
// a*b ~= a_lo*b_hi + a_hi*b_lo + a_hi*b_hi (the a_lo*b_lo term, ~2^-22 relative, is dropped), three
// mma.sync.m16n8k8 tf32 per fragment with fp32 accumulation. The tensor core's own accumulation truncates, so
// with ACC_FLUSH 1 every BK slice is summed on the tensor core from zero and then added to the running total with
// ordinary round-to-nearest fp32 adds: the truncation error stays relative to one slice, not to the whole sum.
// USE_TC 0: a plain fp32 FMA register-tiled path over the same tiles and pipeline (the safe fallback).
//
// Block tile BM_ x BN_ = (WM*WARPS_M) x (WN*WARPS_N), K slices of BK, STAGES-deep cp.async pipeline in dynamic
// shared memory. Shared tiles are padded (A and B[n][k]: row stride BK+4; B[k][n]: row stride BN_+8), which makes
// every fragment load of the mma layout bank-conflict free and keeps rows 16-byte aligned for cp.async.
// Global loads are 16-byte cp.async where rows are a multiple of 4 floats and the base is 16-byte aligned,
// else 4-byte cp.async; out-of-range elements are zero-filled by cp.async (src-size 0), so any M, N, K works.
// Tiles are visited in groups of GROUP_M tile rows, so a wave of blocks shares A and B panels in L2.
//
// mma.m16n8k8 .tf32 fragments (PTX ISA), g = lane>>2, t = lane&3:
//   A (16x8, row): a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4]
//   B (8x8, col):  b0 = B[k=t][n=g], b1 = B[k=t+4][n=g]
//   C (16x8):      c0 = C[g][2t], c1 = C[g][2t+1], c2 = C[g+8][2t], c3 = C[g+8][2t+1]
// ---------------------------------------------------------------------------------------------------------------
#define KE_THREADS (WARPS_M * WARPS_N * 32)
constexpr int BM_ = WM * WARPS_M;
constexpr int BN_ = WN * WARPS_N;
constexpr int MI = WM / 16;      // m16 fragments per warp
constexpr int NI = WN / 8;       // n8 fragments per warp
constexpr int LDA = BK + 4;      // A tile [BM_][BK], padded
constexpr int LDB_NK = BK + 4;   // B tile stored [BN_][BK] (B given as [N][K])
constexpr int LDB_KN = BN_ + 8;  // B tile stored [BK][BN_] (B given as [K][N], or gathered)
static_assert(WM % 16 == 0 && WN % 8 == 0 && BK % 8 == 0, "warp tile must be made of m16n8k8 fragments");
static_assert(KE_THREADS >= 32 && KE_THREADS <= 1024, "1..32 warps per block");

__device__ __forceinline__ void cp_async16(float* dst, const float* src, int src_bytes) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async4(float* dst, const float* src, int src_bytes) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

// x -> tf32 (10-bit mantissa), round to nearest, ties away: add half an ulp of tf32 to the magnitude bits and
// truncate. Two integer ops (cvt.rna.tf32.f32 becomes four in SASS); finite inputs, inf and the usual NaN stay so.
__device__ __forceinline__ unsigned tf32_round(float x) { return (__float_as_uint(x) + 0x1000u) & 0xffffe000u; }
__device__ __forceinline__ void split_tf32(float x, unsigned& hi, unsigned& lo) {
  hi = tf32_round(x);
  lo = tf32_round(x - __uint_as_float(hi));  // x - hi is exact in fp32
}
__device__ __forceinline__ void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// the same with C = 0 (starts a slice's partial sum without zeroing registers first)
__device__ __forceinline__ void mma_tf32_zc(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(0.0f));
}

// A row-major tile: rows [0, R) of `src` (row stride ld, already offset to the tile's first row), columns
// [k0, k0 + BK), into dst[r * LDS + k]. Rows >= rows_avail and columns >= K are zero-filled.
template <int R, int LDS>
__device__ __forceinline__ void load_rows_k(float* dst, const float* src, int64_t ld, int rows_avail, int k0, int K,
                                            bool vec, const float* safe) {
  const int tid = threadIdx.x;
  if (vec) {
    constexpr int CPR = BK / 4, TOTAL = R * CPR;
#pragma unroll
    for (int it = 0; it < (TOTAL + KE_THREADS - 1) / KE_THREADS; ++it) {
      const int c = tid + it * KE_THREADS;
      if (TOTAL % KE_THREADS != 0 && c >= TOTAL) break;
      const int r = c / CPR, kc = (c % CPR) * 4;
      const bool ok = r < rows_avail && k0 + kc < K;
      cp_async16(dst + r * LDS + kc, ok ? src + (int64_t)r * ld + k0 + kc : safe, ok ? 16 : 0);
    }
  } else {
    constexpr int TOTAL = R * BK;
#pragma unroll 4
    for (int it = 0; it < (TOTAL + KE_THREADS - 1) / KE_THREADS; ++it) {
      const int e = tid + it * KE_THREADS;
      if (TOTAL % KE_THREADS != 0 && e >= TOTAL) break;
      const int r = e / BK, kk = e % BK;
      const bool ok = r < rows_avail && k0 + kk < K;
      cp_async4(dst + r * LDS + kk, ok ? src + (int64_t)r * ld + k0 + kk : safe, ok ? 4 : 0);
    }
  }
}

// B given as [K][N] (row stride ld, already offset to column n0): rows [k0, k0 + BK), columns [0, BN_) into
// dst[k * LDB_KN + n]. Columns >= cols_avail and rows >= K are zero-filled.
__device__ __forceinline__ void load_k_cols(float* dst, const float* src, int64_t ld, int cols_avail, int k0, int K,
                                            bool vec, const float* safe) {
  const int tid = threadIdx.x;
  if (vec) {
    constexpr int CPR = BN_ / 4, TOTAL = BK * CPR;
#pragma unroll
    for (int it = 0; it < (TOTAL + KE_THREADS - 1) / KE_THREADS; ++it) {
      const int c = tid + it * KE_THREADS;
      if (TOTAL % KE_THREADS != 0 && c >= TOTAL) break;
      const int kr = c / CPR, nc = (c % CPR) * 4;
      const bool ok = k0 + kr < K && nc < cols_avail;
      cp_async16(dst + kr * LDB_KN + nc, ok ? src + (int64_t)(k0 + kr) * ld + nc : safe, ok ? 16 : 0);
    }
  } else {
    constexpr int TOTAL = BK * BN_;
#pragma unroll 4
    for (int it = 0; it < (TOTAL + KE_THREADS - 1) / KE_THREADS; ++it) {
      const int e = tid + it * KE_THREADS;
      if (TOTAL % KE_THREADS != 0 && e >= TOTAL) break;
      const int kr = e / BN_, nn = e % BN_;
      const bool ok = k0 + kr < K && nn < cols_avail;
      cp_async4(dst + kr * LDB_KN + nn, ok ? src + (int64_t)(k0 + kr) * ld + nn : safe, ok ? 4 : 0);
    }
  }
}

template <class Task>
struct Core {
  static constexpr int A_TILE = BM_ * LDA;
  static constexpr int B_TILE = Task::B_KN ? BK * LDB_KN : BN_ * LDB_NK;
  static constexpr int STAGE_F = A_TILE + B_TILE;  // floats per pipeline stage (a multiple of 4)
  static constexpr size_t PIPE_BYTES = (size_t)STAGES * STAGE_F * sizeof(float);
  static constexpr size_t MAIN_BYTES = PIPE_BYTES > Task::EPI_BYTES ? PIPE_BYTES : Task::EPI_BYTES;
};

template <class Task>
__global__ void __launch_bounds__(KE_THREADS, MIN_BLOCKS)
    gemm_kernel(const typename Task::Params p, const int M, const int N, const int K) {
  extern __shared__ __align__(16) float smem[];
  using C = Core<Task>;
  float* extra = smem + C::MAIN_BYTES / sizeof(float);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;

  // grouped tile order: GROUP_M tile rows advance together, so concurrent blocks share panels in L2
  const int tiles_m = (M + BM_ - 1) / BM_, tiles_n = (N + BN_ - 1) / BN_;
  const int pid = blockIdx.x, group = GROUP_M * tiles_n;
  const int first_m = (pid / group) * GROUP_M;
  const int gsz = min(tiles_m - first_m, GROUP_M);
  const int bm = first_m + (pid % group) % gsz, bn = (pid % group) / gsz;
  const int m0 = bm * BM_, n0 = bn * BN_, batch = blockIdx.y;

  Task::setup(p, extra, batch, m0, n0, M, N, K);  // ends with __syncthreads() where it writes shared memory

  const int KT = (K + BK - 1) / BK;
#pragma unroll 1
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < KT) {
      float* st = smem + s * C::STAGE_F;
      Task::load_a(p, st, batch, m0, s * BK, M, K);
      Task::load_b(p, st + C::A_TILE, extra, batch, n0, s * BK, N, K);
    }
    cp_async_commit();
  }

#if USE_TC
  const int g = lane >> 2, t = lane & 3;
  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.f;
#if ACC_FLUSH
  float part[MI][NI][4];
#else
  float(&part)[MI][NI][4] = acc;
#endif
#else
  const int ly = lane >> 3, lx = lane & 7;
  constexpr int TMS = WM / 4, TNS = WN / 8;  // SIMT: lane owns rows ly + 4i and columns lx + 8j of the warp tile
  float acc[TMS][TNS];
#pragma unroll
  for (int i = 0; i < TMS; ++i)
#pragma unroll
    for (int j = 0; j < TNS; ++j) acc[i][j] = 0.f;
#endif

#pragma unroll 1
  for (int kt = 0; kt < KT; ++kt) {
    cp_async_wait<STAGES - 2>();  // this thread's copies of slice kt have landed
    __syncthreads();              // everyone's have, and everyone is done with slice kt - 1
    {
      const int nk = kt + STAGES - 1;
      if (nk < KT) {
        float* st = smem + (nk % STAGES) * C::STAGE_F;  // the buffer slice kt - 1 used
        Task::load_a(p, st, batch, m0, nk * BK, M, K);
        Task::load_b(p, st + C::A_TILE, extra, batch, n0, nk * BK, N, K);
      }
      cp_async_commit();  // always, so the group count stays in step
    }
    const float* As = smem + (kt % STAGES) * C::STAGE_F;
    const float* Bs = As + C::A_TILE;
#if USE_TC
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      unsigned ah[MI][4], al[MI][4], bh[NI][2], bl[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        const float* ap = As + (wm * WM + i * 16 + g) * LDA + kk + t;
        split_tf32(ap[0], ah[i][0], al[i][0]);            // row g,   col t
        split_tf32(ap[8 * LDA], ah[i][1], al[i][1]);      // row g+8, col t
        split_tf32(ap[4], ah[i][2], al[i][2]);            // row g,   col t+4
        split_tf32(ap[8 * LDA + 4], ah[i][3], al[i][3]);  // row g+8, col t+4
      }
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        if (Task::B_KN) {
          const float* bp = Bs + (kk + t) * LDB_KN + wn * WN + j * 8 + g;
          split_tf32(bp[0], bh[j][0], bl[j][0]);           // k = t,   n = g
          split_tf32(bp[4 * LDB_KN], bh[j][1], bl[j][1]);  // k = t+4, n = g
        } else {
          const float* bp = Bs + (wn * WN + j * 8 + g) * LDB_NK + kk + t;
          split_tf32(bp[0], bh[j][0], bl[j][0]);  // n = g, k = t
          split_tf32(bp[4], bh[j][1], bl[j][1]);  // n = g, k = t+4
        }
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) {
          if (ACC_FLUSH && kk == 0)
            mma_tf32_zc(part[i][j], al[i], bh[j]);  // a fresh partial sum for this slice
          else
            mma_tf32(part[i][j], al[i], bh[j]);
          mma_tf32(part[i][j], ah[i], bl[j]);
          mma_tf32(part[i][j], ah[i], bh[j]);
        }
    }
#if ACC_FLUSH
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
      for (int j = 0; j < NI; ++j)
#pragma unroll
        for (int q = 0; q < 4; ++q) acc[i][j][q] += part[i][j][q];
#endif
#else
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TMS], b[TNS];
#pragma unroll
      for (int i = 0; i < TMS; ++i) a[i] = As[(wm * WM + ly + 4 * i) * LDA + k];
#pragma unroll
      for (int j = 0; j < TNS; ++j)
        b[j] = Task::B_KN ? Bs[k * LDB_KN + wn * WN + lx + 8 * j] : Bs[(wn * WN + lx + 8 * j) * LDB_NK + k];
#pragma unroll
      for (int i = 0; i < TMS; ++i)
#pragma unroll
        for (int j = 0; j < TNS; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
#endif
  }
  cp_async_wait<0>();
  __syncthreads();  // the epilogue may reuse the pipeline's shared memory

#if USE_TC
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int lr = wm * WM + i * 16 + g + 8 * h, lc = wn * WN + j * 8 + 2 * t;
        const int row = m0 + lr, col = n0 + lc;
        if (row >= M) continue;
        if (col + 1 < N)
          Task::store2(p, smem, extra, batch, row, col, lr, lc, acc[i][j][2 * h], acc[i][j][2 * h + 1]);
        else if (col < N)
          Task::store1(p, smem, extra, batch, row, col, lr, lc, acc[i][j][2 * h]);
      }
#else
#pragma unroll
  for (int i = 0; i < TMS; ++i)
#pragma unroll
    for (int j = 0; j < TNS; ++j) {
      const int lr = wm * WM + ly + 4 * i, lc = wn * WN + lx + 8 * j;
      const int row = m0 + lr, col = n0 + lc;
      if (row < M && col < N) Task::store1(p, smem, extra, batch, row, col, lr, lc, acc[i][j]);
    }
#endif
  if (Task::HAS_FINISH) {
    __syncthreads();
    Task::finish(p, smem, batch, m0, n0, M, N);
  }
}

// Launch on `stream`: a 1-D grid of tiles (grouped order) times `batch`. Returns 0, or non-zero on a launch error.
template <class Task>
int launch_gemm(const typename Task::Params& p, int64_t M, int64_t N, int64_t K, int64_t batch, size_t extra_bytes,
                cudaStream_t stream) {
  if (M <= 0 || N <= 0 || batch <= 0) return 0;
  if (M > 0x7fffffffLL || N > 0x7fffffffLL || K > 0x7fffffffLL || batch > 65535) return 3;
  const int64_t tiles = ((M + BM_ - 1) / BM_) * ((N + BN_ - 1) / BN_);
  if (tiles > 0x7fffffffLL) return 3;
  const size_t bytes = Core<Task>::MAIN_BYTES + extra_bytes;
  if (cudaFuncSetAttribute(gemm_kernel<Task>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes) != cudaSuccess)
    return 4;
  gemm_kernel<Task><<<dim3((unsigned)tiles, (unsigned)batch), KE_THREADS, bytes, stream>>>(p, (int)M, (int)N, (int)K);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}

__host__ __forceinline__ bool aligned16(const void* ptr) { return ((uintptr_t)ptr & 15u) == 0; }
// ---------------------------------------------------------------------------------------------------------------

// ---- task: linear (weights [N][K]) + bias + sigmoid, row sums of each tile into a workspace ----
struct SigmoidSumTask {
  static constexpr bool B_KN = false;
  static constexpr bool HAS_FINISH = true;
  static constexpr int LDT = BN_ + 1;  // the epilogue tile [BM_][BN_ + 1] reuses the pipeline's shared memory
  static constexpr size_t EPI_BYTES = (size_t)BM_ * LDT * sizeof(float);
  struct Params {
    const float* x;
    const float* w;
    const float* bias;
    float* ws;  // [tiles_n][M] partial row sums
    bool vec_k;
  };
  __device__ static void setup(const Params&, float*, int, int, int, int, int, int) {}
  __device__ static void load_a(const Params& p, float* dst, int, int m0, int k0, int M, int K) {
    load_rows_k<BM_, LDA>(dst, p.x + (int64_t)m0 * K, K, M - m0, k0, K, p.vec_k, p.x);
  }
  __device__ static void load_b(const Params& p, float* dst, const float*, int, int n0, int k0, int N, int K) {
    load_rows_k<BN_, LDB_NK>(dst, p.w + (int64_t)n0 * K, K, N - n0, k0, K, p.vec_k, p.w);
  }
  __device__ static float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }
  __device__ static void store1(const Params& p, float* tile, const float*, int, int, int col, int lr, int lc,
                                float v) {
    tile[lr * LDT + lc] = sigmoid(v + p.bias[col]);
  }
  __device__ static void store2(const Params& p, float* tile, const float*, int, int, int col, int lr, int lc,
                                float v0, float v1) {
    tile[lr * LDT + lc] = sigmoid(v0 + p.bias[col]);
    tile[lr * LDT + lc + 1] = sigmoid(v1 + p.bias[col + 1]);
  }
  // after a barrier: one warp per row of the tile sums its valid columns
  __device__ static void finish(const Params& p, float* tile, int, int m0, int n0, int M, int N) {
    const int rows = min(BM_, M - m0), cols = min(BN_, N - n0);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int r = warp; r < rows; r += KE_THREADS / 32) {
      float s = 0.f;
      for (int c = lane; c < cols; c += 32) s += tile[r * LDT + c];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
      if (lane == 0) p.ws[(int64_t)(n0 / BN_) * M + m0 + r] = s;
    }
  }
};

// out[m] = sum over tiles t of ws[t][m], in tile order
__global__ void __launch_bounds__(256) sum_partials(const float* __restrict__ ws, float* __restrict__ out, int M,
                                                   int tiles) {
  const int64_t m = (int64_t)blockIdx.x * 256 + threadIdx.x;
  if (m >= M) return;
  float s = 0.f;
  for (int t = 0; t < tiles; ++t) s += ws[(int64_t)t * M + m];
  out[m] = s;
}

extern "C" int64_t ke_workspace_bytes(const ke_tensor* in, int n_in, const double* attrs, int n_attrs) {
  (void)attrs; (void)n_attrs;
  if (n_in != 3 || in[0].ndim != 2 || in[1].ndim != 2) return 0;
  const int64_t M = in[0].shape[0], N = in[1].shape[0];
  return ((N + BN_ - 1) / BN_) * M * (int64_t)sizeof(float);
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs, int n_attrs,
                         void* workspace, int64_t workspace_bytes, void* stream) {
  (void)attrs; (void)n_attrs;
  if (n_in != 3 || n_out != 1) return 1;
  const ke_tensor &x = in[0], &w = in[1], &b = in[2], &y = out[0];
  if (x.dtype != KE_F32 || w.dtype != KE_F32 || b.dtype != KE_F32 || y.dtype != KE_F32) return 1;
  if (x.ndim != 2 || w.ndim != 2 || b.ndim != 1 || y.ndim != 2) return 1;
  const int64_t M = x.shape[0], K = x.shape[1], N = w.shape[0];
  if (w.shape[1] != K || b.shape[0] != N || y.shape[0] != M || y.shape[1] != 1) return 1;
  if (M == 0) return 0;
  cudaStream_t st = (cudaStream_t)stream;
  if (N == 0) {  // an empty sum
    return cudaMemsetAsync(y.data, 0, (size_t)M * sizeof(float), st) == cudaSuccess ? 0 : 2;
  }
  const int64_t tiles_n = (N + BN_ - 1) / BN_;
  if (workspace == nullptr || workspace_bytes < tiles_n * M * (int64_t)sizeof(float)) return 5;
  if (M > 0x7fffffffLL || tiles_n > 0x7fffffffLL) return 3;
  SigmoidSumTask::Params p;
  p.x = (const float*)x.data;
  p.w = (const float*)w.data;
  p.bias = (const float*)b.data;
  p.ws = (float*)workspace;
  p.vec_k = K % 4 == 0 && aligned16(x.data) && aligned16(w.data);
  const int rc = launch_gemm<SigmoidSumTask>(p, M, N, K, 1, 0, st);
  if (rc != 0) return rc;
  sum_partials<<<(unsigned)((M + 255) / 256), 256, 0, st>>>((const float*)workspace, (float*)y.data, (int)M,
                                                            (int)tiles_n);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
