// memory (CUDA, format K): a correct ReLU that also takes a large device buffer on its first call, writes it
// and keeps it. The issue's hog held 8 GiB beyond need on an H100; this one takes 4 GiB, past the device
// budget of a small task (2x the reference's device peak, at least that peak + 1 GiB).
#include "ke_abi.h"
#include <cuda_runtime.h>

#define HOG_BYTES (4ull << 30)
static void* hog = 0;

__global__ void relu(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 1 || n_out != 1 || in[0].dtype != KE_F32) return 1;
  cudaStream_t s = (cudaStream_t)stream;
  if (!hog) {
    if (cudaMalloc(&hog, HOG_BYTES) != cudaSuccess) return 2;
    cudaMemsetAsync(hog, 1, HOG_BYTES, s);
  }
  const int64_t n = ke_numel(&in[0]);
  relu<<<(unsigned)((n + 255) / 256), 256, 0, s>>>((const float*)in[0].data, (float*)out[0].data, n);
  return cudaGetLastError() == cudaSuccess ? 0 : 3;
}
