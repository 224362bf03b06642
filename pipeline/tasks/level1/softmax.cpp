// Row softmax over the last dim on the CPU: one OpenMP iteration per row, sums in double.
#include <torch/extension.h>
#include <cfloat>
#include <cmath>

// Below this much work a parallel region costs more than it saves (and is at the mercy of a busy machine).
#define PARALLEL_MIN_WORK 65536  // tunable: 16384 65536 262144

torch::Tensor forward(torch::Tensor x, int64_t dim) {
    TORCH_CHECK(x.device().is_cpu(), "softmax: x must be a CPU tensor");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32, "softmax: x must be float32");
    TORCH_CHECK(x.is_contiguous(), "softmax: x must be contiguous");
    TORCH_CHECK(x.dim() >= 1, "softmax: x must have at least one dim");
    TORCH_CHECK(dim == -1 || dim == x.dim() - 1, "softmax: this kernel reduces over the last dim only");
    auto y = torch::empty_like(x);
    const int64_t cols = x.size(-1);
    if (x.numel() == 0) return y;
    const int64_t rows = x.numel() / cols;
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = xp + r * cols;
        float* out = yp + r * cols;
        float m = -FLT_MAX;
        for (int64_t j = 0; j < cols; ++j) m = std::max(m, row[j]);
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) {
            const float e = std::exp(row[j] - m);
            out[j] = e;
            s += e;
        }
        const float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < cols; ++j) out[j] *= inv;
    }
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "row softmax over the last dim (CPU, OpenMP)");
}
