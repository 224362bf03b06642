// Fused elementwise chain on the CPU: out[i, j] = max(a[i, j] + b[i, j], 0) * w[j]; one OpenMP
// iteration per row, so the column index needs no division.
#include <torch/extension.h>

// Below this much work a parallel region costs more than it saves (and is at the mercy of a busy machine).
#define PARALLEL_MIN_WORK 65536  // tunable: 16384 65536 262144

torch::Tensor forward(torch::Tensor a, torch::Tensor b, torch::Tensor weight) {
    TORCH_CHECK(a.device().is_cpu() && b.device().is_cpu() && weight.device().is_cpu(),
                "add_relu_mul: tensors must be on the CPU");
    TORCH_CHECK(a.scalar_type() == torch::kFloat32 && b.scalar_type() == torch::kFloat32 &&
                weight.scalar_type() == torch::kFloat32, "add_relu_mul: tensors must be float32");
    TORCH_CHECK(a.is_contiguous() && b.is_contiguous() && weight.is_contiguous(),
                "add_relu_mul: tensors must be contiguous");
    TORCH_CHECK(a.sizes() == b.sizes(), "add_relu_mul: a and b must have the same shape");
    const int64_t cols = weight.numel();
    TORCH_CHECK(a.dim() >= 1 && a.size(-1) == cols, "add_relu_mul: last dim of a must equal weight.numel()");
    auto y = torch::empty_like(a);
    if (a.numel() == 0) return y;
    const int64_t rows = a.numel() / cols;
    const float* ap = a.data_ptr<float>();
    const float* bp = b.data_ptr<float>();
    const float* wp = weight.data_ptr<float>();
    float* yp = y.data_ptr<float>();
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; ++r) {
        const float* ar = ap + r * cols;
        const float* br = bp + r * cols;
        float* yr = yp + r * cols;
        for (int64_t j = 0; j < cols; ++j) {
            const float s = ar[j] + br[j];
            yr[j] = (s > 0.0f ? s : 0.0f) * wp[j];
        }
    }
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "fused relu(a + b) * w (CPU, OpenMP)");
}
