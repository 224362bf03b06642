// Fused linear + bias + exact GELU: y = gelu(x @ W^T + b), x (rows, K), W (N, K), b (N).
// Shared-memory tiling as in a tiled GEMM (BM x BN block tile, BK-wide K slices, TM x TN register
// tile per thread); bias and GELU are applied in the epilogue, so the GEMM result never hits memory.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>
#include <vector>

// Every combination of the listed values is valid: 64..1024 threads, at most 32 KB of shared memory.
#define BM 64  // tunable: 64 128
#define BN 64  // tunable: 64 128
#define BK 16  // tunable: 8 16 32
#define TM 4  // tunable: 4 8
#define TN 4  // tunable: 4 8

constexpr int THREADS = (BM / TM) * (BN / TN);
static_assert(BM % TM == 0 && BN % TN == 0, "tile sizes must divide the block tile");
static_assert(THREADS >= 32 && THREADS <= 1024, "threads per block must be in [32, 1024]");

__global__ void __launch_bounds__(THREADS) linear_gelu(const float* __restrict__ X, const float* __restrict__ W,
                                                     const float* __restrict__ bias, float* __restrict__ Y,
                                                     int64_t M, int64_t N, int64_t K) {
    __shared__ float Xs[BK][BM];
    __shared__ float Ws[BK][BN];
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
            const int m = e / BK, k = e % BK;
            const int64_t gr = row0 + m, gk = k0 + k;
            Xs[k][m] = (gr < M && gk < K) ? X[gr * K + gk] : 0.0f;
        }
        for (int e = tid; e < BN * BK; e += THREADS) {
            const int n = e / BK, k = e % BK;  // W rows are K-contiguous
            const int64_t gc = col0 + n, gk = k0 + k;
            Ws[k][n] = (gc < N && gk < K) ? W[gc * K + gk] : 0.0f;
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
            for (int i = 0; i < TM; ++i) a[i] = Xs[k][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Ws[k][tx * TN + j];
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
            if (c < N) {
                const float v = (float)(total[i][j] + (double)bias[c]);
                Y[r * N + c] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f));
            }
        }
    }
}

torch::Tensor forward(torch::Tensor x, torch::Tensor weight, torch::Tensor bias) {
    TORCH_CHECK(x.is_cuda() && weight.is_cuda() && bias.is_cuda(), "linear_bias_gelu: tensors must be on CUDA");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 &&
                bias.scalar_type() == torch::kFloat32, "linear_bias_gelu: tensors must be float32");
    TORCH_CHECK(x.is_contiguous() && weight.is_contiguous() && bias.is_contiguous(),
                "linear_bias_gelu: tensors must be contiguous");
    TORCH_CHECK(weight.dim() == 2 && bias.dim() == 1 && bias.size(0) == weight.size(0),
                "linear_bias_gelu: weight must be (out, in) and bias (out)");
    const int64_t K = weight.size(1), N = weight.size(0);
    TORCH_CHECK(x.dim() >= 1 && x.size(-1) == K, "linear_bias_gelu: last dim of x must equal in_features");
    std::vector<int64_t> out_sizes(x.sizes().begin(), x.sizes().end());
    out_sizes.back() = N;
    auto y = torch::empty(out_sizes, x.options());
    const int64_t M = K > 0 ? x.numel() / K : 0;
    if (M == 0 || N == 0) return y;
    dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM));
    TORCH_CHECK(grid.y <= 65535, "linear_bias_gelu: too many rows for this kernel's grid");
    linear_gelu<<<grid, THREADS, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<float>(), weight.data_ptr<float>(), bias.data_ptr<float>(), y.data_ptr<float>(), M, N, K);
    TORCH_CHECK(cudaGetLastError() == cudaSuccess, "linear_bias_gelu: kernel launch failed");
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "fused linear + bias + exact GELU (CUDA)");
}
