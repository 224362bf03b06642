// Sum over one dim on the CPU: x viewed as (outer, reduce, inner); each OpenMP iteration owns one
// (outer, inner-chunk) slab and streams over the reduced dim into a double accumulator row.
#include <torch/extension.h>
#include <vector>

// Below this much work a parallel region costs more than it saves (and is at the mercy of a busy machine).
#define PARALLEL_MIN_WORK 65536  // tunable: 16384 65536 262144

#define INNER_CHUNK 256  // tunable: 64 256 1024

torch::Tensor forward(torch::Tensor x, int64_t dim) {
    TORCH_CHECK(x.device().is_cpu(), "sum_dim: x must be a CPU tensor");
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
    if (outer * inner == 0) return y;
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    const int64_t chunks = (inner + INNER_CHUNK - 1) / INNER_CHUNK;
#pragma omp parallel for collapse(2) schedule(static) if (outer * reduce * inner >= PARALLEL_MIN_WORK)
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t c = 0; c < chunks; ++c) {
            const int64_t i0 = c * INNER_CHUNK;
            const int64_t len = std::min<int64_t>(INNER_CHUNK, inner - i0);
            double acc[INNER_CHUNK];
            for (int64_t i = 0; i < len; ++i) acc[i] = 0.0;
            const float* base = xp + o * reduce * inner + i0;
            for (int64_t r = 0; r < reduce; ++r) {
                const float* p = base + r * inner;
                for (int64_t i = 0; i < len; ++i) acc[i] += (double)p[i];
            }
            float* out = yp + o * inner + i0;
            for (int64_t i = 0; i < len; ++i) out[i] = (float)acc[i];
        }
    }
    return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "sum over one dim (CPU, OpenMP)");
}
