// Format K, CUDA: layernorm over the last dimension, one block per row. in = [x, weight, bias], attrs = [eps].
#include "ke_abi.h"
#include <cuda_runtime.h>

__global__ void layernorm_rows(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                               float* __restrict__ y, int64_t h, double eps) {
  __shared__ double s_sum[256], s_sq[256];
  const float* xr = x + blockIdx.x * h;
  double sum = 0.0, sq = 0.0;
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) { double v = xr[i]; sum += v; sq += v * v; }
  s_sum[threadIdx.x] = sum; s_sq[threadIdx.x] = sq;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) { s_sum[threadIdx.x] += s_sum[threadIdx.x + s]; s_sq[threadIdx.x] += s_sq[threadIdx.x + s]; }
    __syncthreads();
  }
  const double mean = s_sum[0] / h, var = s_sq[0] / h - mean * mean;
  const double inv = rsqrt(var + eps);
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x)
    y[blockIdx.x * h + i] = (float)((xr[i] - mean) * inv * w[i] + b[i]);
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 3 || n_out != 1 || n_attrs != 1 || in[0].dtype != KE_F32) return 1;
  const int64_t h = ke_numel(&in[1]), rows = ke_numel(&in[0]) / h;
  if (rows == 0) return 0;
  layernorm_rows<<<(unsigned)rows, 256, 0, (cudaStream_t)stream>>>((const float*)in[0].data, (const float*)in[1].data,
                                                                  (const float*)in[2].data, (float*)out[0].data, h,
                                                                  attrs[0]);
  return cudaGetLastError() == cudaSuccess ? 0 : 2;
}
