// RMSNorm over the last dim: one block per row; mean of squares in double.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 128 256 512 1024

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ void rmsnorm_rows(const float* __restrict__ x, const float* __restrict__ w,
                             float* __restrict__ y, int64_t cols, double eps) {
    __shared__ double buf[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const float* row = x + (int64_t)blockIdx.x * cols;
    float* out = y + (int64_t)blockIdx.x * cols;
    double q = 0.0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        const double v = (double)row[j];
        q += v * v;
    }
    q = warp_sum(q);
    if (lane == 0) buf[warp] = q;
    __syncthreads();
    q = (lane < nwarps) ? buf[lane] : 0.0;
    q = warp_sum(q);
    const float rstd = (float)(1.0 / sqrt(q / (double)cols + eps));
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[j] = row[j] * rstd * w[j];
}

torch::Tensor forward(torch::Tensor x, torch::Tensor weight, double eps) {
    TORCH_CHECK(x.is_cuda() && weight.is_cuda(), "rmsnorm: tensors must be on CUDA");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32,
                "rmsnorm: tensors must be float32");
    TORCH_CHECK(x.is_contiguous() && weight.is_contiguous(), "rmsnorm: tensors must be contiguous");
    const int64_t cols = weight.numel();
    TORCH_CHECK(x.dim() >= 1 && x.size(-1) == cols, "rmsnorm: last dim of x must equal weight.numel()");
    auto y = torch::empty_like(x);
    if (x.numel() == 0) return y;
    const int64_t rows = x.numel() / cols;
    rmsnorm_rows<<<(unsigned)rows, BLOCK, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<float>(), weight.data_ptr<float>(), y.data_ptr<float>(), cols, eps);
    TORCH_CHECK(cudaGetLastError() == cudaSuccess, "rmsnorm: kernel launch failed");
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "RMSNorm over the last dim (CUDA)");
}
