// Fused linear + bias + exact GELU on the CPU: y[i, j] = gelu(dot(x[i, :], W[j, :]) + b[j]).
// Rows of x and W are both K-contiguous, so each output is a dot product; (row, column) blocks keep
// a BM x BN working set of rows in cache, and each dot product is accumulated in double.
#include <torch/extension.h>
#include <cmath>
#include <vector>

// Below this much work a parallel region costs more than it saves (and is at the mercy of a busy machine).
#define PARALLEL_MIN_WORK 65536  // tunable: 16384 65536 262144

#define BM 16  // tunable: 8 16 32 64
#define BN 16  // tunable: 8 16 32 64

torch::Tensor forward(torch::Tensor x, torch::Tensor weight, torch::Tensor bias) {
    TORCH_CHECK(x.device().is_cpu() && weight.device().is_cpu() && bias.device().is_cpu(),
                "linear_bias_gelu: tensors must be on the CPU");
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
    const float* X = x.data_ptr<float>();
    const float* W = weight.data_ptr<float>();
    const float* B = bias.data_ptr<float>();
    float* Y = y.data_ptr<float>();
    const int64_t mb = (M + BM - 1) / BM, nb = (N + BN - 1) / BN;
#pragma omp parallel for collapse(2) schedule(static) if (M * N * K >= PARALLEL_MIN_WORK)
    for (int64_t ib = 0; ib < mb; ++ib) {
        for (int64_t jb = 0; jb < nb; ++jb) {
            const int64_t i1 = std::min<int64_t>(M, (ib + 1) * BM), j1 = std::min<int64_t>(N, (jb + 1) * BN);
            for (int64_t i = ib * BM; i < i1; ++i) {
                const float* xr = X + i * K;
                for (int64_t j = jb * BN; j < j1; ++j) {
                    const float* wr = W + j * K;
                    double s = 0.0;
                    for (int64_t k = 0; k < K; ++k) s += (double)xr[k] * (double)wr[k];
                    const double v = s + (double)B[j];
                    Y[i * N + j] = (float)(0.5 * v * (1.0 + std::erf(v * 0.70710678118654752440)));
                }
            }
        }
    }
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "fused linear + bias + exact GELU (CPU, OpenMP)");
}
