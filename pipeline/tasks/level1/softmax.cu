// Row softmax over the last dim: one block per row; max in float, sum of exponentials in double.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>
#include <cfloat>

#define BLOCK 256  // tunable: 128 256 512 1024

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ void softmax_rows(const float* __restrict__ x, float* __restrict__ y, int64_t cols) {
    __shared__ float smax[32];
    __shared__ double ssum[32];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
    const float* row = x + (int64_t)blockIdx.x * cols;
    float* out = y + (int64_t)blockIdx.x * cols;

    float m = -FLT_MAX;
    for (int64_t j = tid; j < cols; j += blockDim.x) m = fmaxf(m, row[j]);
    m = warp_max(m);
    if (lane == 0) smax[warp] = m;
    __syncthreads();
    m = (lane < nwarps) ? smax[lane] : -FLT_MAX;
    m = warp_max(m);

    double s = 0.0;
    for (int64_t j = tid; j < cols; j += blockDim.x) s += (double)expf(row[j] - m);
    s = warp_sum(s);
    if (lane == 0) ssum[warp] = s;
    __syncthreads();
    s = (lane < nwarps) ? ssum[lane] : 0.0;
    s = warp_sum(s);

    const float inv = (float)(1.0 / s);
    for (int64_t j = tid; j < cols; j += blockDim.x) out[j] = expf(row[j] - m) * inv;
}

torch::Tensor forward(torch::Tensor x, int64_t dim) {
    TORCH_CHECK(x.is_cuda(), "softmax: x must be a CUDA tensor");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32, "softmax: x must be float32");
    TORCH_CHECK(x.is_contiguous(), "softmax: x must be contiguous");
    TORCH_CHECK(x.dim() >= 1, "softmax: x must have at least one dim");
    TORCH_CHECK(dim == -1 || dim == x.dim() - 1, "softmax: this kernel reduces over the last dim only");
    auto y = torch::empty_like(x);
    const int64_t cols = x.size(-1);
    if (x.numel() == 0) return y;
    const int64_t rows = x.numel() / cols;
    softmax_rows<<<(unsigned)rows, BLOCK, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<float>(), y.data_ptr<float>(), cols);
    TORCH_CHECK(cudaGetLastError() == cudaSuccess, "softmax: kernel launch failed");
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "row softmax over the last dim (CUDA)");
}
