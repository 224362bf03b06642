// Fused elementwise chain: out[i, j] = max(a[i, j] + b[i, j], 0) * w[j], w broadcast over rows.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>

#define BLOCK 256  // tunable: 128 256 512 1024
#define MAX_BLOCKS 65536  // tunable: 4096 16384 65536

__global__ void add_relu_mul_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                    const float* __restrict__ w, float* __restrict__ y,
                                    int64_t n, int64_t cols) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float s = a[i] + b[i];
        y[i] = (s > 0.0f ? s : 0.0f) * w[i % cols];
    }
}

torch::Tensor forward(torch::Tensor a, torch::Tensor b, torch::Tensor weight) {
    TORCH_CHECK(a.is_cuda() && b.is_cuda() && weight.is_cuda(), "add_relu_mul: tensors must be on CUDA");
    TORCH_CHECK(a.scalar_type() == torch::kFloat32 && b.scalar_type() == torch::kFloat32 &&
                weight.scalar_type() == torch::kFloat32, "add_relu_mul: tensors must be float32");
    TORCH_CHECK(a.is_contiguous() && b.is_contiguous() && weight.is_contiguous(),
                "add_relu_mul: tensors must be contiguous");
    TORCH_CHECK(a.sizes() == b.sizes(), "add_relu_mul: a and b must have the same shape");
    const int64_t cols = weight.numel();
    TORCH_CHECK(a.dim() >= 1 && a.size(-1) == cols, "add_relu_mul: last dim of a must equal weight.numel()");
    auto y = torch::empty_like(a);
    const int64_t n = a.numel();
    if (n == 0) return y;
    int64_t blocks = (n + BLOCK - 1) / BLOCK;
    if (blocks > MAX_BLOCKS) blocks = MAX_BLOCKS;
    add_relu_mul_kernel<<<(unsigned)blocks, BLOCK, 0, at::cuda::getCurrentCUDAStream()>>>(
        a.data_ptr<float>(), b.data_ptr<float>(), weight.data_ptr<float>(), y.data_ptr<float>(), n, cols);
    TORCH_CHECK(cudaGetLastError() == cudaSuccess, "add_relu_mul: kernel launch failed");
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "fused relu(a + b) * w (CUDA)");
}
