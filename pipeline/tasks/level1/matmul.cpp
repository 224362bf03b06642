// Matrix product C = A @ B on the CPU: cache-blocked i-k-j loops, one OpenMP iteration per
// (row block, column block), accumulating each C tile in double.
#include <torch/extension.h>
#include <vector>

// Below this much work a parallel region costs more than it saves (and is at the mercy of a busy machine).
#define PARALLEL_MIN_WORK 65536  // tunable: 16384 65536 262144

#define BM 64  // tunable: 32 64 128
#define BN 128  // tunable: 64 128 256
#define BK 128  // tunable: 64 128 256

torch::Tensor forward(torch::Tensor a, torch::Tensor b) {
    TORCH_CHECK(a.device().is_cpu() && b.device().is_cpu(), "matmul: a and b must be CPU tensors");
    TORCH_CHECK(a.scalar_type() == torch::kFloat32 && b.scalar_type() == torch::kFloat32,
                "matmul: a and b must be float32");
    TORCH_CHECK(a.is_contiguous() && b.is_contiguous(), "matmul: a and b must be contiguous");
    TORCH_CHECK(a.dim() == 2 && b.dim() == 2, "matmul: a and b must be 2-D");
    TORCH_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ");
    const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
    auto c = torch::empty({M, N}, a.options());
    if (M == 0 || N == 0) return c;
    const float* A = a.data_ptr<float>();
    const float* B = b.data_ptr<float>();
    float* C = c.data_ptr<float>();
    const int64_t mb = (M + BM - 1) / BM, nb = (N + BN - 1) / BN;
#pragma omp parallel for collapse(2) schedule(static) if (M * N * K >= PARALLEL_MIN_WORK)
    for (int64_t ib = 0; ib < mb; ++ib) {
        for (int64_t jb = 0; jb < nb; ++jb) {
            const int64_t i0 = ib * BM, j0 = jb * BN;
            const int64_t im = std::min<int64_t>(BM, M - i0), jn = std::min<int64_t>(BN, N - j0);
            std::vector<double> acc((size_t)(BM * BN), 0.0);
            for (int64_t k0 = 0; k0 < K; k0 += BK) {
                const int64_t kn = std::min<int64_t>(BK, K - k0);
                for (int64_t i = 0; i < im; ++i) {
                    double* arow = acc.data() + i * BN;
                    const float* ap = A + (i0 + i) * K + k0;
                    for (int64_t k = 0; k < kn; ++k) {
                        const double av = ap[k];
                        const float* bp = B + (k0 + k) * N + j0;
                        for (int64_t j = 0; j < jn; ++j) arow[j] += av * (double)bp[j];
                    }
                }
            }
            for (int64_t i = 0; i < im; ++i)
                for (int64_t j = 0; j < jn; ++j) C[(i0 + i) * N + j0 + j] = (float)acc[i * BN + j];
        }
    }
    return c;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "cache-blocked matrix product (CPU, OpenMP)");
}
