// LayerNorm over the last dim: one block per row; mean and variance (two passes) in double.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 128 256 512 1024

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum of v over the block; every thread gets the result. `buf` holds 32 doubles.
__device__ double block_sum(double v, double* buf) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // buf may still be read from a previous call
    if (lane == 0) buf[warp] = v;
    __syncthreads();
    v = (lane < nwarps) ? buf[lane] : 0.0;
    return warp_sum(v);
}

__global__ void layernorm_rows(const float* __restrict__ x, const float* __restrict__ w,
                               const float* __restrict__ b, float* __restrict__ y,
                               int64_t cols, double eps) {
    __shared__ double buf[32];
    const float* row = x + (int64_t)blockIdx.x * cols;
    float* out = y + (int64_t)blockIdx.x * cols;
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += (double)row[j];
    const double mean = block_sum(s, buf) / (double)cols;
    double q = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        const double d = (double)row[j] - mean;
        q += d * d;
    }
    const double var = block_sum(q, buf) / (double)cols;
    const float rstd = (float)(1.0 / sqrt(var + eps));
    const float meanf = (float)mean;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        out[j] = (row[j] - meanf) * rstd * w[j] + b[j];
}

torch::Tensor forward(torch::Tensor x, torch::Tensor weight, torch::Tensor bias, double eps) {
    TORCH_CHECK(x.is_cuda() && weight.is_cuda() && bias.is_cuda(), "layernorm: tensors must be on CUDA");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 &&
                bias.scalar_type() == torch::kFloat32, "layernorm: tensors must be float32");
    TORCH_CHECK(x.is_contiguous() && weight.is_contiguous() && bias.is_contiguous(),
                "layernorm: tensors must be contiguous");
    const int64_t cols = weight.numel();
    TORCH_CHECK(bias.numel() == cols, "layernorm: weight and bias sizes differ");
    TORCH_CHECK(x.dim() >= 1 && x.size(-1) == cols, "layernorm: last dim of x must equal weight.numel()");
    auto y = torch::empty_like(x);
    if (x.numel() == 0) return y;
    const int64_t rows = x.numel() / cols;
    layernorm_rows<<<(unsigned)rows, BLOCK, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<float>(), weight.data_ptr<float>(), bias.data_ptr<float>(), y.data_ptr<float>(), cols, eps);
    TORCH_CHECK(cudaGetLastError() == cudaSuccess, "layernorm: kernel launch failed");
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "LayerNorm over the last dim (CUDA)");
}
