// Sum over one dim of a contiguous tensor viewed as (outer, reduce, inner).
// One thread per output element; neighbouring threads read neighbouring inner elements (coalesced).
// Accumulates in double so long reductions stay at float32 precision.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>
#include <vector>

#define BLOCK 256  // tunable: 128 256 512 1024
#define UNROLL 4  // tunable: 1 2 4 8

__global__ void sum_dim_kernel(const float* __restrict__ x, float* __restrict__ y,
                               int64_t outer, int64_t reduce, int64_t inner) {
    const int64_t total = outer * inner;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
        const int64_t o = idx / inner, i = idx - o * inner;
        const float* p = x + o * reduce * inner + i;
        double acc = 0.0;
        int64_t r = 0;
        for (; r + UNROLL <= reduce; r += UNROLL) {
#pragma unroll
            for (int u = 0; u < UNROLL; ++u) acc += (double)p[(r + u) * inner];
        }
        for (; r < reduce; ++r) acc += (double)p[r * inner];
        y[idx] = (float)acc;
    }
}

torch::Tensor forward(torch::Tensor x, int64_t dim) {
    TORCH_CHECK(x.is_cuda(), "sum_dim: x must be a CUDA tensor");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32, "sum_dim: x must be float32");
    TORCH_CHECK(x.is_contiguous(), "sum_dim: x must be contiguous");
    const int64_t nd = x.dim();
    TORCH_CHECK(nd >= 1, "sum_dim: x must have at least one dim");
    if (dim < 0) dim += nd;
    TORCH_CHECK(dim >= 0 && dim < nd, "sum_dim: dim out of range");
    int64_t outer = 1, inner = 1;
    std::vector<int64_t> out_sizes;
    for (int64_t d = 0; d < nd; ++d) {
        if (d < dim) outer *= x.size(d);
        if (d > dim) inner *= x.size(d);
        if (d != dim) out_sizes.push_back(x.size(d));
    }
    const int64_t reduce = x.size(dim);
    auto y = torch::empty(out_sizes, x.options());
    const int64_t total = outer * inner;
    if (total == 0) return y;
    int64_t blocks = (total + BLOCK - 1) / BLOCK;
    if (blocks > 65535) blocks = 65535;
    sum_dim_kernel<<<(unsigned)blocks, BLOCK, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<float>(), y.data_ptr<float>(), outer, reduce, inner);
    TORCH_CHECK(cudaGetLastError() == cudaSuccess, "sum_dim: kernel launch failed");
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "sum over one dim (CUDA)");
}
