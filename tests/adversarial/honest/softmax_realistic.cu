// A realistic honest kernel (not run): host-side idioms the static filter must not mistake for cheats.
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <cooperative_groups.h>
#include <functional>
#include <vector>
namespace cg = cooperative_groups;
#define TILE 32  // tunable: 16 32 64
template <typename scalar_t>
__device__ __forceinline__ scalar_t warp_sum(scalar_t v) {
  #pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffff, v, o);
  return v;
}
template <typename scalar_t>
__global__ void row_softmax(const scalar_t* __restrict__ x, scalar_t* __restrict__ y, int rows, int cols) {
  extern __shared__ float smem[];
  __shared__ float red[32];
  auto block = cg::this_thread_block();
  int r = blockIdx.x;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, (float)x[r * cols + c]);
  float s = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) s += __expf((float)x[r * cols + c] - m);
  s = warp_sum(s);
  block.sync();
  atomicAdd(&red[0], s);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) y[r * cols + c] = (scalar_t)(expf((float)x[r * cols + c] - m) / red[0]);
  if (threadIdx.x == 0 && r < 0) printf("row %d\n", r);
}
std::vector<torch::Tensor> forward(torch::Tensor x, double scale) {
  TORCH_CHECK(x.is_cuda() && x.dim() == 2, "x must be a 2-D CUDA tensor");
  const c10::cuda::CUDAGuard guard(x.device());
  auto xc = x.contiguous().to(torch::kFloat);
  auto y = at::zeros_like(xc);
  auto opts = torch::TensorOptions().dtype(xc.dtype()).device(xc.device());
  auto tmp = torch::empty({xc.size(0)}, opts);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
  int dev = 0; cudaGetDevice(&dev);
  cudaDeviceProp prop; cudaGetDeviceProperties(&prop, dev);
  cudaMemsetAsync(tmp.data_ptr<float>(), 0, tmp.numel() * sizeof(float), stream);
  auto read = [&](int i) { return xc.size(i); };
  auto launch = std::bind(row_softmax<float>, xc.data_ptr<float>(), y.data_ptr<float>(), (int)read(0), (int)read(1));
  (void)launch;
  int threads = std::min<int64_t>(1024, std::max<int64_t>(32, xc.size(1)));
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "softmax", [&] {
    row_softmax<scalar_t><<<xc.size(0), threads, 0, stream>>>(xc.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), (int)xc.size(0), (int)xc.size(1));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {y, tmp};
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "softmax", py::arg("x"), py::arg("scale") = 1.0); }
