// LayerNorm over the last dim on the CPU: one OpenMP iteration per row; statistics in double.
#include <torch/extension.h>
#include <cmath>

// Below this much work a parallel region costs more than it saves (and is at the mercy of a busy machine).
#define PARALLEL_MIN_WORK 65536  // tunable: 16384 65536 262144

torch::Tensor forward(torch::Tensor x, torch::Tensor weight, torch::Tensor bias, double eps) {
    TORCH_CHECK(x.device().is_cpu() && weight.device().is_cpu() && bias.device().is_cpu(),
                "layernorm: tensors must be on the CPU");
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
    const float* xp = x.data_ptr<float>();
    const float* wp = weight.data_ptr<float>();
    const float* bp = bias.data_ptr<float>();
    float* yp = y.data_ptr<float>();
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = xp + r * cols;
        float* out = yp + r * cols;
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) s += row[j];
        const double mean = s / (double)cols;
        double q = 0.0;
        for (int64_t j = 0; j < cols; ++j) {
            const double d = (double)row[j] - mean;
            q += d * d;
        }
        const float rstd = (float)(1.0 / std::sqrt(q / (double)cols + eps));
        const float meanf = (float)mean;
        for (int64_t j = 0; j < cols; ++j) out[j] = (row[j] - meanf) * rstd * wp[j] + bp[j];
    }
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "LayerNorm over the last dim (CPU, OpenMP)");
}
