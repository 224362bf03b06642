// Square/rectangular matrix product C = A @ B (row-major, float32).
// Shared-memory tiling: a block computes a BM x BN tile of C, staging BK-wide slices of A and B in
// shared memory; each thread keeps a TM x TN register tile. Edges are zero-padded, so any M, N, K works.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>

// Every combination of the listed values is valid: 64..1024 threads, at most 32 KB of shared memory.
#define BM 64  // tunable: 64 128
#define BN 64  // tunable: 64 128
#define BK 16  // tunable: 8 16 32
#define TM 4  // tunable: 4 8
#define TN 4  // tunable: 4 8

constexpr int THREADS = (BM / TM) * (BN / TN);
static_assert(BM % TM == 0 && BN % TN == 0, "tile sizes must divide the block tile");
static_assert(THREADS >= 32 && THREADS <= 1024, "threads per block must be in [32, 1024]");

__global__ void __launch_bounds__(THREADS) matmul_tiled(const float* __restrict__ A, const float* __restrict__ B,
                                                      float* __restrict__ C, int64_t M, int64_t N, int64_t K) {
    __shared__ float As[BK][BM];  // A tile, stored k-major so a thread reads TM consecutive rows
    __shared__ float Bs[BK][BN];
    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    const int64_t row0 = (int64_t)blockIdx.y * BM, col0 = (int64_t)blockIdx.x * BN;
    float acc[TM][TN];    // this K slice, in float
    double total[TM][TN];  // all slices so far, in double: keeps long K sums at float32 precision
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) total[i][j] = 0.0;

    for (int64_t k0 = 0; k0 < K; k0 += BK) {
        for (int e = tid; e < BM * BK; e += THREADS) {
            const int m = e / BK, k = e % BK;  // consecutive threads read consecutive k of one row
            const int64_t gr = row0 + m, gk = k0 + k;
            As[k][m] = (gr < M && gk < K) ? A[gr * K + gk] : 0.0f;
        }
        for (int e = tid; e < BK * BN; e += THREADS) {
            const int k = e / BN, n = e % BN;
            const int64_t gk = k0 + k, gc = col0 + n;
            Bs[k][n] = (gk < K && gc < N) ? B[gk * N + gc] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[k][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[k][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) total[i][j] += (double)acc[i][j];
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int64_t r = row0 + ty * TM + i;
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int64_t c = col0 + tx * TN + j;
            if (c < N) C[r * N + c] = (float)total[i][j];
        }
    }
}

torch::Tensor forward(torch::Tensor a, torch::Tensor b) {
    TORCH_CHECK(a.is_cuda() && b.is_cuda(), "matmul: a and b must be CUDA tensors");
    TORCH_CHECK(a.scalar_type() == torch::kFloat32 && b.scalar_type() == torch::kFloat32,
                "matmul: a and b must be float32");
    TORCH_CHECK(a.is_contiguous() && b.is_contiguous(), "matmul: a and b must be contiguous");
    TORCH_CHECK(a.dim() == 2 && b.dim() == 2, "matmul: a and b must be 2-D");
    TORCH_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ");
    const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
    auto c = torch::empty({M, N}, a.options());
    if (M == 0 || N == 0) return c;
    TORCH_CHECK(K > 0, "matmul: K must be positive");
    dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM));
    TORCH_CHECK(grid.y <= 65535, "matmul: too many rows for this kernel's grid");
    matmul_tiled<<<grid, THREADS, 0, at::cuda::getCurrentCUDAStream()>>>(
        a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(), M, N, K);
    TORCH_CHECK(cudaGetLastError() == cudaSuccess, "matmul: kernel launch failed");
    return c;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "tiled matrix product (CUDA)");
}
