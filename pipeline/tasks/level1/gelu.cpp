// Exact (erf-based) GELU, elementwise, on the CPU with OpenMP.
#include <torch/extension.h>
#include <cmath>

// Below this much work a parallel region costs more than it saves (and is at the mercy of a busy machine).
#define PARALLEL_MIN_WORK 65536  // tunable: 16384 65536 262144

#define CHUNK 4096  // tunable: 1024 4096 16384

torch::Tensor forward(torch::Tensor x) {
    TORCH_CHECK(x.device().is_cpu(), "gelu: x must be a CPU tensor");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32, "gelu: x must be float32");
    TORCH_CHECK(x.is_contiguous(), "gelu: x must be contiguous");
    auto y = torch::empty_like(x);
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    const int64_t n = x.numel();
    const int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_WORK)
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t end = std::min<int64_t>(n, (c + 1) * CHUNK);
        for (int64_t i = c * CHUNK; i < end; ++i) {
            const float v = xp[i];
            yp[i] = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752440f));
        }
    }
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "exact GELU (CPU, OpenMP)");
}
